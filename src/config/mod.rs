//! Job configuration: the model every shell shares, and the loaders that build it.
//!
//! A [`Job`] is what one job file describes. The original fliplet-agent YAML format
//! (one push operation per file, keys like `auth_token`, `datasource_id`, `query`) is read by
//! [`legacy`]; it must keep working unchanged. The multi-operation format is read by
//! [`multi`]. Both read the file into `#[derive(Deserialize)]` structs (one field per key,
//! shared by both formats where the keys are: the push options, files, encryption, database
//! settings) through a serde deserializer over the YAML tree (`de`), which names the file,
//! the key and the line in errors and turns unknown keys into warnings with a did-you-mean.
//!
//! Loading never connects to anything: [`load_job`] reads and validates a file and returns the
//! job plus warnings (unknown keys with a did-you-mean, deprecated options), or a
//! [`ConfigError`] naming the file, the key and the line.

mod de;
pub mod emit;
pub mod legacy;
pub mod multi;
pub(crate) mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::secret::Secret;

/// Environment variable that overrides the Fliplet API base URL of every job
/// (e.g. `http://127.0.0.1:8787` for the emulator). Takes precedence over the token region,
/// and is itself overridden by an `api_url` key in the job file.
pub const API_URL_ENV: &str = "FLIPLET_API_URL";

/// One job file: shared settings and its operations.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Where the job was loaded from, if it came from a file.
    pub path: Option<PathBuf>,
    /// Short name used as the log-line prefix: the job file's name (e.g. `sample.yml`).
    pub name: String,
    /// Fliplet API token (`auth_token`), e.g. `eu--123456789`.
    pub auth_token: Secret,
    /// Explicit API base URL (`api_url` key); `None` means: the environment variable
    /// [`API_URL_ENV`] if set, otherwise the region from the token prefix.
    pub api_url: Option<String>,
    /// `ca_file` (multi-operation format): an extra CA certificate file (PEM) to trust for the
    /// Fliplet API, for networks whose proxy intercepts TLS. `None`: `$FLIPLET_CA_FILE`, if set.
    pub ca_file: Option<PathBuf>,
    /// `sync_on_init`: run every operation once at start, before the schedule. Default false.
    pub sync_on_init: bool,
    /// `log_verbosity`: debug | info | critical. Default debug (the original's default).
    pub log_verbosity: Verbosity,
    /// `run_timeout`: seconds a run may take before it is stopped at its next safe point (a
    /// read is abandoned; a commit in flight finishes first) and recorded as failed; the
    /// schedule goes on. Default [`DEFAULT_RUN_TIMEOUT`]; `0`: no bound.
    pub run_timeout: u64,
    /// Which of the two file formats the job was read from (names its secret keys).
    pub format: JobFormat,
    /// The operations, run in series. The single-operation format always has exactly one,
    /// whose `database_*` keys are its connection [`Connection::SINGLE_FORMAT`].
    pub operations: Vec<Operation>,
    /// `stale_after` (seconds): the job's data is stale when its last successful run is
    /// older than this. `None`: the default rule (3 scheduled runs missed, at least a day);
    /// `Some(0)`: never stale. See docs/safety.md, "Stale-data watchdog".
    pub stale_after: Option<u64>,
}

/// The two job-file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobFormat {
    /// The original's: top-level `query`, `database_*`, push keys (see [`legacy`]).
    Single,
    /// `operations:` and `connections:` (see [`multi`]); what the app writes.
    #[default]
    Multi,
}

/// The delete gate of a push: the largest delete a run makes without explicit permission.
/// A run is stopped when its deletes are more than `min` **and** more than `percent` % of the
/// data source's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteGate {
    /// `delete_gate_percent`: 0–100, default 25. 100 turns the share check off.
    pub percent: u8,
    /// `delete_gate_min`: default 100. A run deleting at most this many entries is never
    /// stopped by the gate.
    pub min: usize,
}

impl DeleteGate {
    pub const DEFAULT_PERCENT: u8 = 25;
    pub const DEFAULT_MIN: usize = 100;

