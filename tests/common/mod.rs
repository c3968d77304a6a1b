//! Helpers shared by the integration tests: an emulator per test, job files in a temp dir,
//! and uniquely named tables on the real PostgreSQL and MariaDB of this machine.
//!
//! Connection settings (defaults in brackets): FLIPLET_TEST_PG_HOST [127.0.0.1],
//! FLIPLET_TEST_PG_PORT [5432], FLIPLET_TEST_PG_USER [postgres], FLIPLET_TEST_PG_DB [test];
//! FLIPLET_TEST_MYSQL_HOST [127.0.0.1], FLIPLET_TEST_MYSQL_PORT [3306],
//! FLIPLET_TEST_MYSQL_USER [root], FLIPLET_TEST_MYSQL_DB [test].
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use fliplet_agent::config::{DatabaseConfig, Driver, Job, Operation, PushSource, load_job};
use fliplet_agent::secret::Secret;
pub mod agent_cli;
pub mod proxy;

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

/// The data folder (`XDG_DATA_HOME`) for runs of the binary: `start` records its runs in the
/// desktop app's run history there, which must not be the user's own.
pub fn data_home() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

pub fn load(path: &Path) -> Job {
    match load_job(path) {
        Ok(l) => l.job,
        Err(e) => panic!("job file does not load: {e}"),
    }
}

/// The source of the job's first operation, a push.
pub fn push_source(job: &Job) -> &PushSource {
    match &job.operations[0] {
        Operation::Push(p) => &p.source,
        Operation::Pull(_) => panic!("a push"),
    }
}

/// `openssl` with `args`, run in `dir` (where relative file names are); panics with its
/// error output when it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj <subject> <extra>`: a
/// self-signed certificate `<name>.pem` and its key `<name>.key` in `dir` (OpenSSL marks it
/// `CA:TRUE`); their paths.
pub fn self_signed_certificate(
    dir: &Path,
    name: &str,
    subject: &str,
    extra: &[&str],
) -> (PathBuf, PathBuf) {
    let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
    let mut args = vec![
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", subject,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-keyout", &key, "-out", &cert]);
    openssl(dir, &args);
    (dir.join(cert), dir.join(key))
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

/// A test database as the agent's connection settings, from the `FLIPLET_TEST_<var>_*`
/// variables (`_PASSWORD` adds a password).
fn test_database(driver: Driver, var: &str, port_default: &str, user: &str) -> DatabaseConfig {
    let key = |k: &str| format!("FLIPLET_TEST_{var}_{k}");
    DatabaseConfig {
        driver,
        host: Some(env_or(&key("HOST"), "127.0.0.1")),
        port: Some(port(&key("PORT"), port_default)),
        username: Some(env_or(&key("USER"), user)),
        password: std::env::var(key("PASSWORD")).ok().map(Secret::new),
        database: Some(env_or(&key("DB"), "test")),
        domain: None,
        instance: None,
        encrypt: None,
        native_odbc: false,
    }
}

/// The test PostgreSQL as the agent's connection settings.
pub fn pg_config() -> DatabaseConfig {
    test_database(Driver::Postgres, "PG", "5432", "postgres")
}

/// `host:port` of the test PostgreSQL (for a proxy in front of it).
pub fn pg_upstream() -> String {
    address(&pg_config())
}

/// `host:port` of a test database.
fn address(c: &DatabaseConfig) -> String {
    format!(
        "{}:{}",
        c.host.as_deref().unwrap_or_default(),
        c.port.unwrap_or_default()
    )
}

fn port(key: &str, default: &str) -> u16 {
    let text = env_or(key, default);
    text.parse()
        .unwrap_or_else(|_| panic!("{key}={text} is not a port number"))
}

/// Why a test database cannot be reached, and how to fix it.
fn database_down(what: &str, c: &DatabaseConfig, e: impl std::fmt::Display) -> String {
    format!(
        "{what} must run for these tests at {}:{} (database {}, user {}): {e}. \
         Start it with `bash scripts/setup.sh` (it installs and starts PostgreSQL and MariaDB), \
         or point the FLIPLET_TEST_* variables of tests/common/mod.rs at a running server.",
        c.host.as_deref().unwrap_or_default(),
        c.port.unwrap_or_default(),
        c.database.as_deref().unwrap_or_default(),
        c.username.as_deref().unwrap_or_default(),
    )
}

