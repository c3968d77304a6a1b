//! The multi-operation job format: shared settings, named database connections and a list
//! of push and pull operations, each with its own frequency. It replaces the original's
//! JavaScript configs (see the README sections "Multi-operation job files" and "From
//! JavaScript configs").
//!
//! A YAML file is read in this format when it has a top-level `operations:` key; every other
//! YAML file is the original's single-operation format ([`super::legacy`]).
//!
//! ```yaml
//! auth_token: keychain:fliplet-token
//! connections:
//!   main: { driver: postgres, host: db.local, username: sync, password: keychain:db, name: sales }
//! operations:
//!   - type: push
//!     frequency: '*/15 * * * *'
//!     source: { type: sql, connection: main, query: SELECT * FROM users }
//!     datasource_id: 123
//!     primary_column: id
//!   - type: pull
//!     datasource_id: 456
//!     where: { syncedAt: '' }
//!     target: { type: table, connection: main, table: leads, key: email, columns: { Email: email } }
//!     write_back: { column: syncedAt, value: now }
//! ```
//!
//! Every key of a push of the single-operation format (`primary_column`, `mode`, `files`,
//! `encrypt`, ...) keeps its name and meaning in a push operation here.
//!
//! The file is read into the structs below (`#[derive(Deserialize)]`, through
//! [`super::de`]): a key is a field, documented where it is declared. [`Shape`]s say how
//! messages name each struct; checks across keys run after reading, in the `into_*`
//! functions, which build the [`Job`].

use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Visitor};
use serde_json::Value as Json;

use super::de::{Ctx, FOUND, Pairs, Shape, Spanned, Whole, name, spanned_name};
use super::legacy::{HINT_AUTH, HINT_DS, WHOLE_FILE};
use super::yaml::{InFile, Value, header_value_problem, suggestion};
use super::{
    Command, ConfigError, Connection, CsvEncoding, CsvSource, DEFAULT_RUN_TIMEOUT, DatabaseConfig,
    DeleteGate, Driver, EncryptConfig, FileColumn, FileSource, Hook, HttpSource, Job, JobFormat,
    JsonFileSource, LoadedJob, Mode, OnSchemaChange, Operation, Pagination, PullOperation,
    PullTarget, PushOperation, PushSource, QueryTimeouts, Verbosity, WriteBack, WriteBackValue,
};
use crate::schedule;
use crate::secret::Secret;

/// Does this text use the multi-operation format (a top-level `operations:` key)?
pub fn looks_like(text: &str) -> bool {
    text.trim_start_matches('\u{feff}').lines().any(|l| {
        l.strip_prefix("operations")
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
    })
}

// ---------------------------------------------------------------------------------------
// The file.
// ---------------------------------------------------------------------------------------

/// The top level of a multi-operation job file.
#[derive(Deserialize)]
struct MultiFile {
    /// Fliplet API token, e.g. `eu--123456789`, or a `keychain:<name>` reference.
    auth_token: Spanned<Secret>,
    /// Fliplet API base URL; overrides `FLIPLET_API_URL` and the token's region.
    #[serde(default, deserialize_with = "api_url")]
    api_url: Option<String>,
    /// An extra CA certificate file (PEM) to trust for the Fliplet API.
    #[serde(default, deserialize_with = "name")]
    ca_file: Option<String>,
    /// Run every operation once at start, before the schedule.
    #[serde(default)]
    sync_on_init: bool,
    /// `debug` (default), `info` or `critical`.
    #[serde(default)]
    log_verbosity: Verbosity,
    /// Seconds a run may take (`0`: no bound). Default [`DEFAULT_RUN_TIMEOUT`].
    #[serde(default)]
    run_timeout: Option<Whole<0>>,
    /// When the job's data is stale: a duration (`36h`), `0` for never.
    #[serde(default, deserialize_with = "stale_after")]
    stale_after: Option<u64>,
    /// Named database connections.
    #[serde(default)]
    connections: Pairs<ConnectionFile>,
    /// The operations, run in series.
    operations: Spanned<Vec<OperationFile>>,
}

/// A connection under `connections:`.
#[derive(Deserialize)]
pub(super) struct ConnectionFile {
    pub(super) driver: Driver,
    /// Default `localhost`. For SQLite: the database file when `name` is absent.
    #[serde(default, deserialize_with = "spanned_name")]
    pub(super) host: Option<Spanned<String>>,
    /// Default: the driver's standard port.
    #[serde(default)]
    pub(super) port: Option<Spanned<Port>>,
    #[serde(default, deserialize_with = "spanned_name")]
    pub(super) username: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) password: Option<Spanned<Secret>>,
    /// The database; for SQLite the file path, relative to the job file's folder.
    #[serde(default, deserialize_with = "name")]
    pub(super) name: Option<String>,
    /// SQL Server only: Windows (NTLM) login domain.
    #[serde(default, deserialize_with = "spanned_name")]
    pub(super) domain: Option<Spanned<String>>,
    /// SQL Server only: named instance.
    #[serde(default, deserialize_with = "spanned_name")]
    pub(super) instance: Option<Spanned<String>>,
    /// SQL Server only: TLS to the server. Default false.
    #[serde(default)]
    pub(super) encrypt: Option<Spanned<bool>>,
    /// Accepted for compatibility; no effect (warned about).
    #[serde(default)]
    pub(super) native_odbc: Option<Spanned<bool>>,
}

/// An item of `operations:` (`type: push`, the default, or `type: pull`).
#[derive(Deserialize)]
enum OperationFile {
    #[serde(rename = "push")]
    Push(Box<PushFile>),
    #[serde(rename = "pull")]
    Pull(Box<PullFile>),
}

/// A push operation.
#[derive(Deserialize)]
struct PushFile {
    /// Where the rows come from.
    source: Spanned<SourceFile>,
    /// The target data source.
    datasource_id: Whole<1>,
    /// Command run after the operation.
    #[serde(default)]
    on_sync: Option<Command>,
    /// The options every push has.
    #[serde(rename = "$flatten")]
    options: PushOptions,
}

