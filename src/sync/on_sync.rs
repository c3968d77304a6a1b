//! The `on_sync` command: run after an operation with a JSON summary of the run on its
//! standard input (the original's `onSync` callback, as a program instead of JavaScript).
//!
//! A list runs the program directly (no shell); a string runs through the system shell
//! (`sh -c` on Unix, `cmd /C` on Windows). The command runs in the job file's folder. Its
//! exit code, standard output and standard error go to the log. A command that fails (cannot
//! start, non-zero exit, or still running after [`TIMEOUT`]) is reported as an error of the
//! operation, but what the operation synced stays synced.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tracing::{info, warn};

use crate::config::Command;

/// How long the command may run.
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// What the command did.
#[derive(Debug, Clone, Serialize)]
pub struct OnSyncReport {
    /// The command as written in the job file.
    pub command: String,
    /// Exit code (None if it did not start, timed out, or was killed by a signal).
    pub exit_code: Option<i32>,
    /// The failure, worded for the user; None when it exited with 0.
    pub error: Option<String>,
}

fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim();
    let n = s.chars().count();
    if n > 4000 {
        format!("…{}", s.chars().skip(n - 4000).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Run `command` with `summary` (JSON) on its standard input, in `dir`.
pub async fn run(
    command: &Command,
    summary: &serde_json::Value,
    dir: Option<&Path>,
) -> OnSyncReport {
    let shown = command.display();
    let mut cmd = match command {
        Command::Argv(argv) => {
            // `./notify.sh` means the one next to the job file, whatever the agent's folder.
            let program = std::path::PathBuf::from(&argv[0]);
            let program = match dir {
                Some(d)
                    if program.is_relative()
                        && (argv[0].contains('/') || argv[0].contains('\\')) =>
                {
                    d.join(program)
                }
                _ => program,
            };
            let mut c = tokio::process::Command::new(program);
            c.args(&argv[1..]);
            c
        }
        Command::Shell(s) => {
            if cfg!(windows) {
                let mut c = tokio::process::Command::new("cmd");
                c.arg("/C").arg(s);
                c
            } else {
                let mut c = tokio::process::Command::new("sh");
                c.arg("-c").arg(s);
                c
            }
        }
    };
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    info!("Running the on_sync command: {shown}");
    let fail = |exit_code, error: String| {
        warn!("{error}");
        OnSyncReport {
            command: shown.clone(),
            exit_code,
            error: Some(error),
        }
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return fail(
                None,
                format!(
                    "The on_sync command `{shown}` could not be started: {e}. Check the program name and that it is installed (the command runs in the job file's folder)."
                ),
            );
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let body = serde_json::to_vec(summary).unwrap_or_default();
        // A command that does not read its input closes the pipe early: not an error.
        let _ = stdin.write_all(&body).await;
        let _ = stdin.shutdown().await;
    }
    let output = match tokio::time::timeout(TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return fail(None, format!("The on_sync command `{shown}` failed: {e}")),
        Err(_) => {
            return fail(
                None,
                format!(
                    "The on_sync command `{shown}` was still running after {} seconds and was stopped.",
                    TIMEOUT.as_secs()
                ),
            );
        }
    };
    let out = tail(&output.stdout);
    let err = tail(&output.stderr);
    if !out.is_empty() {
        info!("on_sync output: {out}");
    }
    if !err.is_empty() {
        warn!("on_sync error output: {err}");
    }
    let code = output.status.code();
    if output.status.success() {
        info!("The on_sync command exited with code 0.");
        OnSyncReport {
            command: shown,
            exit_code: code,
            error: None,
        }
    } else {
        fail(
            code,
            format!(
                "The on_sync command `{shown}` failed ({}){}. What the operation synced is kept.",
                match code {
                    Some(c) => format!("exit code {c}"),
                    None => "killed by a signal".into(),
                },
                if err.is_empty() {
                    String::new()
                } else {
                    format!(": {}", err.lines().last().unwrap_or(""))
                }
            ),
        )
    }
}
