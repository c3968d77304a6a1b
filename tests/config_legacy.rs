//! The original fliplet-agent YAML format, loaded from files through `config::load_job`.

use std::path::{Path, PathBuf};

use fliplet_agent::config::{
    ConfigError, Connection, DatabaseConfig, Driver, FileSource, Hook, Job, JobFormat, LoadedJob,
    Mode, Operation, PushOperation, PushSource, QueryTimeouts, Verbosity, load_job,
};

const MIN: &str =
    "auth_token: eu--abc\ndatasource_id: 7\ndatabase_driver: postgres\nquery: SELECT 1\n";

/// A temp dir holding `name` with `text`; keep the dir alive while using the path.
fn write(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn load(text: &str) -> Result<LoadedJob, ConfigError> {
    let (_dir, path) = write("job.yml", text);
    load_job(&path)
}

fn load_ok(text: &str) -> LoadedJob {
    match load(text) {
        Ok(l) => l,
        Err(e) => panic!("expected the job to load, got: {e}"),
    }
}

fn err(text: &str) -> ConfigError {
    match load(text) {
        Ok(l) => panic!("expected an error, loaded {:?}", l.job),
        Err(e) => e,
    }
}

fn push(loaded: &LoadedJob) -> &PushOperation {
    assert_eq!(loaded.job.operations.len(), 1);
    let Operation::Push(op) = &loaded.job.operations[0] else {
        panic!("expected a push")
    };
    op
}

fn with(extra: &str) -> String {
    format!("{MIN}{extra}")
}

/// Asserts an `Invalid` error on `key` at `line`, and returns its message.
fn invalid_at(e: &ConfigError, key: &str, line: usize) -> String {
    match e {
        ConfigError::Invalid {
            key: k,
            line: l,
            message,
            ..
        } => {
            assert_eq!(k, key, "{e}");
            assert_eq!(*l, Some(line), "{e}");
            message.clone()
        }
        other => panic!("expected Invalid on `{key}`, got {other:?}"),
    }
}

// --- the reference sample ---------------------------------------------------------------

#[test]
fn the_reference_sample_loads_with_every_field() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample.yml");
    let text = std::fs::read_to_string(&sample).unwrap();
    let (_dir, path) = write("sample.yml", &text);
    let loaded = load_job(&path).unwrap();
    assert!(
        loaded.warnings.is_empty(),
        "unexpected warnings: {:?}",
        loaded.warnings
    );
    let job = &loaded.job;
    assert_eq!(job.name, "sample.yml");
    assert_eq!(job.path.as_deref(), Some(path.as_path()));
    assert_eq!(job.auth_token.expose(), "eu--123456789");
    assert_eq!(job.api_url, None);
    assert!(!job.sync_on_init);
    assert_eq!(job.log_verbosity, Verbosity::Debug);

    let db = db(job);
    assert_eq!(db.driver, Driver::Mssql);
    assert_eq!(db.host.as_deref(), Some("localhost"));
    assert_eq!(db.username.as_deref(), Some("sampleuser"));
    assert_eq!(db.password.as_ref().unwrap().expose(), "123456");
    assert_eq!(db.port, Some(5432));
    assert_eq!(db.database.as_deref(), Some("eu"));
    assert_eq!(db.domain, None);
    assert_eq!(db.instance, None);
    assert_eq!(db.encrypt, None);
    assert!(!db.native_odbc);

    let op = push(&loaded);
    assert_eq!(op.datasource_id, 123);
    assert_eq!(
        op.description.as_deref(),
        Some("Push my users to Fliplet every 15 minutes")
    );
    assert_eq!(op.frequency.as_deref(), Some("*/15 * * * *"));
    assert_eq!(
        op.query().unwrap(),
        "SELECT id, email as 'Email', fullName as 'Full Name', updatedAt FROM users;"
    );
    assert_eq!(op.primary_column.as_deref(), Some("id"));
    assert!(op.case_insensitive_primary_column);
    assert_eq!(op.timestamp_column.as_deref(), Some("updatedAt"));
    assert_eq!(op.mode, Mode::Update);
    assert_eq!(op.batch_size, 1000);
    assert_eq!(op.concurrency, 1);
    assert_eq!(op.delete_column, None);
    assert!(op.run_hooks.is_empty(), "commented-out hooks mean none");
    assert_eq!(op.merge, Some(true));
    assert!(op.files.is_empty(), "commented-out files mean none");
    assert_eq!(op.encrypt, None);
}

