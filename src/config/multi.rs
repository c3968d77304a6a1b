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

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value as Json;

use super::legacy::{
    HINT_AUTH, HINT_DS, WHOLE_FILE, parse_api_url, parse_database, parse_push_options,
    parse_query_timeouts, parse_stale_after,
};
use super::yaml::{Cx, Node, Value, suggestion};
use super::{
    Command, ConfigError, Connection, CsvEncoding, CsvSource, Driver, HttpSource, Job,
    JsonFileSource, LoadedJob, Operation, Pagination, PullOperation, PullTarget, PushOperation,
    PushSource, WriteBack, WriteBackValue,
};
use crate::schedule;
use crate::secret::Secret;

/// Top-level keys.
pub const KEYS: &[&str] = &[
    "auth_token",
    "api_url",
    "ca_file",
    "sync_on_init",
    "log_verbosity",
    "run_timeout",
    "connections",
    "operations",
    "stale_after",
];

/// Keys of a connection.
pub const CONNECTION_KEYS: &[&str] = &[
    "driver",
    "host",
    "port",
    "username",
    "password",
    "name",
    "domain",
    "instance",
    "encrypt",
    "native_odbc",
];

/// Keys of a push operation.
pub const PUSH_KEYS: &[&str] = &[
    "type",
    "description",
    "frequency",
    "source",
    "datasource_id",
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
    "files",
    "encrypt",
    "on_sync",
];

/// Keys of a pull operation.
pub const PULL_KEYS: &[&str] = &[
    "type",
    "description",
    "frequency",
    "datasource_id",
    "where",
    "attributes",
    "order",
    "limit",
    "target",
    "write_back",
    "on_sync",
];

const SQL_KEYS: &[&str] = &[
    "type",
    "connection",
    "query",
    "query_timeout",
    "stall_timeout",
];

/// Keys of a `sql` source that people may write on the push operation itself (as in the
/// single-operation format): warned about with where they belong.
const SQL_SOURCE_ONLY: &[&str] = &["query_timeout", "stall_timeout"];
const HTTP_KEYS: &[&str] = &[
    "type",
    "method",
    "url",
    "headers",
    "body",
    "records",
    "pagination",
    "timeout_seconds",
];
const PAGINATION_KEYS: &[&str] = &[
    "type",
    "next",
    "offset_param",
    "limit_param",
    "limit",
    "max_pages",
];
const JSON_KEYS: &[&str] = &["type", "path", "records"];
const CSV_KEYS: &[&str] = &["type", "path", "delimiter", "quote", "header", "encoding"];
const ROWS_KEYS: &[&str] = &["type", "rows"];
const TABLE_KEYS: &[&str] = &["type", "connection", "table", "key", "columns"];
const FILE_TARGET_KEYS: &[&str] = &["type", "path", "delimiter"];
const WRITE_BACK_KEYS: &[&str] = &["column", "value"];

/// Does this text use the multi-operation format (a top-level `operations:` key)?
pub fn looks_like(text: &str) -> bool {
    text.trim_start_matches('\u{feff}').lines().any(|l| {
        l.strip_prefix("operations")
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
    })
}

type Keys<'n> = HashMap<String, (usize, &'n Node)>;

/// The known keys of a mapping node; unknown ones are warned about with a did-you-mean.
fn keys_of<'n>(
    cx: &mut Cx,
    node: &'n Node,
    prefix: &str,
    known: &[&str],
    context: &str,
) -> Result<Keys<'n>, ConfigError> {
    let mut out = HashMap::new();
    for (name, line, v) in cx.entries(node, prefix)? {
        if known.contains(&name.as_str()) {
            out.insert(name, (line, v));
        } else if known == PUSH_KEYS && SQL_SOURCE_ONLY.contains(&name.as_str()) {
            cx.warn(
                &format!("{prefix}{name}"),
                line,
                format!(
                    "belongs in the operation's `source:` (with `type: sql`, next to `query`); ignored here: write `source: {{type: sql, ..., {name}: ...}}`"
                ),
            );
        } else {
            cx.unknown_key(prefix, &name, line, known, context);
        }
    }
    Ok(out)
}

fn expect_map(cx: &Cx, key: &str, node: &Node, what: &str) -> Result<(), ConfigError> {
    if matches!(node.value, Value::Map(_)) {
        Ok(())
    } else {
        Err(cx.invalid(
            key,
            node.line,
            format!("expected {what}, found {}", node.found(false)),
        ))
    }
}

