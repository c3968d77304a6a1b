//! The no-account demo: a bundled SQLite database and the Fliplet emulator, so a new user
//! sees a real sync, preview and history without a Fliplet account.

use std::path::{Path, PathBuf};

use fliplet_emulator::{Emulator, State};

use crate::config::{Job, load_job};

/// The demo's token in the emulator's demo state.
pub const DEMO_TOKEN: &str = "eu--demo-token";

/// SQL creating the demo's staff table.
pub const STAFF_SQL: &str = include_str!("../examples/demo/staff.sql");

/// A running demo: the emulator, the SQLite file and the job file.
pub struct Demo {
    pub emulator: Emulator,
    pub database: PathBuf,
    pub job_path: PathBuf,
    pub job: Job,
    pub data_source_id: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("Cannot prepare the demo in {dir}: {message}")]
    Prepare { dir: String, message: String },
}

/// Create (or recreate) the demo's SQLite database and job file in `dir`, and start the
/// emulator with its demo state on a free loopback port.
pub async fn prepare(dir: &Path) -> Result<Demo, DemoError> {
    let fail = |message: String| DemoError::Prepare {
        dir: dir.display().to_string(),
        message,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let database = dir.join("staff.sqlite");
    let _ = std::fs::remove_file(&database);
    execute_sqlite(&database, STAFF_SQL)
        .await
        .map_err(|e| fail(format!("cannot create {}: {e}", database.display())))?;

    let state = State::demo();
    let data_source_id = state
        .data_sources
        .first()
        .map(|d| d.data_source.id)
        .ok_or_else(|| fail("the emulator's demo state has no data source".into()))?;
    let emulator = Emulator::start_with_state(state).await;
    let job_path = dir.join("demo.yml");
    let yaml = format!(
        "# Demo job: pushes the staff table of a bundled SQLite file into a local Fliplet emulator.\n\
         auth_token: {DEMO_TOKEN}\n\
         api_url: {url}\n\
         datasource_id: {data_source_id}\n\
         database_driver: sqlite\n\
         database_name: {db}\n\
         description: Push staff to Fliplet (demo)\n\
         sync_on_init: true\n\
         frequency: '*/15 * * * *'\n\
         query: SELECT id, email AS \"Email\", full_name AS \"Full Name\", office AS \"Office\", role AS \"Role\", updated_at AS \"updatedAt\", deleted_at AS \"deletedAt\" FROM staff ORDER BY id\n\
         primary_column: id\n\
         timestamp_column: updatedAt\n\
         delete_column: deletedAt\n\
         mode: update\n\
         log_verbosity: info\n",
        url = emulator.url(),
        db = database.display(),
    );
    std::fs::write(&job_path, yaml).map_err(|e| fail(e.to_string()))?;
    let job = load_job(&job_path).map_err(|e| fail(e.to_string()))?.job;
    Ok(Demo {
        emulator,
        database,
        job_path,
        job,
        data_source_id,
    })
}

/// Run SQL statements against an SQLite file (created when missing).
pub async fn execute_sqlite(path: &Path, sql: &str) -> Result<(), String> {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    sqlx::raw_sql(sql)
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The demo's "someone edited the HR system" step: one row changed, one marked deleted, one
/// added.
pub const DEMO_EDITS_SQL: &str = "
UPDATE staff SET role = 'Lead Engineer', updated_at = '2024-03-08T10:30:00.000Z' WHERE id = 4;
UPDATE staff SET deleted_at = '2024-03-08T10:31:00.000Z' WHERE id = 8;
INSERT INTO staff VALUES (11, 'kara.walsh@acme.test', 'Kara Walsh', 'Dublin', 'Engineer', '2024-03-08T10:32:00.000Z', NULL);
";
