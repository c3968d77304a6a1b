use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::secret::Secret;

/// User agent of every request.
pub const USER_AGENT: &str = concat!("Fliplet Agent/", env!("CARGO_PKG_VERSION"), " (rust)");

/// Region of a token: its first two characters, lower-cased (the original's rule).
pub fn region_of(token: &str) -> String {
    token.chars().take(2).collect::<String>().to_lowercase()
}

/// Base URL for a token's region: `eu` (and anything unknown) → api.fliplet.com,
/// `us` → us.api.fliplet.com, `ca` → ca.api.fliplet.com.
pub fn base_url_for_token(token: &str) -> &'static str {
    match region_of(token).as_str() {
        "us" => "https://us.api.fliplet.com",
        "ca" => "https://ca.api.fliplet.com",
        _ => "https://api.fliplet.com",
    }
}

/// How transient failures (connection errors, timeouts, 5xx, 429) are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first one included (default 5).
    pub attempts: u32,
    /// Delay before the first retry; doubled each time (default 1 s).
    pub base_delay: Duration,
    /// Upper bound of one delay, also for a 429's `nextValidRequestDate` (default 60 s).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The default policy, with `FLIPLET_RETRY_ATTEMPTS` and `FLIPLET_RETRY_BASE_MS` from the
    /// environment when set (used by tests to keep retries fast).
    pub fn from_env() -> Self {
        let mut p = RetryPolicy::default();
        if let Some(n) = std::env::var("FLIPLET_RETRY_ATTEMPTS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            p.attempts = n;
        }
        if let Some(ms) = std::env::var("FLIPLET_RETRY_BASE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            p.base_delay = Duration::from_millis(ms);
        }
        p
    }

    fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Environment variable overriding the per-request timeout, in milliseconds (default 120 s).
pub const HTTP_TIMEOUT_ENV: &str = "FLIPLET_HTTP_TIMEOUT_MS";

/// The per-request timeout: `$FLIPLET_HTTP_TIMEOUT_MS`, else 120 s.
pub fn request_timeout() -> Duration {
    std::env::var(HTTP_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(120))
}

/// Options for building a [`Client`].
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Base URL override (emulator, proxy). `None`: the token's region.
    pub base_url: Option<String>,
    /// Extra CA certificate (PEM) to trust besides the OS store, for TLS-intercepting proxies.
    pub extra_ca_file: Option<PathBuf>,
    pub retry: Option<RetryPolicy>,
    /// Per-request timeout (default 120 s).
    pub timeout: Option<Duration>,
}

/// Errors from the Fliplet API, typed so callers can branch on them. Messages never contain
/// the token.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The token is unknown or revoked (401 on the user endpoint, or any 401 without a more
    /// specific meaning).
    #[error("{message}")]
    Unauthorized { message: String },
    /// Security rules deny the operation on a data source (400 `datasource.access`, or
    /// 401/403 on a data source route).
    #[error("{message}")]
    NoAccess {
        data_source_id: Option<u64>,
        message: String,
    },
    #[error("{message}")]
    NotFound { message: String },
    /// Still failing after every retry: network errors, timeouts, 5xx, 429.
    #[error("{message} (gave up after {attempts} attempts)")]
    Transient { message: String, attempts: u32 },
    /// A write whose answer never came back as the API documents it (the connection dropped
    /// after the request was sent, a timeout, a 5xx, a 2xx body that is not the API's): the
    /// server may or may not have applied it, so it is not resent. The caller finds out what
    /// the server holds before sending anything else.
    #[error("{message}: the request may or may not have been applied")]
    OutcomeUnknown { message: String },
    /// Another 4xx: not retried, reported with the server's message.
    #[error("Fliplet API answered {status}: {message}")]
    Rejected { status: u16, message: String },
    /// The response was not what the API documents.
    #[error("Unexpected response from the Fliplet API ({context}): {message}")]
    Decode { context: String, message: String },
    #[error("Cannot set up the HTTP client: {0}")]
    Setup(String),
    /// The server's TLS certificate was refused (with what to check): not retried.
    #[error("{message}")]
    Certificate { message: String },
}

impl ApiError {
    fn is_transient(&self) -> bool {
        matches!(self, ApiError::Transient { .. })
    }
}

