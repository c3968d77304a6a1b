//! HTTP layer: the outer middleware (path normalisation, journal, faults, auth, rate
//! limit) and the shared state it works on.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::model::*;
use crate::store::Db;

pub const BODY_LIMIT: usize = 1 << 30;
const JOURNAL_PARSE_LIMIT: usize = 1 << 20;
const JOURNAL_PREFIX: usize = 64 * 1024;
/// Total body bytes the journal keeps before it trims the oldest bodies.
const JOURNAL_BODY_BUDGET: usize = 256 << 20;

pub struct JournalRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: Bytes,
    pub body_size: usize,
    pub truncated: bool,
    pub status: u16,
}

impl JournalRecord {
    pub fn to_entry(&self) -> JournalEntry {
        let body = if self.body.is_empty() {
            None
        } else if !self.truncated
            && let Ok(v) = serde_json::from_slice::<Value>(&self.body)
        {
            Some(v)
        } else {
            Some(Value::String(
                String::from_utf8_lossy(&self.body).into_owned(),
            ))
        };
        JournalEntry {
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            headers: self.headers.clone(),
            body,
            body_size: self.body_size,
            body_truncated: self.truncated,
            status: self.status,
        }
    }
}

#[derive(Default)]
pub struct Journal {
    pub records: Vec<JournalRecord>,
    retained: usize,
    trim_cursor: usize,
}

impl Journal {
    fn push(&mut self, rec: JournalRecord) -> usize {
        self.retained += rec.body.len();
        self.records.push(rec);
        while self.retained > JOURNAL_BODY_BUDGET && self.trim_cursor < self.records.len() {
            let r = &mut self.records[self.trim_cursor];
            let keep = r.body.len().min(1024);
            if r.body.len() > keep {
                self.retained -= r.body.len() - keep;
                r.body = Bytes::copy_from_slice(&r.body[..keep]);
                r.truncated = true;
            }
            self.trim_cursor += 1;
        }
        self.records.len() - 1
    }
    pub fn clear(&mut self) {
        *self = Journal::default();
    }
}

pub struct Shared {
    pub db: Mutex<Db>,
    pub journal: Mutex<Journal>,
    pub faults: Mutex<Vec<Fault>>,
    pub rate: Mutex<HashMap<String, VecDeque<Instant>>>,
    pub persist_to: Option<PathBuf>,
    pub dirty: AtomicBool,
    pub dirty_notify: Notify,
    pub base_url: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn db(&self) -> MutexGuard<'_, Db> {
        lock(&self.db)
    }
    pub fn journal(&self) -> MutexGuard<'_, Journal> {
        lock(&self.journal)
    }
    pub fn faults(&self) -> MutexGuard<'_, Vec<Fault>> {
        lock(&self.faults)
    }
    pub fn rate(&self) -> MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        lock(&self.rate)
    }

    pub fn mark_dirty(&self) {
        if self.persist_to.is_some() {
            self.dirty.store(true, Ordering::SeqCst);
            self.dirty_notify.notify_one();
        }
    }

    /// Write the state file now if there are unsaved changes (temp file, then rename).
    pub fn persist_if_dirty(&self) -> anyhow::Result<()> {
        let Some(path) = &self.persist_to else {
            return Ok(());
        };
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let state = self.db().to_state();
        write_state_atomically(path, &state)
    }

    fn take_fault(&self, method: &Method, path: &str) -> Option<FaultAction> {
        let mut faults = self.faults();
        let idx = faults.iter().position(|f| {
            (f.method == "*" || f.method.eq_ignore_ascii_case(method.as_str()))
                && path_matches(&f.path, path)
        })?;
        if faults[idx].after > 0 {
            faults[idx].after -= 1;
            return None;
        }
        let action = faults[idx].action.clone();
        if faults[idx].times > 0 {
            faults[idx].times -= 1;
            if faults[idx].times == 0 {
                faults.remove(idx);
            }
        }
        Some(action)
    }

    /// Count a data-source request; `Err(next valid instant)` when over the limit.
    fn rate_check(&self, token: &str) -> Result<(), chrono::DateTime<chrono::Utc>> {
        let (on, max, window) = {
            let db = self.db();
            (
                db.settings.rate_limit,
                db.settings.rate_limit_max as usize,
                Duration::from_millis(db.settings.rate_limit_window_ms),
            )
        };
        if !on {
            return Ok(());
        }
        let now = Instant::now();
        let mut rate = self.rate();
        let q = rate.entry(token.to_string()).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
            q.pop_front();
        }
        if q.len() >= max {
            let wait = q
                .front()
                .map(|t| window.saturating_sub(now.duration_since(*t)))
                .unwrap_or(window);
            let next = chrono::Utc::now()
                + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero());
            return Err(next);
        }
        q.push_back(now);
        Ok(())
    }
}

