//! The stale-data watchdog: the `stale_after` key in both job formats, and the command line
//! (`fliplet-agent start` records its runs in the app's run history; `fliplet-agent status`
//! reads them), run as a user runs it against the Fliplet emulator.

mod common;

use std::path::Path;

use fliplet_agent::config::{emit, parse_job};
use fliplet_agent::wizard::JobDraft;

const LEGACY: &str = "auth_token: keychain:fliplet-agent/sales/auth_token\ndatasource_id: 1\ndatabase_driver: sqlite\ndatabase_name: a.sqlite\nquery: SELECT 1\nfrequency: '*/15 * * * *'\n";
const MULTI: &str = "auth_token: keychain:fliplet-agent/sales/auth_token\noperations:\n  - type: push\n    frequency: '0 * * * *'\n    source: {type: rows, rows: [{id: 1}]}\n    datasource_id: 1\n";

fn parse(text: &str) -> Result<fliplet_agent::config::LoadedJob, String> {
    parse_job(text, Path::new("/jobs/sales.yml")).map_err(|e| e.to_string())
}

#[test]
fn stale_after_is_read_from_both_formats() {
    for (text, want) in [
        ("stale_after: 36h\n", Some(129_600)),
        ("stale_after: 1d12h\n", Some(129_600)),
        ("stale_after: 3600\n", Some(3600)),
        ("stale_after: '90m'\n", Some(5400)),
        ("stale_after: 0\n", Some(0)),
        ("", None),
    ] {
        for base in [LEGACY, MULTI] {
            let loaded = parse(&format!("{base}{text}")).unwrap();
            assert_eq!(loaded.job.stale_after, want, "{text}");
            assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        }
    }
}

#[test]
fn a_wrong_stale_after_names_the_key_and_line() {
    for base in [LEGACY, MULTI] {
        let line = base.lines().count() + 1;
        let e = parse(&format!("{base}stale_after: soon\n")).unwrap_err();
        assert!(
            e.contains(&format!(
                "sales.yml:{line}: `stale_after`: expected a duration like `36h`"
            )),
            "{e}"
        );
        let e = parse(&format!("{base}stale_after: 3d4\n")).unwrap_err();
        assert!(e.contains("`4` has no unit"), "{e}");
    }
    // A typo is an unknown key with a did-you-mean.
    let loaded = parse(&format!("{LEGACY}stale_afer: 1d\n")).unwrap();
    let w = loaded.warnings[0].to_string();
    assert!(w.contains("stale_after"), "{w}");
}

#[test]
fn stale_after_is_written_back_and_kept_by_the_wizard() {
    let job = parse(&format!("{LEGACY}stale_after: 36h\n")).unwrap().job;
    let text = emit::to_multi_yaml(&job);
    assert!(text.contains("\nstale_after: \"1d12h\"\n"), "{text}");
    assert_eq!(parse(&text).unwrap().job.stale_after, Some(129_600));
    let none = parse(LEGACY).unwrap().job;
    assert!(!emit::to_multi_yaml(&none).contains("stale_after"));

    let draft = JobDraft::from_job(&job, Some("sales")).unwrap();
    assert_eq!(draft.stale_after, Some(129_600));
    assert_eq!(draft.to_job().unwrap().stale_after, Some(129_600));
    // The front end need not send it.
    let mut json = serde_json::to_value(&draft).unwrap();
    json.as_object_mut().unwrap().remove("staleAfter").unwrap();
    let back: JobDraft = serde_json::from_value(json).unwrap();
    assert_eq!(back.stale_after, None);
}

// ---------------------------------------------------------------------------------------
// The command line, against the emulator, with its own data and config folders.
// ---------------------------------------------------------------------------------------

use std::process::{Command, Stdio};
use std::time::Duration;

use common::Env;
use fliplet_agent::history::{History, Outcome, Trigger};