    /// Whether `deletes` of `entries` entries passes the gate.
    pub fn allows(&self, deletes: usize, entries: usize) -> bool {
        deletes <= self.min || deletes * 100 <= self.percent as usize * entries
    }
}

impl Default for DeleteGate {
    fn default() -> Self {
        DeleteGate {
            percent: Self::DEFAULT_PERCENT,
            min: Self::DEFAULT_MIN,
        }
    }
}

/// What `on_schema_change` does when the columns changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnSchemaChange {
    /// Warn in the preview and the run log, then run (default).
    #[default]
    Warn,
    /// Stop the run before it writes anything (the preview still shows the plan).
    Stop,
}

/// Default of a job's `run_timeout`: one hour.
pub const DEFAULT_RUN_TIMEOUT: u64 = 3600;

/// Log verbosity of the original (`log_verbosity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    #[default]
    Debug,
    Info,
    Critical,
}

/// Supported SQL drivers (`database_driver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// `mssql`: Microsoft SQL Server (tiberius).
    Mssql,
    /// `postgres` (also accepted: `postgresql`, `pg`).
    #[serde(alias = "postgresql", alias = "pg")]
    Postgres,
    /// `mysql` (also accepted: `mariadb`).
    #[serde(alias = "mariadb")]
    Mysql,
    /// `sqlite`: `database_name` (or `database_host`) is the path of the database file.
    Sqlite,
}

impl Driver {
    /// Human name used in messages ("PostgreSQL", "MySQL/MariaDB", ...).
    pub fn label(self) -> &'static str {
        match self {
            Driver::Mssql => "SQL Server",
            Driver::Postgres => "PostgreSQL",
            Driver::Mysql => "MySQL/MariaDB",
            Driver::Sqlite => "SQLite",
        }
    }

    /// The value written in YAML.
    pub fn key(self) -> &'static str {
        match self {
            Driver::Mssql => "mssql",
            Driver::Postgres => "postgres",
            Driver::Mysql => "mysql",
            Driver::Sqlite => "sqlite",
        }
    }

    /// Default TCP port of the driver (None for SQLite).
    pub fn default_port(self) -> Option<u16> {
        match self {
            Driver::Mssql => Some(1433),
            Driver::Postgres => Some(5432),
            Driver::Mysql => Some(3306),
            Driver::Sqlite => None,
        }
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Database connection settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseConfig {
    pub driver: Driver,
    /// `database_host`. Default `localhost`. Unused for SQLite.
    pub host: Option<String>,
    /// `database_port`. Default: the driver's standard port.
    pub port: Option<u16>,
    /// `database_username`.
    pub username: Option<String>,
    /// `database_password`.
    pub password: Option<Secret>,
    /// `database_name`: the database (schema) name; for SQLite the file path, made absolute
    /// against the job file's folder by the loader.
    pub database: Option<String>,
    /// `database_domain` (SQL Server only): Windows/NTLM login domain.
    pub domain: Option<String>,
    /// `database_instance` (SQL Server only): named instance, resolved through SQL Browser.
    pub instance: Option<String>,
    /// `database_encrypt` (SQL Server only): TLS to the server. Default false (the original's).
    pub encrypt: Option<bool>,
    /// `database_native_odbc`: accepted for compatibility; no effect (warned at load).
    pub native_odbc: bool,
}

impl DatabaseConfig {
    /// "PostgreSQL at db.local:5432/sales" — never contains the password.
    pub fn describe(&self) -> String {
        match self.driver {
            Driver::Sqlite => format!(
                "SQLite file {}",
                self.database.as_deref().unwrap_or("(no file)")
            ),
            driver => {
                let host = self.host.as_deref().unwrap_or("localhost");
                let port = self.port.or(driver.default_port()).unwrap_or_default();
                let instance = match &self.instance {
                    Some(i) => format!("\\{i}"),
                    None => String::new(),
                };
                match &self.database {
                    Some(db) => format!("{driver} at {host}{instance}:{port}/{db}"),
                    None => format!("{driver} at {host}{instance}:{port}"),
                }
            }
        }
    }
}

/// One operation of a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    Push(PushOperation),
    Pull(PullOperation),
}

