//! Behaviour 28, rate limit (docs/fliplet-api.md, "Limit and journal behaviours"), and fault
//! injection.

use std::time::{Duration, Instant};

use crate::common::*;
use fliplet_emulator::{Fault, FaultAction};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn s28_201st_data_source_request_in_10s_is_429() {
    let c = Ctx::new().await;
    c.emu.set_rate_limit(true);
    let s = c.emu.settings();
    assert_eq!((s.rate_limit_max, s.rate_limit_window_ms), (200, 10_000));
    let ds = c.ds();
    let start = chrono::Utc::now();
    for i in 0..200 {
        let r = c.get(&format!("v1/data-sources/{ds}/data")).await;
        assert_eq!(r.status, 200, "request {i}");
    }
    // Non data-source endpoints do not count and are not limited.
    assert_eq!(c.get("v1/user").await.status, 200);
    let r = c.get(&format!("v1/data-sources/{ds}/data")).await;
    assert_error(&r, 429);
    assert!(
        r.json["referenceUrl"]
            .as_str()
            .unwrap()
            .contains("Rate-limiting")
    );
    let next = r.json["nextValidRequestDate"].as_str().unwrap();
    assert!(is_iso_millis(next));
    let next = chrono::DateTime::parse_from_rfc3339(next).unwrap();
    let wait = next.signed_duration_since(start).num_milliseconds();
    assert!(
        (9_000..=10_500).contains(&wait),
        "next valid request in {wait} ms"
    );
    // Another token has its own budget.
    let uid = c.emu.add_user(c.basic.organization_id, "Other", "o@x.test");
    c.emu.add_token(uid, "eu--other");
    c.emu.grant("eu--other", ds, fliplet_emulator::Perm::ALL);
    assert_eq!(
        c.call_as(
            "eu--other",
            Method::GET,
            &format!("v1/data-sources/{ds}/data"),
            None
        )
        .await
        .status,
        200
    );
    // Off again.
    c.emu.set_rate_limit(false);
    assert_eq!(
        c.get(&format!("v1/data-sources/{ds}/data")).await.status,
        200
    );
}

#[tokio::test]
async fn s28_rate_limit_window_is_configurable_and_recovers() {
    let c = Ctx::new().await;
    let r = c
        .control(
            Method::PUT,
            "__emulator/rate-limit",
            Some(json!({"enabled": true, "max": 3, "windowMs": 300})),
        )
        .await;
    assert_eq!(r.status, 200);
    let p = format!("v1/data-sources/{}", c.ds());
    for _ in 0..3 {
        assert_eq!(c.get(&p).await.status, 200);
    }
    assert_error(&c.get(&p).await, 429);
    tokio::time::sleep(Duration::from_millis(320)).await;
    assert_eq!(c.get(&p).await.status, 200);
}

#[tokio::test]
async fn fault_respond_next_n_then_normal() {
    let c = Ctx::new().await;
    c.emu.inject_fault(Fault {
        method: "POST".into(),
        path: "/v1/data-sources/*/commit".into(),
        times: 2,
        after: 0,
        action: FaultAction::Respond {
            status: 503,
            body: json!({"message": "try later"}),
        },
    });
    let body = json!({"append": true, "entries": [{"data": {"a": 1}}]});
    assert_eq!(
        c.get(&format!("v1/data-sources/{}/data", c.ds()))
            .await
            .status,
        200
    ); // not matched
    for _ in 0..2 {
        let r = c.commit(body.clone()).await;
        assert_error(&r, 503);
        assert_eq!(r.json["message"], "try later");
    }
    assert!(c.emu.entries(c.ds()).is_empty());
    assert_eq!(c.commit(body).await.status, 200);
    let statuses: Vec<u16> = c.emu.journal().iter().map(|e| e.status).collect();
    assert_eq!(statuses, vec![200, 503, 503, 200]);
}

#[tokio::test]
async fn fault_delay_and_drop() {
    let c = Ctx::new().await;
    c.emu.inject_fault(Fault {
        method: "*".into(),
        path: "v1/user".into(),
        times: 1,
        after: 0,
        action: FaultAction::Delay(Duration::from_millis(300)),
    });
    let t = Instant::now();
    assert_eq!(c.get("v1/user").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    // A client timeout fires during the delay.
    c.emu.inject_fault(Fault {
        method: "GET".into(),
        path: "v1/user".into(),
        times: 1,
        after: 0,
        action: FaultAction::Delay(Duration::from_millis(500)),
    });
    let err = c
        .http
        .get(c.url("v1/user"))
        .header("Auth-token", &c.basic.token)
        .timeout(Duration::from_millis(100))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    // Dropped connection: a transport error, not an HTTP answer.
    c.emu.inject_fault(Fault {
        method: "GET".into(),
        path: "/v1/**".into(),
        times: 1,
        after: 0,
        action: FaultAction::Drop,
    });
    let err = c
        .http
        .get(c.url("v1/organizations"))
        .header("Auth-token", &c.basic.token)
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_status(), "{err:?}");
    // Then normal again.
    assert_eq!(c.get("v1/organizations").await.status, 200);
}

#[tokio::test]
async fn faults_over_the_control_plane() {
    let c = Ctx::new().await;
    let r = c.control(Method::POST, "__emulator/faults", Some(json!({"method": "GET", "path": "/v1/data-sources/*/data", "times": 1, "respond": {"status": 429, "body": {"message": "slow down"}}}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    c.control(
        Method::POST,
        "__emulator/faults",
        Some(json!({"path": "/v1/user", "times": 1, "drop": true})),
    )
    .await;
    let listed = c.control(Method::GET, "__emulator/faults", None).await;
    assert_eq!(listed.json.as_array().unwrap().len(), 2);
    assert_error(
        &c.get(&format!("v1/data-sources/{}/data", c.ds())).await,
        429,
    );
    assert!(
        c.http
            .get(c.url("v1/user"))
            .header("Auth-token", "x")
            .send()
            .await
            .is_err()
    );
    c.control(Method::POST, "__emulator/faults", Some(json!({"path": "/v1/user", "times": 0, "respond": {"status": 500, "body": {"message": "down"}}}))).await;
    assert_error(&c.get("v1/user").await, 500);
    assert_error(&c.get("v1/user").await, 500);
    c.control(Method::DELETE, "__emulator/faults", None).await;
    assert_eq!(c.get("v1/user").await.status, 200);
    assert_error(
        &c.control(
            Method::POST,
            "__emulator/faults",
            Some(json!({"path": "/x", "drop": true, "delayMs": 4})),
        )
        .await,
        400,
    );
}
