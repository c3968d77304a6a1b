//! Helpers shared by the integration tests: an emulator per test, job files in a temp dir,
//! and uniquely named tables on the real PostgreSQL and MariaDB of this machine.
//!
//! Connection settings (defaults in brackets): FLIPLET_TEST_PG_HOST [127.0.0.1],
//! FLIPLET_TEST_PG_PORT [5432], FLIPLET_TEST_PG_USER [postgres], FLIPLET_TEST_PG_DB [test];
//! FLIPLET_TEST_MYSQL_HOST [127.0.0.1], FLIPLET_TEST_MYSQL_PORT [3306],
//! FLIPLET_TEST_MYSQL_USER [root], FLIPLET_TEST_MYSQL_DB [test].
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use fliplet_agent::config::{Job, load_job};
use fliplet_emulator::{Basic, Emulator};
use serde_json::Value;

pub fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

/// A name no other test (or test run) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        rand::random::<u32>()
    )
}

pub struct Env {
    pub emu: Emulator,
    pub basic: Basic,
    pub dir: tempfile::TempDir,
}

impl Env {
    pub async fn new() -> Env {
        let emu = Emulator::start().await;
        let basic = emu.setup_basic();
        Env {
            emu,
            basic,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn ds(&self) -> u64 {
        self.basic.data_source_id
    }

    /// Data of every entry of the test data source, in id order.
    pub fn data(&self) -> Vec<Value> {
        self.emu
            .entries(self.ds())
            .into_iter()
            .map(|e| e.data)
            .collect()
    }

    /// Write a job file: the connection block, then `rest` (query, keys, options).
    pub fn write_job(&self, name: &str, database: &str, rest: &str) -> PathBuf {
        let text = format!(
            "auth_token: {}\napi_url: {}\ndatasource_id: {}\nlog_verbosity: debug\n{database}\n{rest}\n",
            self.basic.token,
            self.emu.url(),
            self.ds()
        );
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn job(&self, database: &str, rest: &str) -> Job {
        let path = self.write_job(&format!("{}.yml", unique("job")), database, rest);
        load(&path)
    }

    /// Requests that write (anything but GET) to data sources or media.
    pub fn writes(&self) -> Vec<String> {
        self.emu
            .journal()
            .into_iter()
            .filter(|j| j.method != "GET")
            .map(|j| format!("{} {}", j.method, j.path))
            .collect()
    }

    pub fn commits(&self) -> Vec<Value> {
        self.emu
            .journal()
            .into_iter()
            .filter(|j| j.method == "POST" && j.path.ends_with("/commit"))
            .map(|j| j.body.unwrap_or(Value::Null))
            .collect()
    }
}

pub fn load(path: &Path) -> Job {
    match load_job(path) {
        Ok(l) => l.job,
        Err(e) => panic!("job file does not load: {e}"),
    }
}

// ---------- PostgreSQL ----------

pub fn pg_yaml() -> String {
    format!(
        "database_driver: postgres\ndatabase_host: {}\ndatabase_port: {}\ndatabase_username: {}\ndatabase_name: {}",
        env_or("FLIPLET_TEST_PG_HOST", "127.0.0.1"),
        env_or("FLIPLET_TEST_PG_PORT", "5432"),
        env_or("FLIPLET_TEST_PG_USER", "postgres"),
        env_or("FLIPLET_TEST_PG_DB", "test"),
    )
}

pub async fn pg() -> sqlx::PgPool {
    let url = format!(
        "postgres://{}@{}:{}/{}",
        env_or("FLIPLET_TEST_PG_USER", "postgres"),
        env_or("FLIPLET_TEST_PG_HOST", "127.0.0.1"),
        env_or("FLIPLET_TEST_PG_PORT", "5432"),
        env_or("FLIPLET_TEST_PG_DB", "test"),
    );
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .expect("PostgreSQL must run on this machine (see .ci/run)")
}

pub async fn pg_exec(pool: &sqlx::PgPool, sql: &str) {
    sqlx::raw_sql(sql)
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

// ---------- MariaDB / MySQL ----------

pub fn mysql_yaml() -> String {
    format!(
        "database_driver: mysql\ndatabase_host: {}\ndatabase_port: {}\ndatabase_username: {}\ndatabase_name: {}",
        env_or("FLIPLET_TEST_MYSQL_HOST", "127.0.0.1"),
        env_or("FLIPLET_TEST_MYSQL_PORT", "3306"),
        env_or("FLIPLET_TEST_MYSQL_USER", "root"),
        env_or("FLIPLET_TEST_MYSQL_DB", "test"),
    )
}

pub async fn mysql() -> sqlx::MySqlPool {
    let url = format!(
        "mysql://{}@{}:{}/{}",
        env_or("FLIPLET_TEST_MYSQL_USER", "root"),
        env_or("FLIPLET_TEST_MYSQL_HOST", "127.0.0.1"),
        env_or("FLIPLET_TEST_MYSQL_PORT", "3306"),
        env_or("FLIPLET_TEST_MYSQL_DB", "test"),
    );
    sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .expect("MariaDB must run on this machine (see .ci/run)")
}

pub async fn mysql_exec(pool: &sqlx::MySqlPool, sql: &str) {
    sqlx::raw_sql(sql)
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

// ---------- SQLite ----------

/// Create an SQLite file in the env's temp dir with `sql` run in it; returns the YAML block.
pub async fn sqlite(env: &Env, sql: &str) -> (String, PathBuf) {
    let path = env.dir.path().join(format!("{}.sqlite", unique("db")));
    sqlite_exec(&path, sql).await;
    (
        format!("database_driver: sqlite\ndatabase_name: {}", path.display()),
        path,
    )
}

pub async fn sqlite_exec(path: &Path, sql: &str) {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}
