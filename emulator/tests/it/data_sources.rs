//! Behaviours 6–8, data sources (docs/fliplet-api.md, "Data source behaviours").

use crate::common::*;
use fliplet_emulator::Perm;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn s06_list_by_type_without_context() {
    let c = Ctx::new().await;
    let org = c.basic.organization_id;
    let r = c.get("v1/data-sources?type=keystore").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!({"dataSources": []}));

    let ks = c
        .emu
        .add_data_source_with(org, "Keystore", Some("keystore"), None);
    let other_org = c.emu.add_organization("Elsewhere");
    c.emu
        .add_data_source_with(other_org, "Foreign keystore", Some("keystore"), None);
    c.emu
        .add_data_source_with(org, "Keystore2-like", Some("keystore-ish"), None);

    let r = c.get("v1/data-sources?type=keystore").await;
    let list = r.json["dataSources"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], json!(ks));
    assert_eq!(list[0]["type"], "keystore");
    assert_eq!(list[0]["organizationId"], json!(org));

    // No filter: every data source of the token's organizations.
    let r = c.get("v1/data-sources").await;
    assert_eq!(r.json["dataSources"].as_array().unwrap().len(), 3);
    // organizationId / appId filters.
    let r = c
        .get(&format!("v1/data-sources?organizationId={org}"))
        .await;
    assert_eq!(r.json["dataSources"].as_array().unwrap().len(), 3);
    let r = c
        .get(&format!("v1/data-sources?organizationId={other_org}"))
        .await;
    assert_eq!(r.json["dataSources"], json!([]));
    let r = c
        .post("v1/data-sources", json!({"name": "In app", "appId": 55}))
        .await;
    assert_eq!(r.status, 201);
    let r = c.get("v1/data-sources?appId=55").await;
    let list = r.json["dataSources"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "In app");
}

