//! Importing the plaintext secrets of an existing fliplet-agent YAML file into the store
//! (sealed-file backend, so no keychain is needed; `tests/secrets_keychain.rs` repeats the
//! round trip against the real OS keychain).

use std::path::Path;

mod common;

use fliplet_agent::config::{FileSource, Job, Operation, PushSource, load_job};
use fliplet_agent::secret::Secret;
use fliplet_agent::secret_store::{
    Backend, SecretStore, SecretsError, import_job_file, job_secrets, resolve_job,
};

const TOKEN: &str = "eu--5f1c9a7e2b-token";
const DB_PASSWORD: &str = "123456";
const SP_PASSWORD: &str = "my sharepoint pa#ss";
const ENC_KEY: &str = "MySuperSecretEncryptionKey";
const ENC_SALT: &str = "it's salty";

/// The original's sample, with every secret filled in (and a few awkward spellings).
fn sample() -> String {
    format!(
        r#"# Fliplet API authorization token taken from Fliplet Studio.
auth_token: {TOKEN}   # from Studio

datasource_id: 123

# Database connection settings below
database_driver: mssql
database_host: localhost
database_username: sampleuser
database_password: {DB_PASSWORD}
database_port: 5432
database_name: eu
# database_password: commented-out-stays

description: Push my users to Fliplet every 15 minutes
sync_on_init: false
frequency: '*/15 * * * *' # every 15 minutes
query: SELECT id, email as 'Email', password as 'password' FROM users;
primary_column: id
mode: update

files:
  - column: thumbnail
    type: remote
  # a sharepoint column
  - column: userSharepointImage
    type: sharepoint
    username: example
    password: "my sharepoint pa#ss"

encrypt:
  fields:
    - First name
  key: {ENC_KEY}
  salt: 'it''s salty'

log_verbosity: debug
"#
    )
}

fn secrets() -> [&'static str; 5] {
    [TOKEN, DB_PASSWORD, SP_PASSWORD, ENC_KEY, ENC_SALT]
}

/// The job in the file, through the real legacy loader.
fn load(path: &Path) -> Job {
    match load_job(path) {
        Ok(loaded) => loaded.job,
        Err(e) => panic!("the rewritten file no longer loads: {e}"),
    }
}

fn assert_resolved(job: &Job) {
    assert_eq!(job.auth_token.expose(), TOKEN);
    let db = &job.operations[0].connection().unwrap().config;
    assert_eq!(db.password.as_ref().unwrap().expose(), DB_PASSWORD);
    let Operation::Push(push) = &job.operations[0] else {
        panic!("a push")
    };
    let FileSource::Sharepoint { password, .. } = &push.files[1].source else {
        panic!("files[1] is sharepoint")
    };
    assert_eq!(password.expose(), SP_PASSWORD);
    let enc = push.encrypt.as_ref().unwrap();
    assert_eq!(enc.key.as_ref().unwrap().expose(), ENC_KEY);
    assert_eq!(enc.salt.as_ref().unwrap().expose(), ENC_SALT);
}

