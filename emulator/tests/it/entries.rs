//! Behaviours 9–14, entries (docs/fliplet-api.md, "Entry behaviours").

use crate::common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn s09_entry_shape_ids_and_timestamps() {
    let c = Ctx::new().await;
    let ds = c.ds();
    let r = c
        .put(
            &format!("v1/data-sources/{ds}/data"),
            json!({"Name": "Ann"}),
        )
        .await;
    let e = r.json.clone();
    let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
    for k in ["id", "dataSourceId", "data", "createdAt", "updatedAt"] {
        assert!(keys.contains(&k), "{k} missing in {e}");
    }
    assert_eq!(e["dataSourceId"], json!(ds));
    let created = e["createdAt"].as_str().unwrap().to_string();
    assert!(is_iso_millis(&created));
    assert_eq!(e["createdAt"], e["updatedAt"]);
    let id = e["id"].as_u64().unwrap();
    // updatedAt changes on every write, createdAt never.
    let mut last = created.clone();
    for i in 0..3 {
        let r = c
            .put(&format!("v1/data-sources/{ds}/data/{id}"), json!({"n": i}))
            .await;
        assert_eq!(r.json["createdAt"], json!(created));
        let u = r.json["updatedAt"].as_str().unwrap().to_string();
        assert!(is_iso_millis(&u));
        assert!(u > last, "{u} <= {last}");
        last = u;
    }
    let r = c
        .commit(json!({"entries": [{"id": id, "data": {"x": 1}}], "append": true}))
        .await;
    let after = &r.json["entries"][0];
    assert_eq!(after["createdAt"], json!(created));
    assert!(after["updatedAt"].as_str().unwrap() > last.as_str());
    // Ids are never reused, even after deletes.
    c.delete(&format!("v1/data-sources/{ds}/data/{id}")).await;
    let r = c
        .put(
            &format!("v1/data-sources/{ds}/data"),
            json!({"Name": "Bob"}),
        )
        .await;
    assert!(r.json["id"].as_u64().unwrap() > id);
    // Unique across data sources too.
    let other = c.emu.add_data_source(c.basic.organization_id, "Other");
    let ids = c.emu.insert_entries(other, vec![json!({}), json!({})]);
    assert!(ids[0] > r.json["id"].as_u64().unwrap());
}

#[tokio::test]
async fn s10_list_returns_all_entries_in_ascending_id_order() {
    let c = Ctx::new().await;
    assert_eq!(
        c.get(&format!("v1/data-sources/{}/data", c.ds()))
            .await
            .json,
        json!({"entries": []})
    );
    let rows: Vec<Value> = (0..2500).map(|i| json!({"n": i})).collect();
    let ids = c.emu.insert_entries(c.ds(), rows);
    // Delete a few in the middle, insert more later: still ascending, all present.
    c.commit(
        json!({"entries": [{"data": {"n": "late"}}], "delete": [ids[10], ids[20]], "append": true}),
    )
    .await;
    let list = c.list().await;
    assert_eq!(list.len(), 2499);
    let got: Vec<u64> = list.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(got, sorted);
    assert_eq!(list.last().unwrap()["data"]["n"], "late");
}

#[tokio::test]
async fn s11_data_round_trips_exactly() {
    let c = Ctx::new().await;
    let ds = c.ds();
    let text = r#"{"id":17,"sid":"17","big":9007199254740993,"neg":-9223372036854775808,"u64":18446744073709551615,"dec":12.5,"dec2":1.10,"null":null,"t":true,"nested":{"a":[1,"2",{"b":null}]},"Full Name":"Zoë Ångström","ключ":"значение","emoji":"😀","empty":"","arr":[]}"#;
    let r = c
        .http
        .put(c.url(&format!("v1/data-sources/{ds}/data")))
        .header("Auth-token", &c.basic.token)
        .header("Content-Type", "application/json")
        .body(text)
        .send()
        .await
        .unwrap();
    let r = res(r).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sent: Value = serde_json::from_str(text).unwrap();
    assert_eq!(r.json["data"], sent);
    // Through every read path: list, get one, query, commit response, library.
    let list = c.list().await;
    assert_eq!(list[0]["data"], sent);
    // Big integers keep every digit in the raw response text.
    let raw = c.get(&format!("v1/data-sources/{ds}/data")).await.text;
    assert!(raw.contains("9007199254740993"));
    assert!(raw.contains("18446744073709551615"));
    assert!(raw.contains(r#""dec2":1.10"#), "decimals keep their text");
    let id = list[0]["id"].as_u64().unwrap();
    assert_eq!(
        c.get(&format!("v1/data-sources/{ds}/data/{id}")).await.json["data"],
        sent
    );
    assert_eq!(
        c.post(&format!("v1/data-sources/{ds}/data/query"), json!({}))
            .await
            .json["entries"][0]["data"],
        sent
    );
    assert_eq!(c.emu.entries(ds)[0].data, sent);
    // {"id":17} and {"id":"17"} are different values.
    c.commit(json!({"entries": [{"data": {"id": 17}}, {"data": {"id": "17"}}], "append": true}))
        .await;
    let r = c
        .post(
            &format!("v1/data-sources/{ds}/data/query"),
            json!({"where": {"id": 17}}),
        )
        .await;
    assert_eq!(r.json["entries"].as_array().unwrap().len(), 2); // the first entry has id 17 too
    let r = c
        .post(
            &format!("v1/data-sources/{ds}/data/query"),
            json!({"where": {"id": "17"}}),
        )
        .await;
    let e = r.json["entries"].as_array().unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["data"], json!({"id": "17"}));
    // Commit with extend keeps types of untouched values.
    let r = c
        .commit(
            json!({"entries": [{"id": id, "data": {"t": false}}], "append": true, "extend": true}),
        )
        .await;
    let mut expect = sent.clone();
    expect["t"] = json!(false);
    assert_eq!(r.json["entries"][0]["data"], expect);
}

#[tokio::test]
async fn s12_put_data_inserts_one_entry() {
    let c = Ctx::new().await;
    let ds = c.ds();
    let text =
        r#"{"createdAt": 1709630067, "source": "Fliplet Agent", "content": "U2FsdGVkX1+abc=="}"#;
    let body: Value = serde_json::from_str(text).unwrap();
    let r = c
        .raw(
            reqwest::Method::PUT,
            &format!("v1/data-sources/{ds}/data"),
            text,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["data"], body);
    assert_eq!(r.json["dataSourceId"], json!(ds));
    let list = c.list().await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0], r.json);
    assert_eq!(
        c.emu.data_source(ds).unwrap().columns,
        Some(vec!["createdAt".into(), "source".into(), "content".into()])
    );
    // Non-object bodies are rejected.
    assert_error(
        &c.put(&format!("v1/data-sources/{ds}/data"), json!([1, 2]))
            .await,
        400,
    );
}

