//! Behaviours 15–22, commit (docs/fliplet-api.md, "Commit behaviours").

use crate::common::*;
use fliplet_emulator::{Perm, UpdateUnknown};
use reqwest::Method;
use serde_json::{Value, json};

fn datas(list: &[Value]) -> Vec<Value> {
    list.iter().map(|e| e["data"].clone()).collect()
}

#[tokio::test]
async fn s15_commit_entry_without_id_inserts() {
    let c = Ctx::new().await;
    let old = c.emu.insert_entries(c.ds(), vec![json!({"k": 0})])[0];
    let r = c.commit(json!({"append": true, "entries": [{"data": {"k": 1}}, {"data": {"k": 2}}], "runHooks": []})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = r.json["entries"].as_array().unwrap();
    assert_eq!(
        datas(list),
        vec![json!({"k": 0}), json!({"k": 1}), json!({"k": 2})]
    );
    let ids: Vec<u64> = list.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(ids[0], old);
    assert!(ids[1] > old && ids[2] > ids[1]);
}

#[tokio::test]
async fn s16_commit_update_extend_merges_and_default_replaces() {
    let c = Ctx::new().await;
    let ds = c.ds();
    let ids = c.emu.insert_entries(
        ds,
        vec![
            json!({"id": 17, "Email": "a@x.test", "Keep": "yes"}),
            json!({"id": 18, "Email": "b@x.test", "Keep": "yes"}),
        ],
    );
    let before = c.emu.entries(ds);
    // extend:true — shallow merge
    let r = c.commit(json!({"append": true, "extend": true, "entries": [{"id": ids[0], "data": {"id": 17, "Email": "new@x.test", "Extra": 1}}]})).await;
    assert_eq!(r.status, 200);
    let e = c.emu.entries(ds);
    assert_eq!(
        e[0].data,
        json!({"id": 17, "Email": "new@x.test", "Keep": "yes", "Extra": 1})
    );
    assert_eq!(e[0].id, ids[0]);
    assert_eq!(e[0].created_at, before[0].created_at);
    // extend absent — replace
    c.commit(json!({"append": true, "entries": [{"id": ids[1], "data": {"id": 18, "Email": "b2@x.test"}}]})).await;
    let e = c.emu.entries(ds);
    assert_eq!(e[1].data, json!({"id": 18, "Email": "b2@x.test"}));
    assert_eq!(e[1].created_at, before[1].created_at);
    // extend:false — replace
    c.commit(json!({"append": true, "extend": false, "entries": [{"id": ids[0], "data": {"only": true}}]})).await;
    assert_eq!(c.emu.entries(ds)[0].data, json!({"only": true}));
    assert_eq!(c.emu.entries(ds).len(), 2);
}

#[tokio::test]
async fn s17_commit_delete_ignores_missing_ids() {
    let c = Ctx::new().await;
    let ids = c
        .emu
        .insert_entries(c.ds(), (0..5).map(|i| json!({"n": i})).collect());
    let del = json!([ids[1], ids[3], 999999]);
    // The agent re-sends the same cumulative delete list with every batch.
    for batch in 0..3 {
        let r = c
            .commit(json!({"append": true, "entries": [{"data": {"batch": batch}}], "delete": del}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let left: Vec<u64> = c.emu.entries(c.ds()).iter().map(|e| e.id).collect();
    assert_eq!(left.len(), 6);
    assert!(!left.contains(&ids[1]) && !left.contains(&ids[3]));
    // Ids of another data source are not touched.
    let other = c.emu.add_data_source(c.basic.organization_id, "Other");
    let oid = c.emu.insert_entries(other, vec![json!({})])[0];
    c.commit(json!({"append": true, "entries": [], "delete": [oid]}))
        .await;
    assert_eq!(c.emu.entries(other).len(), 1);
}

#[tokio::test]
async fn s18_commit_without_append_keeps_exactly_what_was_sent() {
    let c = Ctx::new().await;
    let ids = c
        .emu
        .insert_entries(c.ds(), (0..4).map(|i| json!({"n": i})).collect());
    let r = c
        .commit(json!({"entries": [{"id": ids[2], "data": {"n": 22}}, {"data": {"n": 9}}]}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        datas(r.json["entries"].as_array().unwrap()),
        vec![json!({"n": 22}), json!({"n": 9})]
    );
    let r = c.commit(json!({"append": false, "entries": []})).await;
    assert_eq!(r.json, json!({"entries": []}));
    assert!(c.emu.entries(c.ds()).is_empty());
}

#[tokio::test]
async fn s19_update_of_unknown_id_is_ignored_by_default_and_configurable() {
    let c = Ctx::new().await;
    let ds = c.ds();
    let id = c.emu.insert_entries(ds, vec![json!({"n": 1})])[0];
    let other = c.emu.add_data_source(c.basic.organization_id, "Other");
    let foreign = c.emu.insert_entries(other, vec![json!({"x": 1})])[0];
    // default: ignore
    let r = c.commit(json!({"append": true, "entries": [{"id": 987654, "data": {"n": 2}}, {"id": foreign, "data": {"n": 3}}]})).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        datas(r.json["entries"].as_array().unwrap()),
        vec![json!({"n": 1})]
    );
    assert_eq!(c.emu.entries(other)[0].data, json!({"x": 1}));
    // error: 400 and nothing changes
    c.emu.set_update_unknown(UpdateUnknown::Error);
    let r = c.commit(json!({"append": true, "entries": [{"data": {"n": 5}}, {"id": 987654, "data": {"n": 2}}]})).await;
    assert_error(&r, 400);
    assert_eq!(c.emu.entries(ds).len(), 1);
    // insert: a new entry with a fresh id
    let r = c
        .control(
            Method::PUT,
            "__emulator/settings",
            Some(json!({"updateUnknown": "insert"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = c
        .commit(json!({"append": true, "entries": [{"id": 987654, "data": {"n": 2}}]}))
        .await;
    let list = r.json["entries"].as_array().unwrap();
    assert_eq!(datas(list), vec![json!({"n": 1}), json!({"n": 2})]);
    assert!(list[1]["id"].as_u64().unwrap() > id);
    assert_ne!(list[1]["id"], json!(987654));
}

#[tokio::test]
async fn s20_commit_returns_every_entry_or_none_with_return_entries_false() {
    let c = Ctx::new().await;
    c.emu
        .insert_entries(c.ds(), vec![json!({"a": 1}), json!({"a": 2})]);
    let r = c
        .commit(json!({"append": true, "entries": [{"data": {"a": 3}}]}))
        .await;
    assert_eq!(r.status, 200);
    let all = c.list().await;
    assert_eq!(r.json, json!({"entries": all}));
    let r = c
        .commit(json!({"append": true, "entries": [{"data": {"a": 4}}], "returnEntries": false}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!({"entries": []}));
    assert_eq!(c.list().await.len(), 4);
}

#[tokio::test]
async fn s21_invalid_commit_is_400_and_changes_nothing() {
    let c = Ctx::new().await;
    let ids = c.emu.insert_entries(c.ds(), vec![json!({"a": 1})]);
    let before = c.emu.entries(c.ds());
    let bad = [
        json!({}),
        json!({"entries": {"data": {}}}),
        json!({"entries": "x"}),
        json!({"entries": null}),
        json!({"entries": [{"data": {"b": 1}}], "runHooks": ["insert", "destroy"]}),
        json!({"entries": [{"data": {"b": 1}}], "runHooks": "insert"}),
        json!({"entries": [{"data": {"b": 1}}, {"data": 5}]}),
        json!({"entries": [{"data": {"b": 1}}, 7]}),
        json!({"entries": [{"data": {"b": 1}}], "delete": "all"}),
        json!({"entries": [{"data": {"b": 1}}], "delete": [ids[0]], "append": "maybe"}),
    ];
    for b in bad {
        let r = c.commit(b.clone()).await;
        assert_error(&r, 400);
        assert_eq!(c.emu.entries(c.ds()), before, "{b}");
    }
    assert_eq!(
        c.emu.data_source(c.ds()).unwrap().columns,
        Some(vec!["a".to_string()])
    );
    // Permission failure part-way (insert allowed, delete not) also changes nothing.
    c.emu.revoke(&c.basic.token, c.ds(), &[Perm::Delete]);
    let r = c
        .commit(json!({"append": true, "entries": [{"data": {"b": 1}}], "delete": [ids[0]]}))
        .await;
    assert_error(&r, 400);
    assert!(r.json["message"].as_str().unwrap().contains("delete"));
    assert_eq!(c.emu.entries(c.ds()), before);
    // append:false would remove entries, which needs delete too.
    let r = c.commit(json!({"entries": [{"data": {"b": 1}}]})).await;
    assert_error(&r, 400);
    assert_eq!(c.emu.entries(c.ds()), before);
}

#[tokio::test]
async fn s22_run_hooks_in_journal_and_new_keys_extend_columns() {
    let c = Ctx::new().await;
    let ds = c.ds();
    assert_eq!(c.emu.data_source(ds).unwrap().columns, None);
    let text = r#"{"append": true, "runHooks": ["insert", "update"], "entries": [
        {"data": {"Zeta": 1, "Alpha": 2, "Full Name": "x"}},
        {"data": {"Alpha": 3, "Beta": 4}}
    ]}"#;
    let r = c
        .raw(Method::POST, &format!("v1/data-sources/{ds}/commit"), text)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        c.emu.data_source(ds).unwrap().columns.unwrap(),
        vec!["Zeta", "Alpha", "Full Name", "Beta"]
    );
    let id = r.json["entries"][0]["id"].as_u64().unwrap();
    let text = format!(
        r#"{{"append": true, "extend": true, "entries": [{{"id": {id}, "data": {{"Gamma": 1, "Alpha": 9}}}}]}}"#
    );
    c.raw(Method::POST, &format!("v1/data-sources/{ds}/commit"), &text)
        .await;
    // Merged data keeps the old key order and appends new keys.
    let r = c.get(&format!("v1/data-sources/{ds}/data/{id}")).await;
    assert!(
        r.text
            .contains(r#""data":{"Zeta":1,"Alpha":9,"Full Name":"x","Gamma":1}"#),
        "{}",
        r.text
    );
    assert_eq!(
        c.emu.data_source(ds).unwrap().columns.unwrap(),
        vec!["Zeta", "Alpha", "Full Name", "Beta", "Gamma"]
    );
    let j = c.emu.journal();
    let commit = j.iter().find(|e| e.path.ends_with("/commit")).unwrap();
    assert_eq!(
        commit.body.as_ref().unwrap()["runHooks"],
        json!(["insert", "update"])
    );
    // Column order also reported by GET data-source.
    let r = c.get(&format!("v1/data-sources/{ds}")).await;
    assert_eq!(
        r.json["dataSource"]["columns"],
        json!(["Zeta", "Alpha", "Full Name", "Beta", "Gamma"])
    );
}

#[tokio::test]
async fn commit_ten_thousand_entries() {
    let c = Ctx::new().await;
    let entries: Vec<Value> = (0..10_000)
        .map(|i| json!({"data": {"id": i, "Email": format!("u{i}@x.test")}}))
        .collect();
    let r = c.commit(json!({"append": true, "entries": entries})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["entries"].as_array().unwrap().len(), 10_000);
    // The journal keeps the parsed body of a normal-size commit.
    let j = c.emu.journal();
    assert_eq!(
        j[0].body.as_ref().unwrap()["entries"]
            .as_array()
            .unwrap()
            .len(),
        10_000
    );
}

#[tokio::test]
async fn commit_accepts_pretty_printed_bodies() {
    let c = Ctx::new().await;
    let text = "{\n  \"append\": true,\n  \"entries\": [\n    { \"data\": { \"b\": 1, \"a\": [1, 2],\n \"c\": \"x: y\" } }\n  ]\n}";
    let r = c
        .raw(
            Method::POST,
            &format!("v1/data-sources/{}/commit", c.ds()),
            text,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["entries"][0]["data"],
        json!({"b": 1, "a": [1, 2], "c": "x: y"})
    );
    assert!(
        r.text.contains(r#""data":{"b":1,"a":[1, 2],"c":"x: y"}"#),
        "{}",
        r.text
    );
    assert_eq!(
        c.emu.data_source(c.ds()).unwrap().columns.unwrap(),
        vec!["b", "a", "c"]
    );
}
