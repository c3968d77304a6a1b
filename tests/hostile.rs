//! Hostile or broken job files: `fliplet-agent validate` and `start` refuse them with a clear
//! message naming the file, and never exhaust memory, the stack, or wait forever.
//!
//! The binary runs with its address space capped at 1 GiB and a deadline, so a regression
//! shows as a failed test, not as a machine running out of memory.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fliplet_agent::config::{ConfigError, parse_job};

const HEADER: &str = "auth_token: eu--123456789\ndatasource_id: 1\ndatabase_driver: sqlite\ndatabase_name: x.sqlite\nquery: SELECT 1\n";

/// Run the agent with `args`, with 1 GiB of address space and `deadline`; returns the exit
/// code (`None`: killed by a signal or the deadline) and standard error.
fn agent(args: &[&str], deadline: Duration) -> (Option<i32>, String) {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fliplet-agent"));
    cmd.args(args)
        .env("FLIPLET_AGENT_LOG", "off")
        .env_remove("FLIPLET_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &limit);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("the binary runs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.and_then(|s| s.code()), err)
}

fn validate(path: &Path) -> (Option<i32>, String) {
    agent(
        &["validate", path.to_str().unwrap()],
        Duration::from_secs(60),
    )
}

/// A "billion laughs" file: 9 levels of nine aliases, 9^9 = 387 million strings.
fn bomb() -> String {
    let mut text = format!(
        "{HEADER}a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
    );
    for i in 1..=9 {
        let p = i - 1;
        let items = vec![format!("*a{p}"); 9].join(",");
        text.push_str(&format!("a{i}: &a{i} [{items}]\n"));
    }
    text
}

#[test]
fn a_billion_laughs_file_is_refused_at_validate_and_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("laughs.yml");
    std::fs::write(&path, bomb()).unwrap();
    for command in ["validate", "start"] {
        let (code, err) = agent(&[command, path.to_str().unwrap()], Duration::from_secs(60));
        assert_eq!(code, Some(2), "{command}: {err}");
        assert!(err.contains("laughs.yml:"), "{command}: {err}");
        assert!(
            err.contains("aliases (`*name`) of this file expand to more than 100000 values"),
            "{command}: {err}"
        );
    }
}

#[test]
fn aliases_a_job_really_uses_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("merge.yml");
    let text = "auth_token: eu--1\nconnections:\n  main: &db\n    driver: sqlite\n    name: x.sqlite\n  copy: *db\noperations:\n  - &op\n    source: {type: sql, connection: main, query: SELECT 1}\n    datasource_id: 1\n  - <<: *op\n    datasource_id: 2\n";
    std::fs::write(&path, text).unwrap();
    let (code, err) = validate(&path);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    // 50,000 nested block lists on one line (100 KB).
    let path = dir.path().join("deep.yml");
    std::fs::write(
        &path,
        format!("{HEADER}run_hooks:\n{}x\n", "- ".repeat(50_000)),
    )
    .unwrap();
    let (code, err) = validate(&path);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("deep.yml:7:") && err.contains("nest more than 64 levels deep"),
        "{err}"
    );
    // Depth built from aliases: each anchor one level deeper than the one before.
    let mut text = format!("{HEADER}l0: &l0 [x]\n");
    for i in 1..200 {
        text.push_str(&format!("l{i}: &l{i} [*l{}]\n", i - 1));
    }
    let path = dir.path().join("deep-aliases.yml");
    std::fs::write(&path, text).unwrap();
    let (code, err) = validate(&path);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("nest more than 64 levels deep"), "{err}");
}

