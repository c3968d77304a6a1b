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

use crate::config::{DEFAULT_RUN_TIMEOUT, OnSchemaChange};
use std::collections::HashMap;
use std::path::Path;

use super::yaml::{Cx, Node, Value, suggestion};
use super::{
    ConfigError, DatabaseConfig, Driver, EncryptConfig, FileColumn, FileSource, Hook, Job,
    LoadedJob, Mode, Operation, PushOperation, PushSource, QueryTimeouts,
};
use crate::schedule;
use crate::secret::Secret;

/// Every top-level key of the format.
pub const KEYS: &[&str] = &[
    "auth_token",
    "api_url",
    "datasource_id",
    "database_driver",
    "database_host",
    "database_username",
    "database_password",
    "database_port",
    "database_name",
    "database_domain",
    "database_instance",
    "database_encrypt",
    "database_native_odbc",
    "description",
    "sync_on_init",
    "frequency",
    "query",
    "query_timeout",
    "stall_timeout",
    "primary_column",
    "case_insensitive_primary_column",
    "timestamp_column",
    "mode",
    "batch_size",
    "concurrency",
    "delete_column",
    "run_hooks",
    "merge",
    "remove_duplicate_entries",
    "delete_gate_percent",
    "delete_gate_min",
    "allow_empty_source",
    "on_schema_change",
    "run_timeout",
    "files",
    "encrypt",
    "log_verbosity",
    "type",
    "stale_after",
];

const FILE_KEYS: &[&str] = &[
    "column",
    "type",
    "headers",
    "directory",
    "username",
    "password",
    "fileType",
];
const ENCRYPT_KEYS: &[&str] = &["fields", "key", "salt"];
pub(super) const WHOLE_FILE: &str = "(whole file)";

// ---------------------------------------------------------------------------------------
// The format.
// ---------------------------------------------------------------------------------------

pub(super) const HINT_AUTH: &str = "add `auth_token: <your token>` with an API token created in Fliplet Studio (https://developers.fliplet.com/REST-API/authenticate.html#how-to-create-an-authentication-token)";
pub(super) const HINT_DS: &str = "add `datasource_id: <ID>` with the ID of the target data source (Fliplet Studio, \"Manage app data\", settings tab)";
const HINT_DRIVER: &str = "add `database_driver:` with one of mssql, postgres, mysql, sqlite, and the database_* connection settings";
const HINT_QUERY: &str =
    "add `query: SELECT ... FROM ...` with the SQL query returning the rows to push";