#[test]
fn defaults_of_a_minimal_job() {
    let loaded = load_ok(MIN);
    assert!(loaded.warnings.is_empty());
    assert_eq!(
        *push(&loaded),
        PushOperation::new(
            7,
            Connection::single_format(db(&loaded.job).clone()),
            "SELECT 1"
        )
    );
    assert_eq!(db(&loaded.job).driver, Driver::Postgres);
    assert_eq!(loaded.job.format, JobFormat::Single);
    assert!(!loaded.job.sync_on_init);
    assert_eq!(loaded.job.log_verbosity, Verbosity::Debug);
}

#[test]
fn every_optional_key() {
    let loaded = load_ok(&with(
        "api_url: http://127.0.0.1:8787\n\
         description: Staff\n\
         sync_on_init: true\n\
         frequency: '0 8 * * 1-5'\n\
         primary_column: id\n\
         timestamp_column: updated_at\n\
         mode: replace\n\
         batch_size: 250\n\
         concurrency: 4\n\
         delete_column: deleted_at\n\
         run_hooks:\n  - insert\n  - \"update\"\n\
         merge: false\n\
         log_verbosity: critical\n\
         type: push\n\
         database_host: db.local\n\
         database_port: \"5433\"\n\
         database_username: sync\n\
         database_password: s3cret\n\
         database_name: sales\n",
    ));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let job = &loaded.job;
    assert_eq!(job.api_url.as_deref(), Some("http://127.0.0.1:8787"));
    assert!(job.sync_on_init);
    assert_eq!(job.log_verbosity, Verbosity::Critical);
    let db = db(job);
    assert_eq!(db.port, Some(5433));
    assert_eq!(db.describe(), "PostgreSQL at db.local:5433/sales");
    let op = push(&loaded);
    assert_eq!(op.mode, Mode::Replace);
    assert_eq!(op.batch_size, 250);
    assert_eq!(op.concurrency, 4);
    assert_eq!(op.run_hooks, vec![Hook::Insert, Hook::Update]);
    assert_eq!(op.merge, Some(false));
    assert_eq!(op.delete_column.as_deref(), Some("deleted_at"));
    assert_eq!(op.frequency.as_deref(), Some("0 8 * * 1-5"));
}

// --- coercions like js-yaml + the original --------------------------------------------------

#[test]
fn numbers_are_accepted_as_text_and_quoted_numbers_as_numbers() {
    let loaded = load_ok(
        "auth_token: 123456789\n\
         datasource_id: \"123\"\n\
         database_driver: mysql\n\
         database_host: 10.0.0.5\n\
         database_username: 42\n\
         database_password: 0123\n\
         database_name: 2024\n\
         database_port: '3307'\n\
         description: 1.5\n\
         query: 12\n\
         primary_column: 1\n\
         batch_size: \"500\"\n\
         concurrency: 1_0\n",
    );
    let job = &loaded.job;
    assert_eq!(job.auth_token.expose(), "123456789");
    let db = db(job);
    assert_eq!(db.host.as_deref(), Some("10.0.0.5"));
    assert_eq!(db.username.as_deref(), Some("42"));
    // Exactly as written, leading zero kept.
    assert_eq!(db.password.as_ref().unwrap().expose(), "0123");
    assert_eq!(db.database.as_deref(), Some("2024"));
    assert_eq!(db.port, Some(3307));
    let op = push(&loaded);
    assert_eq!(op.datasource_id, 123);
    assert_eq!(op.description.as_deref(), Some("1.5"));
    assert_eq!(op.query(), Some("12"));
    assert_eq!(op.primary_column.as_deref(), Some("1"));
    assert_eq!(op.batch_size, 500);
    assert_eq!(op.concurrency, 10);
}

