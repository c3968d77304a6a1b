//! Field encryption end to end: real databases, the emulator's keystore, and the values read
//! back with the real `crypto-js` under Node, the way Fliplet apps read them
//! (`CryptoJS.AES.decrypt(value, key).toString(CryptoJS.enc.Utf8)`; the keystore key itself
//! with the salt, as `Fliplet.DataSources.Encryption.KeyStore.getKey(salt)` does).
//!
//! Needs Node and `npm ci --prefix tests/js` (scripts/setup.sh); without them these tests FAIL.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::*;
use fliplet_agent::config::{Job, Operation, PushOperation};
use fliplet_agent::sync::run::{client_for, preview_job, run_job};
use fliplet_agent::sync::{PushRun, RunError, run_push};
use serde_json::{Value, json};

fn op(job: &Job) -> &PushOperation {
    let Operation::Push(p) = &job.operations[0] else {
        panic!("the job is one push")
    };
    p
}

async fn push(job: &Job, dry_run: bool) -> Result<PushRun, RunError> {
    let client = client_for(job).unwrap();
    run_push(
        &client,
        op(job),
        dry_run,
        &job.name,
        &fliplet_agent::sync::control::RunControl::new(),
    )
    .await
}

/// `CryptoJS.AES.decrypt(c, key).toString(CryptoJS.enc.Utf8)` for each `(ciphertext, key)`,
/// with the real crypto-js.
fn js_decrypt(items: &[(String, String)]) -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("js");
    assert!(
        dir.join("node_modules/crypto-js/package.json").is_file(),
        "run `npm ci --prefix tests/js` first (these tests must not be skipped)"
    );
    let request: Vec<Value> = items
        .iter()
        .map(|(c, k)| json!({"op": "decrypt", "key": k, "input": c}))
        .collect();
    let mut child = Command::new("node")
        .arg(dir.join("cryptojs.js"))
        .arg("batch")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::Array(request).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    results
        .into_iter()
        .map(|r| {
            r["ok"]
                .as_str()
                .unwrap_or_else(|| panic!("crypto-js failed: {r}"))
                .to_string()
        })
        .collect()
}

const PEOPLE: &str = "
CREATE TABLE people (id INTEGER, email TEXT, salary INTEGER, note TEXT, updatedAt TEXT);
INSERT INTO people VALUES (1, 'ann@acme.test', 52000, 'Zoë 👋 東京', '2024-03-01T10:00:00.000Z');
INSERT INTO people VALUES (2, 'bob@acme.test', 0, NULL, '2024-03-01T10:00:00.000Z');
";

fn keystore_calls(env: &Env) -> Vec<String> {
    env.writes()
        .into_iter()
        .filter(|w| !w.ends_with("/commit"))
        .collect()
}

