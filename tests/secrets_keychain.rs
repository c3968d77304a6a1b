//! The secret store against the real OS keychain.
//!
//! On Linux this needs a Secret Service on the D-Bus session bus. CI runs it inside a private
//! session bus with an unlocked gnome-keyring:
//!
//! ```sh
//! dbus-run-session -- bash -c 'echo -n testpass | gnome-keyring-daemon --unlock --components=secrets >/dev/null; \
//!   FLIPLET_TEST_KEYCHAIN=require \
//!   cargo test -p fliplet-agent --test secrets_keychain'
//! ```
//!
//! Without a reachable keychain every test here prints a note and passes, unless
//! `FLIPLET_TEST_KEYCHAIN=require` is set (then they fail, so CI cannot skip them silently).
//! The sealed-file fallback is tested in `secrets_fallback.rs` / `secrets_sealed.rs`.
//! Entries are named `fliplet-agent-test/<random>/...` and deleted at the end.

use fliplet_agent::config::{Connection, DatabaseConfig, Driver, Job, PushOperation};
use fliplet_agent::secret::Secret;
use fliplet_agent::secret_store::{
    Backend, SecretStore, SecretsError, import_job_file, resolve_job,
};

fn keychain() -> Option<SecretStore> {
    match SecretStore::keychain() {
        Ok(store) => Some(store),
        Err(e) if std::env::var("FLIPLET_TEST_KEYCHAIN").as_deref() == Ok("require") => {
            panic!("FLIPLET_TEST_KEYCHAIN=require but no keychain is reachable: {e}")
        }
        Err(e) => {
            eprintln!("skipped: no OS keychain reachable ({e})");
            None
        }
    }
}

mod common;

use common::unique;

#[test]
fn set_get_delete_round_trip() {
    let Some(store) = keychain() else { return };
    assert_eq!(store.backend(), &Backend::Keychain);
    let name = format!("{}/auth_token", unique("fliplet-agent-test"));
    assert!(matches!(
        store.get(&name),
        Err(SecretsError::NotFound { .. })
    ));
    store.set(&name, &Secret::new("eu--first")).unwrap();
    assert_eq!(store.get(&name).unwrap().expose(), "eu--first");
    store.set(&name, &Secret::new("eu--second ü🔑")).unwrap();
    assert_eq!(store.get(&name).unwrap().expose(), "eu--second ü🔑");
    assert!(store.delete(&name).unwrap());
    assert!(!store.delete(&name).unwrap());
    assert!(matches!(
        store.get(&name),
        Err(SecretsError::NotFound { .. })
    ));
    assert!(matches!(store.list(), Err(SecretsError::ListUnsupported)));
}

#[test]
fn open_prefers_the_keychain() {
    let Some(_) = keychain() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = SecretStore::open(dir.path());
    assert_eq!(store.backend(), &Backend::Keychain);
    assert_eq!(store.fallback_reason(), None);
    // The probe leaves nothing behind on disk.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn import_and_resolve_through_the_keychain() {
    let Some(store) = keychain() else { return };
    let dir = tempfile::tempdir().unwrap();
    let job_id = unique("test");
    let path = dir.path().join("job.yml");
    std::fs::write(
        &path,
        "# job\nauth_token: eu--kc-token\ndatasource_id: 1\ndatabase_driver: postgres\ndatabase_password: 'kc pass'\nquery: SELECT 1\n",
    )
    .unwrap();
    let report = import_job_file(&path, &store, &job_id).unwrap();
    assert_eq!(report.moved.len(), 2);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("eu--kc-token") && !text.contains("kc pass"));
    assert!(text.contains(&format!(
        "auth_token: keychain:fliplet-agent/{job_id}/auth_token\n"
    )));

    let mut job = Job {
        path: Some(path.clone()),
        name: "job.yml".into(),
        auth_token: Secret::new(format!("keychain:fliplet-agent/{job_id}/auth_token")),
        api_url: None,
        sync_on_init: false,
        ca_file: None,
        log_verbosity: Default::default(),
        run_timeout: fliplet_agent::config::DEFAULT_RUN_TIMEOUT,
        stale_after: None,
        format: fliplet_agent::config::JobFormat::Single,
        operations: vec![fliplet_agent::config::Operation::Push(PushOperation::new(
            1,
            Connection::single_format(DatabaseConfig {
                driver: Driver::Postgres,
                host: None,
                port: None,
                username: None,
                password: Some(Secret::new(format!(
                    "keychain:fliplet-agent/{job_id}/database_password"
                ))),
                database: None,
                domain: None,
                instance: None,
                encrypt: None,
                native_odbc: false,
            }),
            "SELECT 1",
        ))],
    };
    let mut copy = job.clone();
    resolve_job(&mut job, &store).unwrap();
    assert_eq!(job.auth_token.expose(), "eu--kc-token");
    assert_eq!(
        job.operations[0]
            .connection()
            .unwrap()
            .config
            .password
            .as_ref()
            .unwrap()
            .expose(),
        "kc pass"
    );

    for k in &report.moved {
        assert!(store.delete(&k.name).unwrap());
    }
    let err = resolve_job(&mut copy, &store).unwrap_err().to_string();
    assert!(
        err.contains("auth_token") && err.contains("OS keychain"),
        "{err}"
    );
    assert!(!err.contains("eu--kc-token"));
}
