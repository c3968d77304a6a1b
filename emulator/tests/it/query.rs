//! Behaviour 23, data/query (docs/fliplet-api.md, "Query behaviours").

use crate::common::*;
use serde_json::{Value, json};

async fn seeded() -> Ctx {
    let c = Ctx::new().await;
    c.emu.insert_entries(
        c.ds(),
        vec![
            json!({"Name": "Ann", "Age": 31, "Office": "London", "Tags": ["a", "b"], "syncedAt": ""}),
            json!({"Name": "bob", "Age": 25, "Office": "Paris", "Tags": ["b"], "syncedAt": 5}),
            json!({"Name": "Cy", "Age": 40, "Office": "London", "syncedAt": null}),
            json!({"Name": "Dee", "Age": "40", "Office": "Berlin", "syncedAt": ""}),
        ],
    );
    c
}

async fn names(c: &Ctx, body: Value) -> Vec<String> {
    let r = c
        .post(
            &format!("v1/data-sources/{}/data/query", c.ds()),
            body.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{body}: {}", r.text);
    r.json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["Name"].as_str().unwrap_or("-").to_string())
        .collect()
}

#[tokio::test]
async fn s23_query_where_operators() {
    let c = seeded().await;
    let cases = vec![
        (json!({}), vec!["Ann", "bob", "Cy", "Dee"]),
        (
            json!({"type": "select", "where": {"syncedAt": ""}}),
            vec!["Ann", "Dee"],
        ),
        (json!({"where": {"Age": 40}}), vec!["Cy"]),
        (json!({"where": {"Age": {"$eq": "40"}}}), vec!["Dee"]),
        (
            json!({"where": {"Office": {"$ne": "London"}}}),
            vec!["bob", "Dee"],
        ),
        (
            json!({"where": {"Age": {"$gt": 25, "$lte": 40}}}),
            vec!["Ann", "Cy"],
        ),
        (json!({"where": {"Age": {"$gte": 31}}}), vec!["Ann", "Cy"]),
        (json!({"where": {"Age": {"$lt": 31}}}), vec!["bob"]),
        (
            json!({"where": {"Office": {"$in": ["Paris", "Berlin"]}}}),
            vec!["bob", "Dee"],
        ),
        (
            json!({"where": {"Office": {"$nin": ["Paris", "Berlin"]}}}),
            vec!["Ann", "Cy"],
        ),
        (
            json!({"where": {"Tags": {"$exists": true}}}),
            vec!["Ann", "bob"],
        ),
        (json!({"where": {"Tags": "b"}}), vec!["Ann", "bob"]),
        (
            json!({"where": {"$and": [{"Office": "London"}, {"Age": {"$gt": 35}}]}}),
            vec!["Cy"],
        ),
        (
            json!({"where": {"$or": [{"Office": "Paris"}, {"Name": "Dee"}]}}),
            vec!["bob", "Dee"],
        ),
        (
            json!({"where": {"$nor": [{"Office": "Paris"}, {"Name": "Dee"}]}}),
            vec!["Ann", "Cy"],
        ),
        (
            json!({"where": {"Age": {"$not": {"$gt": 30}}}}),
            vec!["bob", "Dee"],
        ),
        (json!({"where": {"Name": {"$iLike": "B"}}}), vec!["bob"]),
        (json!({"where": {"data.Office": "Berlin"}}), vec!["Dee"]),
        (
            json!({"where": {"$filters": [{"column": "Office", "condition": "==", "value": "london"}]}}),
            vec!["Ann", "Cy"],
        ),
        (
            json!({"where": {"$filters": [{"column": "Office", "condition": "!=", "value": "London"}]}}),
            vec!["bob", "Dee"],
        ),
        (
            json!({"where": {"$filters": [{"column": "Name", "condition": "contains", "value": "E"}]}}),
            vec!["Dee"],
        ),
        (
            json!({"where": {"$filters": [{"column": "Office", "condition": "oneof", "value": ["Paris", "Berlin"]}]}}),
            vec!["bob", "Dee"],
        ),
        (
            json!({"where": {"$filters": [{"column": "syncedAt", "condition": "empty"}]}}),
            vec!["Ann", "Cy", "Dee"],
        ),
        (
            json!({"where": {"$filters": [{"column": "syncedAt", "condition": "notempty"}]}}),
            vec!["bob"],
        ),
    ];
    for (body, want) in cases {
        assert_eq!(names(&c, body.clone()).await, want, "{body}");
    }
}

#[tokio::test]
async fn s23_query_attributes_order_limit_offset_pagination() {
    let c = seeded().await;
    let ds = c.ds();
    let r = c
        .post(
            &format!("v1/data-sources/{ds}/data/query"),
            json!({"attributes": ["Name", "data.Office"], "where": {"Name": "Ann"}}),
        )
        .await;
    let e = &r.json["entries"][0];
    assert_eq!(e["data"], json!({"Name": "Ann", "Office": "London"}));
    assert!(e["id"].is_u64() && e["createdAt"].is_string());
    assert_eq!(
        names(&c, json!({"order": [["data.Name", "DESC"]]})).await,
        vec!["bob", "Dee", "Cy", "Ann"]
    );
    assert_eq!(
        names(&c, json!({"order": [["Office", "ASC"], ["id", "DESC"]]})).await,
        vec!["Dee", "Cy", "Ann", "bob"]
    );
    assert_eq!(
        names(&c, json!({"order": [["id", "DESC"]], "limit": 2})).await,
        vec!["Dee", "Cy"]
    );
    assert_eq!(
        names(&c, json!({"limit": 2, "offset": 1})).await,
        vec!["bob", "Cy"]
    );
    let r = c.post(&format!("v1/data-sources/{ds}/data/query"), json!({"limit": 1, "offset": 2, "includePagination": true, "where": {"Office": {"$ne": "Paris"}}})).await;
    assert_eq!(
        r.json["pagination"],
        json!({"total": 3, "limit": 1, "offset": 2})
    );
    assert_eq!(r.json["entries"].as_array().unwrap().len(), 1);
    // The agent's pull body (with distinct) is accepted.
    assert_eq!(
        names(&c, json!({"where": {"syncedAt": ""}, "distinct": true})).await,
        vec!["Ann", "Dee"]
    );
}

#[tokio::test]
async fn s23_unsupported_operator_is_400() {
    let c = seeded().await;
    for w in [
        json!({"Name": {"$regex": "A"}}),
        json!({"$where": "1"}),
        json!({"$filters": [{"column": "Name", "condition": "dateis", "value": "x"}]}),
        json!("Name"),
    ] {
        let r = c
            .post(
                &format!("v1/data-sources/{}/data/query", c.ds()),
                json!({"where": w}),
            )
            .await;
        assert_error(&r, 400);
    }
    // Even on an empty data source.
    let empty = c.emu.add_data_source(c.basic.organization_id, "Empty");
    c.emu
        .grant(&c.basic.token, empty, fliplet_emulator::Perm::ALL);
    let r = c
        .post(
            &format!("v1/data-sources/{empty}/data/query"),
            json!({"where": {"a": {"$regex": "x"}}}),
        )
        .await;
    assert_error(&r, 400);
}

#[tokio::test]
async fn query_type_delete_removes_matches() {
    let c = seeded().await;
    let r = c
        .post(
            &format!("v1/data-sources/{}/data/query", c.ds()),
            json!({"type": "delete", "where": {"Office": "London"}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["deletedCount"], 2);
    assert_eq!(names(&c, json!({})).await, vec!["bob", "Dee"]);
}
