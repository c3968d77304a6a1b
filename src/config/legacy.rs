//! The original fliplet-agent YAML format: one push operation per file.
//!
//! People point this agent at the YAML file they already use with the Node.js agent, so every
//! key keeps its meaning and default. Values are read like js-yaml 3 `safeLoad` did (YAML 1.2
//! core schema: `yes`/`no` are text, not booleans), with one convenience: any scalar is
//! accepted where text is expected (`database_password: 123456` is the password `"123456"`,
//! exactly as written), and whole numbers may be quoted (`datasource_id: "123"`).
//!
//! | Key | Type | Default | Meaning |
//! | --- | --- | --- | --- |
//! | `auth_token` | text, **required** | | Fliplet API token from Fliplet Studio (e.g. `eu--123456789`); its prefix picks the region. |
//! | `api_url` | http(s) URL | region of the token | Our addition: Fliplet API base URL (e.g. the emulator); overrides `FLIPLET_API_URL`. |
//! | `datasource_id` | whole number, **required** | | ID of the target Fliplet Data Source. |
//! | `database_driver` | `mssql` \| `postgres` \| `mysql` \| `sqlite`, **required** | | Database type. Also accepted: `postgresql`, `pg`, `mariadb`. |
//! | `database_host` | text | `localhost` | Server host name. For SQLite: the database file when `database_name` is absent. |
//! | `database_port` | 1–65535 | driver's port (1433, 5432, 3306) | Server port. |
//! | `database_username` | text | | Login user. |
//! | `database_password` | text (secret) | | Login password. |
//! | `database_name` | text | | Database name. For SQLite: the database file path, relative to the job file's folder. |
//! | `database_domain` | text | | SQL Server only: Windows (NTLM) login domain. |
//! | `database_instance` | text | | SQL Server only: named instance (found through SQL Browser). |
//! | `database_encrypt` | true/false | false | SQL Server only: encrypt the connection (TLS). |
//! | `database_native_odbc` | true/false | false | Accepted and ignored (warning): this agent connects natively. |
//! | `description` | text | | Description of the operation, printed in the logs. |
//! | `sync_on_init` | true/false | false | Also run once when the agent starts, before the schedule. |
//! | `frequency` | cron expression | none (never scheduled) | Crontab syntax, 5 fields (`*/15 * * * *`) or 6 with leading seconds; quote it in YAML. |
//! | `query` | text, **required** | | SQL query returning the rows to push; column names become data source columns. |
//! | `query_timeout` | whole number of seconds, `0` = no limit | 300 | Our addition: the longest the query may run (set on the server too where it can be); see `docs/safety.md`. |
//! | `stall_timeout` | whole number of seconds, `0` = no limit | 60 | Our addition: once rows arrive, the longest wait for the next row (a stalled server or network); see `docs/safety.md`. |
//! | `primary_column` | text | none (rows are appended) | Column matching rows to existing entries. |
//! | `case_insensitive_primary_column` | true/false | false | Match primary keys ignoring case. |
//! | `timestamp_column` | text | | Column compared to decide whether a matched row changed. |
//! | `mode` | `update` \| `replace` | `update` | `update` keeps remote entries missing from the query result; `replace` deletes them. |
//! | `batch_size` | whole number ≥ 1 | 1000 | Rows per commit request. |
//! | `concurrency` | whole number ≥ 1 | 1 | Records and files processed at once. |
//! | `delete_column` | text | | Rows where this column is set (not null) delete their entry. |
//! | `run_hooks` | list of `insert` / `update` | none | Post-sync hooks run by Fliplet servers. A key with only commented-out items means none. |
//! | `merge` | true/false | not sent | Merge sent columns into existing entries instead of replacing them. |
//! | `remove_duplicate_entries` | true/false | false | Our addition: delete the extra entries sharing a primary key with another (the lowest id is kept). |
//! | `delete_gate_percent` | 0–100 | 25 | Our addition: a run deleting more than this share of the entries (and more than `delete_gate_min`) stops before writing. |
//! | `delete_gate_min` | whole number ≥ 0 | 100 | Our addition: a run deleting at most this many entries passes the delete gate. |
//! | `allow_empty_source` | true/false | false | Our addition: with `mode: replace`, a query returning no rows deletes every entry (otherwise the run deletes nothing and fails). |
//! | `on_schema_change` | `warn` \| `stop` | `warn` | Our addition: what a run does when the query's columns differ from the last successful run's. |
//! | `run_timeout` | whole number of seconds, `0` = no bound | 3600 | Our addition: a run still going after this is stopped at its next safe point and recorded as failed. |
//! | `files` | list (see below) | none | Columns holding URLs or paths of files to upload. |
//! | `encrypt` | `{fields, key?, salt?}` | none | Columns to encrypt (see below). |
//! | `log_verbosity` | `debug` \| `info` \| `critical` | `debug` | How much is logged. |
//! | `stale_after` | duration (`36h`, `2d`, `90m`, or seconds), `0` = off | 3 scheduled runs missed, at least 1 day | Our addition: the job is stale (the desktop app notifies, `fliplet-agent status` exits 3) when its last success is older; see `docs/safety.md`. |
//! | `type` | `push` | `push` | Only push operations exist in this format; `pull` needs the multi-operation format. |
//!
//! `files` entries (`column` and `type` required):
//!
//! | `type` | Other keys | Meaning |
//! | --- | --- | --- |
//! | `remote` | `headers: {Name: value}` | The column holds an HTTP(S) URL; headers are sent with the request. |
//! | `local` | `directory` | The column holds an absolute path, or a path relative to `directory` (itself relative to the job file's folder; `C:\path` and `\\server\share` are kept as they are). |
//! | `sharepoint` | `username`, `password` (required), `fileType: inherit` | The column holds a SharePoint URL fetched with NTLM; `inherit` keeps the remote file type. |
//!
//! `encrypt`: `fields` (required, a non-empty list of column names; never the primary
//! column), `key` (fixed encryption key; default: the organization keystore), `salt` (salt
//! of the keystore key; should not be used together with `key`).
//!
//! Unknown keys are warnings with a did-you-mean; wrong types or values, duplicate keys and
//! missing required keys are errors naming the file, the key and the line. No secret value
//! (`auth_token`, `database_password`, `encrypt.key`/`salt`, SharePoint passwords, header
//! values) ever appears in an error or warning.

