//! Behaviour 29, the journal (docs/fliplet-api.md, "Limit and journal behaviours"), the control
//! plane over HTTP, persistence and the demo state.

use std::time::Duration;

use crate::common::*;
use fliplet_emulator::{Emulator, State};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn s29_journal_shows_the_auth_failure_sequence() {
    let c = Ctx::new().await;
    let ds = c.ds();
    // What the agent does after GET v1/user fails: one GET …/data per operation, no commit.
    for _ in 0..2 {
        let r = c.call_as("eu--revoked", Method::GET, "v1/user", None).await;
        assert_error(&r, 401);
        c.call_as(
            "eu--revoked",
            Method::GET,
            &format!("v1/data-sources/{ds}/data"),
            None,
        )
        .await;
    }
    let j = c.emu.journal();
    let seq: Vec<(String, String)> = j
        .iter()
        .map(|e| (e.method.clone(), e.path.clone()))
        .collect();
    let data = format!("/v1/data-sources/{ds}/data");
    assert_eq!(
        seq,
        vec![
            ("GET".into(), "/v1/user".into()),
            ("GET".into(), data.clone()),
            ("GET".into(), "/v1/user".into()),
            ("GET".into(), data),
        ]
    );
    assert!(j.iter().all(|e| !e.path.ends_with("/commit")));
    assert_eq!(j[0].headers["auth-token"], "eu--revoked");
    assert_eq!(j[0].header("User-Agent"), Some("Fliplet Agent/2.0.7"));
    assert_eq!(j[0].status, 401);
}

#[tokio::test]
async fn s29_journal_records_a_push_with_headers_query_and_bodies() {
    let c = Ctx::new().await;
    let ds = c.ds();
    let ids = c
        .emu
        .insert_entries(ds, vec![json!({"id": 1}), json!({"id": 2})]);
    c.get("v1/user").await;
    c.get(&format!("v1/data-sources/{ds}/data")).await;
    c.get("v1/organizations/").await;
    c.get(&format!(
        "v1/media/?organizationId={}",
        c.basic.organization_id
    ))
    .await;
    c.commit(json!({"append": true, "entries": [{"data": {"id": 3}}], "delete": [ids[0]], "runHooks": [], "extend": true, "returnEntries": false})).await;
    // Control-plane calls are not journaled.
    c.control(Method::GET, "__emulator/state", None).await;
    let j: Vec<Value> = serde_json::from_value(
        c.control(Method::GET, "__emulator/journal", None)
            .await
            .json,
    )
    .unwrap();
    assert_eq!(j.len(), 5);
    assert_eq!(
        j[3]["query"],
        json!(format!("organizationId={}", c.basic.organization_id))
    );
    assert_eq!(j[3]["path"], "/v1/media/");
    let commit = &j[4];
    assert_eq!(commit["method"], "POST");
    assert_eq!(commit["headers"]["content-type"], "application/json");
    assert_eq!(commit["headers"]["auth-token"], "eu--test-token");
    assert_eq!(commit["body"]["delete"], json!([ids[0]]));
    assert_eq!(commit["body"]["returnEntries"], json!(false));
    assert_eq!(commit["status"], 200);
    // Library view matches; clearing works over HTTP.
    assert_eq!(
        c.emu.journal()[4].body.as_ref().unwrap()["delete"],
        json!([ids[0]])
    );
    c.control(Method::DELETE, "__emulator/journal", None).await;
    assert!(c.emu.journal().is_empty());
}

#[tokio::test]
async fn journal_truncates_huge_bodies() {
    let c = Ctx::new().await;
    let big = "x".repeat(2 << 20);
    let r = c
        .put(
            &format!("v1/data-sources/{}/data", c.ds()),
            json!({"blob": big}),
        )
        .await;
    assert_eq!(r.status, 200);
    let j = c.emu.journal();
    assert!(j[0].body_truncated);
    assert!(j[0].body_size > 2 << 20);
    assert_eq!(
        j[0].body.as_ref().unwrap().as_str().unwrap().len(),
        64 * 1024
    );
}

