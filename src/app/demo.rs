//! The no-account demo: a bundled SQLite database and the Fliplet emulator, so a new user
//! sees a real sync, preview and history without a Fliplet account.

use std::path::{Path, PathBuf};

#[cfg(feature = "demo")]
pub use fliplet_emulator::Emulator;
#[cfg(feature = "demo")]
use fliplet_emulator::State;

/// Built without the `demo` feature there is no emulator: no value of this type exists.
#[cfg(not(feature = "demo"))]
pub enum Emulator {}

#[cfg(not(feature = "demo"))]
impl Emulator {
    pub fn url(&self) -> String {
        match *self {}
    }

    pub fn entries(&self, _data_source_id: u64) -> Vec<()> {
        match *self {}
    }

    pub async fn shutdown(self) -> Result<(), std::io::Error> {
        match self {}
    }
}

use crate::config::Job;
#[cfg(feature = "demo")]
use crate::config::load_job;

/// The demo's token in the emulator's demo state.
pub const DEMO_TOKEN: &str = "eu--demo-token";

/// SQL creating the demo's staff table.
pub const STAFF_SQL: &str = include_str!("../../examples/demo/staff.sql");

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
    #[error(
        "This build has no built-in Fliplet emulator, so no demo (it was built without the `demo` feature)."
    )]
    Unavailable,
}

/// Create (or recreate) the demo's SQLite database and job file in `dir`, and start the
/// emulator with its demo state on a free loopback port.
#[cfg(not(feature = "demo"))]
pub async fn prepare(_dir: &Path) -> Result<Demo, DemoError> {
    Err(DemoError::Unavailable)
}

/// Create (or recreate) the demo's SQLite database and job file in `dir`, and start the
/// emulator with its demo state on a free loopback port.
#[cfg(feature = "demo")]
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
    let yaml = job_yaml(
        "# Demo job: pushes the staff table of a bundled SQLite file into a local Fliplet emulator.\n",
        DEMO_TOKEN,
        &emulator.url(),
        data_source_id,
        &database,
        true,
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
    // Through a one-connection pool: sqlx's `&mut SqliteConnection` executor future is `Send`
    // for concrete lifetimes only, and the desktop app's commands need this future `Send`.
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|e| e.to_string())?;
    let result = sqlx::raw_sql(sql)
        .execute(&pool)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    pool.close().await;
    result
}

/// The demo's "someone edited the HR system" step: one row changed, one marked deleted, one
/// added.
pub const DEMO_EDITS_SQL: &str = "
UPDATE staff SET role = 'Lead Engineer', updated_at = '2024-03-08T10:30:00.000Z' WHERE id = 4;
UPDATE staff SET deleted_at = '2024-03-08T10:31:00.000Z' WHERE id = 8;
INSERT INTO staff VALUES (11, 'kara.walsh@acme.test', 'Kara Walsh', 'Dublin', 'Engineer', '2024-03-08T10:32:00.000Z', NULL);
";

/// Job id (and file stem) of the desktop app's demo job.
pub const APP_DEMO_ID: &str = "demo";

/// The desktop app's demo: the job `demo.yml` in `jobs_dir` (its token kept in `store`
/// and referenced as `keychain:fliplet-agent/demo/auth_token`), its SQLite database in
/// `<data_dir>/demo/`, and the emulator started on a free loopback port with its state saved
/// in `<data_dir>/demo/emulator-state.json` (so synced entries survive a restart). When the
/// job exists already, only its `api_url` is pointed at the new port. Returns the running
/// emulator and the job file.
#[cfg(not(feature = "demo"))]
pub async fn app_demo(
    _jobs_dir: &Path,
    _data_dir: &Path,
    _store: &crate::secret_store::SecretStore,
) -> Result<(Emulator, PathBuf), DemoError> {
    Err(DemoError::Unavailable)
}