/// The keystore key as an app gets it: the keystore entry's content decrypted by crypto-js
/// with the default salt `<organizationId>-<keystoreId>`.
fn app_key(env: &Env) -> String {
    let ks = env
        .emu
        .state_snapshot()
        .data_sources
        .into_iter()
        .find(|d| d.data_source.r#type.as_deref() == Some("keystore"))
        .expect("a keystore data source");
    let content = ks.entries[0].data["content"].as_str().unwrap().to_string();
    let salt = format!("{}-{}", ks.data_source.organization_id, ks.data_source.id);
    js_decrypt(&[(content, salt)]).remove(0)
}

#[tokio::test]
async fn keystore_is_created_on_the_first_run_reused_on_the_second_and_apps_can_read_the_data() {
    let env = Env::new().await;
    let (db, path) = sqlite(&env, PEOPLE).await;
    let job = env.job(
        &db,
        "query: SELECT * FROM people ORDER BY id\nprimary_column: id\ntimestamp_column: updatedAt\nencrypt:\n  fields:\n    - email\n    - salary\n    - note",
    );
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let calls = keystore_calls(&env);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0], "POST /v1/data-sources");
    assert!(calls[1].starts_with("PUT /v1/data-sources/") && calls[1].ends_with("/data"));
    let put = env
        .emu
        .journal()
        .into_iter()
        .find(|j| j.method == "PUT")
        .unwrap()
        .body
        .unwrap();
    assert_eq!(put["source"], json!("Fliplet Agent"));
    assert!(
        put["createdAt"].as_i64().unwrap() > 1_700_000_000,
        "unix seconds"
    );

    let key = app_key(&env);
    assert_eq!(key.len(), 32);
    let data = env.data();
    let ann = &data[0];
    for f in ["email", "salary", "note"] {
        assert!(
            ann[f].as_str().unwrap().starts_with("U2FsdGVkX1"),
            "{f}: {ann}"
        );
    }
    let plain = js_decrypt(&[
        (ann["email"].as_str().unwrap().into(), key.clone()),
        (ann["salary"].as_str().unwrap().into(), key.clone()),
        (ann["note"].as_str().unwrap().into(), key.clone()),
    ]);
    assert_eq!(plain, vec!["ann@acme.test", "52000", "Zoë 👋 東京"]);
    // Falsy values are sent as they are (the original skipped them).
    assert_eq!(data[1]["salary"], json!(0));
    assert_eq!(data[1]["note"], Value::Null);
    assert_eq!(data[0]["id"], json!(1), "the primary key stays readable");

    // Second run: the keystore is found and its key reused; nothing changed -> no commit.
    env.emu.clear_journal();
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert!(env.writes().is_empty(), "{:?}", env.writes());

    // A changed row is encrypted with the same key.
    sqlite_exec(
        &path,
        "UPDATE people SET email = 'bob@new.test', updatedAt = '2024-03-02T00:00:00.000Z' WHERE id = 2",
    )
    .await;
    let r = run_job(&job, false, None).await;
    assert_eq!(r.totals().updated, 1, "{r:?}");
    assert!(
        keystore_calls(&env).is_empty(),
        "{:?}",
        keystore_calls(&env)
    );
    let bob = &env.data()[1];
    assert_eq!(
        js_decrypt(&[(bob["email"].as_str().unwrap().into(), key)]),
        vec!["bob@new.test"]
    );
    assert_eq!(
        env.emu
            .state_snapshot()
            .data_sources
            .iter()
            .filter(|d| d.data_source.r#type.as_deref() == Some("keystore"))
            .count(),
        1
    );
}

#[tokio::test]
async fn without_a_timestamp_column_encrypted_fields_are_compared_in_plaintext() {
    let env = Env::new().await;
    let (db, path) = sqlite(&env, PEOPLE).await;
    let job = env.job(
        &db,
        "query: SELECT id, email, note FROM people ORDER BY id\nprimary_column: id\nencrypt:\n  fields: [email, note]\n  key: my-own-key",
    );
    assert!(run_job(&job, false, None).await.succeeded());
    env.emu.clear_journal();
    // Fresh random salts would make every ciphertext differ; the plan compares plaintexts.
    let r = push(&job, false).await.unwrap();
    assert_eq!(r.counts().unchanged, 2, "{:?}", r.plan);
    assert!(env.writes().is_empty());

    sqlite_exec(&path, "UPDATE people SET note = 'changed' WHERE id = 1").await;
    // The preview shows the one changed cell, in plaintext on both sides.
    let p = preview_job(&job, None).await;
    let plan = p.operations[0].plan.as_ref().unwrap();
    assert_eq!(plan.updates.len(), 1);
    let changes = serde_json::to_value(&plan.updates[0].changes).unwrap();
    assert_eq!(
        changes,
        json!([{"column": "note", "before": "Zoë 👋 東京", "after": "changed"}])
    );
    let r = push(&job, false).await.unwrap();
    assert_eq!((r.counts().updated, r.counts().unchanged), (1, 1));
    let note = env.data()[0]["note"].as_str().unwrap().to_string();
    assert_eq!(js_decrypt(&[(note, "my-own-key".into())]), vec!["changed"]);
}

#[tokio::test]
async fn a_configured_key_needs_no_keystore() {
    let env = Env::new().await;
    let (db, _) = sqlite(&env, PEOPLE).await;
    let job = env.job(
        &db,
        "query: SELECT * FROM people ORDER BY id\nprimary_column: id\nencrypt:\n  fields: [email]\n  key: MySuperSecretEncryptionKey",
    );
    let run = push(&job, false).await.unwrap();
    assert!(keystore_calls(&env).is_empty(), "{:?}", env.writes());
    assert!(
        !env.emu
            .journal()
            .iter()
            .any(|j| j.query.contains("type=keystore")),
        "no keystore lookup with a configured key"
    );
    let email = env.data()[0]["email"].as_str().unwrap().to_string();
    assert_eq!(
        js_decrypt(&[(email, "MySuperSecretEncryptionKey".into())]),
        vec!["ann@acme.test"]
    );
    let report = serde_json::to_string(&run.encryption).unwrap();
    assert!(report.contains("\"configured\""), "{report}");
    assert!(!report.contains("MySuperSecret"), "{report}");
}