impl Operation {
    pub fn description(&self) -> Option<&str> {
        match self {
            Operation::Push(p) => p.description.as_deref(),
            Operation::Pull(p) => p.description.as_deref(),
        }
    }

    pub fn frequency(&self) -> Option<&str> {
        match self {
            Operation::Push(p) => p.frequency.as_deref(),
            Operation::Pull(p) => p.frequency.as_deref(),
        }
    }

    /// The Fliplet data source the operation writes to (push) or reads from (pull).
    pub fn datasource_id(&self) -> u64 {
        match self {
            Operation::Push(p) => p.datasource_id,
            Operation::Pull(p) => p.datasource_id,
        }
    }

    /// `push` or `pull`.
    pub fn kind(&self) -> &'static str {
        match self {
            Operation::Push(_) => "push",
            Operation::Pull(_) => "pull",
        }
    }

    /// The `on_sync` command, if any.
    pub fn on_sync(&self) -> Option<&Command> {
        match self {
            Operation::Push(p) => p.on_sync.as_ref(),
            Operation::Pull(p) => p.on_sync.as_ref(),
        }
    }

    /// The database connection the operation reads (an SQL push) or writes (a pull into a
    /// table), if any.
    pub fn connection(&self) -> Option<&Connection> {
        match self {
            Operation::Push(PushOperation {
                source: PushSource::Sql { connection, .. },
                ..
            })
            | Operation::Pull(PullOperation {
                target: PullTarget::Table { connection, .. },
                ..
            }) => Some(connection),
            _ => None,
        }
    }
}

/// A named database connection, as used by one source or target: one of `connections:` of
/// the multi-operation format (the loader copies the settings into every operation that
/// names it), or the `database_*` keys of the single-operation format
/// ([`Connection::SINGLE_FORMAT`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// The name under `connections:`.
    pub name: String,
    pub config: DatabaseConfig,
}

impl Connection {
    /// The name the `database_*` keys of a single-operation file take (and keep when the
    /// job is written in the multi-operation format).
    pub const SINGLE_FORMAT: &'static str = "database";

    /// The connection of a single-operation file's `database_*` keys.
    pub fn single_format(config: DatabaseConfig) -> Self {
        Connection {
            name: Self::SINGLE_FORMAT.into(),
            config,
        }
    }
}

/// Where a push reads its rows.
#[derive(Debug, Clone, PartialEq)]
pub enum PushSource {
    /// `type: sql`: a query on a database (`query` and `database_*` of the
    /// single-operation format).
    Sql {
        connection: Connection,
        query: String,
        /// `query_timeout` and `stall_timeout`.
        timeouts: QueryTimeouts,
    },
    /// `type: http`: a JSON HTTP API.
    Http(HttpSource),
    /// `type: json`: a local JSON file.
    Json(JsonFileSource),
    /// `type: csv`: a local CSV file.
    Csv(CsvSource),
    /// `type: rows`: rows written in the job file (each a JSON object).
    Rows(Vec<serde_json::Map<String, serde_json::Value>>),
}

/// Bounded waits on an SQL source (`query_timeout`, `stall_timeout`), in seconds; `0` means
/// no limit. See `docs/safety.md` ("Query timeout and stalled databases").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryTimeouts {
    /// `query_timeout`: the longest a query may run, from sending it to its last row. Set on
    /// the server too where the database allows it (PostgreSQL `statement_timeout`, MariaDB
    /// `max_statement_time`, MySQL `max_execution_time`). Default
    /// [`QueryTimeouts::DEFAULT_QUERY`].
    pub query: u64,
    /// `stall_timeout`: once the first row has arrived, the longest wait for the next one
    /// (a server or network that stops sending mid-result). Default
    /// [`QueryTimeouts::DEFAULT_STALL`].
    pub stall: u64,
}

impl QueryTimeouts {
    /// Default `query_timeout`: 5 minutes.
    pub const DEFAULT_QUERY: u64 = 300;
    /// Default `stall_timeout`: 1 minute.
    pub const DEFAULT_STALL: u64 = 60;
    /// The largest accepted value (PostgreSQL's `statement_timeout` limit, about 24 days).
    pub const MAX: u64 = 2_147_483;

