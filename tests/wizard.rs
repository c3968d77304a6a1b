//! The setup wizard's checks against the real services: the emulator (token, data sources,
//! access), PostgreSQL (with a password-checked role made by scripts/setup.sh), SQLite, and
//! the draft → job file → run round trip. Secrets go to a sealed-file store in a temp dir.

mod common;

use std::sync::Arc;

use common::{Env, env_or, pg, pg_exec, sqlite_exec, unique};
use fliplet_agent::app::agent::Agent;
use fliplet_agent::app::error::ErrorCode;
use fliplet_agent::app::history::{Outcome, Trigger};
use fliplet_agent::app::wizard::{self, JobDraft};
use fliplet_agent::hint::Hint;
use fliplet_agent::log::LogCapture;
use fliplet_agent::secret_store::{self, SecretStore};
use fliplet_emulator::Perm;
use serde_json::json;

/// The role of scripts/setup.sh whose password PostgreSQL checks.
const PW_USER: &str = "fliplet_pw";
const PW_RIGHT: &str = "fliplet-pw-right";

fn store(env: &Env) -> SecretStore {
    SecretStore::sealed_file(&env.dir.path().join("data"))
}

/// A draft whose token is verified against the env's emulator.
async fn verified(env: &Env, store: &SecretStore) -> JobDraft {
    let check = wizard::verify_token(store, &env.basic.token, &env.emu.url(), "")
        .await
        .unwrap();
    JobDraft {
        auth_token: Some(check.reference),
        api_url: env.emu.url(),
        data_source_id: Some(env.ds()),
        ..JobDraft::default()
    }
}

fn pg_draft(mut d: JobDraft, user: &str) -> JobDraft {
    d.database = wizard::DatabaseDraft {
        driver: "postgres".into(),
        host: env_or("FLIPLET_TEST_PG_HOST", "127.0.0.1"),
        port: env_or("FLIPLET_TEST_PG_PORT", "5432").parse().ok(),
        username: user.into(),
        database: env_or("FLIPLET_TEST_PG_DB", "test"),
        ..Default::default()
    };
    d
}

#[tokio::test]
async fn a_verified_token_says_whose_it_is_and_is_kept_only_in_the_store() {
    let env = Env::new().await;
    let store = store(&env);
    let check = wizard::verify_token(
        &store,
        &format!("  {}  ", env.basic.token),
        &env.emu.url(),
        "",
    )
    .await
    .unwrap();
    assert_eq!(check.user.id, env.basic.user_id);
    assert_eq!(
        check.region,
        fliplet_agent::fliplet::region_of(&env.basic.token)
    );
    assert!(
        check
            .organizations
            .iter()
            .any(|o| o.id == env.basic.organization_id)
    );
    assert!(check.reference.starts_with("keychain:fliplet-agent/token-"));
    let name = check.reference.strip_prefix("keychain:").unwrap();
    assert_eq!(store.get(name).unwrap().expose(), env.basic.token);
    let shown = serde_json::to_string(&check).unwrap();
    assert!(
        !shown.contains(&env.basic.token),
        "the token itself is never sent back"
    );
}

#[tokio::test]
async fn a_wrong_token_is_refused_with_the_reason_and_a_hint_and_is_not_stored() {
    let env = Env::new().await;
    let store = store(&env);
    let bad = "eu--not-a-real-token-123";
    let e = wizard::verify_token(&store, bad, &env.emu.url(), "")
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Token);
    assert_eq!(e.field.as_deref(), Some("token"));
    let hint = e.hint.unwrap();
    assert_eq!(e.hint_kind, Some(Hint::TokenRefused));
    assert!(
        hint.contains("revoked") && hint.contains("region"),
        "{hint}"
    );
    assert!(hint.contains("App settings → API tokens"), "{hint}");
    assert!(!e.message.contains(bad) && !hint.contains(bad));
    assert!(
        store.list().unwrap().is_empty(),
        "nothing stored for a bad token"
    );

    let e = wizard::verify_token(&store, "   ", &env.emu.url(), "")
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Validation);
    assert_eq!(e.hint_kind, Some(Hint::ApiToken));
    assert!(e.hint.unwrap().contains("App settings → API tokens"));
}