/// The binary with temporary XDG folders (the app's jobs folder and run history).
struct Cli {
    config: tempfile::TempDir,
    data: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli {
            config: tempfile::tempdir().unwrap(),
            data: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fliplet-agent"));
        c.env_remove("FLIPLET_API_URL")
            .env_remove("FLIPLET_LOG")
            .env("FLIPLET_AGENT_LOG", "off")
            .env("FLIPLET_RETRY_BASE_MS", "10")
            .env("XDG_CONFIG_HOME", self.config.path())
            .env("XDG_DATA_HOME", self.data.path())
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().expect("the binary runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn jobs_dir(&self) -> std::path::PathBuf {
        let d = self.config.path().join("fliplet-agent/jobs");
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    async fn history(&self) -> History {
        History::open(&self.data.path().join("fliplet-agent/history.sqlite"))
            .await
            .unwrap()
    }
}

/// A multi-operation job pushing one inline row; `extra` goes at the top level.
fn rows_job(env: &Env, extra: &str, op_extra: &str) -> String {
    format!(
        "auth_token: {}\napi_url: {}\nlog_verbosity: debug\n{extra}\noperations:\n  - type: push\n    source: {{type: rows, rows: [{{id: 1, email: ann@acme.test}}]}}\n    datasource_id: {}\n    primary_column: id\n{op_extra}",
        env.basic.token,
        env.emu.url(),
        env.ds()
    )
}

fn path_id(p: &Path) -> String {
    std::fs::canonicalize(p).unwrap().display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_records_its_runs_in_the_apps_history_with_secrets_redacted() {
    let env = Env::new().await;
    let cli = Cli::new();
    // The on_sync command prints the token: its output reaches the log, not the history.
    let job = env.dir.path().join("once.yml");
    std::fs::write(
        &job,
        rows_job(
            &env,
            "sync_on_init: true",
            &format!("    on_sync: echo \"token {}\"\n", env.basic.token),
        ),
    )
    .unwrap();
    let (code, _, err) = cli.run(&["start", job.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("on_sync output: token {}", env.basic.token)),
        "{err}"
    );
    let (code, _, err) = cli.run(&["start", "--test", job.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");

    let h = cli.history().await;
    // A job file outside the app's jobs folder is recorded under its absolute path.
    let id = path_id(&job);
    let runs = h.runs(&id, 10).await.unwrap();
    let got: Vec<_> = runs.iter().map(|r| (r.trigger, r.outcome)).collect();
    assert_eq!(
        got,
        [
            (Trigger::DryRun, Outcome::Success),
            (Trigger::Startup, Outcome::Success)
        ]
    );
    let startup = &runs[1];
    assert_eq!(startup.job_name, "once.yml");
    assert_eq!(startup.counts.inserted, 1);
    assert_eq!(runs[0].counts.unchanged, 1);
    let logs = h.run(startup.id).await.unwrap().unwrap().logs;
    let text: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
    assert!(
        text.contains(&"on_sync output: token <redacted>"),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|l| l.contains("Sync finished")),
        "{text:#?}"
    );
    for r in &runs {
        let d = h.run(r.id).await.unwrap().unwrap();
        let all = serde_json::to_string(&d).unwrap();
        assert!(
            !all.contains(&env.basic.token),
            "the token is in the history: {all}"
        );
    }

    // A job of the app's jobs folder is recorded under its id there, as the app does; the
    // scheduled runs (every second here) are recorded one operation at a time.
    let sched = cli.jobs_dir().join("every-second.yml");
    std::fs::write(&sched, rows_job(&env, "", "    frequency: '* * * * * *'\n")).unwrap();
    let mut child = cli
        .cmd()
        .arg("start")
        .arg(&sched)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut scheduled = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        scheduled = h.runs("every-second", 10).await.unwrap();
        if scheduled
            .iter()
            .filter(|r| r.outcome == Outcome::Success)
            .count()
            >= 2
        {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let ok: Vec<_> = scheduled
        .iter()
        .filter(|r| r.outcome == Outcome::Success)
        .collect();
    assert!(ok.len() >= 2, "{scheduled:#?}");
    assert!(
        ok.iter()
            .all(|r| r.trigger == Trigger::Scheduled && r.operation == Some(0)),
        "{scheduled:#?}"
    );
}