    /// No limit at all (`0` for both).
    pub const NONE: QueryTimeouts = QueryTimeouts { query: 0, stall: 0 };
}

impl Default for QueryTimeouts {
    fn default() -> Self {
        QueryTimeouts {
            query: Self::DEFAULT_QUERY,
            stall: Self::DEFAULT_STALL,
        }
    }
}

impl PushSource {
    /// `sql`, `http`, `json`, `csv` or `rows`.
    pub fn kind(&self) -> &'static str {
        match self {
            PushSource::Sql { .. } => "sql",
            PushSource::Http(_) => "http",
            PushSource::Json(_) => "json",
            PushSource::Csv(_) => "csv",
            PushSource::Rows(_) => "rows",
        }
    }

    /// Where rows come from, for log lines ("Fetching data from the database...").
    pub fn label(&self) -> &'static str {
        match self {
            PushSource::Sql { .. } => "the database",
            PushSource::Http(_) => "the HTTP source",
            PushSource::Json(_) => "the JSON file",
            PushSource::Csv(_) => "the CSV file",
            PushSource::Rows(_) => "the inline rows",
        }
    }
}

/// `source: {type: http, ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSource {
    /// `method`: GET (default), POST, PUT, ...
    pub method: String,
    /// `url`: http(s) URL of the first page.
    pub url: String,
    /// `headers`: request headers; values are secrets (may be `keychain:<name>` references).
    pub headers: Vec<(String, Secret)>,
    /// `body`: JSON request body (sent with `Content-Type: application/json`).
    pub body: Option<serde_json::Value>,
    /// `records`: dotted path to the array of records in the JSON response (`d.results`,
    /// `data.items`, `0` for an index); `None`: the response itself is the array.
    pub records: Option<String>,
    /// `pagination`: how to fetch the next pages. `None`: one request.
    pub pagination: Option<Pagination>,
    /// `timeout_seconds`: per request. Default 60.
    pub timeout_seconds: u64,
}

/// Pagination of an HTTP source.
#[derive(Debug, Clone, PartialEq)]
pub enum Pagination {
    /// `type: next_link`: the dotted path `next` in each response holds the URL of the next
    /// page (absolute or relative to the current one); a missing, null or empty value ends.
    NextLink { next: String, max_pages: u64 },
    /// `type: offset`: query parameters `offset_param` (default `offset`) and `limit_param`
    /// (default `limit`) are added; pages are fetched until one has fewer than `limit`
    /// records.
    Offset {
        offset_param: String,
        limit_param: String,
        limit: u64,
        max_pages: u64,
    },
}

/// `source: {type: json, ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonFileSource {
    /// Absolute path (relative paths are resolved against the job file's folder).
    pub path: std::path::PathBuf,
    /// `records`: dotted path to the array inside the file; `None`: the file is the array.
    pub records: Option<String>,
}

/// Text encodings of a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum CsvEncoding {
    /// `utf-8` (default), with or without a byte-order mark.
    #[default]
    #[serde(rename = "utf-8", alias = "utf8")]
    Utf8,
    /// `windows-1252` (also `cp1252`, `latin1`: Western European Excel exports).
    #[serde(
        rename = "windows-1252",
        alias = "cp1252",
        alias = "latin1",
        alias = "iso-8859-1"
    )]
    Windows1252,
}

/// `source: {type: csv, ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvSource {
    pub path: std::path::PathBuf,
    /// `delimiter`: one character. Default `,`.
    pub delimiter: u8,
    /// `quote`: one character. Default `"`.
    pub quote: u8,
    /// `header`: the first row holds the column names (default true); `false` names the
    /// columns `column1`, `column2`, ...
    pub header: bool,
    pub encoding: CsvEncoding,
}

/// A command run after an operation (`on_sync`).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A list: program and arguments, run without a shell.
    Argv(Vec<String>),
    /// A string: run by the system shell (`sh -c` / `cmd /C`).
    Shell(String),
}

