//! Where the app and the CLI keep their files, shared so that a job saved by the desktop app
//! runs unchanged with `fliplet-agent start <file>` on the same machine.
//!
//! | what | Linux | macOS | Windows |
//! | --- | --- | --- | --- |
//! | job files ([`jobs_dir`]) | `~/.config/fliplet-agent/jobs/` | `~/Library/Application Support/fliplet-agent/jobs/` | `%APPDATA%\fliplet-agent\jobs\` |
//! | run history, sealed secrets, demo ([`data_dir`]) | `~/.local/share/fliplet-agent/` | `~/Library/Application Support/fliplet-agent/` | `%APPDATA%\fliplet-agent\` |
//!
//! The XDG variables (`XDG_CONFIG_HOME`, `XDG_DATA_HOME`) move them on Linux, which is how
//! the tests keep away from the real user's files.

use std::path::PathBuf;

/// Folder name under the OS config and data folders.
pub const APP_DIR_NAME: &str = "fliplet-agent";

fn home() -> PathBuf {
    dirs::home_dir().unwrap_or_else(|| PathBuf::from("."))
}

/// The app's config folder (holds `jobs/`).
pub fn config_dir() -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(|| home().join(".config"))
        .join(APP_DIR_NAME)
}

/// The folder of job files.
pub fn jobs_dir() -> PathBuf {
    config_dir().join("jobs")
}

/// The app's data folder: run history, sealed-secrets fallback, demo files.
pub fn data_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| home().join(".local/share"))
        .join(APP_DIR_NAME)
}