#[test]
fn driver_aliases() {
    for (name, driver) in [
        ("postgresql", Driver::Postgres),
        ("pg", Driver::Postgres),
        ("mariadb", Driver::Mysql),
        ("MySQL", Driver::Mysql),
        ("mssql", Driver::Mssql),
    ] {
        let text = MIN.replace("postgres", name);
        let loaded = load_ok(&text);
        assert_eq!(db(&loaded.job).driver, driver, "{name}");
    }
}

#[test]
fn sqlite_file_is_relative_to_the_job_folder() {
    let text = MIN.replace("postgres", "sqlite") + "database_name: data/staff.db\n";
    let (dir, path) = write("job.yml", &text);
    let loaded = load_job(&path).unwrap();
    let sqlite = db(&loaded.job);
    assert_eq!(sqlite.driver, Driver::Sqlite);
    assert_eq!(
        sqlite.database.as_deref(),
        Some(dir.path().join("data/staff.db").to_str().unwrap())
    );

    // database_host is the fallback when database_name is absent.
    let text = MIN.replace("postgres", "sqlite") + "database_host: /var/db/x.sqlite\n";
    let loaded = load_ok(&text);
    assert_eq!(
        db(&loaded.job).database.as_deref(),
        Some("/var/db/x.sqlite")
    );

    // Neither: required.
    let e = err(&MIN.replace("postgres", "sqlite"));
    assert!(
        matches!(&e, ConfigError::Missing { key, .. } if key == "database_name"),
        "{e}"
    );
}

#[test]
fn commented_out_lists_are_empty() {
    let loaded = load_ok(&with(
        "run_hooks:\n#  - \"insert\"\nfiles:\n#  - column: x\nmerge:\nencrypt:\n",
    ));
    let op = push(&loaded);
    assert!(op.run_hooks.is_empty());
    assert!(op.files.is_empty());
    assert_eq!(op.merge, None);
    assert_eq!(op.encrypt, None);
}

// --- files and encrypt ------------------------------------------------------------------------

#[test]
fn file_columns_of_every_type() {
    let text = with(
        "files:\n\
         \x20 - column: thumb\n\
         \x20   type: remote\n\
         \x20   headers:\n\
         \x20     Authorization: Bearer 123456\n\
         \x20     Foo: bar\n\
         \x20 - column: resume\n\
         \x20   type: local\n\
         \x20 - column: alt\n\
         \x20   type: local\n\
         \x20   directory: C:\\path\\to\\folder\n\
         \x20 - column: rel\n\
         \x20   type: local\n\
         \x20   directory: images\n\
         \x20 - column: sp\n\
         \x20   type: sharepoint\n\
         \x20   fileType: inherit\n\
         \x20   username: me\n\
         \x20   password: mypassword\n",
    );
    let (dir, path) = write("job.yml", &text);
    let loaded = load_job(&path).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let files = &push(&loaded).files;
    assert_eq!(files.len(), 5);
    assert_eq!(files[0].column, "thumb");
    assert_eq!(
        files[0].source,
        FileSource::Remote {
            headers: vec![
                ("Authorization".into(), "Bearer 123456".into()),
                ("Foo".into(), "bar".into())
            ]
        }
    );
    assert_eq!(files[1].source, FileSource::Local { directory: None });
    assert_eq!(
        files[2].source,
        FileSource::Local {
            directory: Some(PathBuf::from("C:\\path\\to\\folder"))
        }
    );
    assert_eq!(
        files[3].source,
        FileSource::Local {
            directory: Some(dir.path().join("images"))
        }
    );
    let FileSource::Sharepoint {
        username,
        password,
        inherit_file_type,
    } = &files[4].source
    else {
        panic!("{:?}", files[4]);
    };
    assert_eq!(username, "me");
    assert_eq!(password.expose(), "mypassword");
    assert!(inherit_file_type);
}