fn pg_options() -> sqlx::postgres::PgConnectOptions {
    let c = pg_config();
    let mut opts = sqlx::postgres::PgConnectOptions::new()
        .host(c.host.as_deref().unwrap_or_default())
        .port(c.port.unwrap_or_default())
        .username(c.username.as_deref().unwrap_or_default())
        .database(c.database.as_deref().unwrap_or_default());
    if let Some(pw) = &c.password {
        opts = opts.password(pw.expose());
    }
    opts
}

/// A pool on the test PostgreSQL.
pub async fn pg() -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(pg_options())
        .await
        .unwrap_or_else(|e| panic!("{}", database_down("PostgreSQL", &pg_config(), e)))
}

/// One connection to the test PostgreSQL (for statements that need the same session).
pub async fn pg_conn() -> sqlx::PgConnection {
    use sqlx::ConnectOptions;
    pg_options()
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{}", database_down("PostgreSQL", &pg_config(), e)))
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

/// The test MariaDB as the agent's connection settings.
pub fn mysql_config() -> DatabaseConfig {
    test_database(Driver::Mysql, "MYSQL", "3306", "root")
}

/// `host:port` of the test MariaDB (for a proxy in front of it).
pub fn mysql_upstream() -> String {
    address(&mysql_config())
}

fn mysql_options() -> sqlx::mysql::MySqlConnectOptions {
    let c = mysql_config();
    let mut opts = sqlx::mysql::MySqlConnectOptions::new()
        .host(c.host.as_deref().unwrap_or_default())
        .port(c.port.unwrap_or_default())
        .username(c.username.as_deref().unwrap_or_default())
        .database(c.database.as_deref().unwrap_or_default());
    if let Some(pw) = &c.password {
        opts = opts.password(pw.expose());
    }
    opts
}

/// A pool on the test MariaDB.
pub async fn mysql() -> sqlx::MySqlPool {
    sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(2)
        .connect_with(mysql_options())
        .await
        .unwrap_or_else(|e| panic!("{}", database_down("MariaDB", &mysql_config(), e)))
}

/// One connection to the test MariaDB (for statements that need the same session).
pub async fn mysql_conn() -> sqlx::MySqlConnection {
    use sqlx::ConnectOptions;
    mysql_options()
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{}", database_down("MariaDB", &mysql_config(), e)))
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

// ---------- Multi-operation job files ----------

impl Env {
    /// The shared settings of a multi-operation job file pointing at this env's emulator.
    pub fn multi_header(&self) -> String {
        format!(
            "auth_token: {}\napi_url: {}\nlog_verbosity: debug\n",
            self.basic.token,
            self.emu.url()
        )
    }

    /// Write `text` to `name` in the env's temp dir and load it.
    pub fn multi_job(&self, name: &str, text: &str) -> (Job, PathBuf) {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        (load(&path), path)
    }
}

pub fn pg_connection_yaml() -> String {
    format!(
        "driver: postgres\n    host: {}\n    port: {}\n    username: {}\n    name: {}",
        env_or("FLIPLET_TEST_PG_HOST", "127.0.0.1"),
        env_or("FLIPLET_TEST_PG_PORT", "5432"),
        env_or("FLIPLET_TEST_PG_USER", "postgres"),
        env_or("FLIPLET_TEST_PG_DB", "test"),
    )
}

pub fn mysql_connection_yaml() -> String {
    format!(
        "driver: mysql\n    host: {}\n    port: {}\n    username: {}\n    name: {}",
        env_or("FLIPLET_TEST_MYSQL_HOST", "127.0.0.1"),
        env_or("FLIPLET_TEST_MYSQL_PORT", "3306"),
        env_or("FLIPLET_TEST_MYSQL_USER", "root"),
        env_or("FLIPLET_TEST_MYSQL_DB", "test"),
    )
}

/// A local HTTP server for HTTP-source tests. Every request is recorded as
/// `METHOD path?query [header-check]`.
pub mod http_server {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::{Path, Query, State};
    use axum::http::{HeaderMap, StatusCode, Uri};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use serde_json::{Value, json};

    #[derive(Clone, Default)]
    pub struct Seen(pub Arc<Mutex<Vec<String>>>);

    pub struct Server {
        pub url: String,
        pub seen: Seen,
    }

    impl Server {
        pub fn requests(&self) -> Vec<String> {
            self.seen.0.lock().unwrap().clone()
        }
    }

    /// Seven todos, like jsonplaceholder's (with an `updatedAt`).
    pub fn todos() -> Vec<Value> {
        (1..=7)
            .map(|i| {
                json!({"id": i, "title": format!("todo {i}"), "completed": i % 2 == 0, "updatedAt": "2024-03-01T10:00:00.000Z"})
            })
            .collect()
    }

    fn record(seen: &Seen, uri: &Uri) {
        seen.0.lock().unwrap().push(format!("GET {uri}"));
    }

    async fn todos_route(
        State(seen): State<Seen>,
        uri: Uri,
        headers: HeaderMap,
        Query(q): Query<HashMap<String, String>>,
    ) -> Response {
        record(&seen, &uri);
        // The header check: the API key must be sent.
        if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some("k-123") {
            return (StatusCode::UNAUTHORIZED, "{\"error\":\"missing API key\"}").into_response();
        }
        let all = todos();
        let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
        let limit: usize = q
            .get("limit")
            .and_then(|v| v.parse().ok())
            .unwrap_or(all.len());
        let page: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
        axum::Json(json!({"data": {"items": page}})).into_response()
    }

    async fn plain_todos(State(seen): State<Seen>, uri: Uri) -> Response {
        record(&seen, &uri);
        axum::Json(Value::Array(todos())).into_response()
    }

    async fn pages(State(seen): State<Seen>, uri: Uri, Path(n): Path<usize>) -> Response {
        record(&seen, &uri);
        let all = todos();
        let page: Vec<Value> = all.into_iter().skip((n - 1) * 3).take(3).collect();
        let next = if n < 3 {
            json!(format!("/pages/{}", n + 1))
        } else {
            Value::Null
        };
        axum::Json(json!({"results": page, "links": {"next": next}})).into_response()
    }

    async fn sharepoint(
        State(seen): State<Seen>,
        uri: Uri,
        headers: HeaderMap,
        Query(q): Query<HashMap<String, String>>,
    ) -> Response {
        record(&seen, &uri);
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sp-token") {
            return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
        }
        let skip: usize = q.get("skip").and_then(|v| v.parse().ok()).unwrap_or(0);
        let items: Vec<Value> = (1..=5)
            .map(|i| json!({"ID": i, "Title": format!("Item {i}"), "__metadata": {"type": "SP.Data.ListItem"}}))
            .collect();
        let page: Vec<Value> = items.into_iter().skip(skip).take(2).collect();
        let mut d = json!({"results": page});
        if skip + 2 < 5 {
            d["__next"] = json!(format!(
                "/sites/demo/_api/web/lists/getbytitle('Staff')/items?skip={}",
                skip + 2
            ));
        }
        axum::Json(json!({"d": d})).into_response()
    }

    async fn html(State(seen): State<Seen>, uri: Uri) -> Response {
        record(&seen, &uri);
        (
            [(axum::http::header::CONTENT_TYPE, "text/html")],
            "<html><body>Login</body></html>",
        )
            .into_response()
    }

    async fn object(State(seen): State<Seen>, uri: Uri) -> Response {
        record(&seen, &uri);
        axum::Json(json!({"data": {"count": 2}})).into_response()
    }

    async fn fail(State(seen): State<Seen>, uri: Uri) -> Response {
        record(&seen, &uri);
        (StatusCode::INTERNAL_SERVER_ERROR, "database down").into_response()
    }

    pub async fn start() -> Server {
        let seen = Seen::default();
        let app = Router::new()
            .route("/todos", get(plain_todos))
            .route("/api/todos", get(todos_route))
            .route("/pages/{n}", get(pages))
            .route(
                "/sites/demo/_api/web/lists/getbytitle('Staff')/items",
                get(sharepoint),
            )
            .route("/html", get(html))
            .route("/object", get(object))
            .route("/fail", get(fail))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server {
            url: format!("http://{addr}"),
            seen,
        }
    }
}