#[tokio::test]
async fn s12_put_data_multipart_text_and_file_fields() {
    let c = Ctx::new().await;
    let ds = c.ds();
    let form = reqwest::multipart::Form::new().text("Name", "Ann").part(
        "Photo",
        reqwest::multipart::Part::bytes(b"JPEGDATA".to_vec())
            .file_name("ann.jpg")
            .mime_str("image/jpeg")
            .unwrap(),
    );
    let r = res(c
        .http
        .put(c.url(&format!("v1/data-sources/{ds}/data")))
        .header("Auth-token", &c.basic.token)
        .multipart(form)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["data"]["Name"], "Ann");
    let url = r.json["data"]["Photo"].as_str().unwrap();
    assert!(r.json["data"]["PhotoMediaFileId"].is_u64());
    let bytes = c.http.get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..], b"JPEGDATA");
}

#[tokio::test]
async fn s13_entry_get_update_merges_delete_and_404() {
    let c = Ctx::new().await;
    let ds = c.ds();
    let id = c
        .emu
        .insert_entries(ds, vec![json!({"Email": "a@x.test", "Name": "A", "n": 1})])[0];
    let r = c.get(&format!("v1/data-sources/{ds}/data/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["id"], json!(id)); // not wrapped
    let r = c
        .put(
            &format!("v1/data-sources/{ds}/data/{id}"),
            json!({"syncedAt": 1709630067000u64, "n": 2}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json["data"],
        json!({"Email": "a@x.test", "Name": "A", "n": 2, "syncedAt": 1709630067000u64})
    );
    assert_eq!(
        c.emu.data_source(ds).unwrap().columns.unwrap(),
        vec!["Email", "Name", "n", "syncedAt"]
    );
    let r = c.delete(&format!("v1/data-sources/{ds}/data/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!({}));
    assert!(c.emu.entries(ds).is_empty());
    for r in [
        c.get(&format!("v1/data-sources/{ds}/data/{id}")).await,
        c.put(&format!("v1/data-sources/{ds}/data/{id}"), json!({"a": 1}))
            .await,
        c.delete(&format!("v1/data-sources/{ds}/data/{id}")).await,
        c.get(&format!("v1/data-sources/{ds}/data/notanid")).await,
    ] {
        assert_error(&r, 404);
    }
}

#[tokio::test]
async fn s14_bulk_import_replaces_appends_and_truncates() {
    let c = Ctx::new().await;
    let ds = c.ds();
    let path = format!("v1/data-sources/{ds}/data");
    c.emu.insert_entries(ds, vec![json!({"old": 1})]);
    let r = c
        .post(
            &path,
            json!({"entries": [{"Email": "a@x.test"}, {"Email": "b@x.test"}]}),
        )
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    let data: Vec<Value> = c.list().await.iter().map(|e| e["data"].clone()).collect();
    assert_eq!(
        data,
        vec![json!({"Email": "a@x.test"}), json!({"Email": "b@x.test"})]
    );
    // append in the body
    let r = c
        .post(
            &path,
            json!({"append": true, "entries": [{"Email": "c@x.test"}]}),
        )
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    assert_eq!(c.list().await.len(), 3);
    // append in the query
    let r = c
        .post(
            &format!("{path}?append=true"),
            json!({"entries": [{"Email": "d@x.test"}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(c.list().await.len(), 4);
    // truncate
    let r = c.post(&path, json!({"entries": []})).await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    assert!(c.list().await.is_empty());
    assert_error(&c.post(&path, json!({"nope": []})).await, 400);
}

#[tokio::test]
async fn url_encoded_bodies_are_accepted() {
    let c = Ctx::new().await;
    let r = c
        .http
        .put(c.url(&format!("v1/data-sources/{}/data", c.ds())))
        .header("Auth-token", &c.basic.token)
        .form(&[("Email", "c@x.test"), ("Name", "Cy")])
        .send()
        .await
        .unwrap();
    let r = res(r).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["data"], json!({"Email": "c@x.test", "Name": "Cy"}));
}