#[test]
fn unknown_file_type_lists_the_valid_ones() {
    let e = err(&with("files:\n  - column: x\n    type: remot\n"));
    let msg = invalid_at(&e, "files[0].type", 7);
    assert!(msg.contains("`remote`, `local`, `sharepoint`"), "{msg}");
    assert!(msg.contains("did you mean `remote`?"), "{msg}");

    let e = err(&with("files:\n  - column: x\n"));
    assert!(e.to_string().contains("files[0].type"), "{e}");
    let e = err(&with(
        "files:\n  - column: x\n    type: sharepoint\n    username: u\n",
    ));
    assert!(e.to_string().contains("files[0].password"), "{e}");
}

#[test]
fn encryption_settings() {
    let loaded = load_ok(&with(
        "encrypt:\n  fields:\n    - First name\n    - Last name\n  key: MySuperSecretEncryptionKey\n",
    ));
    let enc = push(&loaded).encrypt.as_ref().unwrap();
    assert_eq!(enc.fields, vec!["First name", "Last name"]);
    assert_eq!(
        enc.key.as_ref().unwrap().expose(),
        "MySuperSecretEncryptionKey"
    );
    assert_eq!(enc.salt, None);

    // key and salt together: warning per the docs.
    let loaded = load_ok(&with(
        "encrypt:\n  fields: [a]\n  key: k1-secret\n  salt: s1-secret\n",
    ));
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    let w = &loaded.warnings[0];
    assert_eq!(w.key.as_deref(), Some("encrypt.salt"));
    assert_eq!(w.line, Some(8));
    assert!(
        w.message
            .contains("should not be used when using the `key` parameter")
    );
    assert!(!w.to_string().contains("s1-secret") && !w.to_string().contains("k1-secret"));

    // fields required and non-empty.
    let e = err(&with("encrypt:\n  key: abc\n"));
    assert!(e.to_string().contains("encrypt.fields"), "{e}");
    let e = err(&with("encrypt:\n  fields:\n"));
    assert!(e.to_string().contains("encrypt.fields"), "{e}");
}

#[test]
fn the_primary_key_cannot_be_encrypted() {
    let e = err(&with(
        "primary_column: id\nencrypt:\n  fields:\n    - name\n    - id\n",
    ));
    let msg = invalid_at(&e, "encrypt.fields", 9);
    assert!(msg.contains("cannot encrypt the primary key"), "{msg}");

    let e = err(&with(
        "primary_column: ID\ncase_insensitive_primary_column: true\nencrypt:\n  fields: [id]\n",
    ));
    assert!(
        e.to_string().contains("cannot encrypt the primary key"),
        "{e}"
    );
}

// --- errors -----------------------------------------------------------------------------------

#[test]
fn wrong_types_name_the_file_key_and_line() {
    let e = err(&with("batch_size: many\n"));
    let msg = invalid_at(&e, "batch_size", 5);
    assert_eq!(msg, "expected a whole number ≥ 1, found \"many\"");
    let shown = e.to_string();
    assert!(shown.contains("job.yml:5: `batch_size`"), "{shown}");

    for bad in ["0", "-3", "1.5", "[1, 2]"] {
        let e = err(&with(&format!("batch_size: {bad}\n")));
        invalid_at(&e, "batch_size", 5);
    }
    let e = err(&with("concurrency: 0\n"));
    invalid_at(&e, "concurrency", 5);
    let e = err(&with("sync_on_init: maybe\n"));
    let msg = invalid_at(&e, "sync_on_init", 5);
    assert!(msg.contains("expected true or false"), "{msg}");
    let e = err(&with("database_port: 70000\n"));
    invalid_at(&e, "database_port", 5);
    let e = err(&MIN.replace("datasource_id: 7", "datasource_id: abc"));
    invalid_at(&e, "datasource_id", 2);
    let e = err(&with("query2: x\nprimary_column:\n  - a\n"));
    invalid_at(&e, "primary_column", 6);
}

