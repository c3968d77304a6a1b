//! TLS with a CA file: a self-signed `CA:TRUE` server certificate made by the usual
//! `openssl req -x509` command, served by a local rustls server, and trusted by the real
//! Fliplet client (and HTTP sources) when it is the configured CA file. Certificate errors are
//! not retried and say what to check; an unusable CA file stops `validate` and `start`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use fliplet_agent::fliplet::{ApiError, Client, ClientOptions, RetryPolicy};
use fliplet_agent::secret::Secret;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext
/// subjectAltName=<san>`: a self-signed certificate (OpenSSL marks it `CA:TRUE`) and its key.
fn self_signed(dir: &Path, name: &str, san: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = self_signed_certificate(
        dir,
        name,
        "/CN=localhost",
        &["-addext", &format!("subjectAltName={san}")],
    );
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("CA:TRUE"),
        "the case under test is a CA:TRUE leaf"
    );
    (cert, key)
}

/// A local HTTPS server: `GET /v1/user` answers a Fliplet user, any other path a JSON array
/// of two records. Counts TCP connections.
struct TlsServer {
    port: u16,
    connections: Arc<AtomicUsize>,
}

async fn serve(cert: &Path, key: &Path) -> TlsServer {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request);
                let body = if head.starts_with("GET /v1/user ") {
                    r#"{"user":{"id":7,"email":"tls@acme.test","fullName":"TLS User"}}"#
                } else {
                    r#"[{"id":1,"name":"one"},{"id":2,"name":"two"}]"#
                };
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    TlsServer { port, connections }
}

fn client(base: &str, ca_file: Option<&Path>) -> Client {
    Client::new(
        Secret::new("eu--test-token"),
        ClientOptions {
            base_url: Some(base.to_string()),
            extra_ca_file: ca_file.map(Path::to_path_buf),
            retry: Some(RetryPolicy {
                attempts: 5,
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(5),
            }),
            timeout: Some(Duration::from_secs(20)),
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_ca_true_certificate_given_as_the_ca_file_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "server", "DNS:localhost,IP:127.0.0.1");
    let server = serve(&cert, &key).await;
    for host in ["localhost", "127.0.0.1"] {
        let c = client(&format!("https://{host}:{}", server.port), Some(&cert));
        let user = c.user().await.unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(user.email.as_deref(), Some("tls@acme.test"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_errors_are_not_retried_and_say_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "server", "DNS:localhost,IP:127.0.0.1");
    let (other, _) = self_signed(dir.path(), "other", "DNS:localhost");
    let server = serve(&cert, &key).await;
    let base = format!("https://localhost:{}", server.port);

    // No CA file: the hint is to set one.
    let e = client(&base, None).user().await.unwrap_err();
    assert_eq!(server.connections.load(Ordering::SeqCst), 1, "{e}");
    let ApiError::Certificate { message } = &e else {
        panic!("not a certificate error: {e:?}")
    };
    assert!(
        message.contains("not signed by a trusted CA") && message.contains("FLIPLET_CA_FILE"),
        "{message}"
    );
    assert!(!message.contains("eu--test-token"));

    // A CA file that does not vouch for the server: the hint is to check that file.
    let e = client(&base, Some(&other)).user().await.unwrap_err();
    assert_eq!(server.connections.load(Ordering::SeqCst), 2, "{e}");
    let ApiError::Certificate { message } = &e else {
        panic!("not a certificate error: {e:?}")
    };
    assert!(
        message.contains(&format!(
            "and the certificates of {}). Check that this file holds",
            other.display()
        )),
        "{message}"
    );
    assert!(
        !message.contains("set its CA certificate file"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_certificate_must_still_match_the_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "elsewhere", "DNS:elsewhere.test");
    let server = serve(&cert, &key).await;
    let e = client(&format!("https://localhost:{}", server.port), Some(&cert))
        .user()
        .await
        .unwrap_err();
    let ApiError::Certificate { message } = &e else {
        panic!("not a certificate error: {e:?}")
    };
    assert!(
        message.contains("not valid for name") && message.contains("elsewhere.test"),
        "{message}"
    );
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_source_trusts_the_ca_file_of_the_environment() {
    let env = Env::new().await;
    let (cert, key) = self_signed(env.dir.path(), "server", "DNS:localhost,IP:127.0.0.1");
    let server = serve(&cert, &key).await;
    let text = format!(
        "{}operations:\n  - source: {{type: http, url: 'https://localhost:{}/records'}}\n    datasource_id: {}\n    primary_column: id\n",
        env.multi_header(),
        server.port,
        env.ds()
    );
    let path = env.dir.path().join("https.yml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fliplet-agent"))
        .args(["preview", "--json"])
        .arg(&path)
        .env("FLIPLET_AGENT_LOG", "off")
        .env(fliplet_agent::net::CA_FILE_ENV, &cert)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["operations"][0]["plan"]["counts"]["inserted"], 2, "{v}");
}

fn agent() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fliplet-agent"));
    c.env_remove("FLIPLET_LOG")
        .env_remove(fliplet_agent::net::CA_FILE_ENV)
        .env("FLIPLET_AGENT_LOG", "off")
        .env("XDG_DATA_HOME", common::data_home());
    c
}

#[test]
fn an_unusable_ca_file_stops_validate_and_start_with_a_message_and_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("ca.yml");
    std::fs::write(
        &job,
        "auth_token: eu--1\nca_file: missing-ca.pem\noperations:\n  - source: {type: rows, rows: [{id: 1}]}\n    datasource_id: 1\n",
    )
    .unwrap();
    let missing = dir.path().join("missing-ca.pem");
    let out = agent().arg("validate").arg(&job).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "`ca_file`: Cannot read the CA certificate file {}",
            missing.display()
        )),
        "{err}"
    );

    let log = dir.path().join("agent.log");
    let out = agent()
        .arg("start")
        .arg(&job)
        .env("FLIPLET_AGENT_LOG", &log)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("Cannot read the CA certificate file"), "{err}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("[ca.yml] ERROR `ca_file`: Cannot read the CA certificate file"),
        "{logged}"
    );

    // The environment variable, naming a file that is not PEM.
    let not_pem = dir.path().join("notes.txt");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let plain = dir.path().join("plain.yml");
    std::fs::write(
        &plain,
        "auth_token: eu--1\noperations:\n  - source: {type: rows, rows: [{id: 1}]}\n    datasource_id: 1\n",
    )
    .unwrap();
    for command in ["validate", "start"] {
        let out = agent()
            .arg(command)
            .arg(&plain)
            .env(fliplet_agent::net::CA_FILE_ENV, &not_pem)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {err}");
        assert!(
            err.contains(&format!(
                "FLIPLET_CA_FILE: The CA certificate file {} holds no PEM certificate",
                not_pem.display()
            )),
            "{command}: {err}"
        );
    }
}