#[test]
fn special_files_are_refused_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = validate(Path::new("/dev/zero"));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("/dev/zero is a device, not a regular file"),
        "{err}"
    );

    let fifo = dir.path().join("job.yml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (code, err) = agent(
        &["validate", fifo.to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert_eq!(code, Some(2), "a FIFO must not be waited on: {err}");
    assert!(
        err.contains("is a named pipe (FIFO), not a regular file"),
        "{err}"
    );

    let (code, err) = validate(dir.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is a directory, not a regular file"), "{err}");
}

#[test]
fn files_over_one_mebibyte_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yml");
    let filler = format!("# {}\n", "x".repeat(1021)); // 1 KiB a line
    let mut text = HEADER.to_string();
    while text.len() <= 1024 * 1024 {
        text.push_str(&filler);
    }
    std::fs::write(&path, &text).unwrap();
    let (code, err) = validate(&path);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("huge.yml is larger than 1024 KiB"), "{err}");
    // Just under the cap is read.
    text.truncate(1024 * 1024 - 10);
    let cut = text.rfind('\n').unwrap();
    text.truncate(cut + 1);
    std::fs::write(&path, &text).unwrap();
    let (code, err) = validate(&path);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_million_keys_are_checked_for_duplicates_in_linear_time() {
    // Far over the file size cap, so through the parser directly: one remote file column
    // with 1,000,000 headers, the last one repeating the first.
    let n = 1_000_000;
    let mut text = format!("{HEADER}files:\n  - column: photo\n    type: remote\n    headers:\n");
    text.reserve(n * 16);
    for i in 0..n {
        text.push_str(&format!("      h{i}: v\n"));
    }
    text.push_str("      h0: again\n");
    let first = HEADER.lines().count() + 5;
    let last = first + n;
    let started = Instant::now();
    let e = parse_job(&text, Path::new("keys.yml")).unwrap_err();
    eprintln!(
        "{n} keys checked for duplicates in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    match &e {
        ConfigError::Invalid {
            key, line, message, ..
        } => {
            assert_eq!(key, "files[0].headers.h0");
            assert_eq!(*line, Some(last));
            assert!(
                message.contains(&format!(
                    "defined twice, on line {first} and on line {last}"
                )),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !e.to_string().contains("again"),
        "a header value leaked: {e}"
    );
}

#[test]
fn tokens_and_header_values_http_cannot_carry_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "token.yml",
            "auth_token: \"eu--sEcReT\\nrest\"\ndatasource_id: 1\ndatabase_driver: sqlite\ndatabase_name: x.sqlite\nquery: SELECT 1\n".to_string(),
            "token.yml:1: `auth_token`: contains a line break",
        ),
        (
            "multi-token.yml",
            "auth_token: \"eu--sEcReT\\r\\n\\tx\"\noperations:\n  - source: {type: rows, rows: [{id: 1}]}\n    datasource_id: 1\n".to_string(),
            "multi-token.yml:1: `auth_token`: contains a line break",
        ),
        (
            "file-header.yml",
            format!("{HEADER}files:\n  - column: photo\n    type: remote\n    headers:\n      Authorization: \"Bearer sEcReT\\u0007\"\n"),
            "file-header.yml:10: `files[0].headers.Authorization`: contains the control character U+0007",
        ),
        (
            "source-header.yml",
            "auth_token: eu--1\noperations:\n  - source:\n      type: http\n      url: https://example.test/api\n      headers:\n        X-Api-Key: \"sEcReT\\nX-Other: 1\"\n    datasource_id: 1\n".to_string(),
            "source-header.yml:7: `operations[0].source.headers.X-Api-Key`: contains a line break",
        ),
    ];
    for (name, text, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let (code, err) = validate(&path);
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(err.contains(expected), "{name}: {err}");
        assert!(
            err.contains("cannot be sent in an HTTP header"),
            "{name}: {err}"
        );
        assert!(
            !err.contains("sEcReT"),
            "{name}: the secret was printed: {err}"
        );
    }
    // A tab and non-ASCII letters can be sent: accepted.
    let path = dir.path().join("ok.yml");
    std::fs::write(
        &path,
        format!("{HEADER}files:\n  - column: photo\n    type: remote\n    headers:\n      X-Name: \"Zoë\\tB\"\n"),
    )
    .unwrap();
    let (code, err) = validate(&path);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_file_that_is_not_utf8_names_the_byte_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.yml");
    // "Café" in Windows-1252 on line 5.
    let mut bytes = HEADER.replace("query: SELECT 1\n", "").into_bytes();
    let offset = bytes.len() + "query: SELECT 'Caf".len();
    bytes.extend_from_slice(b"query: SELECT 'Caf\xE9'\n");
    std::fs::write(&path, &bytes).unwrap();
    let (code, err) = validate(&path);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "latin1.yml:5: the file is not UTF-8 text: byte {offset} (0xE9) is not valid UTF-8"
        )),
        "{err}"
    );
    assert!(!err.contains("Check that the path is correct"), "{err}");
}