/// A YAML node as JSON, reading plain scalars with the YAML 1.2 core schema (null, booleans,
/// numbers); quoted scalars stay text.
pub(crate) fn to_json(node: &Node) -> Json {
    match &node.value {
        _ if node.is_null() => Json::Null,
        Value::Scalar { text, plain } => {
            if !*plain {
                return Json::String(text.clone());
            }
            match text.as_str() {
                "true" | "True" | "TRUE" => return Json::Bool(true),
                "false" | "False" | "FALSE" => return Json::Bool(false),
                _ => {}
            }
            if let Ok(i) = text.parse::<i64>() {
                return Json::from(i);
            }
            if text
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
                && let Ok(f) = text.parse::<f64>()
                && let Some(n) = serde_json::Number::from_f64(f)
            {
                return Json::Number(n);
            }
            Json::String(text.clone())
        }
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(pairs) => {
            let mut m = serde_json::Map::new();
            for (k, v) in pairs {
                let key = match &k.value {
                    Value::Scalar { text, .. } => text.clone(),
                    _ => continue,
                };
                m.insert(key, to_json(v));
            }
            Json::Object(m)
        }
    }
}

/// One character (`delimiter`, `quote`); `\t` and `tab` mean a tab.
fn one_char(cx: &Cx, key: &str, node: &Node, default: u8) -> Result<u8, ConfigError> {
    let Some(t) = cx.text(key, node, false)? else {
        return Ok(default);
    };
    let t = match t.as_str() {
        "\\t" | "tab" | "TAB" => "\t".to_string(),
        _ => t,
    };
    if t.len() == 1 && t.is_ascii() {
        Ok(t.as_bytes()[0])
    } else {
        Err(cx.invalid(
            key,
            node.line,
            format!(
                "expected a single ASCII character (like `,`, `;` or `\\t`), found {}",
                node.found(false)
            ),
        ))
    }
}

fn required_name(
    cx: &Cx,
    keys: &Keys,
    prefix: &str,
    k: &str,
    line: usize,
    hint: &str,
) -> Result<String, ConfigError> {
    match keys.get(k) {
        Some((_, v)) => cx.name(&format!("{prefix}{k}"), v)?,
        None => None,
    }
    .ok_or_else(|| {
        cx.invalid(
            &format!("{prefix}{k}"),
            line,
            format!("is required: {hint}"),
        )
    })
}

fn optional_name(
    cx: &Cx,
    keys: &Keys,
    prefix: &str,
    k: &str,
) -> Result<Option<String>, ConfigError> {
    match keys.get(k) {
        Some((_, v)) => cx.name(&format!("{prefix}{k}"), v),
        None => Ok(None),
    }
}

fn frequency(cx: &mut Cx, keys: &Keys, prefix: &str) -> Result<Option<String>, ConfigError> {
    let key = format!("{prefix}frequency");
    let Some((_, node)) = keys.get("frequency") else {
        return Ok(None);
    };
    let Some(expr) = cx.name(&key, node)? else {
        return Ok(None);
    };
    schedule::to_six_field(&expr).map_err(|e| {
        cx.invalid(
            &key,
            node.line,
            format!("{e} (crontab syntax, see https://crontab.guru/examples.html)"),
        )
    })?;
    if let Some(note) = schedule::crontab_difference(&expr) {
        cx.warn(&key, node.line, note);
    }
    if let Some(note) = schedule::never_fires(&expr) {
        cx.warn(&key, node.line, note);
    }
    Ok(Some(expr))
}

