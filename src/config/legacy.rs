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
//! | `primary_column` | text | none (rows are appended) | Column matching rows to existing entries. |
//! | `case_insensitive_primary_column` | true/false | false | Match primary keys ignoring case. |
//! | `timestamp_column` | text | | Column compared to decide whether a matched row changed. |
//! | `mode` | `update` \| `replace` | `update` | `update` keeps remote entries missing from the query result; `replace` deletes them. |
//! | `batch_size` | whole number ≥ 1 | 1000 | Rows per commit request. |
//! | `concurrency` | whole number ≥ 1 | 1 | Records and files processed at once. |
//! | `delete_column` | text | | Rows where this column is set (not null) delete their entry. |
//! | `run_hooks` | list of `insert` / `update` | none | Post-sync hooks run by Fliplet servers. A key with only commented-out items means none. |
//! | `merge` | true/false | not sent | Merge sent columns into existing entries instead of replacing them. |
//! | `files` | list (see below) | none | Columns holding URLs or paths of files to upload. |
//! | `encrypt` | `{fields, key?, salt?}` | none | Columns to encrypt (see below). |
//! | `log_verbosity` | `debug` \| `info` \| `critical` | `debug` | How much is logged. |
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

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use saphyr_parser::{Event, Parser, ScalarStyle};

use super::{
    ConfigError, ConfigWarning, DatabaseConfig, Driver, EncryptConfig, FileColumn, FileSource,
    Hook, Job, LoadedJob, Mode, Operation, PushOperation, Verbosity,
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
    "primary_column",
    "case_insensitive_primary_column",
    "timestamp_column",
    "mode",
    "batch_size",
    "concurrency",
    "delete_column",
    "run_hooks",
    "merge",
    "files",
    "encrypt",
    "log_verbosity",
    "type",
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
const WHOLE_FILE: &str = "(whole file)";

// ---------------------------------------------------------------------------------------
// A small YAML tree with a line for every node, built from saphyr-parser events.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Node {
    /// 1-based line where the node starts.
    line: usize,
    value: Value,
}

#[derive(Debug, Clone)]
enum Value {
    /// `plain`: unquoted and untagged, so subject to the core schema (null, bool, numbers).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// What was found, for messages. Never echoes a secret's value.
    fn found(&self, secret: bool) -> String {
        match &self.value {
            _ if self.is_null() => "nothing".into(),
            Value::Scalar { .. } if secret => "a value of the wrong type".into(),
            Value::Scalar { text, .. } => {
                let mut shown: String = text.chars().take(60).collect();
                if text.chars().count() > 60 {
                    shown.push('…');
                }
                format!("{shown:?}")
            }
            Value::Seq(_) => "a list".into(),
            Value::Map(_) => "a group of `key: value` settings".into(),
        }
    }
}

#[derive(Debug)]
struct SyntaxError {
    line: Option<usize>,
    message: String,
}

enum Frame {
    Seq {
        line: usize,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        line: usize,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

/// Parse the text into the first document's root node (`None` for an empty stream).
fn load_tree(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| SyntaxError {
            line: Some(e.marker().line()),
            message: e.info().to_string(),
        })?;
        let line = span.start.line();
        let done = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError {
                        line: Some(line),
                        message: "the file holds more than one YAML document (a second `---`); a job file holds one".into(),
                    });
                }
                None
            }
            Event::Scalar(value, style, anchor, tag) => {
                let tagged_str = tag
                    .as_ref()
                    .is_some_and(|t| t.suffix == "str" || t.suffix.ends_with(":str"));
                let plain = style == ScalarStyle::Plain && !tagged_str;
                Some((
                    Node {
                        line,
                        value: Value::Scalar {
                            text: value.into_owned(),
                            plain,
                        },
                    },
                    anchor,
                ))
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(node) => Some((
                    Node {
                        line,
                        value: node.value.clone(),
                    },
                    0,
                )),
                None => {
                    return Err(SyntaxError {
                        line: Some(line),
                        message: "unknown alias (`*name` without a matching `&name`)".into(),
                    });
                }
            },
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq {
                    line,
                    anchor,
                    items: Vec::new(),
                });
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map {
                    line,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq {
                    line,
                    anchor,
                    items,
                }) => Some((
                    Node {
                        line,
                        value: Value::Seq(items),
                    },
                    anchor,
                )),
                Some(Frame::Map {
                    line,
                    anchor,
                    entries,
                    ..
                }) => Some((
                    Node {
                        line,
                        value: Value::Map(entries),
                    },
                    anchor,
                )),
                None => None,
            },
            _ => None,
        };
        if let Some((node, anchor)) = done {
            if anchor > 0 {
                anchors.insert(anchor, node.clone());
            }
            match stack.last_mut() {
                Some(Frame::Seq { items, .. }) => items.push(node),
                Some(Frame::Map { entries, key, .. }) => match key.take() {
                    Some(k) => {
                        // A block list or group under a key is reported at the key's line.
                        let mut node = node;
                        if !matches!(node.value, Value::Scalar { .. }) {
                            node.line = k.line;
                        }
                        entries.push((k, node))
                    }
                    None => *key = Some(node),
                },
                None => {
                    if root.is_none() {
                        root = Some(node);
                    }
                }
            }
        }
    }
    Ok(root)
}

