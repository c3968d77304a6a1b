//! The sealed-file backend of the secret store (no keychain involved).

use fliplet_agent::secret::Secret;
use fliplet_agent::secret_store::{Backend, KEY_FILE, SEALED_FILE, SecretStore, SecretsError};

const VALUE: &str = "pa55-w0rd-in-the-file";

#[test]
fn values_persist_sealed_and_private() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app-data");
    let store = SecretStore::sealed_file(&app);
    assert_eq!(
        store.backend(),
        &Backend::SealedFile {
            path: app.join(SEALED_FILE)
        }
    );
    assert_eq!(store.fallback_reason(), None);
    assert!(matches!(store.get("x"), Err(SecretsError::NotFound { .. })));
    assert!(!app.exists(), "nothing is created by reading");

    store
        .set("fliplet-agent/j/auth_token", &Secret::new(VALUE))
        .unwrap();
    store
        .set("fliplet-agent/j/database_password", &Secret::new("é ü 🔑"))
        .unwrap();
    store
        .set("fliplet-agent/j/auth_token", &Secret::new(VALUE))
        .unwrap();

    let sealed = std::fs::read(app.join(SEALED_FILE)).unwrap();
    let key = std::fs::read(app.join(KEY_FILE)).unwrap();
    assert_eq!(key.len(), 32);
    assert!(!sealed.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()));
    assert!(
        !sealed.windows(8).any(|w| w == b"auth_tok"),
        "names are sealed too"
    );
    #[cfg(unix)]
    for f in [SEALED_FILE, KEY_FILE] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(app.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }

    // A new instance (another process) reads the same values.
    let again = SecretStore::sealed_file(&app);
    assert_eq!(
        again.get("fliplet-agent/j/auth_token").unwrap().expose(),
        VALUE
    );
    assert_eq!(
        again
            .get("fliplet-agent/j/database_password")
            .unwrap()
            .expose(),
        "é ü 🔑"
    );
    assert_eq!(
        again.list().unwrap(),
        vec![
            "fliplet-agent/j/auth_token",
            "fliplet-agent/j/database_password"
        ]
    );
    assert!(again.delete("fliplet-agent/j/auth_token").unwrap());
    assert_eq!(
        store.list().unwrap(),
        vec!["fliplet-agent/j/database_password"]
    );
    // Debug of the store shows no value.
    assert!(!format!("{store:?}").contains("é ü"));
}

#[test]
fn tampering_and_lost_key_give_actionable_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = SecretStore::sealed_file(dir.path());
    store.set("a", &Secret::new(VALUE)).unwrap();

    let path = dir.path().join(SEALED_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let err = store.get("a").unwrap_err();
    assert!(matches!(err, SecretsError::Sealed { .. }));
    let msg = err.to_string();
    assert!(msg.contains("corrupted or altered"), "{msg}");
    assert!(msg.contains("store the secrets again"), "{msg}");
    assert!(!msg.contains(VALUE));
    // Writing refuses too (it would lose the other entries).
    assert!(store.set("b", &Secret::new("x")).is_err());

    std::fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
    let msg = store.get("a").unwrap_err().to_string();
    assert!(msg.contains("key file") && msg.contains("missing"), "{msg}");
}

#[test]
fn invalid_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = SecretStore::sealed_file(dir.path());
    for name in ["", "  ", "a\nb"] {
        assert!(matches!(
            store.set(name, &Secret::new("v")),
            Err(SecretsError::InvalidName { .. })
        ));
    }
}