#[tokio::test]
async fn control_plane_seeds_over_http() {
    let emu = Emulator::start().await;
    let http = reqwest::Client::new();
    let u = |p: &str| format!("{}/__emulator/{p}", emu.url());
    let post = |p: &str, b: Value| http.post(u(p)).json(&b).send();
    let org = post("organizations", json!({"name": "Acme Ltd"}))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let user = post(
        "users",
        json!({"organizationId": org, "fullName": "Ann", "email": "a@x"}),
    )
    .await
    .unwrap()
    .json::<Value>()
    .await
    .unwrap()["id"]
        .as_u64()
        .unwrap();
    post("tokens", json!({"userId": user, "token": "ca--abc"}))
        .await
        .unwrap();
    let ds = post(
        "data-sources",
        json!({"organizationId": org, "name": "Keystore", "type": "keystore"}),
    )
    .await
    .unwrap()
    .json::<Value>()
    .await
    .unwrap()["id"]
        .as_u64()
        .unwrap();
    post(
        "grants",
        json!({"token": "ca--abc", "dataSourceId": ds, "perms": ["select", "insert"]}),
    )
    .await
    .unwrap();
    let ids = post(
        &format!("data-sources/{ds}/entries"),
        json!([{"content": "k"}]),
    )
    .await
    .unwrap()
    .json::<Value>()
    .await
    .unwrap();
    assert_eq!(ids["ids"].as_array().unwrap().len(), 1);
    let r = http
        .get(format!("{}/v1/data-sources?type=keystore", emu.url()))
        .header("Auth-token", "ca--abc")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["dataSources"][0]["id"],
        json!(ds)
    );
    let entries: Value = http
        .get(u(&format!("data-sources/{ds}/entries")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(entries[0]["data"], json!({"content": "k"}));
    // State round trip: GET, reset, PUT back.
    let state: Value = http
        .get(u("state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["dataSources"][0]["name"], "Keystore");
    http.post(u("reset")).send().await.unwrap();
    assert!(emu.data_source(ds).is_none());
    let r = http.put(u("state")).json(&state).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(emu.entries(ds).len(), 1);
    // setup-basic
    http.post(u("reset")).send().await.unwrap();
    let basic: Value = http
        .post(u("setup-basic"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(basic["token"], "eu--test-token");
    let settings: Value = http
        .get(u("settings"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        settings,
        json!({"rateLimit": false, "rateLimitMax": 200, "rateLimitWindowMs": 10000, "denialStatus": 400, "updateUnknown": "ignore"})
    );
    // Control-plane routes never appear in the journal.
    assert!(emu.journal().is_empty());
}

#[tokio::test]
async fn state_persists_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(&path, include_str!("../../demo/state.json")).unwrap();
    let state = State::load(&path).unwrap();
    let emu = Emulator::serve("127.0.0.1:0".parse().unwrap(), state, Some(path.clone()))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/data-sources/1/commit", emu.url()))
        .header("Auth-token", "eu--demo-token")
        .json(&json!({"append": true, "entries": [{"data": {"Name": "Ann", "id": 1}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Saved shortly after the change, without stopping.
    let mut saved = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if std::fs::read_to_string(&path).unwrap().contains("Ann") {
            saved = true;
            break;
        }
    }
    assert!(saved);
    emu.shutdown().await.unwrap();
    assert!(!dir.path().join("state.json.tmp").exists());
    // Restart from the file: the data is still there, and ids continue.
    let emu = Emulator::serve(
        "127.0.0.1:0".parse().unwrap(),
        State::load(&path).unwrap(),
        Some(path.clone()),
    )
    .await
    .unwrap();
    let r: Value = http
        .get(format!("{}/v1/data-sources/1/data", emu.url()))
        .header("Auth-token", "eu--demo-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["entries"][0]["data"], json!({"Name": "Ann", "id": 1}));
    let r: Value = http
        .put(format!("{}/v1/data-sources/1/data", emu.url()))
        .header("Auth-token", "eu--demo-token")
        .json(&json!({"Name": "Bob"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["id"].as_u64().unwrap() > 1);
    drop(emu);
    assert!(std::fs::read_to_string(&path).unwrap().contains("Bob"));
}

#[tokio::test]
async fn demo_state_answers_the_demo_token() {
    let emu = Emulator::start_with_state(State::demo()).await;
    let r: Value = reqwest::Client::new()
        .get(format!("{}/v1/user", emu.url()))
        .header("Auth-token", "eu--demo-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["user"]["fullName"], "Demo User");
    let ds = emu.data_source(1).unwrap();
    assert_eq!(ds.name, "Staff");
    assert_eq!(emu.state_snapshot().organizations[0].name, "Acme Ltd");
}
