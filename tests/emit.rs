//! A job written with `config::emit::to_multi_yaml` reads back as the same job: every
//! example, a job using every option, and a single-operation file converted to the
//! multi-operation format.

use std::path::Path;

use fliplet_agent::config::emit::to_multi_yaml;
use fliplet_agent::config::{Operation, PushSource, load_job, parse_job};

fn roundtrip(
    path: &Path,
) -> (
    fliplet_agent::config::Job,
    fliplet_agent::config::Job,
    String,
) {
    let before = load_job(path).unwrap_or_else(|e| panic!("{e}")).job;
    let text = to_multi_yaml(&before);
    let after = parse_job(&text, path)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .job;
    (before, after, text)
}

#[test]
fn every_multi_operation_example_reads_back_the_same() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<_> = std::fs::read_dir(root.join("js-equivalents"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.push(root.join("multi/multi.yml"));
    for f in files {
        let (before, after, text) = roundtrip(&f);
        assert_eq!(before, after, "{}\n{text}", f.display());
    }
}

#[test]
fn every_option_reads_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("all.yml");
    std::fs::write(
        &p,
        r#"auth_token: keychain:tok
api_url: http://127.0.0.1:1
sync_on_init: true
log_verbosity: critical
connections:
  lite: {driver: sqlite, name: my.db}
  sql: {driver: mssql, host: h, port: 1444, username: u, password: 'p: w', name: db, domain: D, instance: I, encrypt: true}
operations:
  - type: push
    description: "all: the options"
    frequency: '*/5 * * * *'
    source:
      type: http
      method: post
      url: 'https://h/x?a=1'
      headers: {X-Key: 'keychain:k', Accept: application/json}
      body: {q: [1, 2.5, "x y", null, true], "n": {"$gt": 1}}
      records: d.results
      pagination: {type: offset, limit: 50, offset_param: skip, limit_param: top, max_pages: 9}
      timeout_seconds: 5
    datasource_id: 1
    primary_column: "First name"
    case_insensitive_primary_column: true
    timestamp_column: updatedAt
    mode: replace
    batch_size: 7
    concurrency: 3
    delete_column: deletedAt
    run_hooks: [insert, update]
    merge: false
    files:
      - {column: a, type: remote, headers: {Authorization: Bearer x}}
      - {column: b, type: local, directory: files}
      - {column: c, type: sharepoint, username: u, password: pw, fileType: inherit}
    encrypt: {fields: [Email], key: keychain:enc}
    on_sync: [python3, "a b.py"]
  - source: {type: csv, path: 'x y.csv', delimiter: "\t", quote: "'", header: false, encoding: windows-1252}
    datasource_id: 2
    on_sync: echo done | cat
  - source: {type: rows, rows: [{id: 1, "a:b": "x"}, {id: 2, n: 1.5, o: {p: [1]}}]}
    datasource_id: 3
  - source: {type: json, path: /abs/f.json, records: items}
    datasource_id: 4
  - source: {type: http, url: 'http://h/p', pagination: {type: next_link, next: links.next}}
    datasource_id: 5
  - source: {type: sql, connection: lite, query: "SELECT 'a' AS \"x\"", query_timeout: 45, stall_timeout: 0}
    datasource_id: 6
  - source: {type: sql, connection: sql, query: SELECT 2}
    datasource_id: 10
  - type: pull
    datasource_id: 7
    where: {syncedAt: '', Age: {$gte: 30}, $or: [{a: 1}, {b: "2"}]}
    attributes: [Email, "First name"]
    order: [[data.Email, DESC], [id, ASC]]
    limit: 10
    target: {type: table, connection: lite, table: leads, key: email, columns: {Email: email, "First name": first, $id: fid}}
    write_back: {column: syncedAt, value: now_iso}
  - type: pull
    datasource_id: 8
    target: {type: csv, path: out.csv, delimiter: ;}
    write_back: {column: done, value: "now"}
  - type: pull
    datasource_id: 9
    target: {type: json, path: out.json}
    write_back: {column: n, value: 3}
    on_sync: [./x]
"#,
    )
    .unwrap();
    let (before, after, text) = roundtrip(&p);
    assert_eq!(before, after, "{text}");
    assert_eq!(before.operations.len(), 10);
    assert!(
        text.contains("query_timeout: 45\n      stall_timeout: 0\n"),
        "{text}"
    );
    // Defaults are written too, so that the saved file shows them.
    assert!(
        text.contains("query_timeout: 300\n      stall_timeout: 60\n"),
        "{text}"
    );
}

#[test]
fn a_single_operation_file_converts_to_the_multi_operation_format() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample.yml");
    let (before, after, text) = roundtrip(&sample);
    assert!(text.contains("connections:\n  database:\n"), "{text}");
    assert_eq!(before.auth_token, after.auth_token);
    assert_eq!(before.format, fliplet_agent::config::JobFormat::Single);
    assert_eq!(after.format, fliplet_agent::config::JobFormat::Multi);
    let (Operation::Push(b), Operation::Push(a)) = (&before.operations[0], &after.operations[0])
    else {
        panic!()
    };
    let PushSource::Sql {
        connection, query, ..
    } = &a.source
    else {
        panic!()
    };
    assert_eq!(Some(query.as_str()), b.query());
    assert_eq!(connection.name, "database");
    assert_eq!(Some(connection), before.operations[0].connection());
    // The whole push, its connection included, is the same after the conversion.
    assert_eq!(a, b);
}

#[test]
fn the_convert_command_prints_a_loadable_job() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample.yml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fliplet-agent"))
        .arg("convert")
        .arg(&sample)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let job = parse_job(&text, &sample).unwrap().job;
    assert_eq!(job.operations.len(), 1);
    assert_eq!(
        to_multi_yaml(&job),
        text,
        "converting twice changes nothing"
    );
}
