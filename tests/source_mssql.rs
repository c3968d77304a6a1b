//! SQL Server source over TDS, against a test server (no SQL Server runs here): Microsoft's
//! `mssql-mock-tds` with the thin layer of `tests/tds` (login check, every column type,
//! several result sets, errors after rows, large results, TLS relabelling, SQL Browser).
//!
//! Every test goes through the agent's own path: the job file loaded by the loader, then
//! `source::fetch_source` (what a push runs) or a whole `api::run_job` with a real push into
//! the Fliplet emulator, or the `fliplet-agent` binary itself when the test needs its own
//! environment (the TLS tests set the trust store through `SSL_CERT_FILE`).

mod common;
mod tds;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use fliplet_agent::api::run_job;
use fliplet_agent::config::{Job, Operation};
use fliplet_agent::source::{self, SourceError, Table};
use mssql_mock_tds::{
    ColumnDefinition, ColumnValue, MockTdsServer, QueryResponse, Row, SqlDataType, TerminalError,
};
use serde_json::{Value, json};
use tds::*;

const USER: &str = "sync";
const PASSWORD: &str = "s3cr3t-pw-XYZ";

/// The `database_*` block of a job for a server at `host:port`.
fn mssql_yaml(host: impl std::fmt::Display, port: u16, extra: &str) -> String {
    format!(
        "database_driver: mssql\ndatabase_host: {host}\ndatabase_port: {port}\n\
         database_username: {USER}\ndatabase_password: {PASSWORD}\ndatabase_name: sales\n{extra}"
    )
}

/// The rows of the job's push source, through the function a run uses.
async fn fetch(job: &Job) -> Result<Table, SourceError> {
    let Operation::Push(op) = &job.operations[0] else {
        panic!("a push job")
    };
    source::fetch_source(job.database.as_ref(), &op.source).await
}

/// Two staff rows: id (int), name (nvarchar).
fn staff() -> Reply {
    Reply::set(
        vec![col("id", Ty::IntN(4)), col("name", Ty::NVarChar(50))],
        vec![vec![V::Int(1), s("Ann")], vec![V::Int(2), s("Bob")]],
    )
}

const STAFF: &str = "SELECT id, name FROM dbo.staff ORDER BY id";