pub fn write_state_atomically(path: &std::path::Path, state: &State) -> anyhow::Result<()> {
    use std::io::Write;
    let text = serde_json::to_vec_pretty(state)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// `*` matches one segment, `**` any number of remaining segments.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern = pattern.split('?').next().unwrap_or("");
    let p: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let s: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    fn go(p: &[&str], s: &[&str]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(&"**"), _) => true,
            (Some(a), Some(b)) => (*a == "*" || a == b) && go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(&p, &s)
}

/// The authenticated caller, put in request extensions by the middleware.
#[derive(Clone, Debug)]
pub struct Auth {
    pub token: String,
    pub user_id: u64,
}

/// An error answered as JSON.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            body: json!({ "message": message.into() }),
        }
    }
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }
    pub fn unauthorised() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            body: json!({
                "error": "not authorised",
                "message": "The auth_token provided doesn't belong to any user."
            }),
        }
    }
    pub fn file_access(what: &str) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            body: json!({
                "error": "file.access",
                "message": format!("You do not have permission to {what}")
            }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(
            self.status,
            serde_json::to_vec(&self.body).unwrap_or_default(),
        )
    }
}

pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

pub fn json_value(status: StatusCode, v: &Value) -> Response {
    json_response(status, serde_json::to_vec(v).unwrap_or_default())
}

fn query_param(query: &str, name: &str) -> Option<String> {
    url_pairs(query)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

pub fn url_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded_pairs(query)
}

fn serde_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    // axum's Query extractor uses serde_urlencoded; reuse it through Uri parsing.
    let uri: Uri = match format!("/?{query}").parse() {
        Ok(u) => u,
        Err(_) => return Vec::new(),
    };
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