/// The options of a push, the same in both formats (read from the operation's own
/// mapping, or from the top level of a single-operation file).
#[derive(Deserialize)]
pub(super) struct PushOptions {
    /// Printed in the logs.
    #[serde(default, deserialize_with = "name")]
    description: Option<String>,
    /// Cron expression (5 fields, or 6 with leading seconds). None: never scheduled.
    #[serde(default, deserialize_with = "spanned_name")]
    frequency: Option<Spanned<String>>,
    /// Column matching rows to entries. None: rows are always appended.
    #[serde(default, deserialize_with = "name")]
    primary_column: Option<String>,
    #[serde(default)]
    case_insensitive_primary_column: bool,
    /// Column compared to decide whether a matched row changed.
    #[serde(default, deserialize_with = "spanned_name")]
    timestamp_column: Option<Spanned<String>>,
    #[serde(default)]
    mode: Mode,
    /// Rows per commit request. Default 1000.
    #[serde(default)]
    batch_size: Option<Whole<1>>,
    /// Parallel file fetches/uploads. Default 1.
    #[serde(default)]
    concurrency: Option<Whole<1>>,
    #[serde(default, deserialize_with = "name")]
    delete_column: Option<String>,
    /// Post-sync hooks run by Fliplet (`insert`, `update`).
    #[serde(default)]
    run_hooks: OneOrMany<Hook>,
    /// Merge sent columns into entries (`extend: true`); absent: not sent.
    #[serde(default)]
    merge: Option<bool>,
    #[serde(default)]
    remove_duplicate_entries: bool,
    /// 0–100, default 25.
    #[serde(default)]
    delete_gate_percent: Option<Percent>,
    /// Default 100.
    #[serde(default)]
    delete_gate_min: Option<Whole<0>>,
    #[serde(default)]
    allow_empty_source: bool,
    #[serde(default)]
    on_schema_change: OnSchemaChange,
    /// Columns holding files to upload.
    #[serde(default)]
    files: Vec<Option<Spanned<FileFile>>>,
    /// Columns to encrypt.
    #[serde(default)]
    encrypt: Option<EncryptFile>,
}

/// An entry of `files:`.
#[derive(Deserialize)]
struct FileFile {
    /// The column holding the file URL or path.
    #[serde(default, deserialize_with = "name")]
    column: Option<String>,
    /// `remote`, `local` or `sharepoint`.
    #[serde(rename = "type", default)]
    kind: Option<Spanned<FileKind>>,
    /// `remote`: request headers (values are secrets).
    #[serde(default)]
    headers: Option<Spanned<Pairs<Spanned<Secret>>>>,
    /// `local`: the folder of relative paths.
    #[serde(default)]
    directory: Option<Spanned<String>>,
    /// `sharepoint`: the login.
    #[serde(default)]
    username: Option<Spanned<String>>,
    /// `sharepoint`: the password.
    #[serde(default)]
    password: Option<Spanned<Secret>>,
    /// `sharepoint`: `inherit` keeps the remote file type.
    #[serde(rename = "fileType", default)]
    file_type: Option<Spanned<String>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum FileKind {
    Remote,
    Local,
    Sharepoint,
}

impl FileKind {
    fn name(self) -> &'static str {
        match self {
            FileKind::Remote => "remote",
            FileKind::Local => "local",
            FileKind::Sharepoint => "sharepoint",
        }
    }
}

/// `encrypt:`.
#[derive(Deserialize)]
struct EncryptFile {
    /// Columns to encrypt (never the primary key).
    fields: Spanned<OneOrMany<Option<Spanned<String>>>>,
    /// Fixed key; absent: the organization's keystore.
    #[serde(default)]
    key: Option<Secret>,
    /// Salt of the keystore key.
    #[serde(default)]
    salt: Option<Spanned<Secret>>,
}

/// `source:` of a push.
#[derive(Deserialize)]
enum SourceFile {
    #[serde(rename = "sql")]
    Sql(SqlFile),
    #[serde(rename = "http")]
    Http(HttpFile),
    #[serde(rename = "json")]
    Json(JsonFile),
    #[serde(rename = "csv")]
    Csv(CsvFile),
    #[serde(rename = "rows")]
    Rows(RowsFile),
}

#[derive(Deserialize)]
struct SqlFile {
    /// Name under `connections:`; may be left out when there is one.
    #[serde(default, deserialize_with = "spanned_name")]
    connection: Option<Spanned<String>>,
    /// The SQL query returning the rows to push.
    #[serde(deserialize_with = "required_name")]
    query: String,
    /// Seconds (`0`: no limit). Default 300.
    #[serde(default)]
    query_timeout: Option<Seconds>,
    /// Seconds between rows once they arrive (`0`: no limit). Default 60.
    #[serde(default)]
    stall_timeout: Option<Spanned<Seconds>>,
}

#[derive(Deserialize)]
struct HttpFile {
    /// GET (default), POST, ...
    #[serde(default, deserialize_with = "spanned_name")]
    method: Option<Spanned<String>>,
    /// http(s) URL of the first page.
    url: Spanned<String>,
    /// Request headers; values are secrets.
    #[serde(default)]
    headers: Pairs<Spanned<Secret>>,
    /// JSON request body.
    #[serde(default)]
    body: Option<Json>,
    /// Dotted path to the records in the response.
    #[serde(default, deserialize_with = "name")]
    records: Option<String>,
    #[serde(default)]
    pagination: Option<PaginationFile>,
    /// Per request. Default 60.
    #[serde(default)]
    timeout_seconds: Option<Whole<1>>,
}

#[derive(Deserialize)]
enum PaginationFile {
    #[serde(rename = "next_link")]
    NextLink(NextLinkFile),
    #[serde(rename = "offset")]
    Offset(OffsetFile),
}

#[derive(Deserialize)]
struct NextLinkFile {
    /// Dotted path of the next page's URL in each response.
    #[serde(deserialize_with = "required_name")]
    next: String,
    #[serde(default)]
    max_pages: Option<Whole<1>>,
}

#[derive(Deserialize)]
struct OffsetFile {
    #[serde(default, deserialize_with = "name")]
    offset_param: Option<String>,
    #[serde(default, deserialize_with = "name")]
    limit_param: Option<String>,
    /// The page size.
    limit: Whole<1>,
    #[serde(default)]
    max_pages: Option<Whole<1>>,
}

#[derive(Deserialize)]
struct JsonFile {
    #[serde(deserialize_with = "required_name")]
    path: String,
    #[serde(default, deserialize_with = "name")]
    records: Option<String>,
}

#[derive(Deserialize)]
struct CsvFile {
    #[serde(deserialize_with = "required_name")]
    path: String,
    /// Default `,`.
    #[serde(default)]
    delimiter: Option<OneChar>,
    /// Default `"`.
    #[serde(default)]
    quote: Option<OneChar>,
    /// The first row holds the column names. Default true.
    #[serde(default)]
    header: Option<bool>,
    #[serde(default)]
    encoding: CsvEncoding,
}

#[derive(Deserialize)]
struct RowsFile {
    /// The rows, each a group of `column: value` settings.
    rows: Vec<Spanned<Json>>,
}