/// See the other `app_demo`: this one runs the emulator.
#[cfg(feature = "demo")]
pub async fn app_demo(
    jobs_dir: &Path,
    data_dir: &Path,
    store: &crate::secret_store::SecretStore,
) -> Result<(Emulator, PathBuf), DemoError> {
    let dir = data_dir.join("demo");
    let fail = |message: String| DemoError::Prepare {
        dir: dir.display().to_string(),
        message,
    };
    std::fs::create_dir_all(&dir).map_err(|e| fail(e.to_string()))?;
    std::fs::create_dir_all(jobs_dir).map_err(|e| fail(e.to_string()))?;
    let database = dir.join("staff.sqlite");
    if !database.exists() {
        execute_sqlite(&database, STAFF_SQL)
            .await
            .map_err(|e| fail(format!("cannot create {}: {e}", database.display())))?;
    }
    let state_file = dir.join("emulator-state.json");
    let state = if state_file.exists() {
        State::load(&state_file).map_err(|e| fail(format!("{}: {e}", state_file.display())))?
    } else {
        State::demo()
    };
    let data_source_id = state
        .data_sources
        .first()
        .map(|d| d.data_source.id)
        .ok_or_else(|| fail("the emulator's demo state has no data source".into()))?;
    let emulator = Emulator::serve(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        state,
        Some(state_file),
    )
    .await
    .map_err(|e| fail(format!("cannot start the emulator: {e}")))?;

    let token_name = format!("{}/{APP_DEMO_ID}/auth_token", crate::secret_store::SERVICE);
    if store.get(&token_name).is_err() {
        store
            .set(&token_name, &crate::secret::Secret::new(DEMO_TOKEN))
            .map_err(|e| fail(e.to_string()))?;
    }
    let job_path = jobs_dir.join(format!("{APP_DEMO_ID}.yml"));
    let url = emulator.url();
    if job_path.exists() && !crate::app::jobs::is_demo(&job_path) {
        return Err(fail(format!(
            "{} exists and is not the demo job; rename it to try the demo",
            job_path.display()
        )));
    }
    // Every demo job (the demo, and copies of it that keep its first line) talks to this
    // emulator: point their api_url at its new port.
    for job in crate::app::jobs::list(jobs_dir)
        .into_iter()
        .filter(|j| j.demo)
    {
        let old = std::fs::read_to_string(&job.path).map_err(|e| fail(e.to_string()))?;
        let mut out = String::with_capacity(old.len());
        for line in old.split_inclusive('\n') {
            if line.starts_with("api_url:") {
                out.push_str(&format!("api_url: {url}\n"));
            } else {
                out.push_str(line);
            }
        }
        if out != old {
            std::fs::write(&job.path, out).map_err(|e| fail(e.to_string()))?;
        }
    }
    if job_path.exists() {
        return Ok((emulator, job_path));
    }
    let header = format!(
        "{}\n\
         # Pushes the staff table of a bundled SQLite file into the Fliplet API emulator that\n\
         # the app starts on a free loopback port (api_url is updated at each start).\n",
        crate::app::jobs::DEMO_MARKER
    );
    let text = job_yaml(
        &header,
        &format!("keychain:{token_name}"),
        &url,
        data_source_id,
        &database,
        false,
    );
    std::fs::write(&job_path, text).map_err(|e| fail(e.to_string()))?;
    Ok((emulator, job_path))
}

/// The demo job file (single-operation format) after the comment lines `header`.
#[cfg(feature = "demo")]
fn job_yaml(
    header: &str,
    auth_token: &str,
    url: &str,
    data_source_id: u64,
    database: &Path,
    sync_on_init: bool,
) -> String {
    format!(
        "{header}\
         auth_token: {auth_token}\n\
         api_url: {url}\n\
         datasource_id: {data_source_id}\n\
         database_driver: sqlite\n\
         database_name: {db}\n\
         description: Push staff to Fliplet (demo)\n\
         sync_on_init: {sync_on_init}\n\
         frequency: '*/15 * * * *'\n\
         query: SELECT id, email AS \"Email\", full_name AS \"Full Name\", office AS \"Office\", role AS \"Role\", updated_at AS \"updatedAt\", deleted_at AS \"deletedAt\" FROM staff ORDER BY id\n\
         primary_column: id\n\
         timestamp_column: updatedAt\n\
         delete_column: deletedAt\n\
         mode: update\n\
         log_verbosity: info\n",
        db = database.display(),
    )
}