/// Parse and validate the text of a legacy YAML job file. `path` is used in messages and to
/// resolve relative paths (SQLite file, local file folders) against the file's folder.
pub fn parse(text: &str, path: &Path) -> Result<LoadedJob, ConfigError> {
    let mut cx = Cx::for_file(text, path);
    let file = cx.file.clone();

    let root = cx.load_root()?;
    let root = match root {
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

    let entries = cx.entries(&root, "")?;
    let mut keys: HashMap<&str, (usize, &Node)> = HashMap::new();
    for (name, line, node) in &entries {
        if let Some(known) = KEYS.iter().find(|k| **k == name.as_str()) {
            keys.insert(known, (*line, node));
        } else {
            cx.unknown_key("", name, *line, KEYS, "");
        }
    }
    let get = |k: &str| keys.get(k).copied();

    // `type` first: a pull file lacks the push keys, and this is the useful message.
    if let Some((_, node)) = get("type")
        && let Some(t) = cx.text("type", node, false)?
    {
        match t.trim().to_lowercase().as_str() {
            "push" => {}
            "pull" => {
                return Err(cx.invalid(
                    "type",
                    node.line,
                    "this file format only pushes rows to Fliplet; pull operations need the multi-operation job format (a YAML file with a top-level `operations:` list, see the README section \"Multi-operation job files\" and examples/multi/)",
                ));
            }
            other => {
                return Err(cx.invalid(
                    "type",
                    node.line,
                    format!(
                        "must be `push`, found {}{}",
                        node.found(false),
                        suggestion(other, &["push", "pull"])
                    ),
                ));
            }
        }
    }

    // Required keys.
    let auth_token = match get("auth_token") {
        Some((_, node)) => cx.secret("auth_token", node)?,
        None => None,
    }
    .filter(|s| !s.expose().trim().is_empty())
    .ok_or_else(|| cx.missing("auth_token", HINT_AUTH))?;
    let auth_token = Secret::new(auth_token.expose().trim());
    if let Some((line, _)) = get("auth_token") {
        cx.check_header_value("auth_token", line, auth_token.expose())?;
    }

    let datasource_id = match get("datasource_id") {
        Some((_, node)) => cx.whole("datasource_id", node, 1)?,
        None => None,
    }
    .ok_or_else(|| cx.missing("datasource_id", HINT_DS))?;

    let driver_options = [
        ("mssql", Driver::Mssql),
        ("postgres", Driver::Postgres),
        ("postgresql", Driver::Postgres),
        ("pg", Driver::Postgres),
        ("mysql", Driver::Mysql),
        ("mariadb", Driver::Mysql),
        ("sqlite", Driver::Sqlite),
    ];
    let driver = match get("database_driver") {
        Some((_, node)) => cx.choice(
            "database_driver",
            node,
            &driver_options,
            "one of `mssql`, `postgres`, `mysql`, `sqlite`",
        )?,
        None => None,
    }
    .ok_or_else(|| cx.missing("database_driver", HINT_DRIVER))?;

    let query = match get("query") {
        Some((_, node)) => cx.text("query", node, false)?,
        None => None,
    }
    .map(|q| q.trim().to_string())
    .filter(|q| !q.is_empty())
    .ok_or_else(|| cx.missing("query", HINT_QUERY))?;

    let api_url = match get("api_url") {
        Some((_, node)) => parse_api_url(&cx, node)?,
        None => None,
    };

    // Database.
    let database = parse_database(&mut cx, driver, &|f| get(&format!("database_{f}")), &|f| {
        format!("database_{f}")
    })?;

    // Operation.
    let mut op = PushOperation::new(datasource_id, query);
    if let PushSource::Sql { timeouts, .. } = &mut op.source {
        *timeouts = parse_query_timeouts(&mut cx, &get, &|k| k.to_string())?;
    }
    parse_push_options(&mut cx, &mut op, &get, &|k| k.to_string())?;

    let sync_on_init = match get("sync_on_init") {
        Some((_, node)) => cx.boolean("sync_on_init", node)?.unwrap_or(false),
        None => false,
    };
    let log_verbosity = cx.verbosity(get("log_verbosity").map(|(_, n)| n))?;
    let run_timeout = parse_run_timeout(&cx, get("run_timeout").map(|(_, n)| n))?;
    let stale_after = match get("stale_after") {
        Some((_, node)) => parse_stale_after(&cx, node)?,
        None => None,
    };

    let job = Job {
        path: Some(path.to_path_buf()),
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.clone()),
        auth_token,
        api_url,
        sync_on_init,
        ca_file: None,
        log_verbosity,
        run_timeout,
        database: Some(database),
        operations: vec![Operation::Push(op)],
        stale_after,
    };
    let mut warnings = cx.warnings;
    warnings.sort_by_key(|w| w.line);
    Ok(LoadedJob { job, warnings })
}