#[test]
fn wrong_values_suggest_the_right_one() {
    let e = err(&with("mode: replac\n"));
    let msg = invalid_at(&e, "mode", 5);
    assert!(msg.contains("must be `update` or `replace`"), "{msg}");
    assert!(msg.contains("did you mean `replace`?"), "{msg}");

    let e = err(&MIN.replace("postgres", "postgre"));
    let msg = invalid_at(&e, "database_driver", 3);
    assert!(msg.contains("did you mean `postgres`?"), "{msg}");

    let e = err(&with("log_verbosity: verbose\n"));
    invalid_at(&e, "log_verbosity", 5);
    let e = err(&with("run_hooks:\n  - insert\n  - delete\n"));
    invalid_at(&e, "run_hooks", 7);
    let e = err(&with("api_url: ftp://example.org\n"));
    invalid_at(&e, "api_url", 5);
    let e = err(&with("api_url: not a url\n"));
    invalid_at(&e, "api_url", 5);
}

#[test]
fn missing_required_keys_say_how_to_fix() {
    for (key, hint) in [
        ("auth_token", "Fliplet Studio"),
        ("datasource_id", "data source"),
        ("database_driver", "mssql, postgres, mysql, sqlite"),
        ("query", "SELECT"),
    ] {
        let text: String = MIN
            .lines()
            .filter(|l| !l.starts_with(key))
            .map(|l| format!("{l}\n"))
            .collect();
        let e = err(&text);
        match &e {
            ConfigError::Missing {
                key: k, hint: h, ..
            } => {
                assert_eq!(k, key);
                assert!(h.contains(hint), "{h}");
            }
            other => panic!("{key}: {other:?}"),
        }
        assert!(e.to_string().contains("job.yml"), "{e}");
    }
    // An empty token is as good as none (the original: "Auth token is required").
    let e = err(&MIN.replace("eu--abc", "''"));
    assert!(
        matches!(&e, ConfigError::Missing { key, .. } if key == "auth_token"),
        "{e}"
    );
}

#[test]
fn invalid_yaml_is_a_syntax_error_with_a_line() {
    let e = err(&with("mode: [update\nbatch_size: 3\n"));
    assert!(
        matches!(e, ConfigError::Syntax { line: Some(_), .. }),
        "{e:?}"
    );

    // Unquoted cron: `*` starts an alias in YAML; the message says to quote it.
    let e = err(&with("frequency: */15 * * * *\n"));
    let ConfigError::Syntax { line, message, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*line, Some(5), "{e}");
    assert!(message.contains("quotes"), "{message}");
}

#[test]
fn empty_files_and_non_mappings_are_refused_clearly() {
    for text in ["", "   \n", "# only a comment\n", "~\n"] {
        let e = err(text);
        assert!(e.to_string().contains("empty"), "{text:?}: {e}");
    }
    let e = err("- a\n- b\n");
    assert!(e.to_string().contains("found a list"), "{e}");
    let e = err("just text\n");
    assert!(e.to_string().contains("found a single value"), "{e}");
}

#[test]
fn duplicate_keys_name_both_lines() {
    let e = err(&with("mode: update\nbatch_size: 5\nmode: replace\n"));
    let msg = invalid_at(&e, "mode", 7);
    assert!(msg.contains("line 5") && msg.contains("line 7"), "{msg}");
}

#[test]
fn frequency_is_validated_as_cron() {
    let e = err(&with("frequency: '61 * * * *'\n"));
    let msg = invalid_at(&e, "frequency", 5);
    assert!(msg.contains("`61 * * * *`"), "{msg}");
    assert!(msg.contains("not a valid cron expression"), "{msg}");
    let e = err(&with("frequency: every hour\n"));
    let msg = invalid_at(&e, "frequency", 5);
    assert!(msg.contains("2 fields"), "{msg}");
    // Both Sunday spellings, and 6 fields with seconds.
    for ok in ["0 0 * * 0", "0 0 * * 7", "30 */5 * * * *", "@daily"] {
        let l = load_ok(&with(&format!("frequency: '{ok}'\n")));
        assert_eq!(push(&l).frequency.as_deref(), Some(ok));
    }
}

#[test]
fn pull_operations_point_to_the_future_format() {
    let e = err("auth_token: x\ntype: pull\ndatasource_id: 1\n");
    let msg = invalid_at(&e, "type", 2);
    assert!(msg.contains("multi-operation"), "{msg}");
}