/// A hint for the most common syntax slip: an unquoted cron expression starting with `*`.
fn syntax_hint(text: &str, line: Option<usize>) -> &'static str {
    let Some(line) = line else { return "" };
    let lines: Vec<&str> = text.lines().collect();
    let candidates = [line.checked_sub(1), line.checked_sub(2), Some(line)];
    for idx in candidates.into_iter().flatten() {
        if let Some(l) = lines.get(idx) {
            let t = l.trim_start();
            if let Some(rest) = t.strip_prefix("frequency:")
                && rest.trim_start().starts_with('*')
            {
                return " (put the cron expression in quotes, e.g. frequency: '*/15 * * * *')";
            }
        }
    }
    ""
}

// ---------------------------------------------------------------------------------------
// Reading values.
// ---------------------------------------------------------------------------------------

/// The closest candidate to `input`, if it is close enough to be a likely typo.
fn did_you_mean<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = input.to_lowercase();
    candidates
        .iter()
        .map(|c| (*c, strsim::jaro_winkler(&lower, &c.to_lowercase())))
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

fn suggestion(input: &str, candidates: &[&str]) -> String {
    match did_you_mean(input, candidates) {
        Some(c) => format!(" (did you mean `{c}`?)"),
        None => String::new(),
    }
}

/// Is this an absolute path on any platform (`/x`, `C:\x`, `C:/x`, `\\server\share`)?
fn is_absolute_anywhere(p: &str) -> bool {
    let b = p.as_bytes();
    p.starts_with('/')
        || p.starts_with('\\')
        || (b.len() >= 3
            && b[0].is_ascii_alphabetic()
            && b[1] == b':'
            && (b[2] == b'\\' || b[2] == b'/'))
        || Path::new(p).is_absolute()
}

struct Cx<'a> {
    file: String,
    base_dir: PathBuf,
    text: &'a str,
    warnings: Vec<ConfigWarning>,
}