fn connection(
    cx: &Cx,
    connections: &[Connection],
    keys: &Keys,
    prefix: &str,
    line: usize,
) -> Result<Connection, ConfigError> {
    let key = format!("{prefix}connection");
    let names: Vec<&str> = connections.iter().map(|c| c.name.as_str()).collect();
    let wanted = match keys.get("connection") {
        Some((_, v)) => cx.name(&key, v)?,
        None => None,
    };
    match wanted {
        Some(name) => match connections.iter().find(|c| c.name == name) {
            Some(c) => Ok(c.clone()),
            None => Err(cx.invalid(
                &key,
                keys.get("connection").map_or(line, |(l, _)| *l),
                if names.is_empty() {
                    format!(
                        "names the connection {name:?}, but the file has no `connections:` section; add one (e.g. `connections:` / `  {name}:` / `    driver: postgres` ...)"
                    )
                } else {
                    format!(
                        "names the connection {name:?}, which is not defined under `connections:` (defined: {}){}",
                        names.join(", "),
                        suggestion(&name, &names)
                    )
                },
            )),
        },
        None if connections.len() == 1 => Ok(connections[0].clone()),
        None => Err(cx.invalid(
            &key,
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

fn parse_connections(cx: &mut Cx, node: &Node) -> Result<Vec<Connection>, ConfigError> {
    if node.is_null() {
        return Ok(Vec::new());
    }
    expect_map(
        cx,
        "connections",
        node,
        "named connections (`main:` then `driver:`, `host:`, ... below it)",
    )?;
    let mut out = Vec::new();
    for (name, _line, conn) in cx.entries(node, "connections.")? {
        let prefix = format!("connections.{name}.");
        expect_map(
            cx,
            &format!("connections.{name}"),
            conn,
            "the connection's settings (`driver:`, `host:`, `port:`, `username:`, `password:`, `name:`)",
        )?;
        let keys = keys_of(cx, conn, &prefix, CONNECTION_KEYS, " in a connection")?;
        let driver_options = [
            ("mssql", Driver::Mssql),
            ("postgres", Driver::Postgres),
            ("postgresql", Driver::Postgres),
            ("pg", Driver::Postgres),
            ("mysql", Driver::Mysql),
            ("mariadb", Driver::Mysql),
            ("sqlite", Driver::Sqlite),
        ];
        let driver = match keys.get("driver") {
            Some((_, v)) => cx.choice(
                &format!("{prefix}driver"),
                v,
                &driver_options,
                "one of `mssql`, `postgres`, `mysql`, `sqlite`",
            )?,
            None => None,
        }
        .ok_or_else(|| {
            cx.invalid(
                &format!("{prefix}driver"),
                conn.line,
                "is required: one of mssql, postgres, mysql, sqlite",
            )
        })?;
        let get = |f: &str| keys.get(f).map(|(l, n)| (*l, *n));
        let key = |f: &str| format!("{prefix}{f}");
        let config = parse_database(cx, driver, &get, &key)?;
        out.push(Connection { name, config });
    }
    Ok(out)
}

fn parse_on_sync(cx: &Cx, keys: &Keys, prefix: &str) -> Result<Option<Command>, ConfigError> {
    let key = format!("{prefix}on_sync");
    let Some((_, node)) = keys.get("on_sync") else {
        return Ok(None);
    };
    match &node.value {
        _ if node.is_null() => Ok(None),
        Value::Scalar { text, .. } if text.trim().is_empty() => Ok(None),
        Value::Scalar { text, .. } => Ok(Some(Command::Shell(text.trim().to_string()))),
        Value::Seq(items) => {
            let mut argv = Vec::new();
            for item in items {
                argv.push(cx.text(&key, item, false)?.unwrap_or_default());
            }
            if argv.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(cx.invalid(
                    &key,
                    node.line,
                    "the list must start with the program to run (e.g. `[python3, notify.py]`)",
                ));
            }
            Ok(Some(Command::Argv(argv)))
        }
        Value::Map(_) => Err(cx.invalid(
            &key,
            node.line,
            "expected a command: a list (`[program, arg1, arg2]`, run without a shell) or a string (run by the shell)",
        )),
    }
}

fn parse_source(
    cx: &mut Cx,
    node: &Node,
    prefix: &str,
    connections: &[Connection],
) -> Result<PushSource, ConfigError> {
    let key = format!("{prefix}source");
    expect_map(
        cx,
        &key,
        node,
        "the source settings (`type: sql`, `http`, `json`, `csv` or `rows`, and its options)",
    )?;
    let p = format!("{key}.");
    let type_node = cx.type_node(node, &p)?;
    let kinds = ["sql", "http", "json", "csv", "rows"];
    let kind = match type_node {
        Some(v) => cx.choice(
            &format!("{p}type"),
            v,
            &[
                ("sql", "sql"),
                ("http", "http"),
                ("json", "json"),
                ("csv", "csv"),
                ("rows", "rows"),
            ],
            "one of `sql`, `http`, `json`, `csv`, `rows`",
        )?,
        None => None,
    }
    .ok_or_else(|| {
        cx.invalid(
            &format!("{p}type"),
            node.line,
            format!("is required: one of {}", kinds.join(", ")),
        )
    })?;
    let line = node.line;
    Ok(match kind {
        "sql" => {
            let keys = keys_of(cx, node, &p, SQL_KEYS, " in a `sql` source")?;
            let query = required_name(
                cx,
                &keys,
                &p,
                "query",
                line,
                "the SQL query returning the rows to push",
            )?;
            let connection = connection(cx, connections, &keys, &p, line)?;
            let get = |f: &str| keys.get(f).map(|(l, n)| (*l, *n));
            let key = |f: &str| format!("{p}{f}");
            let timeouts = parse_query_timeouts(cx, &get, &key)?;
            PushSource::Sql {
                connection: Some(connection),
                query,
                timeouts,
            }
        }
        "http" => {
            let keys = keys_of(cx, node, &p, HTTP_KEYS, " in an `http` source")?;
            let url = required_name(cx, &keys, &p, "url", line, "the http(s) URL returning JSON")?;
            let url_line = keys.get("url").map_or(line, |(l, _)| *l);
            match url::Url::parse(&url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => {
                    return Err(cx.invalid(
                        &format!("{p}url"),
                        url_line,
                        "must be an http:// or https:// URL",
                    ));
                }
            }
            let method = optional_name(cx, &keys, &p, "method")?
                .unwrap_or_else(|| "GET".into())
                .to_uppercase();
            if reqwest::Method::from_bytes(method.as_bytes()).is_err() {
                return Err(cx.invalid(
                    &format!("{p}method"),
                    keys.get("method").map_or(line, |(l, _)| *l),
                    "must be an HTTP method such as GET or POST",
                ));
            }
            let mut headers = Vec::new();
            if let Some((_, h)) = keys.get("headers")
                && !h.is_null()
            {
                expect_map(cx, &format!("{p}headers"), h, "`Name: value` lines")?;
                for (name, line, v) in cx.entries(h, &format!("{p}headers."))? {
                    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                        return Err(cx.invalid(
                            &format!("{p}headers.{name}"),
                            line,
                            "is not a valid HTTP header name (letters, digits and `-`)",
                        ));
                    }
                    let value = cx
                        .header_secret(&format!("{p}headers.{name}"), v)?
                        .unwrap_or_else(|| Secret::new(""));
                    headers.push((name, value));
                }
            }
            let body = keys
                .get("body")
                .map(|(_, v)| to_json(v))
                .filter(|b| !b.is_null());
            let records = optional_name(cx, &keys, &p, "records")?;
            let timeout_seconds = match keys.get("timeout_seconds") {
                Some((_, v)) => cx.whole(&format!("{p}timeout_seconds"), v, 1)?,
                None => None,
            }
            .unwrap_or(60);
            let pagination = match keys.get("pagination") {
                Some((_, v)) if !v.is_null() => Some(parse_pagination(cx, v, &p)?),
                _ => None,
            };
            PushSource::Http(HttpSource {
                method,
                url,
                headers,
                body,
                records,
                pagination,
                timeout_seconds,
            })
        }
        "json" => {
            let keys = keys_of(cx, node, &p, JSON_KEYS, " in a `json` source")?;
            let path = required_name(cx, &keys, &p, "path", line, "the JSON file to read")?;
            PushSource::Json(JsonFileSource {
                path: cx.absolute(&path),
                records: optional_name(cx, &keys, &p, "records")?,
            })
        }
        "csv" => {
            let keys = keys_of(cx, node, &p, CSV_KEYS, " in a `csv` source")?;
            let path = required_name(cx, &keys, &p, "path", line, "the CSV file to read")?;
            let delimiter = match keys.get("delimiter") {
                Some((_, v)) => one_char(cx, &format!("{p}delimiter"), v, b',')?,
                None => b',',
            };
            let quote = match keys.get("quote") {
                Some((_, v)) => one_char(cx, &format!("{p}quote"), v, b'"')?,
                None => b'"',
            };
            let header = match keys.get("header") {
                Some((_, v)) => cx.boolean(&format!("{p}header"), v)?.unwrap_or(true),
                None => true,
            };
            let encoding = match keys.get("encoding") {
                Some((_, v)) => cx.choice(
                    &format!("{p}encoding"),
                    v,
                    &[
                        ("utf-8", CsvEncoding::Utf8),
                        ("utf8", CsvEncoding::Utf8),
                        ("windows-1252", CsvEncoding::Windows1252),
                        ("cp1252", CsvEncoding::Windows1252),
                        ("latin1", CsvEncoding::Windows1252),
                        ("iso-8859-1", CsvEncoding::Windows1252),
                    ],
                    "`utf-8` or `windows-1252`",
                )?,
                None => None,
            }
            .unwrap_or_default();
            PushSource::Csv(CsvSource {
                path: cx.absolute(&path),
                delimiter,
                quote,
                header,
                encoding,
            })
        }
        _ => {
            let keys = keys_of(cx, node, &p, ROWS_KEYS, " in a `rows` source")?;
            let rows_key = format!("{p}rows");
            let Some((_, rows)) = keys.get("rows") else {
                return Err(cx.invalid(
                    &rows_key,
                    line,
                    "is required: the list of rows (`- {id: 1, name: Ann}`)",
                ));
            };
            let items: &[Node] = match &rows.value {
                _ if rows.is_null() => &[],
                Value::Seq(items) => items,
                _ => {
                    return Err(cx.invalid(
                        &rows_key,
                        rows.line,
                        format!(
                            "expected a list of rows (`- {{id: 1, name: Ann}}`), found {}",
                            rows.found(false)
                        ),
                    ));
                }
            };
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match to_json(item) {
                    Json::Object(m) => out.push(m),
                    _ => {
                        return Err(cx.invalid(
                            &format!("{rows_key}[{i}]"),
                            item.line,
                            format!(
                                "each row must be a group of `column: value` settings, found {}",
                                item.found(false)
                            ),
                        ));
                    }
                }
            }
            PushSource::Rows(out)
        }
    })
}

fn parse_pagination(cx: &mut Cx, node: &Node, p: &str) -> Result<Pagination, ConfigError> {
    let key = format!("{p}pagination");
    expect_map(
        cx,
        &key,
        node,
        "`type: next_link` (with `next:`) or `type: offset` (with `limit:`)",
    )?;
    let pp = format!("{key}.");
    let keys = keys_of(cx, node, &pp, PAGINATION_KEYS, " in `pagination`")?;
    let kind = match keys.get("type") {
        Some((_, v)) => cx.choice(
            &format!("{pp}type"),
            v,
            &[("next_link", 0), ("offset", 1)],
            "`next_link` or `offset`",
        )?,
        None => None,
    }
    .ok_or_else(|| {
        cx.invalid(
            &format!("{pp}type"),
            node.line,
            "is required: `next_link` or `offset`",
        )
    })?;
    let max_pages = match keys.get("max_pages") {
        Some((_, v)) => cx.whole(&format!("{pp}max_pages"), v, 1)?,
        None => None,
    }
    .unwrap_or(10_000);
    Ok(if kind == 0 {
        Pagination::NextLink {
            next: required_name(
                cx,
                &keys,
                &pp,
                "next",
                node.line,
                "the dotted path of the next page's URL in the response (e.g. `links.next` or `d.__next`)",
            )?,
            max_pages,
        }
    } else {
        let limit = match keys.get("limit") {
            Some((_, v)) => cx.whole(&format!("{pp}limit"), v, 1)?,
            None => None,
        }
        .ok_or_else(|| {
            cx.invalid(
                &format!("{pp}limit"),
                node.line,
                "is required: the page size (records per request)",
            )
        })?;
        Pagination::Offset {
            offset_param: optional_name(cx, &keys, &pp, "offset_param")?
                .unwrap_or_else(|| "offset".into()),
            limit_param: optional_name(cx, &keys, &pp, "limit_param")?
                .unwrap_or_else(|| "limit".into()),
            limit,
            max_pages,
        }
    })
}

fn parse_push(
    cx: &mut Cx,
    node: &Node,
    prefix: &str,
    connections: &[Connection],
) -> Result<PushOperation, ConfigError> {
    let keys = keys_of(cx, node, prefix, PUSH_KEYS, " in a push operation")?;
    let datasource_id = match keys.get("datasource_id") {
        Some((_, v)) => cx.whole(&format!("{prefix}datasource_id"), v, 1)?,
        None => None,
    }
    .ok_or_else(|| {
        cx.invalid(
            &format!("{prefix}datasource_id"),
            node.line,
            format!("is required: {HINT_DS}"),
        )
    })?;
    let source = match keys.get("source") {
        Some((_, v)) => parse_source(cx, v, prefix, connections)?,
        None => {
            return Err(cx.invalid(
                &format!("{prefix}source"),
                node.line,
                "is required: where the rows come from (`source:` with `type: sql`, `http`, `json`, `csv` or `rows`)",
            ));
        }
    };
    let mut op = PushOperation::with_source(datasource_id, source);
    let get = |f: &str| keys.get(f).map(|(l, n)| (*l, *n));
    let key = |f: &str| format!("{prefix}{f}");
    parse_push_options(cx, &mut op, &get, &key)?;
    op.on_sync = parse_on_sync(cx, &keys, prefix)?;
    Ok(op)
}

fn parse_pull(
    cx: &mut Cx,
    node: &Node,
    prefix: &str,
    connections: &[Connection],
) -> Result<PullOperation, ConfigError> {
    let keys = keys_of(cx, node, prefix, PULL_KEYS, " in a pull operation")?;
    let k = |f: &str| format!("{prefix}{f}");
    let datasource_id = match keys.get("datasource_id") {
        Some((_, v)) => cx.whole(&k("datasource_id"), v, 1)?,
        None => None,
    }
    .ok_or_else(|| {
        cx.invalid(
            &k("datasource_id"),
            node.line,
            "is required: the ID of the data source to pull entries from",
        )
    })?;
    let where_ = keys
        .get("where")
        .map(|(_, v)| to_json(v))
        .filter(|w| !w.is_null());
    if let (Some(w), Some((_, v))) = (&where_, keys.get("where"))
        && !w.is_object()
    {
        return Err(cx.invalid(
            &k("where"),
            v.line,
            "expected a filter of `column: value` settings (e.g. `syncedAt: ''` or `Age: {$gt: 30}`)",
        ));
    }
    let mut attributes = Vec::new();
    if let Some((_, v)) = keys.get("attributes") {
        match &v.value {
            _ if v.is_null() => {}
            Value::Seq(items) => {
                for item in items {
                    if let Some(a) = cx.name(&k("attributes"), item)? {
                        attributes.push(a);
                    }
                }
            }
            _ => {
                return Err(cx.invalid(
                    &k("attributes"),
                    v.line,
                    "expected a list of column names",
                ));
            }
        }
    }
    let mut order = Vec::new();
    if let Some((_, v)) = keys.get("order") {
        let bad = |cx: &Cx, line: usize| {
            cx.invalid(
                &k("order"),
                line,
                "expected a list of `[column, ASC|DESC]` pairs (e.g. `[[data.Name, ASC], [id, DESC]]`)",
            )
        };
        match &v.value {
            _ if v.is_null() => {}
            Value::Seq(items) => {
                for item in items {
                    let pair: Vec<String> = match &item.value {
                        Value::Seq(p) => p
                            .iter()
                            .map(|n| cx.name(&k("order"), n).map(Option::unwrap_or_default))
                            .collect::<Result<_, _>>()?,
                        Value::Scalar { text, .. } => vec![text.clone(), "ASC".into()],
                        _ => return Err(bad(cx, item.line)),
                    };
                    let dir = pair
                        .get(1)
                        .map(|d| d.to_uppercase())
                        .unwrap_or("ASC".into());
                    if pair.is_empty() || pair.len() > 2 || !matches!(dir.as_str(), "ASC" | "DESC")
                    {
                        return Err(bad(cx, item.line));
                    }
                    order.push((pair[0].clone(), dir));
                }
            }
            _ => return Err(bad(cx, v.line)),
        }
    }
    let limit = match keys.get("limit") {
        Some((_, v)) => cx.whole(&k("limit"), v, 1)?,
        None => None,
    };
    let target = match keys.get("target") {
        Some((_, v)) => parse_target(cx, v, prefix, connections)?,
        None => {
            return Err(cx.invalid(
                &k("target"),
                node.line,
                "is required: where the entries go (`target:` with `type: table`, `csv` or `json`)",
            ));
        }
    };
    if let PullTarget::Table { columns, .. } = &target
        && !attributes.is_empty()
        && let Some((line, _)) = keys.get("attributes")
    {
        for (from, _) in columns {
            let fetched = attributes
                .iter()
                .any(|a| a == from || a.strip_prefix("data.") == Some(from.as_str()));
            if from != "$id" && !fetched {
                cx.warn(
                    &k("attributes"),
                    *line,
                    format!(
                        "does not include `{from}`, which `target.columns` maps: that table column will be set to NULL; add it to `attributes`"
                    ),
                );
            }
        }
    }
    let write_back = match keys.get("write_back") {
        Some((_, v)) if !v.is_null() => {
            let p = k("write_back.");
            expect_map(
                cx,
                &k("write_back"),
                v,
                "`column:` and `value:` (e.g. `column: syncedAt` / `value: now`)",
            )?;
            let wk = keys_of(cx, v, &p, WRITE_BACK_KEYS, " in `write_back`")?;
            let column = required_name(
                cx,
                &wk,
                &p,
                "column",
                v.line,
                "the data source column to set on each pulled entry",
            )?;
            let value = match wk.get("value") {
                None => WriteBackValue::Now,
                Some((_, n)) => match (&n.value, to_json(n)) {
                    (Value::Scalar { plain: true, .. }, Json::String(s)) if s == "now" => {
                        WriteBackValue::Now
                    }
                    (Value::Scalar { plain: true, .. }, Json::String(s)) if s == "now_iso" => {
                        WriteBackValue::NowIso
                    }
                    (_, j) => WriteBackValue::Fixed(j),
                },
            };
            Some(WriteBack { column, value })
        }
        _ => None,
    };
    Ok(PullOperation {
        description: optional_name(cx, &keys, prefix, "description")?,
        frequency: frequency(cx, &keys, prefix)?,
        datasource_id,
        where_,
        attributes,
        order,
        limit,
        target,
        write_back,
        on_sync: parse_on_sync(cx, &keys, prefix)?,
    })
}

fn parse_target(
    cx: &mut Cx,
    node: &Node,
    prefix: &str,
    connections: &[Connection],
) -> Result<PullTarget, ConfigError> {
    let key = format!("{prefix}target");
    expect_map(
        cx,
        &key,
        node,
        "the target settings (`type: table`, `csv` or `json`, and its options)",
    )?;
    let p = format!("{key}.");
    let type_node = cx.type_node(node, &p)?;
    let kind = match type_node {
        Some(v) => cx.choice(
            &format!("{p}type"),
            v,
            &[("table", "table"), ("csv", "csv"), ("json", "json")],
            "one of `table`, `csv`, `json`",
        )?,
        None => None,
    }
    .ok_or_else(|| {
        cx.invalid(
            &format!("{p}type"),
            node.line,
            "is required: one of table, csv, json",
        )
    })?;
    let line = node.line;
    Ok(match kind {
        "table" => {
            let keys = keys_of(cx, node, &p, TABLE_KEYS, " in a `table` target")?;
            let connection = connection(cx, connections, &keys, &p, line)?;
            let table = required_name(cx, &keys, &p, "table", line, "the table to write to")?;
            let key_col = required_name(
                cx,
                &keys,
                &p,
                "key",
                line,
                "the table column that identifies a row (rows are updated when their key exists, inserted otherwise)",
            )?;
            let mut columns = Vec::new();
            let ck = format!("{p}columns");
            match keys.get("columns") {
                Some((_, v)) if matches!(v.value, Value::Map(_)) => {
                    for (from, l, to) in cx.entries(v, &format!("{ck}."))? {
                        let to = cx.name(&format!("{ck}.{from}"), to)?.ok_or_else(|| {
                            cx.invalid(
                                &format!("{ck}.{from}"),
                                l,
                                "expected the table column receiving this data source column",
                            )
                        })?;
                        columns.push((from, to));
                    }
                }
                Some((_, v)) => {
                    return Err(cx.invalid(
                        &ck,
                        v.line,
                        "expected `Data source column: table_column` lines",
                    ));
                }
                None => {}
            }
            if columns.is_empty() {
                return Err(cx.invalid(
                    &ck,
                    line,
                    "is required: map each data source column to a table column (`Email: email`; `$id` is the Fliplet entry ID)",
                ));
            }
            if !columns.iter().any(|(_, to)| *to == key_col) {
                return Err(cx.invalid(
                    &format!("{p}key"),
                    keys.get("key").map_or(line, |(l, _)| *l),
                    format!(
                        "the key column `{key_col}` must be one of the table columns under `columns:` (it gets its value from the data source)"
                    ),
                ));
            }
            if connection.config.driver == Driver::Mssql {
                return Err(cx.invalid(
                    &format!("{p}connection"),
                    keys.get("connection").map_or(line, |(l, _)| *l),
                    "pulling into a SQL Server table is not supported yet (PostgreSQL, MySQL/MariaDB and SQLite are); pull into a `csv` or `json` file instead",
                ));
            }
            PullTarget::Table {
                connection,
                table,
                key: key_col,
                columns,
            }
        }
        "csv" => {
            let keys = keys_of(cx, node, &p, FILE_TARGET_KEYS, " in a `csv` target")?;
            let path = required_name(cx, &keys, &p, "path", line, "the CSV file to write")?;
            let delimiter = match keys.get("delimiter") {
                Some((_, v)) => one_char(cx, &format!("{p}delimiter"), v, b',')?,
                None => b',',
            };
            PullTarget::Csv {
                path: cx.absolute(&path),
                delimiter,
            }
        }
        _ => {
            let keys = keys_of(cx, node, &p, &["type", "path"], " in a `json` target")?;
            let path = required_name(cx, &keys, &p, "path", line, "the JSON file to write")?;
            PullTarget::Json {
                path: cx.absolute(&path),
            }
        }
    })
}

/// Parse and validate the text of a multi-operation job file. Pure apart from nothing: no
/// file other than `text` is read, nothing connects.
pub fn parse(text: &str, path: &Path) -> Result<LoadedJob, ConfigError> {
    let mut cx = Cx::for_file(text, path);
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
    let keys = keys_of(&mut cx, &root, "", KEYS, "")?;
    let auth_token = match keys.get("auth_token") {
        Some((_, node)) => cx.secret("auth_token", node)?,
        None => None,
    }
    .filter(|s| !s.expose().trim().is_empty())
    .ok_or_else(|| cx.missing("auth_token", HINT_AUTH))?;
    let auth_token = Secret::new(auth_token.expose().trim());
    if let Some((line, _)) = keys.get("auth_token") {
        cx.check_header_value("auth_token", *line, auth_token.expose())?;
    }
    let api_url = match keys.get("api_url") {
        Some((_, node)) => parse_api_url(&cx, node)?,
        None => None,
    };
    let ca_file = match keys.get("ca_file") {
        Some((_, node)) => cx.name("ca_file", node)?.map(|p| cx.absolute(&p)),
        None => None,
    };
    let sync_on_init = match keys.get("sync_on_init") {
        Some((_, node)) => cx.boolean("sync_on_init", node)?.unwrap_or(false),
        None => false,
    };
    let log_verbosity = cx.verbosity(keys.get("log_verbosity").map(|(_, n)| *n))?;
    let run_timeout =
        super::legacy::parse_run_timeout(&cx, keys.get("run_timeout").map(|(_, n)| *n))?;
    let stale_after = match keys.get("stale_after") {
        Some((_, node)) => parse_stale_after(&cx, node)?,
        None => None,
    };
    let connections = match keys.get("connections") {
        Some((_, node)) => parse_connections(&mut cx, node)?,
        None => Vec::new(),
    };
    let Some((_, ops_node)) = keys.get("operations").copied() else {
        return Err(cx.missing("operations", "list the push and pull operations"));
    };
    let items = match &ops_node.value {
        Value::Seq(items) if !items.is_empty() => items,
        _ => {
            return Err(cx.invalid(
                "operations",
                ops_node.line,
                "expected a list of operations (`- type: push` or `- type: pull`, with their settings)",
            ));
        }
    };
    let mut operations = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("operations[{i}].");
        expect_map(
            &cx,
            &format!("operations[{i}]"),
            item,
            "the operation's settings (`type: push` or `type: pull`, ...)",
        )?;
        let type_node = cx.type_node(item, &prefix)?;
        let kind = match type_node {
            Some(v) => cx.choice(
                &format!("{prefix}type"),
                v,
                &[("push", "push"), ("pull", "pull")],
                "`push` or `pull`",
            )?,
            None => None,
        }
        .unwrap_or("push");
        operations.push(if kind == "pull" {
            Operation::Pull(parse_pull(&mut cx, item, &prefix, &connections)?)
        } else {
            Operation::Push(parse_push(&mut cx, item, &prefix, &connections)?)
        });
    }
    let job = Job {
        path: Some(path.to_path_buf()),
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.clone()),
        auth_token,
        api_url,
        sync_on_init,
        ca_file,
        log_verbosity,
        run_timeout,
        database: None,
        operations,
        stale_after,
    };
    let mut warnings = cx.warnings;
    warnings.sort_by_key(|w| w.line);
    Ok(LoadedJob { job, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::load_tree;

    #[test]
    fn detects_the_format() {
        assert!(looks_like("auth_token: x\noperations:\n  - type: push\n"));
        assert!(looks_like("\u{feff}operations :\n"));
        assert!(!looks_like("auth_token: x\nquery: SELECT operations: 1\n"));
        assert!(!looks_like("  operations:\n"));
    }

    #[test]
    fn yaml_to_json_uses_the_core_schema() {
        let root = load_tree("a: 1\nb: '1'\nc: true\nd: ~\ne: [x, 2.5]\nf: {g: ''}\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            to_json(&root),
            serde_json::json!({"a": 1, "b": "1", "c": true, "d": null, "e": ["x", 2.5], "f": {"g": ""}})
        );
    }
}