#[tokio::test]
async fn s07_create_takes_context_from_body_or_query() {
    let c = Ctx::new().await;
    let org = c.basic.organization_id;
    // Context in the body (what the agent sends).
    let r = c
        .post(
            "v1/data-sources",
            json!({"name": "Keystore", "type": "keystore", "organizationId": org}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let d = &r.json["dataSource"];
    let id = d["id"].as_u64().unwrap();
    for (k, v) in [
        ("name", json!("Keystore")),
        ("type", json!("keystore")),
        ("organizationId", json!(org)),
        ("appId", Value::Null),
        ("columns", Value::Null),
        ("hooks", json!([])),
        ("encrypted", json!(false)),
        ("public", json!(false)),
        ("appCapabilities", Value::Null),
    ] {
        assert_eq!(d[k], v, "{k}");
    }
    assert!(is_iso_millis(d["createdAt"].as_str().unwrap()));
    assert!(is_iso_millis(d["updatedAt"].as_str().unwrap()));
    // The creator may use it straight away (keystore flow: PUT data then GET data).
    let r = c
        .put(
            &format!("v1/data-sources/{id}/data"),
            json!({"content": "U2FsdGVkX1abc"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        c.get(&format!("v1/data-sources/{id}/data")).await.json["entries"][0]["data"]["content"],
        "U2FsdGVkX1abc"
    );
    // Context in the query.
    let r = c
        .post(
            &format!("v1/data-sources?organizationId={org}"),
            json!({"name": "Q"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(r.json["dataSource"]["type"].is_null());
    // No context.
    let r = c.post("v1/data-sources", json!({"name": "Nowhere"})).await;
    assert_error(&r, 400);
    // No name.
    assert_error(
        &c.post("v1/data-sources", json!({"organizationId": org}))
            .await,
        400,
    );
    // GET / PUT round trip.
    let r = c
        .put(
            &format!("v1/data-sources/{id}"),
            json!({"name": "Renamed", "columns": ["a", "b"]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["dataSource"]["name"], "Renamed");
    assert_eq!(r.json["dataSource"]["definition"], json!({}));
    let r = c.get(&format!("v1/data-sources/{id}")).await;
    assert_eq!(r.json["dataSource"]["columns"], json!(["a", "b"]));
    // Lookup by name.
    let r = c.get("v1/data-sources/Renamed").await;
    assert_eq!(r.json["dataSource"]["id"], json!(id));
}

#[tokio::test]
async fn s08_unknown_id_404_and_denied_400_on_every_route() {
    let c = Ctx::new().await;
    let org = c.basic.organization_id;
    let denied = c.emu.add_data_source(org, "Secret");
    let foreign_org = c.emu.add_organization("Foreign");
    let foreign = c.emu.add_data_source(foreign_org, "Theirs");
    c.emu.grant(&c.basic.token, foreign, Perm::ALL); // grant but wrong organization
    let e = c.emu.insert_entries(denied, vec![json!({"a": 1})])[0];
    let routes = |ds: u64| {
        vec![
            (Method::GET, format!("v1/data-sources/{ds}"), None, "read"),
            (
                Method::PUT,
                format!("v1/data-sources/{ds}"),
                Some(json!({"name": "x"})),
                "update",
            ),
            (
                Method::DELETE,
                format!("v1/data-sources/{ds}"),
                None,
                "delete",
            ),
            (
                Method::GET,
                format!("v1/data-sources/{ds}/data"),
                None,
                "read",
            ),
            (
                Method::POST,
                format!("v1/data-sources/{ds}/data"),
                Some(json!({"entries": [{"a": 2}], "append": true})),
                "insert",
            ),
            (
                Method::PUT,
                format!("v1/data-sources/{ds}/data"),
                Some(json!({"a": 2})),
                "insert",
            ),
            (
                Method::GET,
                format!("v1/data-sources/{ds}/data/{e}"),
                None,
                "read",
            ),
            (
                Method::PUT,
                format!("v1/data-sources/{ds}/data/{e}"),
                Some(json!({"a": 3})),
                "update",
            ),
            (
                Method::DELETE,
                format!("v1/data-sources/{ds}/data/{e}"),
                None,
                "delete",
            ),
            (
                Method::POST,
                format!("v1/data-sources/{ds}/commit"),
                Some(json!({"entries": [{"data": {"a": 1}}], "append": true})),
                "insert",
            ),
            (
                Method::POST,
                format!("v1/data-sources/{ds}/data/query"),
                Some(json!({})),
                "read",
            ),
            (
                Method::GET,
                format!("v1/data-sources/{ds}/indexes/a"),
                None,
                "read",
            ),
        ]
    };
    for (m, p, b, _) in routes(424242) {
        let r = c.call(m.clone(), &p, b).await;
        assert_error(&r, 404);
    }
    for ds in [denied, foreign] {
        for (m, p, b, verb) in routes(ds) {
            let r = c.call(m.clone(), &p, b).await;
            assert_error(&r, 400);
            assert_eq!(r.json["type"], "datasource.access", "{m} {p}");
            assert_eq!(r.json["payload"], json!({"dataSourceId": ds}));
            let msg = r.json["message"].as_str().unwrap();
            assert!(
                msg.contains(&format!("allow this app to {verb} data")),
                "{m} {p}: {msg}"
            );
        }
    }
    assert_eq!(c.emu.entries(denied).len(), 1);
    // Per-verb grants: select only.
    c.emu.grant(&c.basic.token, denied, &[Perm::Select]);
    assert_eq!(
        c.get(&format!("v1/data-sources/{denied}/data"))
            .await
            .status,
        200
    );
    let r = c
        .put(&format!("v1/data-sources/{denied}/data"), json!({"a": 2}))
        .await;
    assert_error(&r, 400);
    assert!(r.json["message"].as_str().unwrap().contains("Secret"));
}

#[tokio::test]
async fn denial_status_switch_401_and_403() {
    let c = Ctx::new().await;
    let ds = c.emu.add_data_source(c.basic.organization_id, "Secret");
    for status in [401u16, 403, 400] {
        c.emu.set_denial_status(status);
        let r = c.get(&format!("v1/data-sources/{ds}/data")).await;
        assert_error(&r, status);
        assert_eq!(r.json["type"], "datasource.access");
    }
    // Over the control plane too.
    let r = c
        .control(
            Method::PUT,
            "__emulator/settings",
            Some(json!({"denialStatus": 403})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_error(&c.get(&format!("v1/data-sources/{ds}/data")).await, 403);
    assert_error(
        &c.control(
            Method::PUT,
            "__emulator/settings",
            Some(json!({"denialStatus": 500})),
        )
        .await,
        400,
    );
}