#[test]
fn javascript_configs_are_refused() {
    let (_dir, path) = write("config.js", "module.exports.config = {};");
    let e = load_job(&path).unwrap_err();
    assert!(matches!(e, ConfigError::JavaScript { .. }), "{e:?}");
}

// --- warnings ---------------------------------------------------------------------------------

#[test]
fn unknown_keys_warn_with_did_you_mean() {
    let loaded = load_ok(&with("primary_colum: id\nfoo_bar: 1\n"));
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    let w = &loaded.warnings[0];
    assert_eq!(w.key.as_deref(), Some("primary_colum"));
    assert_eq!(w.line, Some(5));
    assert!(w.message.contains("did you mean `primary_column`?"), "{w}");
    assert!(w.to_string().contains("job.yml:5"), "{w}");
    assert!(!loaded.warnings[1].message.contains("did you mean"));
    // The misspelt key is ignored, not guessed.
    assert_eq!(push(&loaded).primary_column, None);

    let loaded = load_ok(&with(
        "files:\n  - column: x\n    type: local\n    directroy: imgs\n",
    ));
    assert!(
        loaded.warnings[0]
            .message
            .contains("did you mean `directory`?"),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn value_warnings() {
    let loaded = load_ok(&with(
        "primary_column: id\ntimestamp_column: id\ndatabase_native_odbc: true\ndatabase_instance: SQLEXPRESS\n",
    ));
    let msgs: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs[0].contains("`timestamp_column`") && msgs[0].contains("primary_column"));
    assert!(msgs[1].contains("not needed: this agent connects natively"));
    assert!(msgs[2].contains("only used with SQL Server"));
}

// --- secrets ----------------------------------------------------------------------------------

#[test]
fn secrets_never_appear_in_errors_or_warnings() {
    const S: &str = "Hunter2-TopSecret";
    let cases = [
        format!("auth_token: [{S}]\ndatasource_id: 1\ndatabase_driver: pg\nquery: q\n"),
        format!("auth_token: {{t: {S}}}\ndatasource_id: 1\ndatabase_driver: pg\nquery: q\n"),
        with(&format!("database_password:\n  - {S}\n")),
        with(&format!("database_password: {{x: {S}}}\n")),
        with(&format!("encrypt:\n  fields: [a]\n  key: [{S}]\n")),
        with(&format!("encrypt:\n  fields: [a]\n  salt: {{s: {S}}}\n")),
        with(&format!(
            "files:\n  - column: c\n    type: sharepoint\n    username: u\n    password: [{S}]\n"
        )),
        with(&format!(
            "files:\n  - column: c\n    type: remote\n    headers:\n      Authorization: [{S}]\n"
        )),
        // Errors elsewhere in a file holding secrets.
        format!(
            "auth_token: {S}\ndatasource_id: 1\ndatabase_driver: pg\nquery: q\ndatabase_password: {S}\nmode: {S}x\n"
        ),
        format!("auth_token: {S}\ndatabase_password: {S}\n"),
        format!("auth_token: {S}\n\"{S}: 1\ndatabase_password: {S}\n"),
    ];
    for text in &cases {
        let e = err(text);
        let shown = format!("{e} {e:?}");
        // The value given to `mode` is not a secret, but must not be confused with one either.
        let leaked = shown.replace(&format!("{S}x"), "");
        assert!(!leaked.contains(S), "secret leaked in: {shown}");
    }
    // Warnings and the loaded job's Debug output.
    let loaded = load_ok(&format!(
        "auth_token: {S}\ndatasource_id: 1\ndatabase_driver: pg\nquery: q\ndatabase_password: {S}\n\
         database_native_odbc: true\nencrypt:\n  fields: [a]\n  key: {S}\n  salt: {S}\n\
         files:\n  - column: c\n    type: sharepoint\n    username: u\n    password: {S}\n    directory: x\n"
    ));
    assert!(!loaded.warnings.is_empty());
    let shown = format!("{:?} {:?}", loaded.warnings, loaded.job);
    assert!(!shown.contains(S), "secret leaked in: {shown}");
    for w in &loaded.warnings {
        assert!(!w.to_string().contains(S));
    }
}

// --- Windows-made files ---------------------------------------------------------------------------

#[test]
fn bom_and_crlf_line_endings_are_fine() {
    let text = format!(
        "\u{feff}{}",
        with("mode: replace\nfrequency: '0 8 * * *'\n").replace('\n', "\r\n")
    );
    let loaded = load_ok(&text);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.job.auth_token.expose(), "eu--abc");
    let op = push(&loaded);
    assert_eq!(op.mode, Mode::Replace);
    assert_eq!(op.query(), Some("SELECT 1"));
    assert_eq!(op.frequency.as_deref(), Some("0 8 * * *"));
    let e = err(&format!(
        "\u{feff}{}",
        with("batch_size: x\n").replace('\n', "\r\n")
    ));
    invalid_at(&e, "batch_size", 5);
}