#[tokio::test]
async fn a_wrong_salt_stops_the_run_with_the_original_message() {
    let env = Env::new().await;
    let (db, _) = sqlite(&env, PEOPLE).await;
    let base =
        "query: SELECT * FROM people ORDER BY id\nprimary_column: id\nencrypt:\n  fields: [email]";
    // First run creates the keystore with a salt of our own.
    let job = env.job(&db, &format!("{base}\n  salt: right-salt"));
    assert!(run_job(&job, false, None).await.succeeded());
    let ks = env
        .emu
        .state_snapshot()
        .data_sources
        .into_iter()
        .find(|d| d.data_source.r#type.as_deref() == Some("keystore"))
        .unwrap();
    let content = ks.entries[0].data["content"].as_str().unwrap().to_string();
    let key = js_decrypt(&[(content, "right-salt".into())]).remove(0);
    assert_eq!(key.len(), 32, "apps read the key with getKey('right-salt')");

    env.emu.clear_journal();
    let job = env.job(&db, &format!("{base}\n  salt: wrong-salt"));
    let r = run_job(&job, false, None).await;
    let err = r.operations[0].error.clone().expect("the run fails");
    assert!(
        err.contains("The salt provided for the key decryption is incorrect"),
        "{err}"
    );
    assert!(!err.contains("wrong-salt") && !err.contains(&key), "{err}");
    assert!(env.writes().is_empty(), "nothing sent: {:?}", env.writes());
}

#[tokio::test]
async fn a_dry_run_creates_no_keystore_and_says_which_fields_would_be_encrypted() {
    let env = Env::new().await;
    let (db, _) = sqlite(&env, PEOPLE).await;
    let job = env.job(
        &db,
        "query: SELECT * FROM people ORDER BY id\nprimary_column: id\nencrypt:\n  fields: [email, salary, missing]",
    );
    let p = preview_job(&job, None).await;
    assert!(p.succeeded(), "{p:?}");
    assert!(env.writes().is_empty(), "{:?}", env.writes());
    let plan = serde_json::to_value(p.operations[0].plan.as_ref().unwrap()).unwrap();
    let enc = &plan["encryption"];
    assert_eq!(enc["fields"], json!(["email", "salary"]));
    assert_eq!(enc["missing_fields"], json!(["missing"]));
    assert_eq!(enc["key_source"]["kind"], json!("would_create_keystore"));
    // ann's email and salary, bob's email (bob's salary is 0: sent as it is).
    assert_eq!(enc["values"], json!(3));

    let r = run_job(&job, true, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert!(env.writes().is_empty(), "{:?}", env.writes());
}

#[tokio::test]
async fn postgresql_rows_encrypted_with_the_keystore_key() {
    let env = Env::new().await;
    let pool = pg().await;
    let table = unique("enc_pg");
    pg_exec(
        &pool,
        &format!(
            "CREATE TABLE {table} (id INT PRIMARY KEY, email TEXT, balance NUMERIC(10,2), born DATE, active BOOLEAN);
             INSERT INTO {table} VALUES (1, 'ann@acme.test', 1234.50, '1990-05-01', true);"
        ),
    )
    .await;
    let job = env.job(
        &pg_yaml(),
        &format!("query: SELECT * FROM {table}\nprimary_column: id\nencrypt:\n  fields: [email, balance, born, active]"),
    );
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let key = app_key(&env);
    let row = &env.data()[0];
    let fields = ["email", "balance", "born", "active"];
    let plain = js_decrypt(
        &fields
            .iter()
            .map(|f| (row[*f].as_str().unwrap().to_string(), key.clone()))
            .collect::<Vec<_>>(),
    );
    // Each value is encrypted from the text of the value the original sends for that type.
    assert_eq!(plain[0], "ann@acme.test");
    assert_eq!(plain[1], "1234.50");
    assert!(plain[2].starts_with("1990-0"), "{}", plain[2]);
    assert_eq!(plain[3], "true");

    // Re-sync without a timestamp column: plaintext comparison, nothing sent.
    env.emu.clear_journal();
    let r = run_job(&job, false, None).await;
    assert_eq!(r.totals().unchanged, 1, "{r:?}");
    assert!(env.writes().is_empty(), "{:?}", env.writes());
    pg_exec(&pool, &format!("DROP TABLE {table}")).await;
}
