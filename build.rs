//! Records the commit the build comes from (`FLIPLET_AGENT_COMMIT`), shown by `--version`,
//! the app's About section and the log file's first line at each start. Outside a git
//! checkout (a source tarball) it is `unknown`.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn main() {
    // A packager building from a tarball may say which commit it is.
    let commit = std::env::var("FLIPLET_AGENT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=FLIPLET_AGENT_COMMIT={commit}");
    // Rebuilt when HEAD moves (a commit, a checkout), not on every file change.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!(
            "cargo:rerun-if-changed={}",
            PathBuf::from(&dir).join("HEAD").display()
        );
        if let (Some(common), Some(head)) = (
            git(&["rev-parse", "--git-common-dir"]),
            git(&["symbolic-ref", "-q", "HEAD"]),
        ) {
            let common = PathBuf::from(common);
            println!("cargo:rerun-if-changed={}", common.join(&head).display());
            println!(
                "cargo:rerun-if-changed={}",
                common.join("packed-refs").display()
            );
        }
    }
    println!("cargo:rerun-if-env-changed=FLIPLET_AGENT_COMMIT");
}