/// The connection settings other than the driver, read through `get` (short field names:
/// `host`, `port`, `username`, `password`, `name`, `domain`, `instance`, `encrypt`,
/// `native_odbc`) and named in messages by `key` (`database_host`, or
/// `connections.main.host` in the multi-operation format).
pub(super) fn parse_database<'n>(
    cx: &mut Cx,
    driver: Driver,
    get: &dyn Fn(&str) -> Option<(usize, &'n Node)>,
    key: &dyn Fn(&str) -> String,
) -> Result<DatabaseConfig, ConfigError> {
    let text_key = |cx: &Cx, f: &str| -> Result<Option<String>, ConfigError> {
        match get(f) {
            Some((_, node)) => cx.name(&key(f), node),
            None => Ok(None),
        }
    };
    let host = text_key(cx, "host")?;
    let username = text_key(cx, "username")?;
    let name = text_key(cx, "name")?;
    let domain = text_key(cx, "domain")?;
    let instance = text_key(cx, "instance")?;
    let password = match get("password") {
        Some((_, node)) => cx.secret(&key("password"), node)?,
        None => None,
    };
    let port = match get("port") {
        Some((_, node)) => match cx.whole(&key("port"), node, 1)? {
            Some(p) if p <= 65535 => Some(p as u16),
            Some(_) => {
                return Err(cx.invalid(
                    &key("port"),
                    node.line,
                    format!(
                        "expected a port number between 1 and 65535, found {}",
                        node.found(false)
                    ),
                ));
            }
            None => None,
        },
        None => None,
    };
    let encrypt = match get("encrypt") {
        Some((_, node)) => cx.boolean(&key("encrypt"), node)?,
        None => None,
    };
    let native_odbc = match get("native_odbc") {
        Some((line, node)) => {
            let v = cx.boolean(&key("native_odbc"), node)?.unwrap_or(false);
            cx.warn(
                &key("native_odbc"),
                line,
                "not needed: this agent connects natively (the setting is ignored)",
            );
            v
        }
        None => false,
    };
    if driver != Driver::Mssql {
        for f in ["domain", "instance", "encrypt"] {
            if let Some((line, node)) = get(f)
                && !node.is_null()
            {
                cx.warn(
                    &key(f),
                    line,
                    format!(
                        "only used with SQL Server (`{}: mssql`); ignored for {}",
                        key("driver"),
                        driver.label()
                    ),
                );
            }
        }
    }
    Ok(if driver == Driver::Sqlite {
        let path = name.clone().or_else(|| host.clone()).ok_or_else(|| {
            cx.missing(
                &key("name"),
                &format!(
                    "with `{}: sqlite`, set `{}:` to the path of the database file (relative to the job file's folder, or absolute)",
                    key("driver"),
                    key("name")
                ),
            )
        })?;
        for f in ["port", "username", "password"] {
            if let Some((line, node)) = get(f)
                && !node.is_null()
            {
                cx.warn(&key(f), line, "not used with SQLite; ignored");
            }
        }
        if name.is_some()
            && let Some((line, node)) = get("host")
            && !node.is_null()
        {
            cx.warn(
                &key("host"),
                line,
                format!(
                    "not used with SQLite when `{}` is set (the database file); ignored",
                    key("name")
                ),
            );
        }
        DatabaseConfig {
            driver,
            host: None,
            port: None,
            username: None,
            password: None,
            database: Some(cx.absolute(&path).display().to_string()),
            domain: None,
            instance: None,
            encrypt: None,
            native_odbc,
        }
    } else {
        DatabaseConfig {
            driver,
            host,
            port,
            username,
            password,
            database: name,
            domain,
            instance,
            encrypt,
            native_odbc,
        }
    })
}

/// `run_timeout` (seconds, `0`: no bound; default [`DEFAULT_RUN_TIMEOUT`]).
pub(super) fn parse_run_timeout(cx: &Cx, node: Option<&Node>) -> Result<u64, ConfigError> {
    Ok(match node {
        Some(node) => cx
            .whole("run_timeout", node, 0)?
            .unwrap_or(DEFAULT_RUN_TIMEOUT),
        None => DEFAULT_RUN_TIMEOUT,
    })
}

/// `query_timeout` and `stall_timeout` (seconds, `0`: no limit), read through `get` and named
/// in messages by `key` (`query_timeout`, or `operations[0].source.query_timeout`).
pub(super) fn parse_query_timeouts<'n>(
    cx: &mut Cx,
    get: &dyn Fn(&str) -> Option<(usize, &'n Node)>,
    key: &dyn Fn(&str) -> String,
) -> Result<QueryTimeouts, ConfigError> {
    let seconds = |cx: &Cx, f: &str| -> Result<Option<(u64, usize)>, ConfigError> {
        let Some((line, node)) = get(f) else {
            return Ok(None);
        };
        let wrong = || {
            cx.invalid(
                &key(f),
                node.line,
                format!(
                    "expected a whole number of seconds between 0 (no limit) and {}, found {}",
                    QueryTimeouts::MAX,
                    node.found(false)
                ),
            )
        };
        match cx.whole(&key(f), node, 0).map_err(|_| wrong())? {
            Some(n) if n > QueryTimeouts::MAX => Err(wrong()),
            Some(n) => Ok(Some((n, line))),
            None => Ok(None),
        }
    };
    let query = seconds(cx, "query_timeout")?;
    let stall = seconds(cx, "stall_timeout")?;
    let timeouts = QueryTimeouts {
        query: query.map_or(QueryTimeouts::DEFAULT_QUERY, |(n, _)| n),
        stall: stall.map_or(QueryTimeouts::DEFAULT_STALL, |(n, _)| n),
    };
    if let Some((_, line)) = stall
        && timeouts.query > 0
        && timeouts.stall > timeouts.query
    {
        cx.warn(
            &key("stall_timeout"),
            line,
            format!(
                "is longer than query_timeout ({} s), which ends the query first; it has no effect",
                timeouts.query
            ),
        );
    }
    Ok(timeouts)
}