/// The token from any of the four documented places.
pub fn extract_token(headers: &HeaderMap, query: &str) -> Option<String> {
    if let Some(t) = headers.get("auth-token").and_then(|v| v.to_str().ok()) {
        return Some(t.trim().to_string());
    }
    if let Some(t) = query_param(query, "auth_token") {
        return Some(t);
    }
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let auth = auth.trim();
        if auth.len() > 7 && auth[..7].eq_ignore_ascii_case("bearer ") {
            let b = auth[7..].trim();
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b)
                && let Ok(s) = String::from_utf8(bytes)
            {
                return Some(s);
            }
            return Some(b.to_string());
        }
    }
    for cookie in headers.get_all(header::COOKIE) {
        if let Ok(c) = cookie.to_str() {
            for part in c.split(';') {
                if let Some(v) = part.trim().strip_prefix("auth_token=") {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

fn normalize(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

fn is_public(method: &Method, path: &str) -> bool {
    // The file URL handed out in `url` works without a token, like a CDN link.
    method == Method::GET && {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        segs.len() >= 5 && segs[..3] == ["v1", "media", "files"] && segs[4] == "contents"
    }
}

/// Make sure every error response is JSON with a string `message`.
async fn ensure_json_error(resp: Response) -> Response {
    if !(resp.status().is_client_error() || resp.status().is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let status = resp.status();
    let text = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("Error").to_string()
    } else {
        text
    };
    json_value(status, &json!({ "message": message }))
}

/// Outer middleware wrapped around the whole router.
pub async fn outer(AxState(sh): AxState<Arc<Shared>>, req: Request, next: Next) -> Response {
    let raw_path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let norm = normalize(&raw_path);
    let mut req = req;
    if norm != raw_path {
        let pq = if query.is_empty() {
            norm.clone()
        } else {
            format!("{norm}?{query}")
        };
        if let Ok(uri) = pq.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    let method = req.method().clone();

    if norm == "/__emulator" || norm.starts_with("/__emulator/") {
        let resp = ensure_json_error(next.run(req).await).await;
        if method != Method::GET && resp.status().is_success() {
            sh.mark_dirty();
        }
        return resp;
    }

    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return ApiError::new(413, "Request body too large").into_response(),
    };

    // Journal.
    let mut headers = std::collections::BTreeMap::new();
    for name in ["auth-token", "user-agent", "content-type"] {
        if let Some(v) = parts.headers.get(name) {
            headers.insert(
                name.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into(),
            );
        }
    }
    let (jbody, truncated) = if bytes.len() <= JOURNAL_PARSE_LIMIT {
        (bytes.clone(), false)
    } else {
        (Bytes::copy_from_slice(&bytes[..JOURNAL_PREFIX]), true)
    };
    let jidx = sh.journal().push(JournalRecord {
        method: method.to_string(),
        path: raw_path.clone(),
        query: query.clone(),
        headers,
        body: jbody,
        body_size: bytes.len(),
        truncated,
        status: 0,
    });
    let set_status = |status: u16| set_journal_status(&sh, jidx, status);

    // Faults.
    let fault = sh.take_fault(&method, &norm);
    let handle = || handle(sh.clone(), parts, bytes, query, norm, jidx, next);
    match fault {
        None => handle().await,
        Some(FaultAction::Respond { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            set_status(status.as_u16());
            json_value(status, &body)
        }
        Some(FaultAction::RespondText {
            status,
            content_type,
            body,
            apply,
        }) => {
            if apply {
                let _ = detached(handle()).await;
            }
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            set_status(status.as_u16());
            let mut r = Response::new(Body::from(body));
            *r.status_mut() = status;
            if let Ok(v) = HeaderValue::from_str(&content_type) {
                r.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            r
        }
        Some(FaultAction::Delay(d)) => {
            let work = handle();
            detached(async move {
                tokio::time::sleep(d).await;
                work.await
            })
            .await
        }
        Some(FaultAction::Drop) => drop_connection(),
        Some(FaultAction::ApplyThenDrop) => {
            let _ = detached(handle()).await;
            set_status(0);
            drop_connection()
        }
        Some(FaultAction::ApplyThenDelay(d)) => {
            let resp = detached(handle()).await;
            tokio::time::sleep(d).await;
            resp
        }
    }
}

fn set_journal_status(sh: &Shared, jidx: usize, status: u16) {
    if let Some(r) = sh.journal().records.get_mut(jidx) {
        r.status = status;
    }
}

/// Run the handling of a request on its own task, so it goes on (and its effect lands) even
/// when the client goes away and the connection's task is dropped.
async fn detached(work: impl std::future::Future<Output = Response> + Send + 'static) -> Response {
    match tokio::spawn(work).await {
        Ok(r) => r,
        Err(_) => ApiError::new(500, "the request's handler failed").into_response(),
    }
}

/// Close the connection without an answer: unwinding the connection task closes the socket;
/// `resume_unwind` skips the panic hook, so nothing is printed.
fn drop_connection() -> Response {
    std::panic::resume_unwind(Box::new("fliplet-emulator: injected dropped connection"))
}

/// Handle a (journalled, fault-free) request: form bodies, auth, rate limit, the router.
async fn handle(
    sh: Arc<Shared>,
    parts: axum::http::request::Parts,
    bytes: Bytes,
    query: String,
    norm: String,
    jidx: usize,
    next: Next,
) -> Response {
    let method = parts.method.clone();
    let set_status = |status: u16| set_journal_status(&sh, jidx, status);
    // Url-encoded bodies are accepted too (docs/fliplet-api.md, "Endpoints"); handlers see them
    // as a JSON object of strings.
    let form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let mut parts = parts;
    let body = if form {
        let obj: serde_json::Map<String, Value> = url_pairs(&String::from_utf8_lossy(&bytes))
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Body::from(serde_json::to_vec(&obj).unwrap_or_default())
    } else {
        Body::from(bytes)
    };
    let mut req = Request::from_parts(parts, body);
    if norm.starts_with("/v1/") && !is_public(&method, &norm) {
        let token = extract_token(req.headers(), &query);
        let auth = token.and_then(|t| {
            let db = sh.db();
            db.tokens.get(&t).map(|i| Auth {
                token: t.clone(),
                user_id: i.user_id,
            })
        });
        let Some(auth) = auth else {
            set_status(401);
            return ApiError::unauthorised().into_response();
        };
        if (norm == "/v1/data-sources" || norm.starts_with("/v1/data-sources/"))
            && let Err(next_valid) = sh.rate_check(&auth.token)
        {
            set_status(429);
            return json_value(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({
                    "message": "You've made too many attempts in a short period of time. Please try again later.",
                    "referenceUrl": "https://developers.fliplet.com/Rate-limiting-for-API.html",
                    "nextValidRequestDate": next_valid.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                }),
            );
        }
        req.extensions_mut().insert(auth);
    }
    let resp = ensure_json_error(next.run(req).await).await;
    set_status(resp.status().as_u16());
    if method != Method::GET && resp.status().is_success() {
        sh.mark_dirty();
    }
    resp
}