#[tokio::test]
async fn an_unreachable_api_and_a_missing_ca_file_are_told_apart() {
    let env = Env::new().await;
    let store = store(&env);
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = wizard::verify_token(
        &store,
        &env.basic.token,
        &format!("http://127.0.0.1:{port}"),
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Network, "{e:?}");
    assert!(e.hint.unwrap().contains("network"));

    let e = wizard::verify_token(
        &store,
        &env.basic.token,
        &env.emu.url(),
        "/nonexistent/ca.pem",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Tls);
    assert_eq!(e.field.as_deref(), Some("caFile"));
    assert!(e.message.contains("/nonexistent/ca.pem"));

    let not_pem = env.dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let e = wizard::verify_token(
        &store,
        &env.basic.token,
        &env.emu.url(),
        not_pem.to_str().unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Tls, "{e:?}");
}

#[tokio::test]
async fn data_sources_are_listed_and_one_shows_its_columns_and_count_or_what_to_grant() {
    let env = Env::new().await;
    let store = store(&env);
    let draft = verified(&env, &store).await;
    let other = env
        .emu
        .add_data_source(env.basic.organization_id, "Another one");
    env.emu.insert_entries(
        env.ds(),
        vec![
            json!({"id": 1, "Name": "A"}),
            json!({"id": 2, "Email": "b@x"}),
        ],
    );
    let list = wizard::data_sources(&draft, &store).await.unwrap();
    assert!(list.iter().any(|d| d.id == env.ds()));
    assert!(
        list.iter()
            .any(|d| d.id == other && d.name == "Another one")
    );

    let info = wizard::data_source(&draft, &store, env.ds()).await.unwrap();
    assert_eq!(info.entry_count, Some(2));
    let cols = info.columns.unwrap();
    for c in ["id", "Name", "Email"] {
        assert!(cols.iter().any(|x| x == c), "{c} in {cols:?}");
    }
    assert!(info.access_error.is_none());

    // The token may not read `other`: the 400 datasource.access case.
    let info = wizard::data_source(&draft, &store, other).await.unwrap();
    let denied = info.access_error.expect("no access");
    assert_eq!(denied.code, ErrorCode::NoAccess);
    assert!(denied.hint.unwrap().contains("Security"));
    assert!(info.columns.is_none() && info.entry_count.is_none());

    // Read access only: readable, so the columns show (writes are checked by the run).
    env.emu.grant(&env.basic.token, other, &[Perm::Select]);
    let info = wizard::data_source(&draft, &store, other).await.unwrap();
    assert_eq!(info.entry_count, Some(0));

    let e = wizard::data_source(&draft, &store, 999_999)
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("dataSourceId"));
    assert!(e.message.contains("999999"), "{}", e.message);
}