/// The options every push has (`description`, `frequency`, `primary_column`, ... `encrypt`),
/// read through `get` and named in messages by `key`.
pub(super) fn parse_push_options<'n>(
    cx: &mut Cx,
    op: &mut PushOperation,
    get: &dyn Fn(&str) -> Option<(usize, &'n Node)>,
    key: &dyn Fn(&str) -> String,
) -> Result<(), ConfigError> {
    let text_key = |cx: &Cx, f: &str| -> Result<Option<String>, ConfigError> {
        match get(f) {
            Some((_, node)) => cx.name(&key(f), node),
            None => Ok(None),
        }
    };
    op.description = text_key(cx, "description")?;
    if let Some((_, node)) = get("frequency")
        && let Some(expr) = cx.name(&key("frequency"), node)?
    {
        schedule::to_six_field(&expr).map_err(|e| {
            cx.invalid(
                &key("frequency"),
                node.line,
                format!("{e} (crontab syntax, see https://crontab.guru/examples.html)"),
            )
        })?;
        if let Some(note) = schedule::crontab_difference(&expr) {
            cx.warn(&key("frequency"), node.line, note);
        }
        if let Some(note) = schedule::never_fires(&expr) {
            cx.warn(&key("frequency"), node.line, note);
        }
        op.frequency = Some(expr);
    }
    op.primary_column = text_key(cx, "primary_column")?;
    if let Some((_, node)) = get("case_insensitive_primary_column") {
        op.case_insensitive_primary_column = cx
            .boolean(&key("case_insensitive_primary_column"), node)?
            .unwrap_or(false);
    }
    op.timestamp_column = text_key(cx, "timestamp_column")?;
    if let (Some(ts), Some(pk)) = (&op.timestamp_column, &op.primary_column)
        && ts == pk
        && let Some((line, _)) = get("timestamp_column")
    {
        cx.warn(
            &key("timestamp_column"),
            line,
            "is the same column as `primary_column`: changes to other columns will never be detected; use a last-updated column",
        );
    }
    if let Some((_, node)) = get("mode")
        && let Some(mode) = cx.choice(
            &key("mode"),
            node,
            &[("update", Mode::Update), ("replace", Mode::Replace)],
            "`update` or `replace`",
        )?
    {
        op.mode = mode;
    }
    if let Some((_, node)) = get("batch_size")
        && let Some(n) = cx.whole(&key("batch_size"), node, 1)?
    {
        op.batch_size = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some((_, node)) = get("concurrency")
        && let Some(n) = cx.whole(&key("concurrency"), node, 1)?
    {
        op.concurrency = usize::try_from(n).unwrap_or(usize::MAX);
    }
    op.delete_column = text_key(cx, "delete_column")?;
    if let Some((_, node)) = get("run_hooks") {
        op.run_hooks = parse_hooks(cx, node, &key("run_hooks"))?;
    }
    if let Some((_, node)) = get("remove_duplicate_entries") {
        op.remove_duplicate_entries = cx
            .boolean(&key("remove_duplicate_entries"), node)?
            .unwrap_or(false);
    }
    if let Some((_, node)) = get("delete_gate_percent")
        && let Some(n) = cx.whole(&key("delete_gate_percent"), node, 0)?
    {
        if n > 100 {
            return Err(cx.invalid(
                &key("delete_gate_percent"),
                node.line,
                format!("expected a share between 0 and 100 (percent), found {n}"),
            ));
        }
        op.delete_gate.percent = n as u8;
    }
    if let Some((_, node)) = get("delete_gate_min")
        && let Some(n) = cx.whole(&key("delete_gate_min"), node, 0)?
    {
        op.delete_gate.min = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some((_, node)) = get("on_schema_change")
        && let Some(v) = cx.choice(
            &key("on_schema_change"),
            node,
            &[
                ("warn", OnSchemaChange::Warn),
                ("stop", OnSchemaChange::Stop),
            ],
            "`warn` or `stop`",
        )?
    {
        op.on_schema_change = v;
    }
    if let Some((_, node)) = get("allow_empty_source") {
        op.allow_empty_source = cx
            .boolean(&key("allow_empty_source"), node)?
            .unwrap_or(false);
    }
    if let Some((_, node)) = get("merge") {
        op.merge = cx.boolean(&key("merge"), node)?;
    }
    if let Some((_, node)) = get("files") {
        op.files = parse_files(cx, node, &key("files"))?;
    }
    if let Some((_, node)) = get("encrypt") {
        op.encrypt = parse_encrypt(cx, node, op, &key("encrypt"))?;
    }

    Ok(())
}

/// `stale_after`: a duration (see [`crate::schedule::parse_duration`]), or nothing.
pub(super) fn parse_stale_after(cx: &Cx, node: &Node) -> Result<Option<u64>, ConfigError> {
    let Some(text) = cx.name("stale_after", node)? else {
        return Ok(None);
    };
    crate::schedule::parse_duration(&text).map(Some).map_err(|why| {
        cx.invalid(
            "stale_after",
            node.line,
            format!(
                "expected a duration like `36h`, `2d`, `90m`, `1d12h` or a whole number of seconds (`0`: never stale), found {} ({why})",
                node.found(false)
            ),
        )
    })
}

/// `api_url`: an http(s) URL, or nothing.
pub(super) fn parse_api_url(cx: &Cx, node: &Node) -> Result<Option<String>, ConfigError> {
    Ok(match cx.name("api_url", node)? {
        Some(u) => {
            match url::Url::parse(&u) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                Ok(parsed) => {
                    return Err(cx.invalid(
                "api_url",
                node.line,
                format!(
                    "must be an http:// or https:// URL (e.g. https://api.fliplet.com), found a `{}:` URL",
                    parsed.scheme()
                ),
            ));
                }
                Err(e) => {
                    return Err(cx.invalid(
                        "api_url",
                        node.line,
                        format!("is not a valid URL ({e}): write it like https://api.fliplet.com"),
                    ));
                }
            }
            Some(u)
        }
        None => None,
    })
}

fn parse_hooks(cx: &Cx, node: &Node, key: &str) -> Result<Vec<Hook>, ConfigError> {
    let options = [("insert", Hook::Insert), ("update", Hook::Update)];
    let expected = "`insert` or `update`";
    let items: Vec<&Node> = match &node.value {
        _ if node.is_null() => return Ok(Vec::new()),
        Value::Seq(items) => items.iter().collect(),
        Value::Scalar { .. } => vec![node],
        Value::Map(_) => {
            return Err(cx.invalid(
                key,
                node.line,
                format!(
                    "expected a list of hook types (`- insert`, `- update`), found {}",
                    node.found(false)
                ),
            ));
        }
    };
    let mut hooks = Vec::new();
    for item in items {
        if let Some(h) = cx.choice(key, item, &options, expected)?
            && !hooks.contains(&h)
        {
            hooks.push(h);
        }
    }
    Ok(hooks)
}

fn parse_files(cx: &mut Cx, node: &Node, files_key: &str) -> Result<Vec<FileColumn>, ConfigError> {
    let items = match &node.value {
        _ if node.is_null() => return Ok(Vec::new()),
        Value::Seq(items) => items,
        _ => {
            return Err(cx.invalid(
                files_key,
                node.line,
                format!(
                    "expected a list of file columns (`- column: thumbnail` / `type: remote`), found {}",
                    node.found(false)
                ),
            ));
        }
    };
    let types = ["remote", "local", "sharepoint"];
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("{files_key}[{i}]");
        if item.is_null() {
            continue;
        }
        if !matches!(item.value, Value::Map(_)) {
            return Err(cx.invalid(
                &prefix,
                item.line,
                format!(
                    "expected `column:` and `type:` settings, found {}",
                    item.found(false)
                ),
            ));
        }
        let entries = cx.entries(item, &format!("{prefix}."))?;
        let mut keys: HashMap<&str, (usize, &Node)> = HashMap::new();
        for (name, line, v) in &entries {
            if let Some(k) = FILE_KEYS.iter().find(|k| **k == name.as_str()) {
                keys.insert(k, (*line, v));
            } else {
                cx.unknown_key(
                    &format!("{prefix}."),
                    name,
                    *line,
                    FILE_KEYS,
                    " in a `files` entry",
                );
            }
        }
        let key = |k: &str| format!("{prefix}.{k}");
        let column = match keys.get("column") {
            Some((_, v)) => cx.name(&key("column"), v)?,
            None => None,
        }
        .ok_or_else(|| {
            cx.invalid(
                &key("column"),
                item.line,
                "is required: the name of the column holding the file URL or path",
            )
        })?;
        let type_node = keys.get("type").map(|(_, v)| *v);
        let kind = match type_node {
            Some(v) => cx.name(&key("type"), v)?,
            None => None,
        }
        .ok_or_else(|| {
            cx.invalid(
                &key("type"),
                item.line,
                "is required: one of `remote`, `local`, `sharepoint`",
            )
        })?;
        let lower = kind.to_lowercase();
        let used_by: &[(&str, &str)] = &[
            ("headers", "remote"),
            ("directory", "local"),
            ("username", "sharepoint"),
            ("password", "sharepoint"),
            ("fileType", "sharepoint"),
        ];
        for (k, t) in used_by {
            if *t != lower
                && let Some((line, v)) = keys.get(k)
                && !v.is_null()
            {
                cx.warn(
                    &key(k),
                    *line,
                    format!("only used with `type: {t}`; ignored for `type: {lower}`"),
                );
            }
        }
        let source = match lower.as_str() {
            "remote" => {
                let mut headers = Vec::new();
                if let Some((_, h)) = keys.get("headers") {
                    match &h.value {
                        _ if h.is_null() => {}
                        Value::Map(_) => {
                            for (name, line, v) in cx.entries(h, &format!("{prefix}.headers."))? {
                                let header = format!("{prefix}.headers.{name}");
                                if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                                {
                                    return Err(cx.invalid(
                                        &header,
                                        line,
                                        "is not a valid HTTP header name (letters, digits and `-`)",
                                    ));
                                }
                                // Header values may hold credentials: treat them as secrets.
                                let value = cx.text(&header, v, true)?.unwrap_or_default();
                                cx.check_header_value(&header, v.line, &value)?;
                                headers.push((name, Secret::new(value)));
                            }
                        }
                        _ => {
                            return Err(cx.invalid(
                                &key("headers"),
                                h.line,
                                "expected `Name: value` lines (e.g. `Authorization: Bearer ...`)",
                            ));
                        }
                    }
                }
                FileSource::Remote { headers }
            }
            "local" => {
                let directory = match keys.get("directory") {
                    Some((_, v)) => cx.name(&key("directory"), v)?,
                    None => None,
                };
                FileSource::Local {
                    directory: directory.map(|d| cx.absolute(&d)),
                }
            }
            "sharepoint" => {
                let username = match keys.get("username") {
                    Some((_, v)) => cx.name(&key("username"), v)?,
                    None => None,
                }
                .ok_or_else(|| {
                    cx.invalid(
                        &key("username"),
                        item.line,
                        "is required with `type: sharepoint` (the SharePoint login)",
                    )
                })?;
                let password = match keys.get("password") {
                    Some((_, v)) => cx.secret(&key("password"), v)?,
                    None => None,
                }
                .ok_or_else(|| {
                    cx.invalid(
                        &key("password"),
                        item.line,
                        "is required with `type: sharepoint` (the SharePoint password)",
                    )
                })?;
                let inherit_file_type = match keys.get("fileType") {
                    Some((_, v)) => match cx.name(&key("fileType"), v)? {
                        Some(t) if t.eq_ignore_ascii_case("inherit") => true,
                        Some(_) => {
                            return Err(cx.invalid(
                                &key("fileType"),
                                v.line,
                                format!(
                                    "must be `inherit` (or left out), found {}",
                                    v.found(false)
                                ),
                            ));
                        }
                        None => false,
                    },
                    None => false,
                };
                FileSource::Sharepoint {
                    username,
                    password,
                    inherit_file_type,
                }
            }
            _ => {
                let line = type_node.map_or(item.line, |n| n.line);
                return Err(cx.invalid(
                    &key("type"),
                    line,
                    format!(
                        "must be one of `remote`, `local`, `sharepoint`, found {:?}{}",
                        kind,
                        suggestion(&lower, &types)
                    ),
                ));
            }
        };
        out.push(FileColumn { column, source });
    }
    Ok(out)
}