impl Cx<'_> {
    fn invalid(&self, key: &str, line: usize, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.clone(),
            key: key.to_string(),
            line: Some(line),
            message: message.into(),
        }
    }

    fn missing(&self, key: &str, hint: &str) -> ConfigError {
        ConfigError::Missing {
            file: self.file.clone(),
            key: key.to_string(),
            hint: hint.to_string(),
        }
    }

    fn warn(&mut self, key: &str, line: usize, message: impl Into<String>) {
        self.warnings.push(ConfigWarning {
            file: self.file.clone(),
            key: Some(key.to_string()),
            line: Some(line),
            message: message.into(),
        });
    }

    /// The `key: value` entries of a mapping node, with `<<` merge keys expanded (explicit
    /// keys win) and duplicate keys refused. `prefix` names nested keys (`files[0].`).
    fn entries<'n>(
        &self,
        node: &'n Node,
        prefix: &str,
    ) -> Result<Vec<(String, usize, &'n Node)>, ConfigError> {
        let Value::Map(pairs) = &node.value else {
            unreachable!("entries() is only called on mappings")
        };
        let mut out: Vec<(String, usize, &'n Node)> = Vec::new();
        let mut merged: Vec<(String, usize, &'n Node)> = Vec::new();
        for (k, v) in pairs {
            let name = match &k.value {
                Value::Scalar { text, .. } => text.clone(),
                _ => {
                    return Err(self.invalid(
                        &format!("{prefix}?"),
                        k.line,
                        "a key must be a plain name, not a list or a group",
                    ));
                }
            };
            if name == "<<" && matches!(&k.value, Value::Scalar { plain: true, .. }) {
                let sources: Vec<&Node> = match &v.value {
                    Value::Map(_) => vec![v],
                    Value::Seq(items) => items.iter().collect(),
                    _ => vec![],
                };
                for src in sources {
                    if matches!(src.value, Value::Map(_)) {
                        merged.extend(self.entries(src, prefix)?);
                    }
                }
                continue;
            }
            if let Some((_, first, _)) = out.iter().find(|(n, _, _)| *n == name) {
                return Err(self.invalid(
                    &format!("{prefix}{name}"),
                    k.line,
                    format!(
                        "is defined twice, on line {first} and on line {}: keep only one",
                        k.line
                    ),
                ));
            }
            out.push((name, k.line, v));
        }
        for m in merged {
            if !out.iter().any(|(n, _, _)| *n == m.0) {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Any scalar as its text; null → None; lists and groups are refused.
    fn text(&self, key: &str, node: &Node, secret: bool) -> Result<Option<String>, ConfigError> {
        if node.is_null() {
            return Ok(None);
        }
        match &node.value {
            Value::Scalar { text, .. } => Ok(Some(text.clone())),
            _ => Err(self.invalid(
                key,
                node.line,
                format!("expected text, found {}", node.found(secret)),
            )),
        }
    }

    /// Text where an empty value means "not set" (column names, descriptions).
    fn name(&self, key: &str, node: &Node) -> Result<Option<String>, ConfigError> {
        Ok(self
            .text(key, node, false)?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()))
    }

    fn secret(&self, key: &str, node: &Node) -> Result<Option<Secret>, ConfigError> {
        Ok(self.text(key, node, true)?.map(Secret::new))
    }

    fn boolean(&mut self, key: &str, node: &Node) -> Result<Option<bool>, ConfigError> {
        if node.is_null() {
            return Ok(None);
        }
        let wrong = |cx: &Self| {
            cx.invalid(
                key,
                node.line,
                format!("expected true or false, found {}", node.found(false)),
            )
        };
        let Value::Scalar { text, .. } = &node.value else {
            return Err(wrong(self));
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            v @ ("yes" | "on" | "no" | "off") => {
                let b = matches!(v, "yes" | "on");
                self.warn(
                    key,
                    node.line,
                    format!("`{text}` is read as {b}; write `{b}` (in YAML 1.2 `{text}` is text)"),
                );
                Ok(Some(b))
            }
            _ => Err(wrong(self)),
        }
    }

    /// A whole number ≥ `min` (quoted numbers and `1_000` accepted).
    fn whole(&self, key: &str, node: &Node, min: u64) -> Result<Option<u64>, ConfigError> {
        if node.is_null() {
            return Ok(None);
        }
        let wrong = || {
            self.invalid(
                key,
                node.line,
                format!(
                    "expected a whole number ≥ {min}, found {}",
                    node.found(false)
                ),
            )
        };
        let Value::Scalar { text, .. } = &node.value else {
            return Err(wrong());
        };
        let t = text.trim().replace('_', "");
        let t = t.strip_prefix('+').unwrap_or(&t);
        let n = match t.parse::<u64>() {
            Ok(n) => n,
            Err(_) => match t.parse::<f64>() {
                Ok(f) if f.fract() == 0.0 && (0.0..1e19).contains(&f) => f as u64,
                _ => return Err(wrong()),
            },
        };
        if n < min {
            return Err(wrong());
        }
        Ok(Some(n))
    }

    /// One of `options` (case-insensitive), with a did-you-mean when it is not.
    fn choice<T: Copy>(
        &self,
        key: &str,
        node: &Node,
        options: &[(&str, T)],
        expected: &str,
    ) -> Result<Option<T>, ConfigError> {
        let Some(text) = self.text(key, node, false)? else {
            return Ok(None);
        };
        let wanted = text.trim().to_lowercase();
        if let Some((_, v)) = options.iter().find(|(name, _)| *name == wanted) {
            return Ok(Some(*v));
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        Err(self.invalid(
            key,
            node.line,
            format!(
                "must be {expected}, found {}{}",
                node.found(false),
                suggestion(&wanted, &names)
            ),
        ))
    }

    fn absolute(&self, p: &str) -> PathBuf {
        if is_absolute_anywhere(p) || p == ":memory:" {
            PathBuf::from(p)
        } else {
            self.base_dir.join(p)
        }
    }

    /// Warn about an unknown key: `prefix` + `name` is shown, `name` is compared to `known`.
    fn unknown_key(
        &mut self,
        prefix: &str,
        name: &str,
        line: usize,
        known: &[&str],
        context: &str,
    ) {
        let hint = match did_you_mean(name, known) {
            Some(c) => format!("unknown key{context}, ignored: did you mean `{c}`?"),
            None => format!("unknown key{context}, ignored"),
        };
        self.warn(&format!("{prefix}{name}"), line, hint);
    }
}

// ---------------------------------------------------------------------------------------
// The format.
// ---------------------------------------------------------------------------------------

const HINT_AUTH: &str = "add `auth_token: <your token>` with an API token created in Fliplet Studio (https://developers.fliplet.com/REST-API/authenticate.html#how-to-create-an-authentication-token)";
const HINT_DS: &str = "add `datasource_id: <ID>` with the ID of the target data source (Fliplet Studio, \"Manage app data\", settings tab)";
const HINT_DRIVER: &str = "add `database_driver:` with one of mssql, postgres, mysql, sqlite, and the database_* connection settings";
const HINT_QUERY: &str =
    "add `query: SELECT ... FROM ...` with the SQL query returning the rows to push";

/// Parse and validate the text of a legacy YAML job file. `path` is used in messages and to
/// resolve relative paths (SQLite file, local file folders) against the file's folder.
pub fn parse(text: &str, path: &Path) -> Result<LoadedJob, ConfigError> {
    let file = path.display().to_string();
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let base_dir = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut cx = Cx {
        file: file.clone(),
        base_dir,
        text,
        warnings: Vec::new(),
    };

    let root = load_tree(text).map_err(|e| ConfigError::Syntax {
        file: file.clone(),
        line: e.line,
        message: format!("{}{}", e.message, syntax_hint(cx.text, e.line)),
    })?;
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
                    "pull operations need the multi-operation job format, which is not available yet; this file format only pushes rows to Fliplet",
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

    // api_url
    let api_url = match get("api_url") {
        Some((_, node)) => match cx.name("api_url", node)? {
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
                            format!(
                                "is not a valid URL ({e}): write it like https://api.fliplet.com"
                            ),
                        ));
                    }
                }
                Some(u)
            }
            None => None,
        },
        None => None,
    };

    // Database.
    let text_key = |cx: &Cx, k: &str| -> Result<Option<String>, ConfigError> {
        match get(k) {
            Some((_, node)) => cx.name(k, node),
            None => Ok(None),
        }
    };
    let host = text_key(&cx, "database_host")?;
    let username = text_key(&cx, "database_username")?;
    let name = text_key(&cx, "database_name")?;
    let domain = text_key(&cx, "database_domain")?;
    let instance = text_key(&cx, "database_instance")?;
    let password = match get("database_password") {
        Some((_, node)) => cx.secret("database_password", node)?,
        None => None,
    };
    let port = match get("database_port") {
        Some((_, node)) => match cx.whole("database_port", node, 1)? {
            Some(p) if p <= 65535 => Some(p as u16),
            Some(_) => {
                return Err(cx.invalid(
                    "database_port",
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
    let encrypt = match get("database_encrypt") {
        Some((_, node)) => cx.boolean("database_encrypt", node)?,
        None => None,
    };
    let native_odbc = match get("database_native_odbc") {
        Some((line, node)) => {
            let v = cx.boolean("database_native_odbc", node)?.unwrap_or(false);
            cx.warn(
                "database_native_odbc",
                line,
                "not needed: this agent connects natively (the setting is ignored)",
            );
            v
        }
        None => false,
    };
    if driver != Driver::Mssql {
        for k in ["database_domain", "database_instance", "database_encrypt"] {
            if let Some((line, node)) = get(k)
                && !node.is_null()
            {
                cx.warn(
                    k,
                    line,
                    format!(
                        "only used with SQL Server (`database_driver: mssql`); ignored for {}",
                        driver.label()
                    ),
                );
            }
        }
    }
    let database = if driver == Driver::Sqlite {
        let path = name.clone().or_else(|| host.clone()).ok_or_else(|| {
            cx.missing(
                "database_name",
                "with `database_driver: sqlite`, set `database_name:` to the path of the database file (relative to the job file's folder, or absolute)",
            )
        })?;
        for k in ["database_port", "database_username", "database_password"] {
            if let Some((line, node)) = get(k)
                && !node.is_null()
            {
                cx.warn(k, line, "not used with SQLite; ignored");
            }
        }
        if name.is_some()
            && let Some((line, node)) = get("database_host")
            && !node.is_null()
        {
            cx.warn(
                "database_host",
                line,
                "not used with SQLite when `database_name` is set (the database file); ignored",
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
    };

    // Operation.
    let mut op = PushOperation::new(datasource_id, query);
    op.description = text_key(&cx, "description")?;
    if let Some((_, node)) = get("frequency")
        && let Some(expr) = cx.name("frequency", node)?
    {
        schedule::to_six_field(&expr).map_err(|e| {
            cx.invalid(
                "frequency",
                node.line,
                format!("{e} (crontab syntax, see https://crontab.guru/examples.html)"),
            )
        })?;
        if let Some(note) = schedule::crontab_difference(&expr) {
            cx.warn("frequency", node.line, note);
        }
        op.frequency = Some(expr);
    }
    op.primary_column = text_key(&cx, "primary_column")?;
    if let Some((_, node)) = get("case_insensitive_primary_column") {
        op.case_insensitive_primary_column = cx
            .boolean("case_insensitive_primary_column", node)?
            .unwrap_or(false);
    }
    op.timestamp_column = text_key(&cx, "timestamp_column")?;
    if let (Some(ts), Some(pk)) = (&op.timestamp_column, &op.primary_column)
        && ts == pk
        && let Some((line, _)) = get("timestamp_column")
    {
        cx.warn(
            "timestamp_column",
            line,
            "is the same column as `primary_column`: changes to other columns will never be detected; use a last-updated column",
        );
    }
    if let Some((_, node)) = get("mode")
        && let Some(mode) = cx.choice(
            "mode",
            node,
            &[("update", Mode::Update), ("replace", Mode::Replace)],
            "`update` or `replace`",
        )?
    {
        op.mode = mode;
    }
    if let Some((_, node)) = get("batch_size")
        && let Some(n) = cx.whole("batch_size", node, 1)?
    {
        op.batch_size = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some((_, node)) = get("concurrency")
        && let Some(n) = cx.whole("concurrency", node, 1)?
    {
        op.concurrency = usize::try_from(n).unwrap_or(usize::MAX);
    }
    op.delete_column = text_key(&cx, "delete_column")?;
    if let Some((_, node)) = get("run_hooks") {
        op.run_hooks = parse_hooks(&cx, node)?;
    }
    if let Some((_, node)) = get("merge") {
        op.merge = cx.boolean("merge", node)?;
    }
    if let Some((_, node)) = get("files") {
        op.files = parse_files(&mut cx, node)?;
    }
    if let Some((_, node)) = get("encrypt") {
        op.encrypt = parse_encrypt(&mut cx, node, &op)?;
    }

    let sync_on_init = match get("sync_on_init") {
        Some((_, node)) => cx.boolean("sync_on_init", node)?.unwrap_or(false),
        None => false,
    };
    let log_verbosity = match get("log_verbosity") {
        Some((_, node)) => cx
            .choice(
                "log_verbosity",
                node,
                &[
                    ("debug", Verbosity::Debug),
                    ("info", Verbosity::Info),
                    ("critical", Verbosity::Critical),
                ],
                "`debug`, `info` or `critical`",
            )?
            .unwrap_or_default(),
        None => Verbosity::Debug,
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
        log_verbosity,
        database: Some(database),
        operations: vec![Operation::Push(op)],
    };
    let mut warnings = cx.warnings;
    warnings.sort_by_key(|w| w.line);
    Ok(LoadedJob { job, warnings })
}

fn parse_hooks(cx: &Cx, node: &Node) -> Result<Vec<Hook>, ConfigError> {
    let options = [("insert", Hook::Insert), ("update", Hook::Update)];
    let expected = "`insert` or `update`";
    let items: Vec<&Node> = match &node.value {
        _ if node.is_null() => return Ok(Vec::new()),
        Value::Seq(items) => items.iter().collect(),
        Value::Scalar { .. } => vec![node],
        Value::Map(_) => {
            return Err(cx.invalid(
                "run_hooks",
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
        if let Some(h) = cx.choice("run_hooks", item, &options, expected)?
            && !hooks.contains(&h)
        {
            hooks.push(h);
        }
    }
    Ok(hooks)
}

fn parse_files(cx: &mut Cx, node: &Node) -> Result<Vec<FileColumn>, ConfigError> {
    let items = match &node.value {
        _ if node.is_null() => return Ok(Vec::new()),
        Value::Seq(items) => items,
        _ => {
            return Err(cx.invalid(
                "files",
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
        let prefix = format!("files[{i}]");
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
                            for (name, _, v) in cx.entries(h, &format!("{prefix}.headers."))? {
                                // Header values may hold credentials: treat them as secrets.
                                let value = cx
                                    .text(&format!("{prefix}.headers.{name}"), v, true)?
                                    .unwrap_or_default();
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
) -> Result<Option<EncryptConfig>, ConfigError> {
    if node.is_null() {
        return Ok(None);
    }
    if !matches!(node.value, Value::Map(_)) {
        return Err(cx.invalid(
            "encrypt",
            node.line,
            format!(
                "expected `fields:` (the list of columns to encrypt) and optionally `key:` / `salt:`, found {}",
                node.found(false)
            ),
        ));
    }
    let entries = cx.entries(node, "encrypt.")?;
    let mut keys: HashMap<&str, (usize, &Node)> = HashMap::new();
    for (name, line, v) in &entries {
        if let Some(k) = ENCRYPT_KEYS.iter().find(|k| **k == name.as_str()) {
            keys.insert(k, (*line, v));
        } else {
            cx.unknown_key("encrypt.", name, *line, ENCRYPT_KEYS, " in `encrypt`");
        }
    }
    let missing_fields = |cx: &Cx, line: usize| {
        cx.invalid(
            "encrypt.fields",
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
                "encrypt.fields",
                fields_node.line,
                "expected a list of column names (`- Column name` lines)",
            ));
        }
    };
    let mut fields = Vec::new();
    for item in items {
        if let Some(f) = cx.name("encrypt.fields", item)? {
            if let Some(pk) = &op.primary_column {
                let same = if op.case_insensitive_primary_column {
                    f.to_lowercase() == pk.to_lowercase()
                } else {
                    f == *pk
                };
                if same {
                    return Err(cx.invalid(
                        "encrypt.fields",
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
        Some((_, v)) => cx.secret("encrypt.key", v)?,
        None => None,
    }
    .filter(|s| !s.is_empty());
    let salt = match keys.get("salt") {
        Some((_, v)) => cx.secret("encrypt.salt", v)?,
        None => None,
    }
    .filter(|s| !s.is_empty());
    if key.is_some()
        && salt.is_some()
        && let Some((line, _)) = keys.get("salt")
    {
        cx.warn(
            "encrypt.salt",
            *line,
            "should not be used when using the `key` parameter: the salt only protects the keystore key, and is ignored",
        );
    }
    Ok(Some(EncryptConfig { fields, key, salt }))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let Operation::Push(op) = &job.operations[0];
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
        let Operation::Push(op) = &loaded.job.operations[0];
        assert_eq!(op.batch_size, 50);
    }
}