use std::path::Path;

use serde::Deserialize;

use super::de::{Ctx, Spanned, Whole, name, spanned_name};
use super::multi::{
    ConnectionFile, Port, PushOptions, SHAPES, Seconds, api_url, auth_token, into_database,
    query_timeouts, stale_after,
};
use super::yaml::{Cx, InFile, Value, suggestion};
use super::{
    ConfigError, Connection, DEFAULT_RUN_TIMEOUT, Driver, Job, JobFormat, LoadedJob, Operation,
    PushOperation, PushSource, Verbosity,
};
use crate::secret::Secret;

/// A single-operation job file: the job, its database (`database_*`) and its push, on one
/// level. Required keys are checked after reading, in the order the original checked them.
#[derive(Deserialize)]
struct LegacyFile {
    /// Fliplet API token from Fliplet Studio (e.g. `eu--123456789`); its prefix picks the region.
    #[serde(default)]
    auth_token: Option<Spanned<Secret>>,
    /// Fliplet API base URL (e.g. the emulator); overrides `FLIPLET_API_URL`.
    #[serde(default, deserialize_with = "api_url")]
    api_url: Option<String>,
    /// ID of the target data source.
    #[serde(default)]
    datasource_id: Option<Whole<1>>,
    #[serde(default)]
    database_driver: Option<Driver>,
    #[serde(default, deserialize_with = "spanned_name")]
    database_host: Option<Spanned<String>>,
    #[serde(default)]
    database_port: Option<Spanned<Port>>,
    #[serde(default, deserialize_with = "spanned_name")]
    database_username: Option<Spanned<String>>,
    #[serde(default)]
    database_password: Option<Spanned<Secret>>,
    #[serde(default, deserialize_with = "name")]
    database_name: Option<String>,
    #[serde(default, deserialize_with = "spanned_name")]
    database_domain: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "spanned_name")]
    database_instance: Option<Spanned<String>>,
    #[serde(default)]
    database_encrypt: Option<Spanned<bool>>,
    #[serde(default)]
    database_native_odbc: Option<Spanned<bool>>,
    #[serde(default)]
    sync_on_init: bool,
    /// SQL query returning the rows to push.
    #[serde(default, deserialize_with = "name")]
    query: Option<String>,
    #[serde(default)]
    query_timeout: Option<Seconds>,
    #[serde(default)]
    stall_timeout: Option<Spanned<Seconds>>,
    #[serde(default)]
    run_timeout: Option<Whole<0>>,
    #[serde(default)]
    log_verbosity: Verbosity,
    #[serde(default, deserialize_with = "stale_after")]
    stale_after: Option<u64>,
    /// `push`, the only operation of this format.
    #[serde(default, rename = "type")]
    kind: Option<Spanned<String>>,
    /// Every other key: the options of the push.
    #[serde(rename = "$flatten")]
    push: PushOptions,
}