impl Command {
    /// For logs.
    pub fn display(&self) -> String {
        match self {
            Command::Argv(v) => v.join(" "),
            Command::Shell(s) => s.clone(),
        }
    }
}

/// A pull: entries of a Fliplet data source written to a table or a file.
#[derive(Debug, Clone, PartialEq)]
pub struct PullOperation {
    pub description: Option<String>,
    pub frequency: Option<String>,
    pub datasource_id: u64,
    /// `where`: the data/query filter, passed through as written (JSON).
    pub where_: Option<serde_json::Value>,
    /// `attributes`: columns to fetch (empty: all).
    pub attributes: Vec<String>,
    /// `order`: `[column, ASC|DESC]` pairs, e.g. `[data.Name, ASC]` or `[id, DESC]`.
    pub order: Vec<(String, String)>,
    /// `limit`: at most this many entries.
    pub limit: Option<u64>,
    pub target: PullTarget,
    pub write_back: Option<WriteBack>,
    pub on_sync: Option<Command>,
}

/// Where a pull writes the entries.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per operation: size does not matter
pub enum PullTarget {
    /// `type: table`: upsert into a database table by `key`, in one transaction.
    Table {
        connection: Connection,
        table: String,
        /// Table column matched to decide between update and insert.
        key: String,
        /// `columns`: data-source column (or `$id`, the entry ID) → table column, in order.
        columns: Vec<(String, String)>,
    },
    /// `type: csv`: a CSV file with a header row (`id` then the data columns), written
    /// atomically.
    Csv {
        path: std::path::PathBuf,
        delimiter: u8,
    },
    /// `type: json`: a JSON array of `{id, data}`-flattened objects, written atomically.
    Json { path: std::path::PathBuf },
}

/// `write_back`: a column set on every pulled entry after a successful write.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteBack {
    pub column: String,
    pub value: WriteBackValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WriteBackValue {
    /// `now`: milliseconds since the epoch (JavaScript's `Date.now()`).
    Now,
    /// `now_iso`: ISO-8601 UTC time with milliseconds.
    NowIso,
    /// Any other value, written as given.
    Fixed(serde_json::Value),
}

/// `mode`: what happens to remote entries that the source no longer returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Keep them (default).
    #[default]
    Update,
    /// Delete them, and update every matched entry.
    Replace,
}

/// `run_hooks` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    Insert,
    Update,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Insert => "insert",
            Hook::Update => "update",
        }
    }
}

/// A push: rows from a source into a Fliplet data source.
#[derive(Debug, Clone, PartialEq)]
pub struct PushOperation {
    /// `description`, printed in the logs.
    pub description: Option<String>,
    /// `frequency`: cron expression (5 fields, or 6 with leading seconds). `None`: never
    /// scheduled (only `sync_on_init` / manual runs).
    pub frequency: Option<String>,
    /// Where the rows come from (`query` of the single-operation format is `PushSource::Sql`).
    pub source: PushSource,
    /// `datasource_id`: target Fliplet data source.
    pub datasource_id: u64,
    /// `primary_column`: column matching rows to entries. `None`: rows are always appended.
    pub primary_column: Option<String>,
    /// `case_insensitive_primary_column`. Default false.
    pub case_insensitive_primary_column: bool,
    /// `timestamp_column`: column compared to decide whether a matched row changed.
    pub timestamp_column: Option<String>,
    /// `mode`: update (default) or replace.
    pub mode: Mode,
    /// `batch_size`: rows per commit request. Default 1000.
    pub batch_size: usize,
    /// `concurrency`: parallel file fetches/uploads. Default 1.
    pub concurrency: usize,
    /// `delete_column`: rows whose value here is set (not null, not false, not empty) delete
    /// their entry.
    pub delete_column: Option<String>,
    /// `run_hooks`: post-sync hooks to run on the server.
    pub run_hooks: Vec<Hook>,
    /// `merge`: `Some(true)` merges sent columns into entries (commit `extend: true`);
    /// `None` leaves `extend` out of the commit, as the original does.
    pub merge: Option<bool>,
    /// `remove_duplicate_entries`: delete the extra entries that share a primary key with
    /// another entry, keeping the entry with the lowest id. Default false: they are reported
    /// in the preview and the run log, and left alone.
    pub remove_duplicate_entries: bool,
    /// `delete_gate_percent` and `delete_gate_min`: a run that would delete more than this
    /// share of the data source's entries, and more than this many, stops before writing
    /// anything (see [`DeleteGate`]).
    pub delete_gate: DeleteGate,
    /// `allow_empty_source`: in `mode: replace`, a query returning no rows deletes every entry.
    /// Default false: such a run deletes nothing and fails, saying so.
    pub allow_empty_source: bool,
    /// `on_schema_change`: `warn` (default) or `stop` when the query's columns differ from
    /// those of the last successful run (added, removed or retyped).
    pub on_schema_change: OnSchemaChange,
    /// `files`: columns holding files to upload.
    pub files: Vec<FileColumn>,
    /// `encrypt`: columns to encrypt.
    pub encrypt: Option<EncryptConfig>,
    /// `on_sync`: command run after the operation (multi-operation format).
    pub on_sync: Option<Command>,
}