#[test]
fn unknown_nested_keys_name_their_path() {
    let loaded = load_ok(&with(
        "files:\n  - column: x\n    type: local\n    directroy: imgs\n",
    ));
    assert_eq!(
        loaded.warnings[0].key.as_deref(),
        Some("files[0].directroy")
    );
    assert_eq!(loaded.warnings[0].line, Some(8));
    assert!(
        loaded.warnings[0]
            .message
            .contains("did you mean `directory`?")
    );

    let loaded = load_ok(&with("encrypt:\n  fields: [a]\n  keys: x\n"));
    assert_eq!(loaded.warnings[0].key.as_deref(), Some("encrypt.keys"));
    assert_eq!(loaded.warnings[0].line, Some(7));
    assert!(loaded.warnings[0].message.contains("did you mean `key`?"));
}

// --- query_timeout / stall_timeout (our addition) ------------------------------------------

fn timeouts(loaded: &LoadedJob) -> QueryTimeouts {
    match &push(loaded).source {
        PushSource::Sql { timeouts, .. } => *timeouts,
        other => panic!("expected an SQL source, got {other:?}"),
    }
}

#[test]
fn query_and_stall_timeouts_default_and_parse() {
    assert_eq!(timeouts(&load_ok(MIN)), QueryTimeouts::default());
    assert_eq!(
        QueryTimeouts::default(),
        QueryTimeouts {
            query: 300,
            stall: 60
        }
    );
    let loaded = load_ok(&with("query_timeout: 45\nstall_timeout: \"0\"\n"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        timeouts(&loaded),
        QueryTimeouts {
            query: 45,
            stall: 0
        }
    );
    // 0: no limit at all.
    let loaded = load_ok(&with("query_timeout: 0\n"));
    assert_eq!(timeouts(&loaded).query, 0);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn bad_timeouts_name_the_key_and_line() {
    for (value, line) in [("-1", 5), ("soon", 5), ("1.5", 5), ("2147484", 5)] {
        let e = err(&with(&format!("query_timeout: {value}\n")));
        let m = invalid_at(&e, "query_timeout", line);
        assert!(
            m.contains("expected a whole number of seconds between 0 (no limit) and 2147483"),
            "{m}"
        );
    }
    let e = err(&with("stall_timeout: [1]\n"));
    invalid_at(&e, "stall_timeout", 5);
}

#[test]
fn a_stall_timeout_longer_than_the_query_timeout_is_warned_about() {
    let loaded = load_ok(&with("query_timeout: 10\nstall_timeout: 20\n"));
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert_eq!(loaded.warnings[0].key.as_deref(), Some("stall_timeout"));
    assert_eq!(loaded.warnings[0].line, Some(6));
    assert!(
        loaded.warnings[0]
            .message
            .contains("longer than query_timeout (10 s)"),
        "{}",
        loaded.warnings[0]
    );
    // With no query limit, the stall bound is the only one: no warning.
    assert!(
        load_ok(&with("query_timeout: 0\nstall_timeout: 20\n"))
            .warnings
            .is_empty()
    );
}

/// The connection of a single-operation job: its `database_*` keys.
fn db(job: &Job) -> &DatabaseConfig {
    &job.operations[0].connection().unwrap().config
}