pub(super) const WHOLE_FILE: &str = "(whole file)";

pub(super) const HINT_AUTH: &str = concat!(
    "add `auth_token: <your token>` with an API token created in ",
    crate::hint::api_tokens_place!(),
    " (https://developers.fliplet.com/REST-API/authenticate.html#how-to-create-an-authentication-token)"
);
pub(super) const HINT_DS: &str = "add `datasource_id: <ID>` with the ID of the target data source (Fliplet Studio, \"Manage app data\", settings tab)";
const HINT_DRIVER: &str = "add `database_driver:` with one of mssql, postgres, mysql, sqlite, and the database_* connection settings";
const HINT_QUERY: &str =
    "add `query: SELECT ... FROM ...` with the SQL query returning the rows to push";

/// Parse and validate the text of a legacy YAML job file. `path` is used in messages and to
/// resolve relative paths (SQLite file, local file folders) against the file's folder.
pub fn parse(text: &str, path: &Path) -> Result<LoadedJob, ConfigError> {
    let cx = Cx::for_file(text, path);
    let file = cx.file.clone();
    let root = match cx.load_root()? {
        Some(r) if !r.is_null() => r,
        _ => {
            return Err(ConfigError::Invalid {
                file,
                key: WHOLE_FILE.into(),
                line: None,
                message: "the file is empty (or only has comments): a job needs at least `auth_token`, `datasource_id`, `database_driver` and `query`; see examples/sample.yml".into(),
            });
        }
    };
    if !matches!(root.value, Value::Map(_)) {
        return Err(cx.invalid(
            WHOLE_FILE,
            root.line,
            format!(
                "the top level must be `key: value` settings (like `auth_token: ...`), found {}",
                match root.value {
                    Value::Seq(_) => "a list",
                    _ => "a single value",
                }
            ),
        ));
    }
    let ctx = Ctx::new(path, SHAPES);
    let f: LegacyFile = ctx.read(&root)?;
    let missing = |key: &str, hint: &str| ConfigError::Missing {
        file: file.clone(),
        key: key.into(),
        hint: hint.into(),
    };

    // `type` first: a pull file lacks the push keys, and this is the useful message.
    if let Some(t) = &f.kind {
        match t.value.trim().to_lowercase().as_str() {
            "push" | "" => {}
            "pull" => {
                return Err(ctx.invalid(
                    &t.key,
                    t.line,
                    "this file format only pushes rows to Fliplet; pull operations need the multi-operation job format (a YAML file with a top-level `operations:` list, see the README section \"Multi-operation job files\" and examples/multi/)",
                ));
            }
            other => {
                return Err(ctx.invalid(
                    &t.key,
                    t.line,
                    format!(
                        "must be `push`, found {:?}{}",
                        t.value,
                        suggestion(other, &["push", "pull"])
                    ),
                ));
            }
        }
    }
    let auth_token = auth_token(
        &ctx,
        f.auth_token
            .ok_or_else(|| missing("auth_token", HINT_AUTH))?,
    )?;
    let datasource_id = f
        .datasource_id
        .ok_or_else(|| missing("datasource_id", HINT_DS))?;
    let driver = f
        .database_driver
        .ok_or_else(|| missing("database_driver", HINT_DRIVER))?;
    let query = f.query.ok_or_else(|| missing("query", HINT_QUERY))?;
    let database = into_database(
        &ctx,
        ConnectionFile {
            driver,
            host: f.database_host,
            port: f.database_port,
            username: f.database_username,
            password: f.database_password,
            name: f.database_name,
            domain: f.database_domain,
            instance: f.database_instance,
            encrypt: f.database_encrypt,
            native_odbc: f.database_native_odbc,
        },
        "database_",
    )?;

    let mut op = PushOperation::new(datasource_id.0, Connection::single_format(database), query);
    if let PushSource::Sql { timeouts, .. } = &mut op.source {
        *timeouts = query_timeouts(&ctx, f.query_timeout, f.stall_timeout);
    }
    f.push.apply(&ctx, &mut op, "")?;

    let job = Job {
        path: Some(path.to_path_buf()),
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.clone()),
        auth_token,
        api_url: f.api_url,
        sync_on_init: f.sync_on_init,
        ca_file: None,
        log_verbosity: f.log_verbosity,
        run_timeout: f.run_timeout.map_or(DEFAULT_RUN_TIMEOUT, |w| w.0),
        format: JobFormat::Single,
        operations: vec![Operation::Push(op)],
        stale_after: f.stale_after,
    };
    Ok(LoadedJob {
        job,
        warnings: ctx.into_warnings(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Verbosity;
    use crate::config::yaml::{did_you_mean, is_absolute_anywhere, load_tree};

    fn load(text: &str) -> Result<LoadedJob, ConfigError> {
        parse(text, Path::new("/jobs/test.yml"))
    }

    const MIN: &str =
        "auth_token: eu--abc\ndatasource_id: 7\ndatabase_driver: postgres\nquery: SELECT 1\n";

    #[test]
    fn minimal_job_has_the_defaults() {
        let loaded = load(MIN).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let job = loaded.job;
        assert_eq!(job.name, "test.yml");
        assert_eq!(job.auth_token.expose(), "eu--abc");
        assert!(!job.sync_on_init);
        assert_eq!(job.log_verbosity, Verbosity::Debug);
        let Operation::Push(op) = &job.operations[0] else {
            panic!("a push")
        };
        let Some(connection) = job.operations[0].connection() else {
            panic!("the database_* keys are the push's connection")
        };
        assert_eq!(connection.name, "database");
        assert_eq!(connection.config.driver, Driver::Postgres);
        assert_eq!(job.format, JobFormat::Single);
        assert_eq!(*op, PushOperation::new(7, connection.clone(), "SELECT 1"));
    }

    #[test]
    fn tree_has_lines_for_keys() {
        let root = load_tree("a: 1\nb:\n  - x\n  - y\n").unwrap().unwrap();
        let Value::Map(entries) = root.value else {
            panic!()
        };
        assert_eq!(entries[0].0.line, 1);
        assert_eq!(entries[1].0.line, 2);
        let Value::Seq(items) = &entries[1].1.value else {
            panic!()
        };
        assert_eq!(items[1].line, 4);
    }

    #[test]
    fn quoted_null_is_text_and_plain_null_is_nothing() {
        let root = load_tree("a: ~\nb: '~'\nc:\n").unwrap().unwrap();
        let Value::Map(entries) = root.value else {
            panic!()
        };
        assert!(entries[0].1.is_null());
        assert!(!entries[1].1.is_null());
        assert!(entries[2].1.is_null());
    }

    #[test]
    fn did_you_mean_finds_typos_only() {
        const KEYS: &[&str] = &["auth_token", "frequency", "primary_column", "query"];
        assert_eq!(did_you_mean("primary_colum", KEYS), Some("primary_column"));
        assert_eq!(did_you_mean("frequncy", KEYS), Some("frequency"));
        assert_eq!(
            did_you_mean("replac", &["update", "replace"]),
            Some("replace")
        );
        assert_eq!(did_you_mean("zzz", KEYS), None);
    }

    #[test]
    fn absolute_paths_on_any_platform() {
        for p in ["/x/y", "C:\\path", "c:/path", "\\\\server\\share"] {
            assert!(is_absolute_anywhere(p), "{p}");
        }
        for p in ["x", "images\\a", "./data.db"] {
            assert!(!is_absolute_anywhere(p), "{p}");
        }
    }

    #[test]
    fn merge_keys_are_expanded() {
        let text = format!("defaults: &d\n  batch_size: 50\n<<: *d\n{MIN}");
        let loaded = load(&text).unwrap();
        let Operation::Push(op) = &loaded.job.operations[0] else {
            panic!("a push")
        };
        assert_eq!(op.batch_size, 50);
    }
}