#[tokio::test]
async fn a_wrong_postgres_password_names_the_password_and_the_right_one_is_stored() {
    let env = Env::new().await;
    let store = store(&env);
    let draft = pg_draft(verified(&env, &store).await, PW_USER);
    let e = wizard::test_connection(&draft, &store, Some("not-the-password"))
        .await
        .expect_err("scripts/setup.sh makes PostgreSQL check the password of fliplet_pw");
    assert_eq!(e.code, ErrorCode::Database);
    assert_eq!(e.field.as_deref(), Some("database.password"), "{e:?}");
    assert!(
        e.message.contains("password authentication failed"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("not-the-password"));
    assert_eq!(e.hint_kind, Some(Hint::DatabaseLogin), "{e:?}");
    assert_eq!(e.hint, Some(Hint::DatabaseLogin.text()));
    assert!(
        !e.message.contains("database_password"),
        "the wizard names its fields, not YAML keys: {}",
        e.message
    );
    assert!(store.list().unwrap().iter().all(|n| !n.contains("db-")));

    let ok = wizard::test_connection(&draft, &store, Some(PW_RIGHT))
        .await
        .unwrap();
    assert!(ok.description.contains("PostgreSQL"));
    assert!(ok.server_version.unwrap().starts_with("PostgreSQL"));
    let reference = ok.password.unwrap();
    assert_eq!(
        store
            .get(reference.strip_prefix("keychain:").unwrap())
            .unwrap()
            .expose(),
        PW_RIGHT
    );
    // With the stored reference and no typed password, it connects again.
    let mut again = draft.clone();
    again.database.password = Some(reference);
    let ok = wizard::test_connection(&again, &store, None).await.unwrap();
    assert!(ok.password.is_none());
}

#[tokio::test]
async fn a_query_shows_its_first_rows_with_types_and_a_broken_one_the_database_message() {
    let env = Env::new().await;
    let store = store(&env);
    let pool = pg().await;
    let table = unique("wiz_rows");
    pg_exec(
        &pool,
        &format!(
            "create table {table} (id int primary key, name text, score numeric(5,2));
             insert into {table} select g, 'n' || g, g / 4.0 from generate_series(1, 30) g;"
        ),
    )
    .await;
    let mut draft = pg_draft(verified(&env, &store).await, "postgres");
    draft.query = format!("select id, name, score from {table} order by id");
    let r = wizard::run_query(&draft, &store, 20).await.unwrap();
    assert_eq!(
        r.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["id", "name", "score"]
    );
    assert_eq!(r.columns[0].type_name.to_lowercase(), "int4");
    assert_eq!(r.rows.len(), 20);
    assert!(r.more);
    assert_eq!(r.rows[0], vec![json!(1), json!("n1"), json!("0.25")]);

    draft.query = format!("select id, nam from {table}");
    let e = wizard::run_query(&draft, &store, 20).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Query);
    assert_eq!(e.field.as_deref(), Some("query"));
    assert!(e.message.contains("nam"), "{}", e.message);
    pg_exec(&pool, &format!("drop table {table}")).await;
}