#[test]
fn import_moves_every_secret_and_keeps_the_rest_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SecretStore::sealed_file(&dir.path().join("app"));
    assert!(matches!(store.backend(), Backend::SealedFile { .. }));
    let path = dir.path().join("sales.yml");
    let original = sample();
    std::fs::write(&path, &original).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    }

    let report = import_job_file(&path, &store, "sales-sync").unwrap();
    let moved: Vec<_> = report
        .moved
        .iter()
        .map(|k| (k.key.as_str(), k.name.as_str()))
        .collect();
    assert_eq!(
        moved,
        vec![
            ("auth_token", "fliplet-agent/sales-sync/auth_token"),
            (
                "database_password",
                "fliplet-agent/sales-sync/database_password"
            ),
            (
                "files/1/password",
                "fliplet-agent/sales-sync/files/1/password"
            ),
            ("encrypt/key", "fliplet-agent/sales-sync/encrypt/key"),
            ("encrypt/salt", "fliplet-agent/sales-sync/encrypt/salt"),
        ]
    );
    assert!(report.already_references.is_empty());

    let text = std::fs::read_to_string(&path).unwrap();
    for s in secrets() {
        assert!(!text.contains(s), "plaintext secret left in the file");
    }
    // Only the five value lines changed; comments and everything else are intact.
    let changed: Vec<(&str, &str)> = original
        .lines()
        .zip(text.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(original.lines().count(), text.lines().count());
    assert_eq!(
        changed.iter().map(|(_, b)| *b).collect::<Vec<_>>(),
        vec![
            "auth_token: keychain:fliplet-agent/sales-sync/auth_token   # from Studio",
            "database_password: keychain:fliplet-agent/sales-sync/database_password",
            "    password: keychain:fliplet-agent/sales-sync/files/1/password",
            "  key: keychain:fliplet-agent/sales-sync/encrypt/key",
            "  salt: keychain:fliplet-agent/sales-sync/encrypt/salt",
        ]
    );
    assert!(text.contains("# database_password: commented-out-stays"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "the file keeps its permissions");
    }
    // No temp file left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // Still valid YAML with the references as plain strings.
    let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(
        v["auth_token"].as_str(),
        Some("keychain:fliplet-agent/sales-sync/auth_token")
    );
    assert_eq!(v["files"][1]["type"].as_str(), Some("sharepoint"));
    assert_eq!(v["frequency"].as_str(), Some("*/15 * * * *"));

    // The job loads and resolve_job restores every value.
    let mut job = load(&path);
    assert!(
        job.auth_token.expose().starts_with("keychain:"),
        "loaded job holds the reference"
    );
    resolve_job(&mut job, &store).unwrap();
    assert_resolved(&job);
    let all = job_secrets(&job);
    assert_eq!(all.len(), 5);

    // Importing again changes nothing.
    let again = import_job_file(&path, &store, "sales-sync").unwrap();
    assert!(again.moved.is_empty());
    assert_eq!(again.already_references.len(), 5);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn plain_values_resolve_unchanged_and_missing_references_are_actionable() {
    let dir = tempfile::tempdir().unwrap();
    let store = SecretStore::sealed_file(dir.path());
    let path = dir.path().join("sales.yml");
    std::fs::write(&path, sample()).unwrap();

    // Plain values (the original's YAML) keep working.
    let mut job = load(&path);
    resolve_job(&mut job, &store).unwrap();
    assert_resolved(&job);

    // A reference with no stored entry: the error names the key and the reference.
    let Operation::Push(push) = &mut job.operations[0] else {
        panic!("a push")
    };
    let PushSource::Sql { connection, .. } = &mut push.source else {
        panic!("an SQL source")
    };
    connection.config.password = Some(Secret::new(
        "keychain:fliplet-agent/sales-sync/database_password",
    ));
    let err = resolve_job(&mut job, &store).unwrap_err();
    assert!(matches!(err, SecretsError::MissingReference { .. }));
    let msg = err.to_string();
    assert!(msg.starts_with("database_password: "), "{msg}");
    assert!(
        msg.contains("keychain:fliplet-agent/sales-sync/database_password"),
        "{msg}"
    );
    assert!(msg.contains("sealed secrets file"), "{msg}");
    for s in secrets() {
        assert!(!msg.contains(s), "{msg}");
    }
}

/// A multi-operation file: connection passwords, HTTP header values, SharePoint passwords and
/// encryption keys of every operation move too, wherever they are written (block or flow
/// style), and the job loads with every value back.
#[test]
fn import_moves_the_secrets_of_a_multi_operation_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SecretStore::sealed_file(&dir.path().join("app"));
    let path = dir.path().join("multi.yml");
    let text = format!(
        "# several operations\nauth_token: {TOKEN}\nconnections:\n  sales:\n    driver: postgres\n    password: '{DB_PASSWORD}'\n  crm: {{driver: mysql, password: \"crm pw\"}}\noperations:\n  - type: push\n    datasource_id: 1\n    source: {{type: sql, connection: sales, query: SELECT 1}}\n    files:\n      - column: doc\n        type: sharepoint\n        username: u\n        password: {SP_PASSWORD:?}\n    encrypt:\n      fields: [a]\n      key: {ENC_KEY}\n  - type: push\n    datasource_id: 2\n    source:\n      type: http\n      url: https://example.com/api\n      headers: {{X-Api-Key: header-secret-1}}\n  - type: pull\n    datasource_id: 3\n    target: {{type: table, connection: crm, table: t, key: id, columns: {{id: id}}}}\n"
    );
    std::fs::write(&path, &text).unwrap();
    let before = load(&path);

    let report = import_job_file(&path, &store, "multi").unwrap();
    let moved: Vec<_> = report.moved.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(
        moved,
        vec![
            "auth_token",
            "connections/sales/password",
            "connections/crm/password",
            "operations/0/files/0/password",
            "operations/0/encrypt/key",
            "operations/1/source/headers/X-Api-Key",
        ]
    );
    let after = std::fs::read_to_string(&path).unwrap();
    for secret in [
        TOKEN,
        DB_PASSWORD,
        "crm pw",
        SP_PASSWORD,
        ENC_KEY,
        "header-secret-1",
    ] {
        assert!(!after.contains(secret), "{secret} left in\n{after}");
    }
    assert!(after.starts_with("# several operations\n"), "{after}");
    // The file still loads; resolved, it is the job it was.
    let mut job = load(&path);
    assert!(
        job_secrets(&job)
            .iter()
            .all(|s| s.expose().starts_with("keychain:")),
        "every secret is a reference"
    );
    resolve_job(&mut job, &store).unwrap();
    assert_eq!(job, before);
}

