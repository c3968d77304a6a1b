//! `SecretStore::open` falls back to the sealed file when no OS keychain is reachable.
//!
//! On Linux the keychain is the Secret Service on the D-Bus session bus; pointing
//! `DBUS_SESSION_BUS_ADDRESS` at a socket that does not exist makes it unreachable, whatever
//! the machine has. This file holds a single test because it changes the environment.

#![cfg(target_os = "linux")]

use fliplet_agent::log::{LogCapture, LogLevel};
use fliplet_agent::secret::Secret;
use fliplet_agent::secret_store::{Backend, SEALED_FILE, SecretStore, resolve_job};
use tracing_subscriber::prelude::*;

#[test]
fn open_without_keychain_uses_the_sealed_file_and_says_so() {
    // SAFETY: the only test of this binary; no other thread reads the environment.
    unsafe {
        std::env::set_var(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/fliplet-bus",
        )
    };

    let capture = LogCapture::new();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.layer()));
    let span = tracing::info_span!("open");
    let watch = capture.watch(&span);

    let dir = tempfile::tempdir().unwrap();
    let store = span.in_scope(|| SecretStore::open(dir.path()));
    assert_eq!(
        store.backend(),
        &Backend::SealedFile {
            path: dir.path().join(SEALED_FILE)
        }
    );
    let reason = store.fallback_reason().expect("a visible reason");
    assert!(!reason.is_empty());

    let logs = watch.finish();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].level, LogLevel::Warn);
    assert!(
        logs[0].message.contains("no OS keychain is reachable"),
        "{}",
        logs[0].message
    );
    assert!(logs[0].message.contains("readable only by this user"));

    // It works as a store, and references resolve from it.
    store
        .set(
            "fliplet-agent/headless/auth_token",
            &Secret::new("eu--headless"),
        )
        .unwrap();
    let mut job = fliplet_agent::config::Job {
        path: None,
        name: "headless.yml".into(),
        auth_token: Secret::new("keychain:fliplet-agent/headless/auth_token"),
        api_url: None,
        sync_on_init: false,
        ca_file: None,
        log_verbosity: Default::default(),
        run_timeout: fliplet_agent::config::DEFAULT_RUN_TIMEOUT,
        stale_after: None,
        format: Default::default(),
        operations: vec![],
    };
    resolve_job(&mut job, &store).unwrap();
    assert_eq!(job.auth_token.expose(), "eu--headless");
}