#[tokio::test]
async fn the_key_issues_of_a_query_are_the_rows_a_sync_skips() {
    // One key rule: the wizard's warnings come from the sync plan's key function, so the rows
    // it calls empty or duplicated are exactly the ones a run skips (whitespace is a key).
    let env = Env::new().await;
    let store = store(&env);
    let db = env.dir.path().join("keys.sqlite");
    sqlite_exec(
        &db,
        "create table t (n integer, k text);
         insert into t values (1, 'a'), (2, null), (3, ''), (4, '  '), (5, 'A'), (6, 'a'), (7, '7'), (8, '7');",
    )
    .await;
    let mut draft = verified(&env, &store).await;
    draft.database = wizard::DatabaseDraft {
        driver: "sqlite".into(),
        database: db.to_string_lossy().into_owned(),
        ..Default::default()
    };
    draft.query = "select n, k from t order by n".into();
    let r = wizard::run_query(&draft, &store, 20).await.unwrap();
    let k = &r.keys[1];
    assert_eq!(k.column, "k");
    assert_eq!(k.empty, [2, 3]);
    let rows = |d: &[wizard::KeyDuplicate]| {
        d.iter()
            .map(|d| (d.value.clone(), d.rows.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rows(&k.duplicates),
        [("a".to_owned(), vec![1, 6]), ("7".to_owned(), vec![7, 8])]
    );
    assert_eq!(
        rows(&k.duplicates_ignoring_case),
        [
            ("a".to_owned(), vec![1, 5, 6]),
            ("7".to_owned(), vec![7, 8])
        ]
    );
    assert!(r.keys[0].empty.is_empty() && r.keys[0].duplicates.is_empty());

    for case_insensitive in [false, true] {
        draft.primary_column = "k".into();
        draft.case_insensitive = case_insensitive;
        let preview = wizard::preview(&draft, &store).await.unwrap();
        let plan = preview.operations[0].plan.as_ref().unwrap();
        let dups = if case_insensitive {
            &k.duplicates_ignoring_case
        } else {
            &k.duplicates
        };
        let mut skipped: Vec<usize> = k.empty.clone();
        skipped.extend(dups.iter().flat_map(|d| d.rows[1..].iter().copied()));
        skipped.sort();
        let mut planned: Vec<usize> = plan.skipped.iter().map(|s| s.row).collect();
        planned.sort();
        assert_eq!(planned, skipped, "case_insensitive: {case_insensitive}");
    }
}

#[tokio::test]
async fn schedules_are_described_with_their_next_five_runs_and_bad_ones_refused() {
    let s = wizard::describe_schedule("*/15 * * * *").unwrap();
    assert!(s.description.contains("15"), "{}", s.description);
    assert_eq!(s.next.len(), 5);
    let times: Vec<chrono::DateTime<chrono::Utc>> =
        s.next.iter().map(|t| t.parse().unwrap()).collect();
    assert!(times.windows(2).all(|w| (w[1] - w[0]).num_minutes() == 15));
    let e = wizard::describe_schedule("61 * * * *").unwrap_err();
    assert_eq!(e.code, ErrorCode::Schedule);
    assert_eq!(e.field.as_deref(), Some("frequency"));
}

#[tokio::test]
async fn drafts_refuse_what_cannot_work_naming_the_field() {
    let base = JobDraft {
        auth_token: Some("keychain:fliplet-agent/t".into()),
        data_source_id: Some(1),
        query: "select 1".into(),
        ..JobDraft::default()
    };
    let field = |d: JobDraft| d.to_job().unwrap_err().field.unwrap();
    assert_eq!(
        field(JobDraft {
            auth_token: None,
            ..base.clone()
        }),
        "authToken"
    );
    // A plain token is never accepted into a draft (it would be saved in the file).
    assert_eq!(
        field(JobDraft {
            auth_token: Some("eu--plain".into()),
            ..base.clone()
        }),
        "authToken"
    );
    assert_eq!(
        field(JobDraft {
            data_source_id: None,
            ..base.clone()
        }),
        "dataSourceId"
    );
    assert_eq!(
        field(JobDraft {
            query: " ".into(),
            ..base.clone()
        }),
        "query"
    );
    assert_eq!(
        field(JobDraft {
            batch_size: 0,
            ..base.clone()
        }),
        "batchSize"
    );
    assert_eq!(
        field(JobDraft {
            concurrency: 0,
            ..base.clone()
        }),
        "concurrency"
    );
    assert_eq!(
        field(JobDraft {
            frequency: "every day".into(),
            ..base.clone()
        }),
        "frequency"
    );
    let mut sqlite = base.clone();
    sqlite.database.driver = "sqlite".into();
    assert_eq!(field(sqlite), "database.database");
    let mut enc = base.clone();
    enc.primary_column = "id".into();
    enc.encrypt = Some(wizard::EncryptDraft {
        fields: vec!["id".into()],
        key: None,
    });
    assert_eq!(field(enc), "encrypt");
    assert!(base.to_job().is_ok());
}

/// The whole wizard on SQLite: preview, save, run — the run commits exactly what the preview
/// showed, the file runs unchanged and holds no secret, and the job is scheduled.
#[tokio::test]
async fn a_previewed_sqlite_job_saves_runs_and_commits_what_the_preview_counted() {
    let env = Env::new().await;
    let data = env.dir.path().join("data");
    let store = SecretStore::sealed_file(&data);
    let jobs_dir = env.dir.path().join("jobs");
    let agent: Arc<Agent> = Agent::open(&jobs_dir, &data, store, LogCapture::new())
        .await
        .unwrap();
    let store = agent.secrets();
    let db = env.dir.path().join("source.sqlite");
    sqlite_exec(
        &db,
        "create table people (id integer primary key, name text, deleted integer);
         insert into people values (1, 'Ann', 0), (2, 'Bob changed', 0), (3, 'Cy', 1), (4, 'Dee', 0);",
    )
    .await;
    // On Fliplet: 2 (to update), 3 (flagged for deletion), 5 (not in the source: kept).
    env.emu.insert_entries(
        env.ds(),
        vec![
            json!({"id": 2, "name": "Bob", "deleted": 0}),
            json!({"id": 3, "name": "Cy", "deleted": 0}),
            json!({"id": 5, "name": "Eve", "deleted": 0}),
        ],
    );
    let mut draft = verified(&env, store).await;
    draft.name = "people".into();
    draft.database = wizard::DatabaseDraft {
        driver: "sqlite".into(),
        database: db.to_string_lossy().into_owned(),
        ..Default::default()
    };
    draft.query = "select id, name, deleted from people".into();
    draft.primary_column = "id".into();
    draft.delete_column = "deleted".into();
    draft.frequency = "*/15 * * * *".into();
    // No field in the wizard: an imported or hand-edited value is kept.
    draft.query_timeout = 90;
    draft.stall_timeout = 0;
    let ok = wizard::test_connection(&draft, store, None).await.unwrap();
    assert!(ok.server_version.unwrap().starts_with("SQLite"));

    let preview = wizard::preview(&draft, store).await.unwrap();
    assert!(preview.succeeded(), "{preview:?}");
    let plan = preview.operations[0].plan.as_ref().unwrap();
    let c = plan.counts;
    assert_eq!((c.inserted, c.updated, c.deleted), (2, 1, 1), "{c:?}");
    assert_eq!(plan.updates[0].changes[0].column, "name");
    assert_eq!(plan.updates[0].changes[0].before, json!("Bob"));
    assert_eq!(plan.updates[0].changes[0].after, json!("Bob changed"));
    assert_eq!(plan.deletes[0].reason, "flagged");
    assert!(
        env.writes().is_empty(),
        "a preview writes nothing: {:?}",
        env.writes()
    );

    let saved = agent.save_draft(&draft, true).await.unwrap();
    let run = saved.run.unwrap();
    assert_eq!(run.outcome, Outcome::Success, "{:?}", run.error);
    assert_eq!(
        (run.counts.inserted, run.counts.updated, run.counts.deleted),
        (c.inserted as u64, c.updated as u64, c.deleted as u64)
    );
    let names: Vec<String> = env
        .data()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    for n in ["Ann", "Bob changed", "Dee", "Eve"] {
        assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
    }
    // Scheduled, in the multi-operation format, with references only.
    assert!(saved.job.file.next_run.is_some());
    let text = std::fs::read_to_string(jobs_dir.join("people.yml")).unwrap();
    assert!(text.starts_with(wizard::WIZARD_MARKER));
    assert!(
        text.contains("operations:") && text.contains("keychain:"),
        "{text}"
    );
    assert!(!text.contains(&env.basic.token));
    // It loads as `fliplet-agent start` loads it, and resolves with the store.
    let mut job = fliplet_agent::config::load_job(&jobs_dir.join("people.yml"))
        .unwrap()
        .job;
    secret_store::resolve_job(&mut job, store).unwrap();
    assert_eq!(job.auth_token.expose(), env.basic.token);
    // Editing reopens the same draft.
    let back = agent.load_draft("people").await.unwrap();
    assert_eq!(back.id.as_deref(), Some("people"));
    assert_eq!(back.query, draft.query);
    assert_eq!(back.delete_column, "deleted");
    assert_eq!(back.frequency, "*/15 * * * *");
    assert_eq!((back.query_timeout, back.stall_timeout), (90, 0));
    assert!(
        text.contains("query_timeout: 90\n") && text.contains("stall_timeout: 0\n"),
        "{text}"
    );
    let json = serde_json::to_value(&back).unwrap();
    assert_eq!(
        (json["queryTimeout"].clone(), json["stallTimeout"].clone()),
        (json!(90), json!(0))
    );
    // A second job under the same name is refused, naming the field.
    let e = agent.save_draft(&draft, false).await.unwrap_err();
    assert_eq!(e.field.as_deref(), Some("name"));
    // The Jobs screen's Preview of the saved job: nothing left to do, recorded as a dry run.
    let p = agent.preview_job("people").await.unwrap();
    let c = p.operations[0].plan.as_ref().unwrap().counts;
    assert_eq!((c.inserted, c.updated, c.unchanged), (0, 0, 3), "{c:?}");
    let runs = agent.runs(Some("people"), 10).await.unwrap();
    assert_eq!(runs[0].trigger, Trigger::DryRun);
    assert_eq!(runs[0].counts.unchanged, 3);
}

#[tokio::test]
async fn importing_a_plaintext_yaml_moves_its_secrets_to_the_store_and_opens_a_draft() {
    let env = Env::new().await;
    let data = env.dir.path().join("data");
    let jobs_dir = env.dir.path().join("jobs");
    let agent = Agent::open(
        &jobs_dir,
        &data,
        SecretStore::sealed_file(&data),
        LogCapture::new(),
    )
    .await
    .unwrap();
    let path = env.write_job(
        "sales sync.yml",
        &format!(
            "database_driver: postgres\ndatabase_host: 127.0.0.1\ndatabase_username: {PW_USER}\ndatabase_password: {PW_RIGHT}\ndatabase_name: test"
        ),
        "query: select 1 as id\nprimary_column: id\nfrequency: '0 3 * * *'\n",
    );
    let before = std::fs::read_to_string(&path).unwrap();
    let draft = agent.import_draft(&path).await.unwrap();
    assert_eq!(draft.id, None);
    assert_eq!(draft.name, "sales-sync");
    assert_eq!(draft.frequency, "0 3 * * *");
    let token_ref = draft.auth_token.clone().unwrap();
    let pw_ref = draft.database.password.clone().unwrap();
    let store = agent.secrets();
    assert_eq!(
        store
            .get(token_ref.strip_prefix("keychain:").unwrap())
            .unwrap()
            .expose(),
        env.basic.token
    );
    assert_eq!(
        store
            .get(pw_ref.strip_prefix("keychain:").unwrap())
            .unwrap()
            .expose(),
        PW_RIGHT
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        before,
        "the original file is left"
    );
    // The imported draft connects with the moved password.
    wizard::test_connection(&draft, store, None).await.unwrap();
    let text = wizard::job_file_text(&draft).unwrap();
    assert!(!text.contains(PW_RIGHT) && !text.contains(&env.basic.token));
}

/// Editing the demo job in the wizard keeps it the demo job: it still runs against the
/// emulator the app starts, also after a restart (new port).
#[tokio::test]
async fn an_edited_demo_job_stays_the_demo_job() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let jobs_dir = tmp.path().join("jobs");
    let open = || async {
        Agent::open(
            &jobs_dir,
            &data,
            SecretStore::sealed_file(&data),
            LogCapture::new(),
        )
        .await
        .unwrap()
    };
    let agent = open().await;
    agent.create_demo().await.unwrap();
    let mut draft = agent.load_draft("demo").await.unwrap();
    draft.frequency = "0 6 * * *".into();
    let saved = agent.save_draft(&draft, true).await.unwrap();
    assert_eq!(saved.run.unwrap().outcome, Outcome::Success);
    assert!(saved.job.file.demo, "still marked as the demo job");
    agent.shutdown().await;
    // A restart starts the demo emulator on a new port and points the edited job at it.
    let agent = open().await;
    agent.resume_demo().await.unwrap();
    let run = agent.run_job("demo", Trigger::Manual).await.unwrap().run;
    assert_eq!(run.outcome, Outcome::Success, "{:?}", run.error);
    assert_eq!(run.counts.unchanged, 10);
    let text = std::fs::read_to_string(jobs_dir.join("demo.yml")).unwrap();
    assert!(
        text.contains("0 6 * * *") && text.contains("operations:"),
        "{text}"
    );
    agent.shutdown().await;
}