#[test]
fn unsupported_spelling_is_refused_without_touching_anything() {
    let dir = tempfile::tempdir().unwrap();
    let store = SecretStore::sealed_file(&dir.path().join("app"));
    let path = dir.path().join("job.yml");
    let text = "auth_token: eu--plain\ndatabase_password: |\n  multi-line-secret\n";
    std::fs::write(&path, text).unwrap();
    let err = import_job_file(&path, &store, "j").unwrap_err().to_string();
    assert!(err.contains("job.yml:2"), "{err}");
    assert!(err.contains("database_password"), "{err}");
    assert!(
        !err.contains("multi-line-secret") && !err.contains("eu--plain"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    assert!(store.list().unwrap().is_empty(), "nothing stored");
}

#[test]
fn crlf_files_keep_their_line_endings() {
    let dir = tempfile::tempdir().unwrap();
    let store = SecretStore::sealed_file(dir.path());
    let path = dir.path().join("win.yml");
    std::fs::write(&path, "auth_token: eu--crlf\r\ndatasource_id: 1\r\n").unwrap();
    import_job_file(&path, &store, "win").unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "auth_token: keychain:fliplet-agent/win/auth_token\r\ndatasource_id: 1\r\n"
    );
    assert_eq!(
        store.get("fliplet-agent/win/auth_token").unwrap().expose(),
        "eu--crlf"
    );
}

#[cfg(unix)]
#[test]
fn a_symlinked_job_file_is_rewritten_through_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let store = SecretStore::sealed_file(&dir.path().join("app"));
    let real = dir.path().join("real.yml");
    let link = dir.path().join("link.yml");
    std::fs::write(&real, "auth_token: eu--linked\n").unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    import_job_file(&link, &store, "linked").unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(&real).unwrap(),
        "auth_token: keychain:fliplet-agent/linked/auth_token\n"
    );
}

/// `fliplet-agent protect`: the plain token of an original job file goes to the secret store
/// (the OS keychain under the test command's D-Bus session, else the sealed file of the data
/// folder), the file keeps a reference, and the job still runs with it.
#[tokio::test]
async fn protect_moves_the_token_out_of_the_file_and_the_job_still_runs() {
    use common::agent_cli::{agent_cmd, numbered_job, numbered_rows, output};
    let env = common::Env::new().await;
    let data_home = tempfile::tempdir().unwrap();
    let db = numbered_rows(env.dir.path(), 3).await;
    let job = numbered_job(
        env.dir.path(),
        &env.emu,
        &env.basic.token,
        env.ds(),
        &db,
        "sync_on_init: true",
    );
    let (code, out) = output(agent_cmd(data_home.path()).arg("protect").arg(&job)).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("auth_token moved to"), "{out}");
    assert!(
        !out.contains(&env.basic.token),
        "the token is never printed: {out}"
    );
    let text = std::fs::read_to_string(&job).unwrap();
    assert!(!text.contains(&env.basic.token), "{text}");
    assert!(
        text.contains("auth_token: keychain:fliplet-agent/"),
        "{text}"
    );

    let (code, out) = output(agent_cmd(data_home.path()).arg("start").arg(&job)).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        env.data().len(),
        3,
        "the run authenticated with the stored token"
    );

    // A second protect has nothing left to move.
    let (code, out) = output(agent_cmd(data_home.path()).arg("protect").arg(&job)).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("auth_token is already a reference"), "{out}");

    // Clean up the stored entry (it may be in a real keychain).
    let name = text
        .lines()
        .find_map(|l| l.strip_prefix("auth_token: keychain:"))
        .unwrap()
        .to_owned();
    let store = SecretStore::open(&data_home.path().join("fliplet-agent"));
    let _ = store.delete(&name);
}
