//! Writing a [`Job`] as a multi-operation job file (the format the desktop app saves, and a
//! way to convert a single-operation file). Reading the output back with
//! [`super::parse_job`] gives the same job (tested on every example).
//!
//! Secrets are written as they are in the job: keep `keychain:<name>` references in jobs
//! that are saved, never resolved values.

use crate::config::{DEFAULT_RUN_TIMEOUT, DeleteGate, OnSchemaChange};
use serde_json::Value as Json;

use super::{
    Command, Connection, CsvEncoding, DatabaseConfig, FileSource, Job, Mode, Operation, Pagination,
    PullTarget, PushOperation, PushSource, Verbosity, WriteBackValue,
};

/// An ordered YAML tree (serde_json's maps are sorted; a job file reads better in order).
enum Y {
    Scalar(Json),
    /// A plain (unquoted) word, e.g. `push`, `now`.
    Word(&'static str),
    Seq(Vec<Y>),
    Map(Vec<(String, Y)>),
}

fn s(v: impl Into<String>) -> Y {
    Y::Scalar(Json::String(v.into()))
}

fn key(k: &str) -> String {
    let plain = !k.is_empty()
        && k.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '$' | '.'))
        && !k.starts_with('-')
        && !matches!(
            k.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "~"
        )
        && k.parse::<f64>().is_err();
    if plain {
        k.to_string()
    } else {
        Json::String(k.to_string()).to_string()
    }
}

fn scalar(v: &Json) -> String {
    match v {
        Json::String(_) | Json::Number(_) | Json::Bool(_) | Json::Null => {
            if v.is_null() {
                "null".into()
            } else {
                v.to_string()
            }
        }
        // Nested JSON (e.g. `where`, `body`, rows): YAML flow style, with a space after
        // every `:` and `,` so that any YAML reader takes it.
        other => flow(other),
    }
}

