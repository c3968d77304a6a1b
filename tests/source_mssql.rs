//! SQL Server source over TDS, against a test server (no SQL Server runs here): Microsoft's
//! `mssql-mock-tds` with the thin layer of `tests/tds` (login check, every column type,
//! several result sets, errors after rows, large results, TLS relabelling, SQL Browser).
//!
//! Every test goes through the agent's own path: the job file loaded by the loader, then
//! `source::fetch_source` (what a push runs) or a whole `sync::run::run_job` with a real push into
//! the Fliplet emulator, or the `fliplet-agent` binary itself when the test needs its own
//! environment (the TLS tests set the trust store through `SSL_CERT_FILE`).

mod common;
mod tds;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::agent_cli::*;
use common::*;
use fliplet_agent::config::{Job, Operation};
use fliplet_agent::source::{self, SourceError, Table};
use fliplet_agent::sync::run::run_job;
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
    source::fetch_source(&op.source).await
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

/// A CA, and a server certificate it signed for localhost and 127.0.0.1; plus another CA.
/// Returns (ca.pem, other-ca.pem, server.pem, server.key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    for ca in ["ca", "other-ca"] {
        self_signed_certificate(dir, ca, &format!("/CN=Test {ca}"), &[]);
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
/// store replaced by `trusted` (rustls-native-certs reads `SSL_CERT_FILE`, as OpenSSL does):
/// its exit code and what it printed.
async fn start_with_trust_store(job: &Path, trusted: &Path) -> (i32, String) {
    let mut start = agent_cmd(data_home());
    start
        .arg("start")
        .arg(job)
        .env_remove("SSL_CERT_DIR")
        .env("SSL_CERT_FILE", trusted);
    tokio::time::timeout(Duration::from_secs(60), output(&mut start))
        .await
        .expect("the agent finishes")
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

// ---------- Every column type ----------

/// One column of the type test: its type, two values, and what the original agent (tedious
/// 2.7.1 + `JSON.stringify`) sent for them; `ours` where this agent deliberately sends
/// something else (see docs/type-mapping.md).
struct TypeCase {
    name: &'static str,
    ty: Ty,
    values: [V; 2],
    original: [Value; 2],
    ours: Option<[Value; 2]>,
    /// The third row's value: NULL for the nullable types; NOT NULL columns hold `V`.
    null_row: Option<(V, Value)>,
}

fn case(name: &'static str, ty: Ty, values: [V; 2], original: [Value; 2]) -> TypeCase {
    TypeCase {
        name,
        ty,
        values,
        original,
        ours: None,
        null_row: None,
    }
}

fn buffer(bytes: &[u8]) -> Value {
    json!({"type": "Buffer", "data": bytes})
}

fn every_type() -> Vec<TypeCase> {
    let not_null = |mut c: TypeCase, v: V, j: Value| {
        c.null_row = Some((v, j));
        c
    };
    let differs = |mut c: TypeCase, ours: [Value; 2]| {
        c.ours = Some(ours);
        c
    };
    let d = date;
    vec![
        not_null(
            case("id", Ty::Int4, [V::Int(1), V::Int(2)], [json!(1), json!(2)]),
            V::Int(3),
            json!(3),
        ),
        case(
            "tinyint",
            Ty::IntN(1),
            [V::Int(255), V::Int(0)],
            [json!(255), json!(0)],
        ),
        case(
            "smallint",
            Ty::IntN(2),
            [V::Int(-32768), V::Int(7)],
            [json!(-32768), json!(7)],
        ),
        case(
            "int",
            Ty::IntN(4),
            [V::Int(2147483647), V::Int(-7)],
            [json!(2147483647), json!(-7)],
        ),
        case(
            "bigint",
            Ty::IntN(8),
            [V::Int(9007199254740993), V::Int(-5)],
            [json!("9007199254740993"), json!("-5")],
        ),
        not_null(
            case(
                "tinyint_nn",
                Ty::Int1,
                [V::Int(7), V::Int(0)],
                [json!(7), json!(0)],
            ),
            V::Int(1),
            json!(1),
        ),
        not_null(
            case(
                "smallint_nn",
                Ty::Int2,
                [V::Int(-7), V::Int(300)],
                [json!(-7), json!(300)],
            ),
            V::Int(0),
            json!(0),
        ),
        not_null(
            case(
                "bigint_nn",
                Ty::Int8,
                [V::Int(1), V::Int(i64::MIN)],
                [json!("1"), json!("-9223372036854775808")],
            ),
            V::Int(0),
            json!("0"),
        ),
        // real: the 32-bit value widened to a double, printed in full.
        case(
            "real",
            Ty::FltN(4),
            [V::Float(0.1), V::Float(-0.5)],
            [json!(0.10000000149011612), json!(-0.5)],
        ),
        case(
            "float",
            Ty::FltN(8),
            [V::Float(1e300), V::Float(0.1)],
            [json!(1e300), json!(0.1)],
        ),
        not_null(
            case(
                "real_nn",
                Ty::Flt4,
                [V::Float(1.5), V::Float(3.0)],
                [json!(1.5), json!(3)],
            ),
            V::Float(0.0),
            json!(0),
        ),
        not_null(
            case(
                "float_nn",
                Ty::Flt8,
                [V::Float(-2.0), V::Float(2.5e-8)],
                [json!(-2), json!(2.5e-8)],
            ),
            V::Float(0.0),
            json!(0),
        ),
        case(
            "decimal",
            Ty::Decimal(12, 4),
            [V::Dec(12345678), V::Dec(0)],
            [json!(1234.5678), json!(0)],
        ),
        // 30 digits: tedious's double kept 17 of them; ours keeps the exact value, as text.
        differs(
            case(
                "numeric",
                Ty::Numeric(38, 10),
                [V::Dec(123456789012345678901234567890), V::Dec(-5000000000)],
                [json!(12345678901234567000.0), json!(-0.5)],
            ),
            [json!("12345678901234567890.1234567890"), json!(-0.5)],
        ),
        // 2^53 + 1: a double cannot hold it (tedious sent 2^53).
        differs(
            case(
                "decimal_20",
                Ty::Decimal(20, 0),
                [V::Dec(9007199254740993), V::Dec(123)],
                [json!(9007199254740992_i64), json!(123)],
            ),
            [json!("9007199254740993"), json!(123)],
        ),
        // money is a double in both: tiberius computes it exactly as tedious did.
        case(
            "money",
            Ty::MoneyN(8),
            [V::Money(i64::MAX), V::Money(123456)],
            [json!(922337203685477.6), json!(12.3456)],
        ),
        case(
            "smallmoney",
            Ty::MoneyN(4),
            [V::Money(-2147483648), V::Money(15000)],
            [json!(-214748.3648), json!(1.5)],
        ),
        not_null(
            case(
                "money_nn",
                Ty::Money,
                [V::Money(-1), V::Money(10_000_000)],
                [json!(-0.0001), json!(1000)],
            ),
            V::Money(0),
            json!(0),
        ),
        not_null(
            case(
                "smallmoney_nn",
                Ty::Money4,
                [V::Money(10000), V::Money(5)],
                [json!(1), json!(0.0005)],
            ),
            V::Money(0),
            json!(0),
        ),
        case(
            "bit",
            Ty::BitN,
            [V::Bool(true), V::Bool(false)],
            [json!(true), json!(false)],
        ),
        not_null(
            case(
                "bit_nn",
                Ty::Bit,
                [V::Bool(false), V::Bool(true)],
                [json!(false), json!(true)],
            ),
            V::Bool(true),
            json!(true),
        ),
        case(
            "uniqueidentifier",
            Ty::Guid,
            [
                V::Guid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                V::Guid("6f9619ff-8b86-d011-b42d-00c04fc964ff"),
            ],
            [
                json!("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
                json!("6F9619FF-8B86-D011-B42D-00C04FC964FF"),
            ],
        ),
        // Fixed-width types keep the padding the server sends.
        case(
            "char",
            Ty::Char(5),
            [s("ab   "), s("     ")],
            [json!("ab   "), json!("     ")],
        ),
        case(
            "varchar",
            Ty::VarChar(50),
            [s("héllo"), s("")],
            [json!("héllo"), json!("")],
        ),
        case(
            "nchar",
            Ty::NChar(5),
            [s("ü    "), s("abcde")],
            [json!("ü    "), json!("abcde")],
        ),
        case(
            "nvarchar",
            Ty::NVarChar(50),
            [s("ünï cödé 😀"), s("")],
            [json!("ünï cödé 😀"), json!("")],
        ),
        case(
            "varchar_max",
            Ty::VarCharMax,
            [s("max é"), s("")],
            [json!("max é"), json!("")],
        ),
        case(
            "nvarchar_max",
            Ty::NVarCharMax,
            [s("max ü 😀"), s("x")],
            [json!("max ü 😀"), json!("x")],
        ),
        case(
            "text",
            Ty::Text,
            [s("a text é"), s("")],
            [json!("a text é"), json!("")],
        ),
        case(
            "ntext",
            Ty::NText,
            [s("an ntext ü 😀"), s("")],
            [json!("an ntext ü 😀"), json!("")],
        ),
        case(
            "xml",
            Ty::Xml,
            [s("<a b=\"1\">ü</a>"), s("<r/>")],
            [json!("<a b=\"1\">ü</a>"), json!("<r/>")],
        ),
        // Dates and times: JavaScript Dates read as UTC.
        case(
            "date",
            Ty::Date,
            [
                V::Precise(d(2024, 3, 5), time(0, 0, 0), 0),
                V::Precise(d(1, 1, 1), time(0, 0, 0), 0),
            ],
            [
                json!("2024-03-05T00:00:00.000Z"),
                json!("0001-01-01T00:00:00.000Z"),
            ],
        ),
        case(
            "time",
            Ty::Time(7),
            [
                V::Precise(d(1, 1, 1), time(13, 45, 0), 1234567),
                V::Precise(d(1, 1, 1), time(23, 59, 59), 9999999),
            ],
            [
                json!("1970-01-01T13:45:00.123Z"),
                json!("1970-01-01T23:59:59.999Z"),
            ],
        ),
        case(
            "time0",
            Ty::Time(0),
            [
                V::Precise(d(1, 1, 1), time(8, 0, 0), 0),
                V::Precise(d(1, 1, 1), time(0, 0, 0), 0),
            ],
            [
                json!("1970-01-01T08:00:00.000Z"),
                json!("1970-01-01T00:00:00.000Z"),
            ],
        ),
        // datetime: 1/300 s ticks rounded to the millisecond (.51333 → .513, .00667 → .007).
        case(
            "datetime",
            Ty::DateTimeN(8),
            [
                V::DateTime(d(2024, 3, 5), time(9, 14, 27), 154),
                V::DateTime(d(1753, 1, 1), time(0, 0, 0), 2),
            ],
            [
                json!("2024-03-05T09:14:27.513Z"),
                json!("1753-01-01T00:00:00.007Z"),
            ],
        ),
        not_null(
            case(
                "datetime_nn",
                Ty::DateTime,
                [
                    V::DateTime(d(2024, 12, 31), time(23, 59, 59), 299),
                    V::DateTime(d(1900, 1, 1), time(0, 0, 0), 1),
                ],
                [
                    json!("2024-12-31T23:59:59.997Z"),
                    json!("1900-01-01T00:00:00.003Z"),
                ],
            ),
            V::DateTime(d(1900, 1, 1), time(0, 0, 0), 0),
            json!("1900-01-01T00:00:00.000Z"),
        ),
        case(
            "smalldatetime",
            Ty::DateTimeN(4),
            [
                V::DateTime(d(2024, 3, 5), time(9, 14, 0), 0),
                V::DateTime(d(2079, 6, 6), time(23, 59, 0), 0),
            ],
            [
                json!("2024-03-05T09:14:00.000Z"),
                json!("2079-06-06T23:59:00.000Z"),
            ],
        ),
        not_null(
            case(
                "smalldatetime_nn",
                Ty::DateTime4,
                [
                    V::DateTime(d(1900, 1, 1), time(0, 1, 0), 0),
                    V::DateTime(d(2000, 2, 29), time(12, 0, 0), 0),
                ],
                [
                    json!("1900-01-01T00:01:00.000Z"),
                    json!("2000-02-29T12:00:00.000Z"),
                ],
            ),
            V::DateTime(d(1900, 1, 1), time(0, 0, 0), 0),
            json!("1900-01-01T00:00:00.000Z"),
        ),
        // datetime2: the fraction cut to milliseconds.
        case(
            "datetime2",
            Ty::DateTime2(7),
            [
                V::Precise(d(2024, 3, 5), time(9, 14, 27), 5129999),
                V::Precise(d(9999, 12, 31), time(23, 59, 59), 9999999),
            ],
            [
                json!("2024-03-05T09:14:27.512Z"),
                json!("9999-12-31T23:59:59.999Z"),
            ],
        ),
        case(
            "datetime2_3",
            Ty::DateTime2(3),
            [
                V::Precise(d(2024, 3, 5), time(9, 14, 27), 5000000),
                V::Precise(d(1, 1, 1), time(0, 0, 0), 0),
            ],
            [
                json!("2024-03-05T09:14:27.500Z"),
                json!("0001-01-01T00:00:00.000Z"),
            ],
        ),
        // datetimeoffset: the UTC instant (09:14:27.512+02:00 and 05:00-05:30).
        case(
            "datetimeoffset",
            Ty::DateTimeOffset(7),
            [
                V::Offset(d(2024, 3, 5), time(7, 14, 27), 5120000, 120),
                V::Offset(d(2024, 3, 4), time(23, 30, 0), 0, -330),
            ],
            [
                json!("2024-03-05T07:14:27.512Z"),
                json!("2024-03-04T23:30:00.000Z"),
            ],
        ),
        case(
            "binary",
            Ty::Binary(4),
            [V::Bytes(vec![1, 2, 0, 0]), V::Bytes(vec![0; 4])],
            [buffer(&[1, 2, 0, 0]), buffer(&[0, 0, 0, 0])],
        ),
        case(
            "varbinary",
            Ty::VarBinary(10),
            [V::Bytes(vec![1, 2, 255]), V::Bytes(vec![])],
            [buffer(&[1, 2, 255]), buffer(&[])],
        ),
        case(
            "varbinary_max",
            Ty::VarBinaryMax,
            [V::Bytes(vec![9, 8, 7]), V::Bytes(vec![])],
            [buffer(&[9, 8, 7]), buffer(&[])],
        ),
        case(
            "image",
            Ty::Image,
            [V::Bytes(vec![255]), V::Bytes(vec![])],
            [buffer(&[255]), buffer(&[])],
        ),
        case(
            "sql_variant",
            Ty::Variant,
            [V::VariantInt(42), V::VariantStr("x ü".into())],
            [json!(42), json!("x ü")],
        ),
        case(
            "Full Name",
            Ty::NVarChar(50),
            [s("Ann Lee"), s("Bob")],
            [json!("Ann Lee"), json!("Bob")],
        ),
        case(
            "ünï cödé",
            Ty::NVarChar(50),
            [s("ü"), s("")],
            [json!("ü"), json!("")],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_column_type_is_pushed_as_the_original_sent_it() {
    let env = Env::new().await;
    let server = TdsServer::start(USER, PASSWORD).await;
    let cases = every_type();
    let cols: Vec<Col> = cases.iter().map(|c| col(c.name, c.ty)).collect();
    let mut rows: Vec<Vec<V>> = vec![vec![], vec![], vec![]];
    let mut expected: Vec<serde_json::Map<String, Value>> = vec![Default::default(); 3];
    for c in &cases {
        let ours = c.ours.clone().unwrap_or_else(|| c.original.clone());
        for i in 0..2 {
            rows[i].push(c.values[i].clone());
            expected[i].insert(c.name.to_string(), ours[i].clone());
        }
        let (v, j) = c.null_row.clone().unwrap_or((V::Null, Value::Null));
        rows[2].push(v);
        expected[2].insert(c.name.to_string(), j);
    }
    let query = "SELECT * FROM dbo.every_type ORDER BY id";
    server.reply(query, Reply::set(cols, rows));
    let job = env.job(
        &mssql_yaml("127.0.0.1", server.port(), ""),
        &format!("query: {query}\nprimary_column: id"),
    );

    // The columns, in order, with tiberius's type names.
    let t = fetch(&job).await.unwrap();
    assert_eq!(
        t.column_names(),
        cases.iter().map(|c| c.name).collect::<Vec<_>>()
    );

    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{:?}", r.first_error());
    assert_eq!(r.totals().inserted, 3);
    let data = env.data();
    assert_eq!(data.len(), 3);
    let mut wrong = Vec::new();
    for (row, (got, want)) in data.iter().zip(&expected).enumerate() {
        for (name, value) in want {
            if &got[name] != value {
                wrong.push(format!(
                    "row {} {name}: sent {}, expected {value}",
                    row + 1,
                    got[name]
                ));
            }
        }
        assert_eq!(got.as_object().unwrap().len(), want.len());
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // The deliberate differences are only where the docs list them.
    let differing: Vec<&str> = cases
        .iter()
        .filter(|c| c.ours.is_some())
        .map(|c| c.name)
        .collect();
    assert_eq!(differing, ["numeric", "decimal_20"]);

    // A second run reads the same values and finds nothing to change.
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{:?}", r.first_error());
    let totals = r.totals();
    assert_eq!(
        (totals.inserted, totals.updated, totals.unchanged),
        (0, 0, 3)
    );
}
// ---------- A large result ----------

/// 50,000 rows of (int, nvarchar, nvarchar, datetime2), generated while they are sent, in
/// 4 KiB packets; pushed into the emulator in batches of 1000.
fn large(n: usize) -> Reply {
    let base = date(2024, 3, 5);
    Reply(vec![Part::Set(
        vec![
            col("id", Ty::Int4),
            col("name", Ty::NVarChar(100)),
            col("note", Ty::NVarChar(100)),
            col("at", Ty::DateTime2(7)),
        ],
        Rows::Generated(
            n,
            std::sync::Arc::new(move |i| {
                let secs = (i % 86_400) as u32;
                vec![
                    V::Int(i as i64 + 1),
                    V::Str(format!("name {}", i + 1)),
                    V::Str(format!("{:032x}", (i as u128 + 1) * 0x9E37_79B9_7F4A_7C15)),
                    V::Precise(
                        base + chrono::Duration::days((i / 86_400) as i64),
                        time(secs / 3600, secs / 60 % 60, secs % 60),
                        5_120_000,
                    ),
                ]
            }),
        ),
    )])
}

const LARGE: &str = "SELECT id, name, note, at FROM dbo.big ORDER BY id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_thousand_rows_are_streamed_and_pushed() {
    let env = Env::new().await;
    let server = TdsServer::start(USER, PASSWORD).await;
    server.reply(LARGE, large(50_000));
    let job = env.job(
        &mssql_yaml("127.0.0.1", server.port(), ""),
        &format!("query: {LARGE}\nprimary_column: id"),
    );
    let started = Instant::now();
    let r = run_job(&job, false, None).await;
    let elapsed = started.elapsed();
    assert!(r.succeeded(), "{:?}", r.first_error());
    assert_eq!(r.totals().inserted, 50_000);
    let data = env.data();
    assert_eq!(data.len(), 50_000);
    assert_eq!(
        data[0],
        json!({"id": 1, "name": "name 1", "note": format!("{:032x}", 0x9E37_79B9_7F4A_7C15_u128),
               "at": "2024-03-05T00:00:00.512Z"})
    );
    assert_eq!(data[49_999]["id"], json!(50_000));
    assert_eq!(data[49_999]["at"], json!("2024-03-05T13:53:19.512Z"));
    assert_eq!(env.commits().len(), 50, "batches of 1000");
    println!(
        "50,000 SQL Server rows fetched and pushed in {elapsed:?} (debug build, in-process emulator)"
    );
}

/// The numbers of docs/benchmarks.md: the release `fliplet-agent` binary runs one sync of
/// 50,000 rows from the test server into the emulator (both in this process), measured with
/// `wait4` (the agent's own wall time, CPU time and peak RSS).
/// `cargo test --release -p fliplet-agent --test source_mssql -- --ignored --nocapture perf`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn perf_50k_rows_push() {
    for run in ["first sync", "re-sync, nothing changed"] {
        let env = Env::new().await;
        let server = TdsServer::start(USER, PASSWORD).await;
        server.reply(LARGE, large(50_000));
        let job = env.write_job(
            "big.yml",
            &mssql_yaml("127.0.0.1", server.port(), ""),
            &format!("query: {LARGE}\nprimary_column: id\nsync_on_init: true"),
        );
        if run.starts_with("re-sync") {
            let r = run_job(&load(&job), false, None).await;
            assert!(r.succeeded());
        }
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_fliplet-agent"))
            .arg("start")
            .arg(&job)
            .env("FLIPLET_AGENT_LOG", "off")
            .env("FLIPLET_LOG", "error")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id() as libc::pid_t;
        let started = Instant::now();
        let (status, usage) = tokio::task::spawn_blocking(move || {
            let mut status = 0;
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: waits for our own child and fills the structures given.
            let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            assert_eq!(got, pid);
            (status, usage)
        })
        .await
        .unwrap();
        let wall = started.elapsed();
        assert_eq!(status, 0, "the agent exits 0");
        assert_eq!(env.data().len(), 50_000);
        let cpu = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        println!(
            "{run}: wall {:.2} s, agent CPU {:.2} s (user {:.2} + system {:.2}), agent peak RSS {:.1} MB",
            wall.as_secs_f64(),
            cpu(usage.ru_utime) + cpu(usage.ru_stime),
            cpu(usage.ru_utime),
            cpu(usage.ru_stime),
            usage.ru_maxrss as f64 / 1024.0
        );
        drop(child);
    }
}
