//! Running the `fliplet-agent` binary from async tests against a numbered SQLite table
//! (`t`: `id`, `name` = `row <id>`) and an emulator.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use fliplet_emulator::Emulator;
use tokio::process::Command;

use super::{sqlite_exec, unique};

/// The binary with a quiet environment and its data folder (`XDG_DATA_HOME`) at `data_home`.
/// Async, so that waiting for it never blocks the emulator running in the same runtime.
pub fn agent_cmd(data_home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fliplet-agent"));
    c.env_remove("FLIPLET_API_URL")
        .env_remove("FLIPLET_LOG")
        .env("FLIPLET_AGENT_LOG", "off")
        .env("FLIPLET_RETRY_BASE_MS", "10")
        .env("XDG_DATA_HOME", data_home)
        .stdin(Stdio::null());
    c
}

/// Exit code and everything the command printed.
pub async fn output(c: &mut Command) -> (i32, String) {
    let out = c.output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// An SQLite file in `dir` with table `t` holding the rows 1 to `n`.
pub async fn numbered_rows(dir: &Path, n: usize) -> PathBuf {
    let ids = 1..=n;
    let path = dir.join(format!("{}.sqlite", unique("src")));
    let mut sql = String::from("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);\n");
    if !ids.is_empty() {
        let values: Vec<String> = ids.map(|i| format!("({i}, 'row {i}')")).collect();
        sql.push_str(&format!("INSERT INTO t VALUES {};", values.join(",")));
    }
    sqlite_exec(&path, &sql).await;
    path
}

/// A job file pushing `t` (keyed on `id`) from `db` into data source `ds`, plus `extra` keys.
pub fn numbered_job(
    dir: &Path,
    emu: &Emulator,
    token: &str,
    ds: u64,
    db: &Path,
    extra: &str,
) -> PathBuf {
    let path = dir.join(format!("{}.yml", unique("job")));
    std::fs::write(
        &path,
        format!(
            "auth_token: {token}\napi_url: {}\ndatasource_id: {ds}\ndatabase_driver: sqlite\ndatabase_name: {}\nquery: SELECT id, name FROM t ORDER BY id\nprimary_column: id\n{extra}\n",
            emu.url(),
            db.display()
        ),
    )
    .unwrap();
    path
}

/// Entries of data source `ds` like the numbered rows (`id`, `name` = `row <id>`), for the
/// keys `keys`; their entry ids.
pub fn seed(emu: &Emulator, ds: u64, keys: std::ops::RangeInclusive<usize>) -> Vec<u64> {
    emu.insert_entries(
        ds,
        keys.map(|i| serde_json::json!({"id": i, "name": format!("row {i}")}))
            .collect(),
    )
}

/// How many commit requests the emulator received.
pub fn commits_received(emu: &Emulator) -> usize {
    emu.journal()
        .iter()
        .filter(|j| j.method == "POST" && j.path.ends_with("/commit"))
        .count()
}
