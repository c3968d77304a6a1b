//! The stale-data watchdog: the `stale_after` key in both job formats, and the command line
//! (`fliplet-agent start` records its runs in the app's run history; `fliplet-agent status`
//! reads them), run as a user runs it against the Fliplet emulator.

mod common;

use std::path::Path;

use fliplet_agent::app::wizard::JobDraft;
use fliplet_agent::config::{emit, parse_job};

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
use fliplet_agent::app::history::{History, Outcome, Trigger};
use serde_json::Value;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_every_job_and_exits_3_when_one_is_stale() {
    let env = Env::new().await;
    let cli = Cli::new();
    let (code, out, err) = cli.run(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("No jobs: the jobs folder "), "{out}");

    let jobs = cli.jobs_dir();
    // Fresh: succeeded just now, stale after an hour.
    let fresh = jobs.join("fresh.yml");
    std::fs::write(
        &fresh,
        rows_job(&env, "sync_on_init: true\nstale_after: 1h", ""),
    )
    .unwrap();
    // Scheduled every 15 minutes, never run: counts from now (its file was just written).
    let never = jobs.join("never.yml");
    std::fs::write(
        &never,
        rows_job(&env, "", "    frequency: '*/15 * * * *'\n"),
    )
    .unwrap();
    std::fs::write(jobs.join("broken.yml"), "auth_token: [\n").unwrap();
    // Outside the jobs folder: run once by `start`, stale 2 seconds later.
    let late = env.dir.path().join("late.yml");
    std::fs::write(
        &late,
        rows_job(&env, "sync_on_init: true\nstale_after: 2s", ""),
    )
    .unwrap();
    for job in [&fresh, &late] {
        let (code, _, err) = cli.run(&["start", job.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let (code, out, err) = cli.run(&["status"]);
    assert_eq!(code, 3, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("JOB ")
            && ["LAST SUCCESS", "LAST FAILURE", "NEXT RUN"]
                .iter()
                .all(|h| lines[0].contains(h))
            && lines[0].ends_with("STATE"),
        "{out}"
    );
    let row = |name: &str| {
        *lines
            .iter()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row:\n{out}"))
    };
    assert!(row("broken.yml").ends_with("INVALID"), "{out}");
    assert!(row("fresh.yml").ends_with(" ok"), "{out}");
    let never_row = row("never.yml");
    assert!(
        never_row.contains("never") && never_row.ends_with(" ok"),
        "{out}"
    );
    let late_id = path_id(&late);
    assert!(row(&late_id).ends_with("STALE"), "{out}");
    let stale_line = lines[lines.iter().position(|l| l.starts_with(&late_id)).unwrap() + 1];
    assert!(
        stale_line.starts_with("    No successful run for ")
            && stale_line.contains(" seconds — last success "),
        "{out}"
    );

    let (code, out, _) = cli.run(&["status", "--json"]);
    assert_eq!(code, 3);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["stale"], 1);
    let jobs_json = v["jobs"].as_array().unwrap();
    let ids: Vec<&str> = jobs_json
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["broken", "fresh", "never", late_id.as_str()]);
    let late_json = &jobs_json[3];
    assert_eq!(late_json["stale"], true);
    assert_eq!(late_json["stale_after"], "2s");
    assert_eq!(late_json["last_success"]["trigger"], "startup");
    assert_eq!(late_json["last_failure"], Value::Null);
    assert!(
        late_json["freshness"]["message"]
            .as_str()
            .unwrap()
            .starts_with("No successful run for ")
    );
    let never_json = &jobs_json[2];
    assert_eq!(never_json["last_success"], Value::Null);
    assert!(never_json["next_run"].is_string());
    assert_eq!(never_json["freshness"]["stale"], false);

    // Named files only; a failed run shows with its error, and a stale job stays stale.
    let (code, out, _) = cli.run(&["status", fresh.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.lines().count(), 2, "{out}");
    let text = std::fs::read_to_string(&late).unwrap();
    std::fs::write(&late, text.replace(&env.basic.token, "eu--revoked")).unwrap();
    let (code, _, _) = cli.run(&["start", late.to_str().unwrap()]);
    assert_eq!(code, 1);
    let (code, out, _) = cli.run(&["status", late.to_str().unwrap()]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("    last error: "), "{out}");
    assert!(!out.contains("eu--revoked"), "{out}");
    let (code, _, err) = cli.run(&["status", "/nonexistent/job.yml"]);
    assert_eq!(code, 2, "{err}");
}

/// The desktop app's watchdog (what its timer runs): a stale job is notified once per stale
/// episode, also across a restart (or a handoff between the app's processes); a successful
/// run ends the episode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_notifies_a_stale_job_once_per_episode() {
    use fliplet_agent::app::agent::{Agent, AgentEvent, STALE_NOTIFIED_FILE};
    use fliplet_agent::log::LogCapture;
    use fliplet_agent::secret_store::SecretStore;

    let env = Env::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let (jobs, data) = (tmp.path().join("jobs"), tmp.path().join("data"));
    std::fs::create_dir_all(&jobs).unwrap();
    std::fs::write(
        jobs.join("late.yml"),
        rows_job(&env, "stale_after: 2s", "    frequency: '0 0 1 1 *'\n"),
    )
    .unwrap();
    let open = || async {
        Agent::open(
            &jobs,
            &data,
            SecretStore::sealed_file(&data),
            LogCapture::new(),
        )
        .await
        .unwrap()
    };
    let agent = open().await;
    let mut events = agent.subscribe();
    let run = agent.run_job("late", Trigger::Manual).await.unwrap();
    assert_eq!(run.run.outcome, Outcome::Success, "{:?}", run.run.error);
    assert!(agent.check_stale().await.unwrap().is_empty());
    let status = &agent.jobs().await.unwrap()[0];
    assert!(!status.freshness.as_ref().unwrap().stale);

    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(agent.check_stale().await.unwrap(), ["late"]);
    let status = &agent.jobs().await.unwrap()[0];
    let f = status.freshness.as_ref().unwrap();
    assert!(f.stale);
    assert_eq!(f.last_success, run.run.finished_at);
    let stale_event = loop {
        match events.try_recv().unwrap() {
            AgentEvent::JobStale {
                job,
                job_name,
                message,
            } => break (job, job_name, message),
            _ => continue,
        }
    };
    assert_eq!(stale_event.0, "late");
    assert_eq!(stale_event.1, "late.yml");
    assert!(
        stale_event
            .2
            .starts_with("No successful run for 2 seconds — last success "),
        "{}",
        stale_event.2
    );
    // Once per episode, also after a restart.
    assert!(agent.check_stale().await.unwrap().is_empty());
    agent.shutdown().await;
    drop(agent);
    let agent = open().await;
    assert!(agent.check_stale().await.unwrap().is_empty());
    assert!(
        agent.jobs().await.unwrap()[0]
            .freshness
            .as_ref()
            .unwrap()
            .stale
    );

    // A success ends the episode; the next one is notified again.
    agent.run_job("late", Trigger::Manual).await.unwrap();
    assert!(agent.check_stale().await.unwrap().is_empty());
    assert_eq!(
        std::fs::read_to_string(data.join(STALE_NOTIFIED_FILE)).unwrap(),
        "[]"
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(agent.check_stale().await.unwrap(), ["late"]);
    assert!(agent.check_stale().await.unwrap().is_empty());
}