impl PushOperation {
    /// A push of `query` on `connection` with the original's defaults for everything else.
    pub fn new(datasource_id: u64, connection: Connection, query: impl Into<String>) -> Self {
        Self::with_source(
            datasource_id,
            PushSource::Sql {
                connection,
                query: query.into(),
                timeouts: QueryTimeouts::default(),
            },
        )
    }

    /// A push with the original's defaults reading from `source`.
    pub fn with_source(datasource_id: u64, source: PushSource) -> Self {
        PushOperation {
            description: None,
            frequency: None,
            source,
            datasource_id,
            primary_column: None,
            case_insensitive_primary_column: false,
            timestamp_column: None,
            mode: Mode::Update,
            batch_size: 1000,
            concurrency: 1,
            delete_column: None,
            run_hooks: Vec::new(),
            merge: None,
            remove_duplicate_entries: false,
            delete_gate: DeleteGate::default(),
            allow_empty_source: false,
            on_schema_change: OnSchemaChange::Warn,
            files: Vec::new(),
            encrypt: None,
            on_sync: None,
        }
    }

    /// The SQL query, when the source is SQL.
    pub fn query(&self) -> Option<&str> {
        match &self.source {
            PushSource::Sql { query, .. } => Some(query),
            _ => None,
        }
    }
}

/// How a file column's value is fetched (`files[].type`).
#[derive(Debug, Clone, PartialEq)]
pub enum FileSource {
    /// `remote`: an HTTP(S) URL, with optional request headers. Header values are secrets
    /// (they often hold credentials, e.g. `Authorization`).
    Remote { headers: Vec<(String, Secret)> },
    /// `local`: an absolute path, or a path relative to `directory`.
    Local { directory: Option<PathBuf> },
    /// `sharepoint`: a SharePoint URL fetched with NTLM credentials.
    Sharepoint {
        username: String,
        password: Secret,
        /// `fileType: inherit` keeps the remote file name.
        inherit_file_type: bool,
    },
}

/// One entry of `files:`.
#[derive(Debug, Clone, PartialEq)]
pub struct FileColumn {
    pub column: String,
    pub source: FileSource,
}

/// `encrypt:` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EncryptConfig {
    /// Columns to encrypt (never the primary key).
    pub fields: Vec<String>,
    /// Fixed key; `None` means: use the organization's keystore.
    pub key: Option<Secret>,
    /// Salt for the keystore key; default `<organizationId>-<keystoreId>`.
    pub salt: Option<Secret>,
}

/// A non-fatal finding about a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub file: String,
    pub key: Option<String>,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A fatal config error. `Display` names the file, the key and the line where known, and