/// A pull operation.
#[derive(Deserialize)]
struct PullFile {
    #[serde(default, deserialize_with = "name")]
    description: Option<String>,
    #[serde(default, deserialize_with = "spanned_name")]
    frequency: Option<Spanned<String>>,
    /// The data source to pull entries from.
    datasource_id: Whole<1>,
    /// The data/query filter, passed through as written.
    #[serde(default, rename = "where")]
    where_: Option<Spanned<Json>>,
    /// Columns to fetch (empty: all).
    #[serde(default)]
    attributes: Option<Spanned<Vec<Option<String>>>>,
    /// `[column, ASC|DESC]` pairs.
    #[serde(default)]
    order: Option<Spanned<Json>>,
    #[serde(default)]
    limit: Option<Whole<1>>,
    /// Where the entries go.
    target: Spanned<TargetFile>,
    #[serde(default)]
    write_back: Option<WriteBackFile>,
    #[serde(default)]
    on_sync: Option<Command>,
}

#[derive(Deserialize)]
enum TargetFile {
    #[serde(rename = "table")]
    Table(TableFile),
    #[serde(rename = "csv")]
    Csv(CsvTargetFile),
    #[serde(rename = "json")]
    Json(JsonTargetFile),
}

#[derive(Deserialize)]
struct TableFile {
    #[serde(default, deserialize_with = "spanned_name")]
    connection: Option<Spanned<String>>,
    #[serde(deserialize_with = "required_name")]
    table: String,
    /// The table column that identifies a row.
    key: Spanned<String>,
    /// Data source column (or `$id`) → table column.
    #[serde(default)]
    columns: Option<Spanned<Pairs<String>>>,
}

#[derive(Deserialize)]
struct CsvTargetFile {
    #[serde(deserialize_with = "required_name")]
    path: String,
    #[serde(default)]
    delimiter: Option<OneChar>,
}

#[derive(Deserialize)]
struct JsonTargetFile {
    #[serde(deserialize_with = "required_name")]
    path: String,
}

#[derive(Deserialize)]
struct WriteBackFile {
    #[serde(deserialize_with = "required_name")]
    column: String,
    /// `now` (default), `now_iso`, or a value (`null` too).
    #[serde(default = "write_back_now")]
    value: WriteBackValue,
}

fn write_back_now() -> WriteBackValue {
    WriteBackValue::Now
}

/// How messages name the structs and enums of both formats.
pub(super) const SHAPES: &[Shape] = &[
    Shape::new("LegacyFile"),
    Shape {
        lists: &[
            (
                "files",
                "a list of file columns (`- column: thumbnail` / `type: remote`)",
            ),
            ("run_hooks", "a list of hook types (`- insert`, `- update`)"),
        ],
        ..Shape::new("PushOptions")
    },
    Shape {
        required: &[
            ("auth_token", HINT_AUTH),
            ("operations", "list the push and pull operations"),
        ],
        expected: "`key: value` settings (`auth_token:`, `operations:`, ...)",
        lists: &[(
            "operations",
            "a list of operations (`- type: push` or `- type: pull`, with their settings)",
        )],
        ..Shape::new("MultiFile")
    },
    Shape {
        context: " in a connection",
        expected: "the connection's settings (`driver:`, `host:`, `port:`, `username:`, `password:`, `name:`)",
        required: &[("driver", "one of mssql, postgres, mysql, sqlite")],
        ..Shape::new("ConnectionFile")
    },
    Shape {
        expected: "the operation's settings (`type: push` or `type: pull`, ...)",
        default_tag: Some("push"),
        ..Shape::new("OperationFile")
    },
    Shape {
        context: " in a push operation",
        required: &[
            ("datasource_id", HINT_DS),
            (
                "source",
                "where the rows come from (`source:` with `type: sql`, `http`, `json`, `csv` or `rows`)",
            ),
        ],
        misplaced: &[
            (
                "query_timeout",
                "belongs in the operation's `source:` (with `type: sql`, next to `query`); ignored here: write `source: {type: sql, ..., query_timeout: ...}`",
            ),
            (
                "stall_timeout",
                "belongs in the operation's `source:` (with `type: sql`, next to `query`); ignored here: write `source: {type: sql, ..., stall_timeout: ...}`",
            ),
        ],
        ..Shape::new("PushFile")
    },
    Shape {
        context: " in a `files` entry",
        expected: "`column:` and `type:` settings",
        ..Shape::new("FileFile")
    },
    Shape {
        context: " in `encrypt`",
        required: &[(
            "fields",
            "list at least one column to encrypt (`fields:` then `- Column name` lines)",
        )],
        expected: "`fields:` (the list of columns to encrypt) and optionally `key:` / `salt:`",
        ..Shape::new("EncryptFile")
    },
    Shape {
        expected: "the source settings (`type: sql`, `http`, `json`, `csv` or `rows`, and its options)",
        ..Shape::new("SourceFile")
    },
    Shape {
        context: " in a `sql` source",
        required: &[("query", "the SQL query returning the rows to push")],
        ..Shape::new("SqlFile")
    },
    Shape {
        context: " in an `http` source",
        required: &[("url", "the http(s) URL returning JSON")],
        ..Shape::new("HttpFile")
    },
    Shape {
        expected: "`type: next_link` (with `next:`) or `type: offset` (with `limit:`)",
        ..Shape::new("PaginationFile")
    },
    Shape {
        context: " in `pagination`",
        required: &[(
            "next",
            "the dotted path of the next page's URL in the response (e.g. `links.next` or `d.__next`)",
        )],
        ..Shape::new("NextLinkFile")
    },
    Shape {
        context: " in `pagination`",
        required: &[("limit", "the page size (records per request)")],
        ..Shape::new("OffsetFile")
    },
    Shape {
        context: " in a `json` source",
        required: &[("path", "the JSON file to read")],
        ..Shape::new("JsonFile")
    },
    Shape {
        context: " in a `csv` source",
        required: &[("path", "the CSV file to read")],
        ..Shape::new("CsvFile")
    },
    Shape {
        context: " in a `rows` source",
        required: &[("rows", "the list of rows (`- {id: 1, name: Ann}`)")],
        lists: &[("rows", "a list of rows (`- {id: 1, name: Ann}`)")],
        ..Shape::new("RowsFile")
    },
    Shape {
        context: " in a pull operation",
        required: &[
            (
                "datasource_id",
                "the ID of the data source to pull entries from",
            ),
            (
                "target",
                "where the entries go (`target:` with `type: table`, `csv` or `json`)",
            ),
        ],
        lists: &[("attributes", "a list of column names")],
        ..Shape::new("PullFile")
    },
    Shape {
        expected: "the target settings (`type: table`, `csv` or `json`, and its options)",
        ..Shape::new("TargetFile")
    },
    Shape {
        context: " in a `table` target",
        required: &[
            ("table", "the table to write to"),
            (
                "key",
                "the table column that identifies a row (rows are updated when their key exists, inserted otherwise)",
            ),
        ],
        ..Shape::new("TableFile")
    },
    Shape {
        context: " in a `csv` target",
        required: &[("path", "the CSV file to write")],
        ..Shape::new("CsvTargetFile")
    },
    Shape {
        context: " in a `json` target",
        required: &[("path", "the JSON file to write")],
        ..Shape::new("JsonTargetFile")
    },
    Shape {
        context: " in `write_back`",
        keep_null: &["value"],
        expected: "`column:` and `value:` (e.g. `column: syncedAt` / `value: now`)",
        required: &[(
            "column",
            "the data source column to set on each pulled entry",
        )],
        ..Shape::new("WriteBackFile")
    },
];