fn parse_encrypt(
    cx: &mut Cx,
    node: &Node,
    op: &PushOperation,
    enc: &str,
) -> Result<Option<EncryptConfig>, ConfigError> {
    if node.is_null() {
        return Ok(None);
    }
    if !matches!(node.value, Value::Map(_)) {
        return Err(cx.invalid(
            enc,
            node.line,
            format!(
                "expected `fields:` (the list of columns to encrypt) and optionally `key:` / `salt:`, found {}",
                node.found(false)
            ),
        ));
    }
    let entries = cx.entries(node, &format!("{enc}."))?;
    let mut keys: HashMap<&str, (usize, &Node)> = HashMap::new();
    for (name, line, v) in &entries {
        if let Some(k) = ENCRYPT_KEYS.iter().find(|k| **k == name.as_str()) {
            keys.insert(k, (*line, v));
        } else {
            cx.unknown_key(
                &format!("{enc}."),
                name,
                *line,
                ENCRYPT_KEYS,
                " in `encrypt`",
            );
        }
    }
    let missing_fields = |cx: &Cx, line: usize| {
        cx.invalid(
            &format!("{enc}.fields"),
            line,
            "is required: list at least one column to encrypt (`fields:` then `- Column name` lines)",
        )
    };
    let Some((_, fields_node)) = keys.get("fields").copied() else {
        return Err(missing_fields(cx, node.line));
    };
    let items: Vec<&Node> = match &fields_node.value {
        _ if fields_node.is_null() => vec![],
        Value::Seq(items) => items.iter().filter(|n| !n.is_null()).collect(),
        Value::Scalar { .. } => vec![fields_node],
        Value::Map(_) => {
            return Err(cx.invalid(
                &format!("{enc}.fields"),
                fields_node.line,
                "expected a list of column names (`- Column name` lines)",
            ));
        }
    };
    let mut fields = Vec::new();
    for item in items {
        if let Some(f) = cx.name(&format!("{enc}.fields"), item)? {
            if let Some(pk) = &op.primary_column {
                let same = if op.case_insensitive_primary_column {
                    f.to_lowercase() == pk.to_lowercase()
                } else {
                    f == *pk
                };
                if same {
                    return Err(cx.invalid(
                        &format!("{enc}.fields"),
                        item.line,
                        format!(
                            "cannot encrypt the primary key: `{f}` is the `primary_column`, which must stay readable to match rows to entries"
                        ),
                    ));
                }
            }
            if !fields.contains(&f) {
                fields.push(f);
            }
        }
    }
    if fields.is_empty() {
        return Err(missing_fields(cx, fields_node.line));
    }
    let key = match keys.get("key") {
        Some((_, v)) => cx.secret(&format!("{enc}.key"), v)?,
        None => None,
    }
    .filter(|s| !s.is_empty());
    let salt = match keys.get("salt") {
        Some((_, v)) => cx.secret(&format!("{enc}.salt"), v)?,
        None => None,
    }
    .filter(|s| !s.is_empty());
    if key.is_some()
        && salt.is_some()
        && let Some((line, _)) = keys.get("salt")
    {
        cx.warn(
            &format!("{enc}.salt"),
            *line,
            "should not be used when using the `key` parameter: the salt only protects the keystore key, and is ignored",
        );
    }
    Ok(Some(EncryptConfig { fields, key, salt }))
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
        assert_eq!(*op, PushOperation::new(7, "SELECT 1"));
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