/// Whether a request may be sent again after a failure whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resend {
    /// A read: resent after any transient failure.
    Always,
    /// A write (a commit inserts rows that carry no id): resent only when it provably never
    /// reached the server (connection refused, DNS failure, a 429, a 503 with a retry hint).
    IfNotSent,
}

/// Whether a failed attempt reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reached {
    No,
    Maybe,
}

/// `GET v1/user`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: u64,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Organization {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataSource {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub organization_id: Option<u64>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub columns: Option<Vec<String>>,
}

/// An entry as listed by `GET v1/data-sources/:id/data`. `data` is kept as raw JSON text:
/// a million entries held this way cost about their JSON size, not a tree per entry.
#[derive(Debug, Clone, Deserialize)]
pub struct RemoteEntry {
    pub id: u64,
    pub data: Box<RawValue>,
}

impl RemoteEntry {
    /// Build one from a data object (tests, benches).
    pub fn new(id: u64, data: &Value) -> Self {
        RemoteEntry {
            id,
            data: RawValue::from_string(data.to_string()).expect("a JSON value serialises"),
        }
    }

    /// The data parsed as a JSON value.
    pub fn data_value(&self) -> Value {
        serde_json::from_str(self.data.get()).unwrap_or(Value::Null)
    }
}

/// An entry returned by a data/query (pull).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PulledEntry {
    pub id: u64,
    #[serde(default)]
    #[cfg_attr(test, ts(type = "Record<string, unknown>"))]
    pub data: serde_json::Map<String, Value>,
}

/// One element of a commit's `entries`: `{data}` inserts, `{id, data}` updates.
#[derive(Debug, Clone, Serialize)]
pub struct CommitRow<D: Serialize> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    pub data: D,
}

/// Body of `POST v1/data-sources/:id/commit`, as the original sends it plus
/// `returnEntries: false`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitRequest<'a, D: Serialize> {
    pub append: bool,
    pub entries: &'a [CommitRow<D>],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete: Option<&'a [u64]>,
    pub run_hooks: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extend: Option<bool>,
    pub return_entries: bool,
}

/// A request body.
pub(super) enum Body {
    Json(Vec<u8>),
    Upload(Upload),
}

/// A file for `POST v1/media/files` (multipart: the file part `files` and the text field
/// `checksum`, as the original sends them).
pub(super) struct Upload {
    pub file_name: String,
    pub content_type: String,
    pub bytes: bytes::Bytes,
    pub checksum: String,
}

impl Upload {
    fn form(&self) -> Result<reqwest::multipart::Form, ApiError> {
        let part = reqwest::multipart::Part::stream_with_length(
            reqwest::Body::from(self.bytes.clone()),
            self.bytes.len() as u64,
        )
        .file_name(self.file_name.clone())
        .mime_str(&self.content_type)
        .map_err(|e| ApiError::Setup(format!("invalid content type: {e}")))?;
        Ok(reqwest::multipart::Form::new()
            .part("files", part)
            .text("checksum", self.checksum.clone()))
    }
}

/// A Fliplet REST API client for one token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Secret,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &"<redacted>")
            .finish()
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<Value>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default, rename = "nextValidRequestDate")]
    next_valid_request_date: Option<String>,
}

impl Client {
    pub fn new(token: Secret, options: ClientOptions) -> Result<Client, ApiError> {
        let base = options
            .base_url
            .clone()
            .unwrap_or_else(|| base_url_for_token(token.expose()).to_string());
        let base = base.trim_end_matches('/').to_string();
        let http = crate::net::client_builder(options.extra_ca_file.as_deref())
            .map_err(|e| ApiError::Setup(e.to_string()))?
            .timeout(options.timeout.unwrap_or_else(request_timeout))
            .build()
            .map_err(|e| ApiError::Setup(e.to_string()))?;
        Ok(Client {
            http,
            base,
            token,
            retry: options.retry.unwrap_or_else(RetryPolicy::from_env),
        })
    }

    /// The API base URL in use.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET v1/user`: checks the token.
    pub async fn user(&self) -> Result<User, ApiError> {
        #[derive(Deserialize)]
        struct R {
            user: User,
        }
        let r: R = self.json(Method::GET, "v1/user", None, None).await?;
        Ok(r.user)
    }