// ---------------------------------------------------------------------------------------
// Values with their own checks.
// ---------------------------------------------------------------------------------------

/// Text that must not be empty (`query`, `path`, ...).
pub(super) fn required_name<'de, D: de::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let s = s.trim();
    if s.is_empty() {
        return Err(de::Error::custom("is required: it must not be empty"));
    }
    Ok(s.to_string())
}

/// `api_url`: an http(s) URL, or nothing.
pub(super) fn api_url<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let Some(u) = name(d)? else {
        return Ok(None);
    };
    match url::Url::parse(&u) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(Some(u)),
        Ok(parsed) => Err(de::Error::custom(format!(
            "must be an http:// or https:// URL (e.g. https://api.fliplet.com), found a `{}:` URL",
            parsed.scheme()
        ))),
        Err(e) => Err(de::Error::custom(format!(
            "is not a valid URL ({e}): write it like https://api.fliplet.com"
        ))),
    }
}

/// `stale_after`: a duration (see [`crate::schedule::parse_duration`]), or nothing.
pub(super) fn stale_after<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(text) = name(d)? else {
        return Ok(None);
    };
    crate::schedule::parse_duration(&text).map(Some).map_err(|why| {
        de::Error::custom(format!(
            "expected a duration like `36h`, `2d`, `90m`, `1d12h` or a whole number of seconds (`0`: never stale), found {FOUND} ({why})"
        ))
    })
}

/// A TCP port, 1–65535.
#[derive(Clone, Copy)]
pub(super) struct Port(u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Whole(n) = Whole::<1>::deserialize(d)?;
        u16::try_from(n).map(Port).map_err(|_| {
            de::Error::custom(format!(
                "expected a port number between 1 and 65535, found {FOUND}"
            ))
        })
    }
}

/// `delete_gate_percent`: 0–100.
struct Percent(u8);

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Whole(n) = Whole::<0>::deserialize(d)?;
        if n > 100 {
            return Err(de::Error::custom(format!(
                "expected a share between 0 and 100 (percent), found {n}"
            )));
        }
        Ok(Percent(n as u8))
    }
}

/// `query_timeout`, `stall_timeout`: seconds, `0` to [`QueryTimeouts::MAX`].
pub(super) struct Seconds(u64);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Seconds;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(
                    f,
                    "a whole number of seconds between 0 (no limit) and {}",
                    QueryTimeouts::MAX
                )
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Seconds, E> {
                if n > QueryTimeouts::MAX {
                    return Err(E::invalid_value(de::Unexpected::Unsigned(n), &self));
                }
                Ok(Seconds(n))
            }
        }
        d.deserialize_u64(V)
    }
}

/// One character (`delimiter`, `quote`); `\t` and `tab` mean a tab.
struct OneChar(u8);

impl<'de> Deserialize<'de> for OneChar {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = String::deserialize(d)?;
        let t = match t.as_str() {
            "\\t" | "tab" | "TAB" => "\t",
            t => t,
        };
        if t.len() == 1 && t.is_ascii() {
            Ok(OneChar(t.as_bytes()[0]))
        } else {
            Err(de::Error::custom(format!(
                "expected a single ASCII character (like `,`, `;` or `\\t`), found {FOUND}"
            )))
        }
    }
}

