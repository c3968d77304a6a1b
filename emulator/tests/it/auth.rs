//! Behaviours 1–5, transport and auth (docs/fliplet-api.md, "Auth behaviours").

use crate::common::*;
use base64::Engine;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn s01_token_accepted_four_ways() {
    let c = Ctx::new().await;
    let t = c.basic.token.clone();
    let url = c.url("v1/user");
    // Header, any case.
    for name in ["Auth-token", "auth-token", "AUTH-TOKEN"] {
        let r = res(c.http.get(&url).header(name, &t).send().await.unwrap()).await;
        assert_eq!(r.status, 200, "{name}: {}", r.text);
    }
    // Query parameter.
    let r = res(c
        .http
        .get(format!("{url}?auth_token={t}"))
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(r.status, 200);
    // Bearer base64(token).
    let b64 = base64::engine::general_purpose::STANDARD.encode(&t);
    let r = res(c
        .http
        .get(&url)
        .header("Authorization", format!("Bearer {b64}"))
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(r.status, 200);
    // Cookie.
    let r = res(c
        .http
        .get(&url)
        .header("Cookie", format!("other=1; auth_token={t}"))
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["user"]["auth_token"], json!(t));
}

#[tokio::test]
async fn s01_missing_or_unknown_token_is_401_on_every_route() {
    let c = Ctx::new().await;
    let ds = c.ds();
    let routes = [
        (Method::GET, "v1/user".to_string()),
        (Method::GET, "v1/organizations".to_string()),
        (Method::GET, "v1/data-sources?type=keystore".to_string()),
        (Method::POST, "v1/data-sources".to_string()),
        (Method::GET, format!("v1/data-sources/{ds}")),
        (Method::GET, format!("v1/data-sources/{ds}/data")),
        (Method::PUT, format!("v1/data-sources/{ds}/data")),
        (Method::POST, format!("v1/data-sources/{ds}/commit")),
        (Method::POST, format!("v1/data-sources/{ds}/data/query")),
        (Method::GET, "v1/media?organizationId=1".to_string()),
        (Method::POST, "v1/media/folders".to_string()),
    ];
    let expected = json!({"error": "not authorised", "message": "The auth_token provided doesn't belong to any user."});
    for (m, p) in routes {
        // unknown token
        let r = c.call_as("eu--nope", m.clone(), &p, Some(json!({}))).await;
        assert_error(&r, 401);
        assert_eq!(r.json, expected, "{m} {p}");
        // no token
        let r = res(c.http.request(m.clone(), c.url(&p)).send().await.unwrap()).await;
        assert_error(&r, 401);
        assert_eq!(r.json, expected);
    }
    // Nothing was written by the rejected commit / insert.
    assert!(c.emu.entries(ds).is_empty());
}

#[tokio::test]
async fn s02_every_error_is_json_with_message() {
    let c = Ctx::new().await;
    let ds = c.ds();
    // unknown route, wrong method, malformed JSON, unknown ds, bad commit, bad query, bad media
    assert_error(&c.get("v1/nothing-here").await, 404);
    assert_error(&c.call(Method::PATCH, "v1/user", None).await, 405);
    let r = res(c
        .http
        .post(c.url(&format!("v1/data-sources/{ds}/commit")))
        .header("Auth-token", &c.basic.token)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap())
    .await;
    assert_error(&r, 400);
    assert_error(&c.get("v1/data-sources/999/data").await, 404);
    assert_error(&c.commit(json!({"entries": 5})).await, 400);
    assert_error(
        &c.post(
            &format!("v1/data-sources/{ds}/data/query"),
            json!({"where": {"a": {"$bogus": 1}}}),
        )
        .await,
        400,
    );
    assert_error(&c.get("v1/media").await, 400);
    assert_error(&c.post("v1/media/files?folderId=1", json!({})).await, 400);
    assert_error(
        &c.get(&format!("v1/data-sources/{ds}/data/12345")).await,
        404,
    );
}

#[tokio::test]
async fn s02_success_bodies_are_json_except_import_and_data_source_delete() {
    let c = Ctx::new().await;
    let ds = c.ds();
    for p in [
        "v1/user".to_string(),
        "v1/organizations".into(),
        "v1/data-sources".into(),
        format!("v1/data-sources/{ds}"),
        format!("v1/data-sources/{ds}/data"),
    ] {
        let r = c.get(&p).await;
        assert_eq!(r.status, 200);
        assert!(r.content_type.starts_with("application/json"), "{p}");
        assert!(r.json.is_object(), "{p}");
    }
    let r = c
        .post(
            &format!("v1/data-sources/{ds}/data"),
            json!({"entries": [{"a": 1}]}),
        )
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    let r = c.delete(&format!("v1/data-sources/{ds}")).await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    assert!(c.emu.data_source(ds).is_none());
}

#[tokio::test]
async fn s03_trailing_slashes_are_ignored() {
    let c = Ctx::new().await;
    let a = c.get("v1/organizations").await;
    let b = c.get("v1/organizations/").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json, b.json);
    c.post(
        "v1/media/folders",
        json!({"name": "F", "organizationId": c.basic.organization_id}),
    )
    .await;
    let org = c.basic.organization_id;
    let a = c.get(&format!("v1/media?organizationId={org}")).await;
    let b = c.get(&format!("v1/media/?organizationId={org}")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json, b.json);
    assert_eq!(a.json["folders"].as_array().unwrap().len(), 1);
    let r = c
        .put(
            &format!("v1/data-sources/{}/data/", c.ds()),
            json!({"x": 1}),
        )
        .await;
    assert_eq!(r.status, 200);
    // The journal keeps the path exactly as sent.
    let j = c.emu.journal();
    assert_eq!(j[1].path, "/v1/organizations/");
    assert_eq!(j[4].path, "/v1/media/");
}

#[tokio::test]
async fn s04_get_user_returns_the_tokens_user() {
    let c = Ctx::new().await;
    let r = c.get("v1/user").await;
    assert_eq!(r.status, 200);
    let u = &r.json["user"];
    assert_eq!(u["id"], json!(c.basic.user_id));
    assert_eq!(u["email"], "test@acme.test");
    assert_eq!(u["fullName"], "Test User");
    assert_eq!(u["firstName"], "Test User");
    assert!(u["lastName"].is_null());
    assert_eq!(u["auth_token"], "eu--test-token");
    // A second user with a US token.
    let uid = c
        .emu
        .add_user(c.basic.organization_id, "Nightly sync", "sync@acme.test");
    c.emu.add_token(uid, "us--second");
    let r = c.call_as("us--second", Method::GET, "v1/user", None).await;
    assert_eq!(r.json["user"]["fullName"], "Nightly sync");
    assert_eq!(r.json["user"]["id"], json!(uid));
}

#[tokio::test]
async fn s05_organizations_in_stable_order() {
    let c = Ctx::new().await;
    let other = c.emu.add_organization("Other Corp");
    let _foreign = c.emu.add_organization("Not Mine");
    c.emu.add_user_to_organization(c.basic.user_id, other);
    for _ in 0..3 {
        let r = c.get("v1/organizations").await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.json,
            json!({"organizations": [
                {"id": c.basic.organization_id, "name": "Acme Ltd"},
                {"id": other, "name": "Other Corp"}
            ]})
        );
    }
}