    /// `GET v1/organizations`.
    pub async fn organizations(&self) -> Result<Vec<Organization>, ApiError> {
        #[derive(Deserialize)]
        struct R {
            organizations: Vec<Organization>,
        }
        let r: R = self
            .json(Method::GET, "v1/organizations", None, None)
            .await?;
        Ok(r.organizations)
    }

    /// `GET v1/data-sources[?type=…]`: the data sources the token can see.
    pub async fn data_sources(&self, kind: Option<&str>) -> Result<Vec<DataSource>, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct R {
            data_sources: Vec<DataSource>,
        }
        let path = match kind {
            Some(k) => format!("v1/data-sources?type={}", urlencode(k)),
            None => "v1/data-sources".to_string(),
        };
        let r: R = self.json(Method::GET, &path, None, None).await?;
        Ok(r.data_sources)
    }

    /// `GET v1/data-sources/:id`.
    pub async fn data_source(&self, id: u64) -> Result<DataSource, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct R {
            data_source: DataSource,
        }
        let r: R = self
            .json(
                Method::GET,
                &format!("v1/data-sources/{id}"),
                None,
                Some(id),
            )
            .await?;
        Ok(r.data_source)
    }

    /// `GET v1/data-sources/:id/data`: every entry of a data source.
    pub async fn entries(&self, data_source_id: u64) -> Result<Vec<RemoteEntry>, ApiError> {
        #[derive(Deserialize)]
        struct R {
            entries: Vec<RemoteEntry>,
        }
        let path = format!("v1/data-sources/{data_source_id}/data");
        let r: R = self
            .request(
                Method::GET,
                &path,
                None,
                Some(data_source_id),
                Resend::Always,
            )
            .await?;
        Ok(r.entries)
    }

    /// `POST v1/data-sources/:id/data/query`: the entries matching `body` (`where`,
    /// `attributes`, `order`, `limit`, `offset`, passed as given). Returns each entry's id and
    /// data object.
    pub async fn query(
        &self,
        data_source_id: u64,
        body: &Value,
    ) -> Result<Vec<PulledEntry>, ApiError> {
        #[derive(Deserialize)]
        struct R {
            entries: Vec<PulledEntry>,
        }
        let path = format!("v1/data-sources/{data_source_id}/data/query");
        let body = serde_json::to_vec(body).expect("JSON value serialises");
        // A query reads: resending it is safe.
        let r: R = self
            .request(
                Method::POST,
                &path,
                Some(Body::Json(body)),
                Some(data_source_id),
                Resend::Always,
            )
            .await?;
        Ok(r.entries)
    }

    /// `POST v1/data-sources/:id/commit`. The body is serialised here once. It is resent only
    /// when it provably never reached the server; any other failure after sending (dropped
    /// connection, timeout, 5xx, a success answer that is not the API's JSON) is
    /// [`ApiError::OutcomeUnknown`].
    pub async fn commit<D: Serialize>(
        &self,
        data_source_id: u64,
        request: &CommitRequest<'_, D>,
    ) -> Result<(), ApiError> {
        let body = serde_json::to_vec(request).map_err(|e| ApiError::Decode {
            context: "commit body".into(),
            message: e.to_string(),
        })?;
        let path = format!("v1/data-sources/{data_source_id}/commit");
        // The documented answer is `{"entries": [...]}`; anything that is not a JSON object
        // (a proxy's HTML page) says nothing about whether the commit was applied.
        let _: serde_json::Map<String, Value> = self
            .request(
                Method::POST,
                &path,
                Some(Body::Json(body)),
                Some(data_source_id),
                Resend::IfNotSent,
            )
            .await?;
        Ok(())
    }

    /// Send a JSON request and decode a JSON response. A `GET` is resent after any transient
    /// failure; any other method only when it provably never reached the server.
    pub async fn json<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        data_source_id: Option<u64>,
    ) -> Result<T, ApiError> {
        let body = body.map(|b| Body::Json(serde_json::to_vec(b).expect("JSON value serialises")));
        let resend = if method == Method::GET {
            Resend::Always
        } else {
            Resend::IfNotSent
        };
        self.request(method, path, body, data_source_id, resend)
            .await
    }

    /// Send a request and decode its 2xx answer as `T`. A 2xx answer that does not decode
    /// counts as a failed attempt (a proxy's page in place of the API's answer).
    pub(super) async fn request<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
        data_source_id: Option<u64>,
        resend: Resend,
    ) -> Result<T, ApiError> {
        self.send_body(method, path, body, data_source_id, resend, |bytes| {
            serde_json::from_slice(bytes).map_err(|e| e.to_string())
        })
        .await
    }

    /// Send a request with retries (as `resend` allows) and decode the body of its 2xx answer.
    /// Multipart uploads are rebuilt for each attempt.
    async fn send_body<T>(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
        data_source_id: Option<u64>,
        resend: Resend,
        decode: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<T, ApiError> {
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self
                .http
                .request(method.clone(), &url)
                .header("Auth-token", self.token.expose());
            match &body {
                Some(Body::Json(b)) => {
                    req = req
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(b.clone());
                }
                Some(Body::Upload(u)) => req = req.multipart(u.form()?),
                None => {}
            }
            let (err, wait, reached) = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        match resp.bytes().await {
                            Ok(b) => match decode(&b) {
                                Ok(v) => return Ok(v),
                                Err(e) => (
                                    ApiError::Transient {
                                        message: format!(
                                            "{method} {path} answered HTTP {status} with a body that is not the Fliplet API's JSON ({e}): {}",
                                            snippet(&b)
                                        ),
                                        attempts: 1,
                                    },
                                    None,
                                    Reached::Maybe,
                                ),
                            },
                            Err(e) => {
                                let (err, _) = transient(&method, path, &e);
                                (err, None, Reached::Maybe)
                            }
                        }
                    } else {
                        let hint = status == StatusCode::SERVICE_UNAVAILABLE
                            && resp.headers().contains_key(reqwest::header::RETRY_AFTER);
                        let bytes = resp.bytes().await.unwrap_or_default();
                        let (err, wait) = classify(status, &bytes, &method, path, data_source_id);
                        // A 429, or a 503 with a retry hint, is a refusal: nothing was applied.
                        let refused =
                            status == StatusCode::TOO_MANY_REQUESTS || hint || wait.is_some();
                        (
                            err,
                            wait,
                            if refused { Reached::No } else { Reached::Maybe },
                        )
                    }
                }
                Err(e) => {
                    let (err, reached) = transient(&method, path, &e);
                    (err, None, reached)
                }
            };
            if !err.is_transient() {
                return Err(err);
            }
            if resend == Resend::IfNotSent && reached == Reached::Maybe {
                return Err(match err {
                    ApiError::Transient { message, .. } => ApiError::OutcomeUnknown { message },
                    other => other,
                });
            }
            if attempt >= self.retry.attempts {
                return Err(match err {
                    ApiError::Transient { message, .. } => ApiError::Transient {
                        message,
                        attempts: attempt,
                    },
                    other => other,
                });
            }
            let delay = wait
                .map(|w| w.min(self.retry.max_delay))
                .unwrap_or_else(|| self.retry.delay(attempt));
            tracing::warn!(
                "{}; retrying in {:.1} s (attempt {} of {})",
                err_message(&err),
                delay.as_secs_f64(),
                attempt + 1,
                self.retry.attempts
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// An error's message without the "gave up after" suffix (used while still retrying).
fn err_message(e: &ApiError) -> String {
    match e {
        ApiError::Transient { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// The first 200 characters of a body, on one line.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.chars().take(200).collect()
}

pub(super) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A failed attempt, and whether the request may have reached the server: a connection that
/// could not be made (refused, DNS, TLS handshake) carried nothing.
fn transient(method: &Method, path: &str, e: &reqwest::Error) -> (ApiError, Reached) {
    if let Some(reason) = crate::net::certificate_error(e) {
        // Retrying cannot fix a certificate; the handshake failed, so nothing was sent.
        return (
            ApiError::Certificate {
                message: format!("{method} {path} failed: {reason}"),
            },
            Reached::No,
        );
    }
    // reqwest's Display includes the URL, which never holds the token (it is a header).
    let what = crate::net::failure(e);
    let message = format!("{method} {path} {what}: {}", crate::net::error_chain(e));
    let reached = if e.is_connect() {
        Reached::No
    } else {
        Reached::Maybe
    };
    (
        ApiError::Transient {
            message,
            attempts: 1,
        },
        reached,
    )
}

/// Map a non-2xx response to an error; the second value is how long the server asked us to
/// wait (429 `nextValidRequestDate`).
fn classify(
    status: StatusCode,
    bytes: &[u8],
    method: &Method,
    path: &str,
    data_source_id: Option<u64>,
) -> (ApiError, Option<Duration>) {
    let body: Option<ErrorBody> = serde_json::from_slice(bytes).ok();
    let server_message = body.as_ref().and_then(|b| match &b.message {
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) if !v.is_null() => Some(v.to_string()),
        _ => None,
    });
    let message = server_message.clone().unwrap_or_else(|| {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim();
        if text.is_empty() {
            format!("{method} {path} answered HTTP {status}")
        } else {
            let short: String = text.chars().take(200).collect();
            format!("{method} {path} answered HTTP {status}: {short}")
        }
    });
    let kind = body.as_ref().and_then(|b| b.kind.clone());
    let code = status.as_u16();
    if code == 429 {
        let wait = body
            .as_ref()
            .and_then(|b| b.next_valid_request_date.as_deref())
            .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
            .map(|d| {
                let ms = (d.with_timezone(&Utc) - Utc::now()).num_milliseconds();
                Duration::from_millis(ms.max(0) as u64 + 50)
            });
        return (
            ApiError::Transient {
                message: format!("rate limited by Fliplet: {message}"),
                attempts: 1,
            },
            wait,
        );
    }
    if status.is_server_error() || code == 408 {
        return (
            ApiError::Transient {
                message,
                attempts: 1,
            },
            None,
        );
    }
    let err = if kind.as_deref() == Some("datasource.access")
        || (data_source_id.is_some() && (code == 401 || code == 403))
    {
        ApiError::NoAccess {
            data_source_id,
            message,
        }
    } else if code == 401 || code == 403 {
        ApiError::Unauthorized { message }
    } else if code == 404 {
        ApiError::NotFound { message }
    } else {
        ApiError::Rejected {
            status: code,
            message,
        }
    };
    (err, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_is_the_first_two_characters() {
        assert_eq!(base_url_for_token("eu--abc"), "https://api.fliplet.com");
        assert_eq!(base_url_for_token("US--abc"), "https://us.api.fliplet.com");
        assert_eq!(base_url_for_token("ca--abc"), "https://ca.api.fliplet.com");
        assert_eq!(base_url_for_token("xx--abc"), "https://api.fliplet.com");
        assert_eq!(base_url_for_token(""), "https://api.fliplet.com");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
        };
        assert_eq!(p.delay(1), Duration::from_secs(1));
        assert_eq!(p.delay(2), Duration::from_secs(2));
        assert_eq!(p.delay(3), Duration::from_secs(4));
        assert_eq!(p.delay(4), Duration::from_secs(5));
    }

    #[test]
    fn access_denial_is_typed() {
        let body = br#"{"message":"The security rules for the Data Source \"Staff\" do not allow this app to read data.","type":"datasource.access","payload":{"dataSourceId":12}}"#;
        let (e, _) = classify(
            StatusCode::BAD_REQUEST,
            body,
            &Method::GET,
            "v1/data-sources/12/data",
            Some(12),
        );
        assert!(matches!(
            e,
            ApiError::NoAccess {
                data_source_id: Some(12),
                ..
            }
        ));
        assert!(e.to_string().contains("do not allow this app to read data"));
    }

    #[test]
    fn server_errors_and_429_are_transient() {
        let (e, _) = classify(StatusCode::BAD_GATEWAY, b"", &Method::GET, "v1/user", None);
        assert!(e.is_transient());
        let (e, wait) = classify(
            StatusCode::TOO_MANY_REQUESTS,
            br#"{"message":"You've made too many attempts","nextValidRequestDate":"2000-01-01T00:00:00.000Z"}"#,
            &Method::GET,
            "v1/user",
            None,
        );
        assert!(e.is_transient());
        assert_eq!(wait, Some(Duration::from_millis(50)));
        let (e, _) = classify(
            StatusCode::UNAUTHORIZED,
            br#"{"error":"not authorised","message":"The auth_token provided doesn't belong to any user."}"#,
            &Method::GET,
            "v1/user",
            None,
        );
        assert!(matches!(e, ApiError::Unauthorized { .. }));
    }
}