/// A list, or a single value meaning a list of one (`run_hooks: insert`). The items are
/// named by the list's key in messages.
pub(super) struct OneOrMany<T>(pub(super) Vec<T>);

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list")
            }
            fn visit_newtype_struct<D: de::Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Self::Value, D::Error> {
                d.deserialize_seq(self)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element()? {
                    out.push(item);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_newtype_struct(super::de::ONE_OR_MANY, V(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Command;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a command: a list (`[program, arg1, arg2]`, run without a shell) or a string (run by the shell)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Command, E> {
                Ok(Command::Shell(v.trim().to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Command, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Command, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Command, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Command, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Command, A::Error> {
                let mut argv = Vec::new();
                while let Some(item) = seq.next_element::<Option<String>>()? {
                    argv.push(item.unwrap_or_default());
                }
                if argv.first().is_none_or(|p| p.trim().is_empty()) {
                    return Err(de::Error::custom(
                        "the list must start with the program to run (e.g. `[python3, notify.py]`)",
                    ));
                }
                Ok(Command::Argv(argv))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for WriteBackValue {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WriteBackValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`now`, `now_iso` or a value")
            }
            // Plain text is visited borrowed, quoted text owned (see `de`): only a plain
            // `now` / `now_iso` is the time, a quoted one is that text.
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WriteBackValue, E> {
                Ok(match v {
                    "now" => WriteBackValue::Now,
                    "now_iso" => WriteBackValue::NowIso,
                    v => WriteBackValue::Fixed(Json::String(v.to_string())),
                })
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<WriteBackValue, E> {
                Ok(WriteBackValue::Fixed(Json::String(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<WriteBackValue, E> {
                Ok(WriteBackValue::Fixed(Json::Bool(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<WriteBackValue, E> {
                Ok(WriteBackValue::Fixed(Json::Null))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WriteBackValue, E> {
                Ok(WriteBackValue::Fixed(Json::from(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WriteBackValue, E> {
                Ok(WriteBackValue::Fixed(Json::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<WriteBackValue, E> {
                Ok(WriteBackValue::Fixed(Json::from(v)))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<WriteBackValue, A::Error> {
                Json::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(WriteBackValue::Fixed)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<WriteBackValue, A::Error> {
                Json::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(WriteBackValue::Fixed)
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------
// Checks across keys, and the job.
// ---------------------------------------------------------------------------------------

/// Parse and validate the text of a multi-operation job file. Pure apart from nothing: no
/// file other than `text` is read, nothing connects.
pub fn parse(text: &str, path: &Path) -> Result<LoadedJob, ConfigError> {
    let cx = super::yaml::Cx::for_file(text, path);
    let file = cx.file.clone();
    let root = cx.load_root()?;
    let Some(root) = root.filter(|r| matches!(r.value, Value::Map(_))) else {
        return Err(ConfigError::Invalid {
            file,
            key: WHOLE_FILE.into(),
            line: None,
            message:
                "the top level must be `key: value` settings (`auth_token:`, `operations:`, ...)"
                    .into(),
        });
    };
    let ctx = Ctx::new(path, SHAPES);
    let parsed: MultiFile = ctx.read(&root)?;
    let job = into_job(&ctx, parsed, path)?;
    Ok(LoadedJob {
        job,
        warnings: ctx.into_warnings(),
    })
}

/// `auth_token`: trimmed, required, sendable in an HTTP header.
pub(super) fn auth_token(ctx: &Ctx, token: Spanned<Secret>) -> Result<Secret, ConfigError> {
    let value = token.value.expose().trim();
    if value.is_empty() {
        return Err(ConfigError::Missing {
            file: ctx.file.clone(),
            key: "auth_token".into(),
            hint: HINT_AUTH.into(),
        });
    }
    if let Some(why) = header_value_problem(value) {
        return Err(ctx.invalid(&token.key, token.line, why));
    }
    Ok(Secret::new(value))
}

fn into_job(ctx: &Ctx, f: MultiFile, path: &Path) -> Result<Job, ConfigError> {
    let auth_token = auth_token(ctx, f.auth_token)?;
    let connections = f
        .connections
        .0
        .into_iter()
        .map(|(name, c)| {
            let config = into_database(ctx, c, &format!("connections.{}.", name.value))?;
            Ok(Connection {
                name: name.value,
                config,
            })
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    if f.operations.value.is_empty() {
        return Err(ctx.invalid(
            "operations",
            f.operations.line,
            "expected a list of operations (`- type: push` or `- type: pull`, with their settings)",
        ));
    }
    let mut operations = Vec::new();
    for (i, op) in f.operations.value.into_iter().enumerate() {
        let prefix = format!("operations[{i}].");
        operations.push(match op {
            OperationFile::Push(p) => Operation::Push(into_push(ctx, *p, &prefix, &connections)?),
            OperationFile::Pull(p) => Operation::Pull(into_pull(ctx, *p, &prefix, &connections)?),
        });
    }
    Ok(Job {
        path: Some(path.to_path_buf()),
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ctx.file.clone()),
        auth_token,
        api_url: f.api_url,
        ca_file: f.ca_file.map(|p| ctx.absolute(&p)),
        sync_on_init: f.sync_on_init,
        log_verbosity: f.log_verbosity,
        run_timeout: f.run_timeout.map_or(DEFAULT_RUN_TIMEOUT, |w| w.0),
        format: JobFormat::Multi,
        operations,
        stale_after: f.stale_after,
    })
}

/// A connection's settings, with the warnings about settings its driver does not use.
/// `prefix` names the keys in messages (`connections.main.`).
pub(super) fn into_database(
    ctx: &Ctx,
    c: ConnectionFile,
    prefix: &str,
) -> Result<DatabaseConfig, ConfigError> {
    let driver = c.driver;
    let key = |f: &str| format!("{prefix}{f}");
    if let Some(n) = &c.native_odbc {
        ctx.warn(
            &n.key,
            n.line,
            "not needed: this agent connects natively (the setting is ignored)",
        );
    }
    if driver != Driver::Mssql {
        let lines = [
            c.domain.as_ref().map(|s| (&s.key, s.line)),
            c.instance.as_ref().map(|s| (&s.key, s.line)),
            c.encrypt.as_ref().map(|s| (&s.key, s.line)),
        ];
        for (k, line) in lines.into_iter().flatten() {
            ctx.warn(
                k,
                line,
                format!(
                    "only used with SQL Server (`{}: mssql`); ignored for {}",
                    key("driver"),
                    driver.label()
                ),
            );
        }
    }
    let native_odbc = c.native_odbc.is_some_and(|n| n.value);
    if driver == Driver::Sqlite {
        let path = c
            .name
            .clone()
            .or_else(|| c.host.as_ref().map(|h| h.value.clone()))
            .ok_or_else(|| ConfigError::Missing {
                file: ctx.file.clone(),
                key: key("name"),
                hint: format!(
                    "with `{}: sqlite`, set `{}:` to the path of the database file (relative to the job file's folder, or absolute)",
                    key("driver"),
                    key("name")
                ),
            })?;
        let unused = [
            c.port.as_ref().map(|s| (&s.key, s.line)),
            c.username.as_ref().map(|s| (&s.key, s.line)),
            c.password.as_ref().map(|s| (&s.key, s.line)),
        ];
        for (k, line) in unused.into_iter().flatten() {
            ctx.warn(k, line, "not used with SQLite; ignored");
        }
        if c.name.is_some()
            && let Some(h) = &c.host
        {
            ctx.warn(
                &h.key,
                h.line,
                format!(
                    "not used with SQLite when `{}` is set (the database file); ignored",
                    key("name")
                ),
            );
        }
        return Ok(DatabaseConfig {
            driver,
            host: None,
            port: None,
            username: None,
            password: None,
            database: Some(ctx.absolute(&path).display().to_string()),
            domain: None,
            instance: None,
            encrypt: None,
            native_odbc,
        });
    }
    Ok(DatabaseConfig {
        driver,
        host: c.host.map(|s| s.value),
        port: c.port.map(|p| p.value.0),
        username: c.username.map(|s| s.value),
        password: c.password.map(|s| s.value),
        database: c.name,
        domain: c.domain.map(|s| s.value),
        instance: c.instance.map(|s| s.value),
        encrypt: c.encrypt.map(|s| s.value),
        native_odbc,
    })
}

/// `frequency`: a valid cron expression, with warnings for surprising ones.
pub(super) fn frequency(
    ctx: &Ctx,
    f: Option<Spanned<String>>,
) -> Result<Option<String>, ConfigError> {
    let Some(f) = f else { return Ok(None) };
    schedule::to_six_field(&f.value).map_err(|e| {
        ctx.invalid(
            &f.key,
            f.line,
            format!("{e} (crontab syntax, see https://crontab.guru/examples.html)"),
        )
    })?;
    if let Some(note) = schedule::original_difference(&f.value, chrono::Local::now()) {
        ctx.warn(&f.key, f.line, note);
    }
    if let Some(note) = schedule::never_fires(&f.value) {
        ctx.warn(&f.key, f.line, note);
    }
    Ok(Some(f.value))
}

/// The connection named by `wanted` (or the only one). `key`/`line`: where it is asked for.
fn connection(
    ctx: &Ctx,
    connections: &[Connection],
    wanted: Option<Spanned<String>>,
    key: &str,
    line: usize,
) -> Result<Connection, ConfigError> {
    let names: Vec<&str> = connections.iter().map(|c| c.name.as_str()).collect();
    match wanted {
        Some(name) => match connections.iter().find(|c| c.name == name.value) {
            Some(c) => Ok(c.clone()),
            None => Err(ctx.invalid(
                &name.key,
                name.line,
                if names.is_empty() {
                    format!(
                        "names the connection {:?}, but the file has no `connections:` section; add one (e.g. `connections:` / `  {}:` / `    driver: postgres` ...)",
                        name.value, name.value
                    )
                } else {
                    format!(
                        "names the connection {:?}, which is not defined under `connections:` (defined: {}){}",
                        name.value,
                        names.join(", "),
                        suggestion(&name.value, &names)
                    )
                },
            )),
        },
        None if connections.len() == 1 => Ok(connections[0].clone()),
        None => Err(ctx.invalid(
            key,
            line,
            if names.is_empty() {
                "is required: add a `connections:` section with the database settings and name it here".to_string()
            } else {
                format!(
                    "is required when the file defines several connections: one of {}",
                    names.join(", ")
                )
            },
        )),
    }
}

fn into_push(
    ctx: &Ctx,
    p: PushFile,
    prefix: &str,
    connections: &[Connection],
) -> Result<PushOperation, ConfigError> {
    let source = into_source(ctx, p.source, prefix, connections)?;
    let mut op = PushOperation::with_source(p.datasource_id.0, source);
    op.on_sync = p
        .on_sync
        .filter(|c| !matches!(c, Command::Shell(s) if s.is_empty()));
    p.options.apply(ctx, &mut op, prefix)?;
    Ok(op)
}

impl PushOptions {
    /// Set the options of `op` (`prefix` names the keys in messages: `operations[0].`).
    pub(super) fn apply(
        self,
        ctx: &Ctx,
        op: &mut PushOperation,
        prefix: &str,
    ) -> Result<(), ConfigError> {
        op.description = self.description;
        op.frequency = frequency(ctx, self.frequency)?;
        op.primary_column = self.primary_column;
        op.case_insensitive_primary_column = self.case_insensitive_primary_column;
        if let (Some(ts), Some(pk)) = (&self.timestamp_column, &op.primary_column)
            && ts.value == *pk
        {
            ctx.warn(
            &ts.key,
            ts.line,
            "is the same column as `primary_column`: changes to other columns will never be detected; use a last-updated column",
        );
        }
        op.timestamp_column = self.timestamp_column.map(|s| s.value);
        op.mode = self.mode;
        if let Some(n) = self.batch_size {
            op.batch_size = usize::try_from(n.0).unwrap_or(usize::MAX);
        }
        if let Some(n) = self.concurrency {
            op.concurrency = usize::try_from(n.0).unwrap_or(usize::MAX);
        }
        op.delete_column = self.delete_column;
        for h in self.run_hooks.0 {
            if !op.run_hooks.contains(&h) {
                op.run_hooks.push(h);
            }
        }
        op.merge = self.merge;
        op.remove_duplicate_entries = self.remove_duplicate_entries;
        op.delete_gate = DeleteGate {
            percent: self
                .delete_gate_percent
                .map_or(DeleteGate::DEFAULT_PERCENT, |p| p.0),
            min: self.delete_gate_min.map_or(DeleteGate::DEFAULT_MIN, |n| {
                usize::try_from(n.0).unwrap_or(usize::MAX)
            }),
        };
        op.allow_empty_source = self.allow_empty_source;
        op.on_schema_change = self.on_schema_change;
        for f in self.files.into_iter().flatten() {
            op.files.push(into_file(ctx, f)?);
        }
        if let Some(e) = self.encrypt {
            op.encrypt = Some(into_encrypt(ctx, e, op, &format!("{prefix}encrypt"))?);
        }
        Ok(())
    }
}

fn into_file(ctx: &Ctx, f: Spanned<FileFile>) -> Result<FileColumn, ConfigError> {
    let (key, line, f) = (f.key, f.line, f.value);
    let column = f.column.ok_or_else(|| {
        ctx.invalid(
            &format!("{key}.column"),
            line,
            "is required: the name of the column holding the file URL or path",
        )
    })?;
    let kind = f.kind.ok_or_else(|| {
        ctx.invalid(
            &format!("{key}.type"),
            line,
            "is required: one of `remote`, `local`, `sharepoint`",
        )
    })?;
    let used_by = [
        (
            f.headers.as_ref().map(|s| (&s.key, s.line)),
            FileKind::Remote,
        ),
        (
            f.directory.as_ref().map(|s| (&s.key, s.line)),
            FileKind::Local,
        ),
        (
            f.username.as_ref().map(|s| (&s.key, s.line)),
            FileKind::Sharepoint,
        ),
        (
            f.password.as_ref().map(|s| (&s.key, s.line)),
            FileKind::Sharepoint,
        ),
        (
            f.file_type.as_ref().map(|s| (&s.key, s.line)),
            FileKind::Sharepoint,
        ),
    ];
    for (at, t) in used_by {
        if let Some((k, l)) = at
            && t != kind.value
        {
            ctx.warn(
                k,
                l,
                format!(
                    "only used with `type: {}`; ignored for `type: {}`",
                    t.name(),
                    kind.value.name()
                ),
            );
        }
    }
    let source = match kind.value {
        FileKind::Remote => FileSource::Remote {
            headers: headers(ctx, f.headers.map(|h| h.value).unwrap_or_default())?,
        },
        FileKind::Local => FileSource::Local {
            directory: f
                .directory
                .map(|d| d.value.trim().to_string())
                .filter(|d| !d.is_empty())
                .map(|d| ctx.absolute(&d)),
        },
        FileKind::Sharepoint => {
            let username = f
                .username
                .map(|u| u.value.trim().to_string())
                .filter(|u| !u.is_empty())
                .ok_or_else(|| {
                    ctx.invalid(
                        &format!("{key}.username"),
                        line,
                        "is required with `type: sharepoint` (the SharePoint login)",
                    )
                })?;
            let password = f.password.map(|p| p.value).ok_or_else(|| {
                ctx.invalid(
                    &format!("{key}.password"),
                    line,
                    "is required with `type: sharepoint` (the SharePoint password)",
                )
            })?;
            let inherit_file_type = match f.file_type {
                Some(t) if t.value.trim().eq_ignore_ascii_case("inherit") => true,
                Some(t) if t.value.trim().is_empty() => false,
                Some(t) => {
                    return Err(ctx.invalid(
                        &t.key,
                        t.line,
                        format!("must be `inherit` (or left out), found {:?}", t.value),
                    ));
                }
                None => false,
            };
            FileSource::Sharepoint {
                username,
                password,
                inherit_file_type,
            }
        }
    };
    Ok(FileColumn { column, source })
}

/// Request headers: valid names, values HTTP can carry.
fn headers(ctx: &Ctx, pairs: Pairs<Spanned<Secret>>) -> Result<Vec<(String, Secret)>, ConfigError> {
    let mut out = Vec::new();
    for (name, value) in pairs.0 {
        if reqwest::header::HeaderName::from_bytes(name.value.as_bytes()).is_err() {
            return Err(ctx.invalid(
                &name.key,
                name.line,
                "is not a valid HTTP header name (letters, digits and `-`)",
            ));
        }
        if let Some(why) = header_value_problem(value.value.expose()) {
            return Err(ctx.invalid(&value.key, value.line, why));
        }
        out.push((name.value, value.value));
    }
    Ok(out)
}

fn into_encrypt(
    ctx: &Ctx,
    e: EncryptFile,
    op: &PushOperation,
    key: &str,
) -> Result<EncryptConfig, ConfigError> {
    let fields_key = format!("{key}.fields");
    let mut fields: Vec<String> = Vec::new();
    for f in e.fields.value.0.into_iter().flatten() {
        let name = f.value.trim().to_string();
        if name.is_empty() {
            continue;
        }
        if let Some(pk) = &op.primary_column {
            let same = if op.case_insensitive_primary_column {
                name.to_lowercase() == pk.to_lowercase()
            } else {
                name == *pk
            };
            if same {
                return Err(ctx.invalid(
                    &fields_key,
                    f.line,
                    format!(
                        "cannot encrypt the primary key: `{name}` is the `primary_column`, which must stay readable to match rows to entries"
                    ),
                ));
            }
        }
        if !fields.contains(&name) {
            fields.push(name);
        }
    }
    if fields.is_empty() {
        return Err(ctx.invalid(
            &fields_key,
            e.fields.line,
            "is required: list at least one column to encrypt (`fields:` then `- Column name` lines)",
        ));
    }
    let secret_key = e.key.filter(|s| !s.is_empty());
    let salt = e.salt.filter(|s| !s.value.is_empty());
    if secret_key.is_some()
        && let Some(s) = &salt
    {
        ctx.warn(
            &s.key,
            s.line,
            "should not be used when using the `key` parameter: the salt only protects the keystore key, and is ignored",
        );
    }
    Ok(EncryptConfig {
        fields,
        key: secret_key,
        salt: salt.map(|s| s.value),
    })
}

/// `query_timeout` and `stall_timeout`, with a warning when the stall timeout cannot act.
pub(super) fn query_timeouts(
    ctx: &Ctx,
    query: Option<Seconds>,
    stall: Option<Spanned<Seconds>>,
) -> QueryTimeouts {
    let timeouts = QueryTimeouts {
        query: query.map_or(QueryTimeouts::DEFAULT_QUERY, |s| s.0),
        stall: stall
            .as_ref()
            .map_or(QueryTimeouts::DEFAULT_STALL, |s| s.value.0),
    };
    if let Some(s) = &stall
        && timeouts.query > 0
        && timeouts.stall > timeouts.query
    {
        ctx.warn(
            &s.key,
            s.line,
            format!(
                "is longer than query_timeout ({} s), which ends the query first; it has no effect",
                timeouts.query
            ),
        );
    }
    timeouts
}

fn into_source(
    ctx: &Ctx,
    s: Spanned<SourceFile>,
    prefix: &str,
    connections: &[Connection],
) -> Result<PushSource, ConfigError> {
    let p = format!("{prefix}source.");
    let line = s.line;
    Ok(match s.value {
        SourceFile::Sql(sql) => {
            let connection = connection(
                ctx,
                connections,
                sql.connection,
                &format!("{p}connection"),
                line,
            )?;
            let timeouts = query_timeouts(ctx, sql.query_timeout, sql.stall_timeout);
            PushSource::Sql {
                connection,
                query: sql.query,
                timeouts,
            }
        }
        SourceFile::Http(h) => {
            let url = h.url.value.trim().to_string();
            match url::Url::parse(&url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => {
                    return Err(ctx.invalid(
                        &h.url.key,
                        h.url.line,
                        "must be an http:// or https:// URL",
                    ));
                }
            }
            let method = match h.method {
                Some(m) => {
                    let upper = m.value.to_uppercase();
                    if reqwest::Method::from_bytes(upper.as_bytes()).is_err() {
                        return Err(ctx.invalid(
                            &m.key,
                            m.line,
                            "must be an HTTP method such as GET or POST",
                        ));
                    }
                    upper
                }
                None => "GET".into(),
            };
            PushSource::Http(HttpSource {
                method,
                url,
                headers: headers(ctx, h.headers)?,
                body: h.body.filter(|b| !b.is_null()),
                records: h.records,
                pagination: h.pagination.map(|p| match p {
                    PaginationFile::NextLink(n) => Pagination::NextLink {
                        next: n.next,
                        max_pages: n.max_pages.map_or(10_000, |m| m.0),
                    },
                    PaginationFile::Offset(o) => Pagination::Offset {
                        offset_param: o.offset_param.unwrap_or_else(|| "offset".into()),
                        limit_param: o.limit_param.unwrap_or_else(|| "limit".into()),
                        limit: o.limit.0,
                        max_pages: o.max_pages.map_or(10_000, |m| m.0),
                    },
                }),
                timeout_seconds: h.timeout_seconds.map_or(60, |t| t.0),
            })
        }
        SourceFile::Json(j) => PushSource::Json(JsonFileSource {
            path: ctx.absolute(&j.path),
            records: j.records,
        }),
        SourceFile::Csv(c) => PushSource::Csv(CsvSource {
            path: ctx.absolute(&c.path),
            delimiter: c.delimiter.map_or(b',', |c| c.0),
            quote: c.quote.map_or(b'"', |c| c.0),
            header: c.header.unwrap_or(true),
            encoding: c.encoding,
        }),
        SourceFile::Rows(r) => {
            let mut out = Vec::new();
            for row in r.rows {
                match row.value {
                    Json::Object(m) => out.push(m),
                    other => {
                        return Err(ctx.invalid(
                            &row.key,
                            row.line,
                            format!(
                                "each row must be a group of `column: value` settings, found {}",
                                json_found(&other)
                            ),
                        ));
                    }
                }
            }
            PushSource::Rows(out)
        }
    })
}

/// What a JSON value is, for messages.
fn json_found(v: &Json) -> String {
    match v {
        Json::Null => "nothing".into(),
        Json::Array(_) => "a list".into(),
        Json::Object(_) => "a group of `key: value` settings".into(),
        Json::String(s) => format!("{s:?}"),
        other => format!("{:?}", other.to_string()),
    }
}

fn into_pull(
    ctx: &Ctx,
    p: PullFile,
    prefix: &str,
    connections: &[Connection],
) -> Result<PullOperation, ConfigError> {
    let k = |f: &str| format!("{prefix}{f}");
    let where_ = match p.where_ {
        Some(w) if w.value.is_null() => None,
        Some(w) if !w.value.is_object() => {
            return Err(ctx.invalid(
                &w.key,
                w.line,
                "expected a filter of `column: value` settings (e.g. `syncedAt: ''` or `Age: {$gt: 30}`)",
            ));
        }
        Some(w) => Some(w.value),
        None => None,
    };
    let attributes_line = p.attributes.as_ref().map(|a| a.line);
    let attributes: Vec<String> = p
        .attributes
        .map(|a| {
            a.value
                .into_iter()
                .flatten()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut order = Vec::new();
    if let Some(o) = p.order {
        let bad = || {
            ctx.invalid(
                &o.key,
                o.line,
                "expected a list of `[column, ASC|DESC]` pairs (e.g. `[[data.Name, ASC], [id, DESC]]`)",
            )
        };
        let Json::Array(items) = &o.value else {
            return Err(bad());
        };
        for item in items {
            let text = |v: &Json| match v {
                Json::String(s) => s.trim().to_string(),
                Json::Null => String::new(),
                other => other.to_string(),
            };
            let pair: Vec<String> = match item {
                Json::Array(p) => p.iter().map(text).collect(),
                Json::Object(_) => return Err(bad()),
                scalar => vec![text(scalar), "ASC".into()],
            };
            let dir = pair
                .get(1)
                .map(|d| d.to_uppercase())
                .unwrap_or("ASC".into());
            if pair.is_empty() || pair.len() > 2 || !matches!(dir.as_str(), "ASC" | "DESC") {
                return Err(bad());
            }
            order.push((pair[0].clone(), dir));
        }
    }
    let target_line = p.target.line;
    let target = match p.target.value {
        TargetFile::Table(t) => {
            let p = k("target.");
            let connection_line = t.connection.as_ref().map_or(target_line, |c| c.line);
            let connection = connection(
                ctx,
                connections,
                t.connection,
                &format!("{p}connection"),
                target_line,
            )?;
            let columns: Vec<(String, String)> = t
                .columns
                .as_ref()
                .map(|c| {
                    c.value
                        .0
                        .iter()
                        .map(|(from, to)| (from.value.clone(), to.trim().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            if let Some((from, _)) = columns.iter().find(|(_, to)| to.is_empty()) {
                return Err(ctx.invalid(
                    &format!("{p}columns.{from}"),
                    t.columns.as_ref().map_or(target_line, |c| c.line),
                    "expected the table column receiving this data source column",
                ));
            }
            if columns.is_empty() {
                return Err(ctx.invalid(
                    &format!("{p}columns"),
                    t.columns.as_ref().map_or(target_line, |c| c.line),
                    "is required: map each data source column to a table column (`Email: email`; `$id` is the Fliplet entry ID)",
                ));
            }
            let key_col = t.key.value.trim().to_string();
            if !columns.iter().any(|(_, to)| *to == key_col) {
                return Err(ctx.invalid(
                    &t.key.key,
                    t.key.line,
                    format!(
                        "the key column `{key_col}` must be one of the table columns under `columns:` (it gets its value from the data source)"
                    ),
                ));
            }
            if connection.config.driver == Driver::Mssql {
                return Err(ctx.invalid(
                    &format!("{p}connection"),
                    connection_line,
                    "pulling into a SQL Server table is not supported yet (PostgreSQL, MySQL/MariaDB and SQLite are); pull into a `csv` or `json` file instead",
                ));
            }
            PullTarget::Table {
                connection,
                table: t.table,
                key: key_col,
                columns,
            }
        }
        TargetFile::Csv(c) => PullTarget::Csv {
            path: ctx.absolute(&c.path),
            delimiter: c.delimiter.map_or(b',', |d| d.0),
        },
        TargetFile::Json(j) => PullTarget::Json {
            path: ctx.absolute(&j.path),
        },
    };
    if let PullTarget::Table { columns, .. } = &target
        && !attributes.is_empty()
        && let Some(line) = attributes_line
    {
        for (from, _) in columns {
            let fetched = attributes
                .iter()
                .any(|a| a == from || a.strip_prefix("data.") == Some(from.as_str()));
            if from != "$id" && !fetched {
                ctx.warn(
                    &k("attributes"),
                    line,
                    format!(
                        "does not include `{from}`, which `target.columns` maps: that table column will be set to NULL; add it to `attributes`"
                    ),
                );
            }
        }
    }
    Ok(PullOperation {
        description: p.description,
        frequency: frequency(ctx, p.frequency)?,
        datasource_id: p.datasource_id.0,
        where_,
        attributes,
        order,
        limit: p.limit.map(|l| l.0),
        target,
        write_back: p.write_back.map(|w| WriteBack {
            column: w.column,
            value: w.value,
        }),
        on_sync: p
            .on_sync
            .filter(|c| !matches!(c, Command::Shell(s) if s.is_empty())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_format() {
        assert!(looks_like("auth_token: x\noperations:\n  - type: push\n"));
        assert!(looks_like("\u{feff}operations :\n"));
        assert!(!looks_like("auth_token: x\nquery: SELECT operations: 1\n"));
        assert!(!looks_like("  operations:\n"));
    }

    #[test]
    fn write_back_null_is_a_value_and_a_missing_value_is_now() {
        let path = Path::new("/jobs/j.yml");
        let text = "auth_token: x\noperations:\n  - type: pull\n    datasource_id: 1\n    target: {type: json, path: o.json}\n    write_back: {column: a, value: ~}\n  - type: pull\n    datasource_id: 1\n    target: {type: json, path: o.json}\n    write_back: {column: a}\n";
        let job = parse(text, path).unwrap().job;
        let values: Vec<WriteBackValue> = job
            .operations
            .iter()
            .map(|op| match op {
                Operation::Pull(p) => p.write_back.clone().unwrap().value,
                Operation::Push(_) => panic!(),
            })
            .collect();
        assert_eq!(
            values,
            [WriteBackValue::Fixed(Json::Null), WriteBackValue::Now]
        );
    }

    #[test]
    fn free_form_values_use_the_core_schema() {
        let path = Path::new("/jobs/j.yml");
        let text = "auth_token: x\noperations:\n  - datasource_id: 1\n    source: {type: http, url: 'http://h/', body: {a: 1, b: '1', c: true, d: ~, e: [x, 2.5], f: {g: ''}}}\n";
        let job = parse(text, path).unwrap().job;
        let Operation::Push(op) = &job.operations[0] else {
            panic!()
        };
        let PushSource::Http(h) = &op.source else {
            panic!()
        };
        assert_eq!(
            h.body,
            Some(
                serde_json::json!({"a": 1, "b": "1", "c": true, "d": null, "e": ["x", 2.5], "f": {"g": ""}})
            )
        );
    }
}