fn staff_entries() -> Vec<Value> {
    vec![
        json!({"id": 1, "name": "Ann"}),
        json!({"id": 2, "name": "Bob"}),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_login_is_accepted_and_rows_are_pushed() {
    let env = Env::new().await;
    let server = TdsServer::start(USER, PASSWORD).await;
    server.reply(STAFF, staff());
    let job = env.job(
        &mssql_yaml("127.0.0.1", server.port(), ""),
        &format!("query: {STAFF}\nprimary_column: id"),
    );

    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{:?}", r.first_error());
    assert_eq!(env.data(), staff_entries());
    // The run checks the connection (SELECT 1), then runs the query: two logins, each with
    // the job's user, password, database and the agent's name.
    let logins = server.logins();
    assert_eq!(logins.len(), 2, "{logins:?}");
    for l in &logins {
        assert_eq!(l.user, USER);
        assert!(l.password_ok);
        assert_eq!(l.database.as_deref(), Some("sales"));
        assert_eq!(l.app_name, "fliplet-agent");
        assert!(!l.integrated);
    }
    assert_eq!(server.batches(), ["SELECT 1", STAFF]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_refused_with_a_clear_message_and_no_secret() {
    let env = Env::new().await;
    let server = TdsServer::start(USER, "the-right-one").await;
    server.reply(STAFF, staff());
    let job = env.job(
        &mssql_yaml("127.0.0.1", server.port(), ""),
        &format!("query: {STAFF}\nprimary_column: id"),
    );

    let r = run_job(&job, false, None).await;
    let err = r.first_error().expect("the run fails");
    assert_eq!(
        err,
        format!(
            "Unable to connect to the database (SQL Server at 127.0.0.1:{}/sales): \
             Login failed for user 'sync'. Check database_username/database_password.",
            server.port()
        )
    );
    assert!(!format!("{r:?}").contains(PASSWORD));
    assert_eq!(server.logins().len(), 1);
    assert!(!server.logins()[0].password_ok);
    assert!(server.batches().is_empty());
    assert!(env.writes().is_empty(), "{:?}", env.writes());

    // The source alone says the same (this is what the wizard shows).
    let e = fetch(&job).await.unwrap_err();
    assert!(matches!(e, SourceError::Connect { .. }), "{e:?}");
    assert!(e.to_string().contains("Login failed for user 'sync'."));
    assert!(!format!("{e:?}").contains(PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypt_true_against_a_server_without_encryption_fails_before_the_login() {
    let env = Env::new().await;
    let server = TdsServer::start(USER, PASSWORD).await;
    server.reply(STAFF, staff());
    let job = env.job(
        &mssql_yaml("127.0.0.1", server.port(), "database_encrypt: true"),
        &format!("query: {STAFF}"),
    );
    let e = fetch(&job).await.unwrap_err();
    let text = e.to_string();
    assert_eq!(
        text,
        format!(
            "Unable to connect to the database (SQL Server at 127.0.0.1:{}/sales): \
             database_encrypt is true but the server does not offer encryption. Turn on \
             encryption (a TLS certificate) on the SQL Server, or set database_encrypt: false.",
            server.port()
        )
    );
    // The password never went over the unencrypted connection.
    assert!(server.logins().is_empty());

    // encrypt false (and absent) against the same server: no TLS, the rows arrive.
    for extra in ["database_encrypt: false", ""] {
        let job = env.job(
            &mssql_yaml("127.0.0.1", server.port(), extra),
            &format!("query: {STAFF}"),
        );
        let t = fetch(&job).await.unwrap();
        assert_eq!(t.rows, [[json!(1), json!("Ann")], [json!(2), json!("Bob")]]);
    }
}

// ---------- TLS ----------

/// `openssl` as the tests use it (see tests/tls.rs).
fn openssl(dir: &Path, args: &[&str]) {
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

/// A CA, and a server certificate it signed for localhost and 127.0.0.1; plus another CA.
/// Returns (ca.pem, other-ca.pem, server.pem, server.key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    for ca in ["ca", "other-ca"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "3650",
                "-subj",
                &format!("/CN=Test {ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("other-ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// The mock in TLS mode (it answers ENCRYPT_ON, then speaks only TLS), behind the relay
/// that gives its handshake packets SQL Server's packet type.
async fn tls_server(
    cert: &Path,
    key: &Path,
) -> (
    u16,
    std::sync::Arc<tokio::sync::Mutex<mssql_mock_tds::QueryRegistry>>,
) {
    let identity = mssql_mock_tds::create_test_identity(
        &std::fs::read(cert).unwrap(),
        &std::fs::read(key).unwrap(),
    )
    .unwrap();
    let server = MockTdsServer::new_with_tls("127.0.0.1:0", Some(identity))
        .await
        .unwrap();
    let registry = server.query_registry();
    registry.lock().await.register(
        STAFF,
        QueryResponse::new(
            vec![
                ColumnDefinition::new("id", SqlDataType::Int),
                ColumnDefinition::new("name", SqlDataType::NVarChar),
            ],
            vec![
                Row::new(vec![
                    ColumnValue::Int(1),
                    ColumnValue::NVarChar("Ann".into()),
                ]),
                Row::new(vec![
                    ColumnValue::Int(2),
                    ColumnValue::NVarChar("Bob".into()),
                ]),
            ],
        ),
    );
    let inner = server.local_addr();
    tokio::spawn(server.run());
    (tls_relay(inner).await.port(), registry)
}

/// `fliplet-agent start job.yml` (one run: sync_on_init, no schedule) with the system trust
/// store replaced by `trusted` (rustls-native-certs reads `SSL_CERT_FILE`, as OpenSSL does).
async fn start_with_trust_store(job: &Path, trusted: &Path) -> (i32, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_fliplet-agent"))
            .arg("start")
            .arg(job)
            .env_remove("FLIPLET_API_URL")
            .env_remove("FLIPLET_LOG")
            .env_remove("SSL_CERT_DIR")
            .env("SSL_CERT_FILE", trusted)
            .env("FLIPLET_AGENT_LOG", "off")
            .env("FLIPLET_RETRY_BASE_MS", "10")
            .output(),
    )
    .await
    .expect("the agent finishes")
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_connections_verify_the_servers_certificate() {
    let env = Env::new().await;
    let (ca, other_ca, cert, key) = certificates(env.dir.path());
    let (port, _registry) = tls_server(&cert, &key).await;
    let rest = format!("query: {STAFF}\nprimary_column: id\nsync_on_init: true");

    // database_encrypt: true, the server's CA trusted: TLS, then the login and the rows.
    let job = env.write_job(
        "tls.yml",
        &mssql_yaml("127.0.0.1", port, "database_encrypt: true"),
        &rest,
    );
    let (code, stderr) = start_with_trust_store(&job, &ca).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(env.data(), staff_entries());

    // The same, with a trust store that does not hold the server's CA: refused before the
    // login, and the message says what to do.
    let job = env.write_job(
        "untrusted.yml",
        &mssql_yaml("127.0.0.1", port, "database_encrypt: true"),
        &rest,
    );
    let before = env.writes().len();
    let (code, stderr) = start_with_trust_store(&job, &other_ca).await;
    assert_eq!(code, 1, "{stderr}");
    println!("untrusted certificate: {stderr}");
    assert!(
        stderr.contains("certificate") && stderr.contains("UnknownIssuer"),
        "{stderr}"
    );
    assert!(stderr.contains("trust"), "{stderr}");
    assert!(!stderr.contains("Config::trust_cert"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert_eq!(env.writes().len(), before);

    // database_encrypt: false against a server that insists on encryption (it answers
    // ENCRYPT_ON): the connection is encrypted anyway, and the certificate checked.
    let job = env.write_job(
        "insists.yml",
        &mssql_yaml("127.0.0.1", port, "database_encrypt: false"),
        &rest,
    );
    let (code, stderr) = start_with_trust_store(&job, &ca).await;
    assert_eq!(code, 0, "{stderr}");
    let (code, stderr) = start_with_trust_store(&job, &other_ca).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
}

// ---------- Named instances ----------

/// A test server and a SQL Browser for `instance` on a loopback address of their own.
async fn named_instance(instance: &str) -> (IpAddr, TdsServer, SqlBrowser) {
    for _ in 0..20 {
        let ip = own_loopback();
        let server = TdsServer::start_on(ip, Some((USER, PASSWORD))).await;
        if let Ok(browser) = SqlBrowser::start(ip, instance, server.port()).await {
            return (ip, server, browser);
        }
    }
    panic!("no free loopback address for UDP 1434");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_instance_is_found_through_sql_browser() {
    let env = Env::new().await;
    let (ip, server, browser) = named_instance("SQLEXPRESS").await;
    server.reply(STAFF, staff());
    let db = format!(
        "database_driver: mssql\ndatabase_host: {ip}\ndatabase_instance: SQLEXPRESS\n\
         database_username: {USER}\ndatabase_password: {PASSWORD}\ndatabase_name: sales"
    );
    let job = env.job(&db, &format!("query: {STAFF}\nprimary_column: id"));
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{:?}", r.first_error());
    assert_eq!(env.data(), staff_entries());
    // One SSRP request (CLNT_UCAST_INST + the name) per connection: the check and the query.
    let requests = browser.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        requests.iter().all(|r| r[..] == *b"\x04SQLEXPRESS"),
        "{requests:?}"
    );
    assert_eq!(server.logins().len(), 2);

    // An instance SQL Browser does not know: it stays silent, the agent says what to check.
    let db = db.replace("SQLEXPRESS", "NOSUCH");
    let job = env.job(&db, &format!("query: {STAFF}"));
    let started = Instant::now();
    let e = fetch(&job).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    let text = e.to_string();
    println!("unknown instance: {text}");
    assert!(
        text.contains(&format!("SQL Server at {ip}\\NOSUCH")),
        "{text}"
    );
    assert!(
        text.contains("NOSUCH") && text.contains("database_instance"),
        "{text}"
    );
    assert!(text.contains("SQL Server Browser"), "{text}");
    assert_eq!(server.logins().len(), 2);
}

// ---------- Queries ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_error_is_shown_as_the_server_sent_it_and_nothing_is_written() {
    let env = Env::new().await;
    let server = TdsServer::start(USER, PASSWORD).await;
    let query = "SELECT * FROM dbo.nope";
    server.registry().lock().await.register(
        query,
        QueryResponse::error_only(TerminalError::new(
            208,
            16,
            "Invalid object name 'dbo.nope'.",
        )),
    );
    let job = env.job(
        &mssql_yaml("127.0.0.1", server.port(), ""),
        &format!("query: {query}\nprimary_column: id"),
    );
    let r = run_job(&job, false, None).await;
    assert_eq!(
        r.first_error().as_deref(),
        Some("Cannot execute database query: Invalid object name 'dbo.nope'.")
    );
    assert!(env.writes().is_empty(), "{:?}", env.writes());

    // An error after some rows (a statement failing part-way): the run fails, nothing of
    // the partial result is pushed.
    let query = "SELECT id, 10 / (2 - id) AS q FROM dbo.staff";
    server.reply(
        query,
        Reply(vec![
            Part::Set(
                vec![col("id", Ty::IntN(4)), col("q", Ty::IntN(4))],
                Rows::List(vec![vec![V::Int(1), V::Int(10)]]),
            ),
            Part::Error {
                number: 8134,
                class: 16,
                message: "Divide by zero error encountered.".into(),
            },
        ]),
    );
    let job = env.job(
        &mssql_yaml("127.0.0.1", server.port(), ""),
        &format!("query: {query}\nprimary_column: id"),
    );
    let r = run_job(&job, false, None).await;
    assert_eq!(
        r.first_error().as_deref(),
        Some("Cannot execute database query: Divide by zero error encountered.")
    );
    assert!(env.writes().is_empty(), "{:?}", env.writes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_result_keeps_its_columns() {
    let env = Env::new().await;
    let server = TdsServer::start(USER, PASSWORD).await;
    let query = "SELECT id, name FROM dbo.staff WHERE 1 = 0";
    // The mock's own result-set encoder: COLMETADATA and DONE, no rows.
    server.registry().lock().await.register(
        query,
        QueryResponse::new(
            vec![
                ColumnDefinition::new("id", SqlDataType::Int),
                ColumnDefinition::new("Full Name", SqlDataType::NVarChar),
            ],
            vec![],
        ),
    );
    let job = env.job(
        &mssql_yaml("127.0.0.1", server.port(), ""),
        &format!("query: {query}"),
    );
    let t = fetch(&job).await.unwrap();
    assert!(t.rows.is_empty());
    assert_eq!(t.column_names(), ["id", "Full Name"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_result_sets_push_the_first_one() {
    let env = Env::new().await;
    let server = TdsServer::start(USER, PASSWORD).await;
    let query =
        "UPDATE dbo.staff SET seen = 1; SELECT id, name FROM dbo.staff; SELECT 'x' AS other";
    // A row count (the UPDATE, no result set), then two result sets.
    server.reply(
        query,
        Reply(vec![
            Part::Count(3),
            Part::Set(
                vec![col("id", Ty::IntN(4)), col("name", Ty::NVarChar(50))],
                Rows::List(vec![vec![V::Int(1), s("Ann")], vec![V::Int(2), s("Bob")]]),
            ),
            Part::Set(
                vec![col("other", Ty::VarChar(1))],
                Rows::List(vec![vec![s("x")], vec![s("y")], vec![s("z")]]),
            ),
        ]),
    );
    let job = env.job(
        &mssql_yaml("127.0.0.1", server.port(), ""),
        &format!("query: \"{query}\"\nprimary_column: id"),
    );
    let t = fetch(&job).await.unwrap();
    assert_eq!(t.column_names(), ["id", "name"]);
    assert_eq!(t.rows.len(), 2);
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{:?}", r.first_error());
    assert_eq!(env.data(), staff_entries());
}

// ---------- Windows login ----------

/// `database_domain` asks for a Windows (NTLM) login, which tiberius offers only when the
/// agent runs on Windows: elsewhere the job fails with a configuration error before any
/// connection, and the password is never sent.
#[cfg(not(windows))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_windows_login_outside_windows_fails_before_connecting() {
    let env = Env::new().await;
    let server = TdsServer::start(USER, PASSWORD).await;
    server.reply(STAFF, staff());
    let job = env.job(
        &mssql_yaml("127.0.0.1", server.port(), "database_domain: CORP"),
        &format!("query: {STAFF}\nprimary_column: id"),
    );
    let r = run_job(&job, false, None).await;
    let err = r.first_error().expect("the run fails");
    println!("database_domain: {err}");
    assert!(err.contains("database_domain"), "{err}");
    assert!(err.contains("Windows"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    assert!(server.logins().is_empty());
    assert!(env.writes().is_empty());
}