/// never includes a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("Cannot read config file {file}: {message}. Check that the path is correct.")]
    Read { file: String, message: String },
    #[error("{file}{}: the file is not valid YAML: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Syntax {
        file: String,
        line: Option<usize>,
        message: String,
    },
    #[error("{file}{}: `{key}`: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        file: String,
        key: String,
        line: Option<usize>,
        message: String,
    },
    #[error("{file}: `{key}` is required: {hint}")]
    Missing {
        file: String,
        key: String,
        hint: String,
    },
    #[error("{file}: JavaScript config files are not supported by this agent: {hint}")]
    JavaScript { file: String, hint: String },
    /// A directory, a device (`/dev/zero`), a FIFO or a socket: never read.
    #[error(
        "{file} is {kind}, not a regular file: a job file is a YAML text file. Check the path."
    )]
    NotAFile { file: String, kind: &'static str },
    /// Larger than [`MAX_JOB_FILE_BYTES`]: not read past the limit.
    #[error(
        "{file} is larger than {} KiB: a job file is a few kilobytes of YAML. Check the path (is this the job file?), or move large inline `rows` into a JSON or CSV file source.",
        MAX_JOB_FILE_BYTES / 1024
    )]
    TooLarge { file: String },
    /// Not UTF-8 text: the first invalid byte, 0-based offset in the file.
    #[error(
        "{file}:{line}: the file is not UTF-8 text: byte {offset} (0x{byte:02X}) is not valid UTF-8. Save the file with the UTF-8 encoding (it was probably saved as Windows-1252/Latin-1 or UTF-16)."
    )]
    NotUtf8 {
        file: String,
        line: usize,
        offset: usize,
        byte: u8,
    },
}

/// The largest job file read (1 MiB). Job files are a few kilobytes; the cap keeps a wrong
/// path (a log, a database dump) from being read into memory.
pub const MAX_JOB_FILE_BYTES: u64 = 1024 * 1024;

/// What a path that is not a regular file is, for messages.
fn file_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a named pipe (FIFO)");
        }
        if t.is_char_device() || t.is_block_device() {
            return Some("a device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("a special file")
}

/// Read a job file's text: only a regular file (checked before opening, so a FIFO is never
/// opened and waited on), at most [`MAX_JOB_FILE_BYTES`], and UTF-8 (else the offset and line
/// of the first invalid byte).
pub fn read_job_text(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let file = path.display().to_string();
    let read_error = |e: std::io::Error| ConfigError::Read {
        file: file.clone(),
        message: e.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(read_error)?;
    if let Some(kind) = file_kind(&meta) {
        return Err(ConfigError::NotAFile { file, kind });
    }
    let handle = std::fs::File::open(path).map_err(read_error)?;
    // The path may have been replaced between the check and the open: check what was opened.
    if let Some(kind) = file_kind(&handle.metadata().map_err(read_error)?) {
        return Err(ConfigError::NotAFile { file, kind });
    }
    let mut bytes = Vec::new();
    handle
        .take(MAX_JOB_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_JOB_FILE_BYTES {
        return Err(ConfigError::TooLarge { file });
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        ConfigError::NotUtf8 {
            line: 1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count(),
            offset,
            byte: bytes[offset],
            file,
        }
    })
}

/// A loaded job and the warnings found while loading it.
#[derive(Debug, Clone)]
pub struct LoadedJob {
    pub job: Job,
    pub warnings: Vec<ConfigWarning>,
}

/// Read and validate a job file. Pure apart from reading the file: no connection is made.
pub fn load_job(path: &Path) -> Result<LoadedJob, ConfigError> {
    let file = path.display().to_string();
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("js"))
    {
        return Err(ConfigError::JavaScript {
            file,
            hint: "JavaScript configs are replaced by the declarative multi-operation YAML job format (a YAML file with `operations:`: SQL, HTTP, JSON, CSV and inline sources, pulls, on_sync commands); the README section \"From JavaScript configs\" shows the YAML equivalent of each JavaScript example, and examples/js-equivalents/ holds them as files".into(),
        });
    }
    let text = read_job_text(path)?;
    parse_job(&text, path)
}

/// Parse the text of a job file of either format: a top-level `operations:` key selects the
/// multi-operation format ([`multi`]), anything else is the original's format ([`legacy`]).
pub fn parse_job(text: &str, path: &Path) -> Result<LoadedJob, ConfigError> {
    if multi::looks_like(text) {
        multi::parse(text, path)
    } else {
        legacy::parse(text, path)
    }
}