fn flow(v: &Json) -> String {
    match v {
        Json::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", Json::String(k.clone()), flow(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Json::Array(a) => format!("[{}]", a.iter().map(flow).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

fn emit(y: &Y, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match y {
        Y::Map(pairs) => {
            for (k, v) in pairs {
                out.push_str(&pad);
                out.push_str(&key(k));
                out.push(':');
                inline_or_block(v, indent, out);
            }
        }
        Y::Seq(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                match item {
                    Y::Map(pairs) if !pairs.is_empty() => {
                        // First pair on the dash line, the rest aligned under it.
                        let mut first = String::new();
                        emit(item, indent + 2, &mut first);
                        out.push(' ');
                        out.push_str(first.trim_start());
                    }
                    _ => inline_or_block(item, indent, out),
                }
            }
        }
        Y::Scalar(v) => {
            out.push_str(&pad);
            out.push_str(&scalar(v));
            out.push('\n');
        }
        Y::Word(w) => {
            out.push_str(&pad);
            out.push_str(w);
            out.push('\n');
        }
    }
}

fn inline_or_block(v: &Y, indent: usize, out: &mut String) {
    match v {
        Y::Scalar(j) => {
            out.push(' ');
            out.push_str(&scalar(j));
            out.push('\n');
        }
        Y::Word(w) => {
            out.push(' ');
            out.push_str(w);
            out.push('\n');
        }
        Y::Seq(items) if items.is_empty() => out.push_str(" []\n"),
        Y::Map(pairs) if pairs.is_empty() => out.push_str(" {}\n"),
        other => {
            out.push('\n');
            emit(other, indent + 2, out);
        }
    }
}

fn opt(pairs: &mut Vec<(String, Y)>, k: &str, v: Option<Y>) {
    if let Some(v) = v {
        pairs.push((k.to_string(), v));
    }
}

fn connection_map(db: &DatabaseConfig) -> Y {
    let mut m = vec![("driver".to_string(), Y::Word(db.driver.key()))];
    opt(&mut m, "host", db.host.clone().map(s));
    opt(&mut m, "port", db.port.map(|p| Y::Scalar(Json::from(p))));
    opt(&mut m, "username", db.username.clone().map(s));
    opt(
        &mut m,
        "password",
        db.password.as_ref().map(|p| s(p.expose())),
    );
    opt(&mut m, "name", db.database.clone().map(s));
    opt(&mut m, "domain", db.domain.clone().map(s));
    opt(&mut m, "instance", db.instance.clone().map(s));
    opt(
        &mut m,
        "encrypt",
        db.encrypt.map(|b| Y::Scalar(Json::Bool(b))),
    );
    if db.native_odbc {
        m.push(("native_odbc".into(), Y::Scalar(Json::Bool(true))));
    }
    Y::Map(m)
}

fn command(c: &Command) -> Y {
    match c {
        Command::Argv(v) => Y::Seq(v.iter().map(|a| s(a.clone())).collect()),
        Command::Shell(sh) => s(sh.clone()),
    }
}

fn common(m: &mut Vec<(String, Y)>, description: &Option<String>, frequency: &Option<String>) {
    opt(m, "description", description.clone().map(s));
    opt(m, "frequency", frequency.clone().map(s));
}

fn push(p: &PushOperation) -> Y {
    let mut m = vec![("type".to_string(), Y::Word("push"))];
    common(&mut m, &p.description, &p.frequency);
    let source = match &p.source {
        PushSource::Sql {
            connection,
            query,
            timeouts,
        } => Y::Map(vec![
            ("type".into(), Y::Word("sql")),
            ("connection".into(), s(connection.name.clone())),
            ("query".into(), s(query.clone())),
            (
                "query_timeout".into(),
                Y::Scalar(Json::from(timeouts.query)),
            ),
            (
                "stall_timeout".into(),
                Y::Scalar(Json::from(timeouts.stall)),
            ),
        ]),
        PushSource::Http(h) => {
            let mut sm = vec![
                ("type".to_string(), Y::Word("http")),
                ("method".into(), s(h.method.clone())),
                ("url".into(), s(h.url.clone())),
            ];
            if !h.headers.is_empty() {
                sm.push((
                    "headers".into(),
                    Y::Map(
                        h.headers
                            .iter()
                            .map(|(k, v)| (k.clone(), s(v.expose())))
                            .collect(),
                    ),
                ));
            }
            opt(&mut sm, "body", h.body.clone().map(Y::Scalar));
            opt(&mut sm, "records", h.records.clone().map(s));
            opt(
                &mut sm,
                "pagination",
                h.pagination.as_ref().map(|pg| match pg {
                    Pagination::NextLink { next, max_pages } => Y::Map(vec![
                        ("type".into(), Y::Word("next_link")),
                        ("next".into(), s(next.clone())),
                        ("max_pages".into(), Y::Scalar(Json::from(*max_pages))),
                    ]),
                    Pagination::Offset {
                        offset_param,
                        limit_param,
                        limit,
                        max_pages,
                    } => Y::Map(vec![
                        ("type".into(), Y::Word("offset")),
                        ("offset_param".into(), s(offset_param.clone())),
                        ("limit_param".into(), s(limit_param.clone())),
                        ("limit".into(), Y::Scalar(Json::from(*limit))),
                        ("max_pages".into(), Y::Scalar(Json::from(*max_pages))),
                    ]),
                }),
            );
            sm.push((
                "timeout_seconds".into(),
                Y::Scalar(Json::from(h.timeout_seconds)),
            ));
            Y::Map(sm)
        }
        PushSource::Json(j) => {
            let mut sm = vec![
                ("type".to_string(), Y::Word("json")),
                ("path".into(), s(j.path.display().to_string())),
            ];
            opt(&mut sm, "records", j.records.clone().map(s));
            Y::Map(sm)
        }
        PushSource::Csv(c) => Y::Map(vec![
            ("type".into(), Y::Word("csv")),
            ("path".into(), s(c.path.display().to_string())),
            ("delimiter".into(), s((c.delimiter as char).to_string())),
            ("quote".into(), s((c.quote as char).to_string())),
            ("header".into(), Y::Scalar(Json::Bool(c.header))),
            (
                "encoding".into(),
                Y::Word(match c.encoding {
                    CsvEncoding::Utf8 => "utf-8",
                    CsvEncoding::Windows1252 => "windows-1252",
                }),
            ),
        ]),
        PushSource::Rows(rows) => Y::Map(vec![
            ("type".into(), Y::Word("rows")),
            (
                "rows".into(),
                Y::Seq(
                    rows.iter()
                        .map(|r| Y::Scalar(Json::Object(r.clone())))
                        .collect(),
                ),
            ),
        ]),
    };
    m.push(("source".into(), source));
    m.push((
        "datasource_id".into(),
        Y::Scalar(Json::from(p.datasource_id)),
    ));
    opt(&mut m, "primary_column", p.primary_column.clone().map(s));
    if p.case_insensitive_primary_column {
        m.push((
            "case_insensitive_primary_column".into(),
            Y::Scalar(Json::Bool(true)),
        ));
    }
    opt(
        &mut m,
        "timestamp_column",
        p.timestamp_column.clone().map(s),
    );
    m.push((
        "mode".into(),
        Y::Word(match p.mode {
            Mode::Update => "update",
            Mode::Replace => "replace",
        }),
    ));
    m.push(("batch_size".into(), Y::Scalar(Json::from(p.batch_size))));
    m.push(("concurrency".into(), Y::Scalar(Json::from(p.concurrency))));
    opt(&mut m, "delete_column", p.delete_column.clone().map(s));
    if !p.run_hooks.is_empty() {
        m.push((
            "run_hooks".into(),
            Y::Seq(p.run_hooks.iter().map(|h| Y::Word(h.as_str())).collect()),
        ));
    }
    opt(&mut m, "merge", p.merge.map(|b| Y::Scalar(Json::Bool(b))));
    if p.delete_gate != DeleteGate::default() {
        m.push((
            "delete_gate_percent".into(),
            Y::Scalar(Json::from(p.delete_gate.percent)),
        ));
        m.push((
            "delete_gate_min".into(),
            Y::Scalar(Json::from(p.delete_gate.min)),
        ));
    }
    if p.on_schema_change == OnSchemaChange::Stop {
        m.push(("on_schema_change".into(), Y::Word("stop")));
    }
    if p.allow_empty_source {
        m.push(("allow_empty_source".into(), Y::Scalar(Json::Bool(true))));
    }
    if p.remove_duplicate_entries {
        m.push((
            "remove_duplicate_entries".into(),
            Y::Scalar(Json::Bool(true)),
        ));
    }
    if !p.files.is_empty() {
        let files = p
            .files
            .iter()
            .map(|f| {
                let mut fm = vec![("column".to_string(), s(f.column.clone()))];
                match &f.source {
                    FileSource::Remote { headers } => {
                        fm.push(("type".into(), Y::Word("remote")));
                        if !headers.is_empty() {
                            fm.push((
                                "headers".into(),
                                Y::Map(
                                    headers
                                        .iter()
                                        .map(|(k, v)| (k.clone(), s(v.expose())))
                                        .collect(),
                                ),
                            ));
                        }
                    }
                    FileSource::Local { directory } => {
                        fm.push(("type".into(), Y::Word("local")));
                        opt(
                            &mut fm,
                            "directory",
                            directory.as_ref().map(|d| s(d.display().to_string())),
                        );
                    }
                    FileSource::Sharepoint {
                        username,
                        password,
                        inherit_file_type,
                    } => {
                        fm.push(("type".into(), Y::Word("sharepoint")));
                        fm.push(("username".into(), s(username.clone())));
                        fm.push(("password".into(), s(password.expose())));
                        if *inherit_file_type {
                            fm.push(("fileType".into(), Y::Word("inherit")));
                        }
                    }
                }
                Y::Map(fm)
            })
            .collect();
        m.push(("files".into(), Y::Seq(files)));
    }
    if let Some(enc) = &p.encrypt {
        let mut em = vec![(
            "fields".to_string(),
            Y::Seq(enc.fields.iter().map(|f| s(f.clone())).collect()),
        )];
        opt(&mut em, "key", enc.key.as_ref().map(|k| s(k.expose())));
        opt(&mut em, "salt", enc.salt.as_ref().map(|k| s(k.expose())));
        m.push(("encrypt".into(), Y::Map(em)));
    }
    opt(&mut m, "on_sync", p.on_sync.as_ref().map(command));
    Y::Map(m)
}

fn pull(p: &super::PullOperation) -> Y {
    let mut m = vec![("type".to_string(), Y::Word("pull"))];
    common(&mut m, &p.description, &p.frequency);
    m.push((
        "datasource_id".into(),
        Y::Scalar(Json::from(p.datasource_id)),
    ));
    opt(&mut m, "where", p.where_.clone().map(Y::Scalar));
    if !p.attributes.is_empty() {
        m.push((
            "attributes".into(),
            Y::Seq(p.attributes.iter().map(|a| s(a.clone())).collect()),
        ));
    }
    if !p.order.is_empty() {
        m.push((
            "order".into(),
            Y::Seq(
                p.order
                    .iter()
                    .map(|(c, d)| Y::Scalar(serde_json::json!([c, d])))
                    .collect(),
            ),
        ));
    }
    opt(&mut m, "limit", p.limit.map(|l| Y::Scalar(Json::from(l))));
    let target = match &p.target {
        PullTarget::Table {
            connection,
            table,
            key,
            columns,
        } => Y::Map(vec![
            ("type".into(), Y::Word("table")),
            ("connection".into(), s(connection.name.clone())),
            ("table".into(), s(table.clone())),
            ("key".into(), s(key.clone())),
            (
                "columns".into(),
                Y::Map(
                    columns
                        .iter()
                        .map(|(f, t)| (f.clone(), s(t.clone())))
                        .collect(),
                ),
            ),
        ]),
        PullTarget::Csv { path, delimiter } => Y::Map(vec![
            ("type".into(), Y::Word("csv")),
            ("path".into(), s(path.display().to_string())),
            ("delimiter".into(), s((*delimiter as char).to_string())),
        ]),
        PullTarget::Json { path } => Y::Map(vec![
            ("type".into(), Y::Word("json")),
            ("path".into(), s(path.display().to_string())),
        ]),
    };
    m.push(("target".into(), target));
    opt(
        &mut m,
        "write_back",
        p.write_back.as_ref().map(|wb| {
            Y::Map(vec![
                ("column".into(), s(wb.column.clone())),
                (
                    "value".into(),
                    match &wb.value {
                        WriteBackValue::Now => Y::Word("now"),
                        WriteBackValue::NowIso => Y::Word("now_iso"),
                        WriteBackValue::Fixed(v) => Y::Scalar(v.clone()),
                    },
                ),
            ])
        }),
    );
    opt(&mut m, "on_sync", p.on_sync.as_ref().map(command));
    Y::Map(m)
}

/// The job as a multi-operation YAML file. The `database_*` keys of a single-operation file
/// become the connection [`Connection::SINGLE_FORMAT`].
pub fn to_multi_yaml(job: &Job) -> String {
    let mut top = vec![("auth_token".to_string(), s(job.auth_token.expose()))];
    opt(&mut top, "api_url", job.api_url.clone().map(s));
    opt(
        &mut top,
        "ca_file",
        job.ca_file.as_ref().map(|p| s(p.to_string_lossy())),
    );
    top.push((
        "sync_on_init".into(),
        Y::Scalar(Json::Bool(job.sync_on_init)),
    ));
    if job.run_timeout != DEFAULT_RUN_TIMEOUT {
        top.push(("run_timeout".into(), Y::Scalar(Json::from(job.run_timeout))));
    }
    top.push((
        "log_verbosity".into(),
        Y::Word(match job.log_verbosity {
            Verbosity::Debug => "debug",
            Verbosity::Info => "info",
            Verbosity::Critical => "critical",
        }),
    ));
    opt(
        &mut top,
        "stale_after",
        job.stale_after
            .map(|secs| s(crate::schedule::format_duration(secs))),
    );
    // Every connection used, once, in order of first use.
    let mut conns: Vec<Connection> = Vec::new();
    let mut add = |c: Connection| {
        if !conns.iter().any(|x| x.name == c.name) {
            conns.push(c);
        }
    };
    for op in &job.operations {
        if let Some(c) = op.connection() {
            add(c.clone());
        }
    }
    if !conns.is_empty() {
        top.push((
            "connections".into(),
            Y::Map(
                conns
                    .iter()
                    .map(|c| (c.name.clone(), connection_map(&c.config)))
                    .collect(),
            ),
        ));
    }
    top.push((
        "operations".into(),
        Y::Seq(
            job.operations
                .iter()
                .map(|op| match op {
                    Operation::Push(p) => push(p),
                    Operation::Pull(p) => pull(p),
                })
                .collect(),
        ),
    ));
    let mut out = String::new();
    emit(&Y::Map(top), 0, &mut out);
    out
}
