//! File columns (`files:`): fetch each file a row points at and upload it to the organization's
//! "Files uploaded from DIS" media folder (docs/fliplet-api.md, "Files upload").
//!
//! For every row being inserted or updated and every configured column whose value is set:
//! - the file is fetched: `remote` (HTTP/HTTPS GET, with the configured headers), `local` (an
//!   absolute path, or a path relative to `directory`), or `sharepoint` (HTTP/HTTPS with NTLM
//!   authentication, as SharePoint on-premises uses);
//! - its MD5 is compared with the `metadata.checksum` / `metadata.clientChecksum` of the files
//!   already in the folder: a match is reused, nothing is uploaded;
//! - otherwise it is uploaded as `<primary key value>-<file name>`. A file uploaded earlier
//!   in the same run (same MD5) is reused too (the original uploaded it again);
//! - the row's column then holds the Fliplet URL, and `<column>MediaFileId` the media file id.
//!
//! A file that cannot be fetched is logged with its row and the reason, and the column is left
//! out of that row's commit (never blanked), as the original does. Failing to *upload* (the
//! Fliplet API refusing or failing after retries) stops the run before any commit.
//!
//! In a dry run files are fetched (to know their checksums) but nothing is uploaded and no
//! folder is created: the report says which files would be uploaded or reused.
//!
//! Secrets (header values, SharePoint passwords) never appear in a message: reasons name the
//! row, the column and a redacted form of the location (no user info, no query string).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Mutex, OnceCell};

use crate::config::{FileColumn, FileSource};
use crate::crypto::md5_hex;
use crate::fliplet::{ApiError, Client, MediaFile, UPLOAD_FOLDER_NAME};
use crate::secret::Secret;

/// What happened (or would happen) to one file of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    /// Uploaded to Fliplet in this run.
    Uploaded,
    /// A file with the same MD5 checksum already existed on Fliplet (or was uploaded earlier
    /// in this run): no upload.
    Reused,
    /// Dry run: a real run would upload it.
    WouldUpload,
    /// The file could not be fetched: the column is left out of this row's commit.
    Failed,
}

/// One file of one row. Safe to show: `source` is redacted.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct FileReport {
    /// Index of the row in the source table (0-based; the preview shows it 1-based).
    #[serde(skip)]
    pub row: usize,
    pub column: String,
    /// The column's value, redacted (URLs lose user info and query string).
    pub source: String,
    pub action: FileAction,
    /// Media file name (`<primary key>-<name>`), when fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub size: Option<u64>,
    /// MD5 hex of the bytes, when fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub checksum: Option<String>,
    /// The Fliplet media file (uploaded or reused); `None` in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub media_file_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub url: Option<String>,
    /// Why the file could not be fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub reason: Option<String>,
}

/// The files flow failed as a whole (Fliplet refused or kept failing): nothing is committed.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("Cannot find or create the \"{UPLOAD_FOLDER_NAME}\" media folder: {0}")]
    Folder(ApiError),
    #[error(
        "The Fliplet user of this token belongs to no organization, so files cannot be uploaded"
    )]
    NoOrganization,
    #[error("Cannot upload file \"{name}\" (row {row}, column \"{column}\") to Fliplet: {source}")]
    Upload {
        name: String,
        row: String,
        column: String,
        source: ApiError,
    },
}

/// One file to process: row, configured column and the column's value.
#[derive(Debug, Clone)]
pub struct FileTask {
    pub row: usize,
    /// Index into the operation's `files` list.
    pub file: usize,
    /// The value of the column (a URL or a path).
    pub location: String,
    /// The row's primary key value as text, prefixed to the file name.
    pub key: Option<String>,
}

/// The tasks of a set of rows: every configured column whose value is a non-empty string
/// (null, empty and non-string values are left as they are, like the original skips falsy
/// values).
pub fn tasks(
    table: &crate::source::Table,
    rows: &[usize],
    files: &[FileColumn],
    primary_column: Option<&str>,
) -> Vec<FileTask> {
    let pk = primary_column.and_then(|p| table.column_index(p));
    let cols: Vec<(usize, usize)> = files
        .iter()
        .enumerate()
        .filter_map(|(i, f)| table.column_index(&f.column).map(|c| (i, c)))
        .collect();
    let mut out = Vec::new();
    for &r in rows {
        for &(file, c) in &cols {
            let Some(location) = table.rows[r][c].as_str().map(str::trim) else {
                continue;
            };
            if location.is_empty() {
                continue;
            }
            let key = pk.and_then(|p| match &table.rows[r][p] {
                Value::Null => None,
                Value::String(s) if s.is_empty() => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            });
            out.push(FileTask {
                row: r,
                file,
                location: location.to_string(),
                key,
            });
        }
    }
    out
}

/// A fetched file.
struct Fetched {
    /// File name (no directory), before the primary key prefix.
    name: String,
    bytes: Bytes,
}

/// Where uploads go, and what is already there.
struct Target {
    organization_id: u64,
    /// `None` in a dry run when the folder does not exist yet.
    folder_id: Option<u64>,
    /// Files already in the folder, by MD5 (their `checksum` and their `clientChecksum`,
    /// lower-cased): O(1) per file, however full the folder is.
    existing: HashMap<String, MediaFile>,
}

/// The state of one run's files flow.
pub struct FilesFlow {
    client: Client,
    http: reqwest::Client,
    dry_run: bool,
    target: Target,
    /// MD5 -> the file uploaded (or, in a dry run, that would be uploaded) in this run.
    in_run: Mutex<HashMap<String, Arc<OnceCell<Option<MediaFile>>>>>,
}

impl FilesFlow {
    /// Steps 1–3 of the files upload flow (docs/fliplet-api.md, "Files upload"): the
    /// organization, the upload folder (created when missing, except in a dry run) and its
    /// files (the dedup cache).
    pub async fn prepare(client: &Client, dry_run: bool) -> Result<FilesFlow, FilesError> {
        let org = client
            .organizations()
            .await
            .map_err(FilesError::Folder)?
            .into_iter()
            .next()
            .ok_or(FilesError::NoOrganization)?;
        let listing = client
            .organization_media(org.id)
            .await
            .map_err(FilesError::Folder)?;
        let folder = listing
            .folders
            .into_iter()
            .find(|f| f.name == UPLOAD_FOLDER_NAME);
        let folder_id = match folder {
            Some(f) => Some(f.id),
            None if dry_run => {
                tracing::info!(
                    "The \"{UPLOAD_FOLDER_NAME}\" media folder does not exist yet: a real run would create it (dry run: nothing is written)."
                );
                None
            }
            None => {
                tracing::info!("Creating the \"{UPLOAD_FOLDER_NAME}\" media folder...");
                let f = client
                    .create_media_folder(UPLOAD_FOLDER_NAME, org.id)
                    .await
                    .map_err(FilesError::Folder)?;
                Some(f.id)
            }
        };
        let existing = match folder_id {
            Some(f) => {
                client
                    .folder_media(f, org.id)
                    .await
                    .map_err(FilesError::Folder)?
                    .files
            }
            None => Vec::new(),
        };
        tracing::debug!(
            "{} files found in the \"{UPLOAD_FOLDER_NAME}\" media folder.",
            existing.len()
        );
        let mut by_checksum: HashMap<String, MediaFile> = HashMap::new();
        for f in existing {
            let sums: Vec<String> = f
                .metadata
                .iter()
                .flat_map(|m| [m.checksum.clone(), m.client_checksum.clone()])
                .flatten()
                .map(|c| c.to_ascii_lowercase())
                .collect();
            for c in sums {
                by_checksum.entry(c).or_insert_with(|| f.clone());
            }
        }
        let http = http_client(|b| b).map_err(|e| FilesError::Folder(ApiError::Setup(e)))?;
        Ok(FilesFlow {
            client: client.clone(),
            http,
            dry_run,
            target: Target {
                organization_id: org.id,
                folder_id,
                existing: by_checksum,
            },
            in_run: Mutex::new(HashMap::new()),
        })
    }

    /// Fetch and upload (or reuse) every task's file, at most `concurrency` at a time. The
    /// reports come back in task order.
    pub async fn run(
        &self,
        tasks: &[FileTask],
        files: &[FileColumn],
        concurrency: usize,
        row_label: &(dyn Fn(usize) -> String + Sync),
    ) -> Result<Vec<FileReport>, FilesError> {
        // The futures are built first and then polled at most `concurrency` at a time (a
        // closure inside the stream combinator would make the run's future not `Send`).
        let futures: Vec<_> = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let fut = self.one(t, &files[t.file], row_label);
                async move { (i, fut.await) }
            })
            .collect();
        let results: Vec<(usize, Result<FileReport, FilesError>)> = futures::stream::iter(futures)
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut slots: Vec<Option<FileReport>> = vec![None; tasks.len()];
        for (i, r) in results {
            slots[i] = Some(r?);
        }
        Ok(slots
            .into_iter()
            .map(|s| s.expect("every task ran"))
            .collect())
    }

    async fn one(
        &self,
        task: &FileTask,
        col: &FileColumn,
        row_label: &(dyn Fn(usize) -> String + Sync),
    ) -> Result<FileReport, FilesError> {
        let source = redact_location(&task.location);
        let mut report = FileReport {
            row: task.row,
            column: col.column.clone(),
            source: source.clone(),
            action: FileAction::Failed,
            name: None,
            size: None,
            checksum: None,
            media_file_id: None,
            url: None,
            reason: None,
        };
        let fetched = match fetch(&self.http, &col.source, &task.location).await {
            Ok(f) => f,
            Err(reason) => {
                tracing::error!(
                    "Cannot fetch the file of row #{} column \"{}\" ({source}): {reason}. The column is left out of this row's commit.",
                    row_label(task.row),
                    col.column
                );
                report.reason = Some(reason);
                return Ok(report);
            }
        };
        let checksum = md5_hex(&fetched.bytes);
        let name = match &task.key {
            Some(k) => format!("{k}-{}", fetched.name),
            None => fetched.name.clone(),
        };
        report.name = Some(name.clone());
        report.size = Some(fetched.bytes.len() as u64);
        report.checksum = Some(checksum.clone());

        if let Some(f) = self.target.existing.get(&checksum) {
            tracing::debug!(
                "File \"{name}\" (row #{}) already exists on Fliplet with ID {} (same checksum): reusing it.",
                row_label(task.row),
                f.id
            );
            report.action = FileAction::Reused;
            report.media_file_id = Some(f.id);
            report.url = Some(f.url.clone());
            return Ok(report);
        }

        let cell = self
            .in_run
            .lock()
            .await
            .entry(checksum.clone())
            .or_default()
            .clone();
        let mut first = false;
        let first_ref = &mut first;
        let (name_ref, checksum_ref) = (name.as_str(), checksum.as_str());
        let bytes = fetched.bytes.clone();
        let uploaded = cell
            .get_or_try_init(move || {
                *first_ref = true;
                self.upload(name_ref, checksum_ref, bytes, task, col, row_label)
            })
            .await?;
        report.action = match (first, self.dry_run) {
            (true, true) => FileAction::WouldUpload,
            (true, false) => FileAction::Uploaded,
            (false, _) => FileAction::Reused,
        };
        if let Some(f) = uploaded {
            if !first {
                tracing::debug!(
                    "File \"{name}\" (row #{}) was uploaded earlier in this run with ID {}: reusing it.",
                    row_label(task.row),
                    f.id
                );
            }
            report.media_file_id = Some(f.id);
            report.url = Some(f.url.clone());
        }
        Ok(report)
    }
}

impl FilesFlow {
    /// Upload one file (`None` in a dry run: nothing is uploaded).
    async fn upload(
        &self,
        name: &str,
        checksum: &str,
        bytes: Bytes,
        task: &FileTask,
        col: &FileColumn,
        row_label: &(dyn Fn(usize) -> String + Sync),
    ) -> Result<Option<MediaFile>, FilesError> {
        if self.dry_run {
            return Ok(None);
        }
        let folder = self
            .target
            .folder_id
            .expect("a real run has created the folder");
        let content_type = mime_guess::from_path(name)
            .first_raw()
            .unwrap_or("application/octet-stream");
        tracing::info!("Uploading file \"{name}\" to Fliplet...");
        self.client
            .upload_media_file(
                folder,
                self.target.organization_id,
                name,
                content_type,
                bytes,
                checksum,
            )
            .await
            .map(Some)
            .map_err(|source| FilesError::Upload {
                name: name.to_string(),
                row: row_label(task.row),
                column: col.column.clone(),
                source,
            })
    }
}

/// The HTTP client fetching files: [`crate::net::client_builder`] (verified TLS with the OS
/// trust store plus the CA file of `FLIPLET_CA_FILE`, for intranet servers behind a corporate
/// CA), `configure` (pool settings), 5-minute timeout.
fn http_client(
    configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> Result<reqwest::Client, String> {
    let builder = crate::net::client_builder(crate::net::ca_file_from_env().as_deref())
        .map_err(|e| e.to_string())?;
    configure(builder)
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| format!("cannot set up HTTP: {e}"))
}

/// A location without what may be secret: user info and query string of URLs.
pub fn redact_location(location: &str) -> String {
    match url::Url::parse(location) {
        Ok(mut u) if u.has_host() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            let had_query = u.query().is_some();
            u.set_query(None);
            u.set_fragment(None);
            let mut s = u.to_string();
            if had_query {
                s.push_str("?…");
            }
            s
        }
        _ => location.to_string(),
    }
}

/// Every http(s) URL in a text redacted like [`redact_location`] (a reason that quotes one).
pub fn redact_urls_in_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest
        .find("http://")
        .into_iter()
        .chain(rest.find("https://"))
        .min()
    {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '>' | ','))
            .unwrap_or(tail.len());
        out.push_str(&redact_location(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// A row (or entry data) for a preview: the URLs held by file columns lose their user info
/// and query string (signed URLs carry credentials there).
pub fn redact_file_columns(row: &mut Value, file_columns: &[String]) {
    let Some(object) = row.as_object_mut() else {
        return;
    };
    for column in file_columns {
        if let Some(v) = object.get_mut(column) {
            redact_file_value(v);
        }
    }
}

/// One file column's value for a preview: a URL loses its user info and query string.
pub fn redact_file_value(value: &mut Value) {
    if let Value::String(s) = value
        && (s.contains("://") || s.contains('?'))
    {
        *s = redact_location(s.trim());
    }
}

impl FileReport {
    /// This report as a preview shows it: no query string in any URL.
    pub fn redacted(&self) -> FileReport {
        FileReport {
            source: redact_location(&self.source),
            url: self.url.as_deref().map(redact_location),
            reason: self.reason.as_deref().map(redact_urls_in_text),
            ..self.clone()
        }
    }
}

/// The last path segment of a URL, percent-decoded (`file` when there is none).
fn url_file_name(u: &url::Url) -> String {
    let seg = u
        .path_segments()
        .and_then(|mut s| s.next_back().map(str::to_owned))
        .unwrap_or_default();
    let decoded = percent_decode(&seg);
    if decoded.is_empty() {
        "file".to_string()
    } else {
        decoded
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

fn parse_http_url(location: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(location).map_err(|e| format!("not a valid URL ({e})"))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(format!(
            "not an HTTP or HTTPS URL (scheme \"{}\")",
            u.scheme()
        ));
    }
    Ok(u)
}

/// Fetch one file. Errors are reasons for the log, without secrets.
async fn fetch(
    http: &reqwest::Client,
    source: &FileSource,
    location: &str,
) -> Result<Fetched, String> {
    match source {
        FileSource::Remote { headers } => {
            let u = parse_http_url(location)?;
            let mut req = http.get(u.clone());
            for (k, v) in headers {
                req = req.header(k.as_str(), v.expose());
            }
            let resp = req.send().await.map_err(http_reason)?;
            let status = resp.status();
            if !status.is_success() {
                return Err(format!("the server answered HTTP {status}"));
            }
            let bytes = resp.bytes().await.map_err(http_reason)?;
            Ok(Fetched {
                name: url_file_name(&u),
                bytes,
            })
        }
        FileSource::Local { directory } => {
            let path = local_path(directory.as_deref(), location)?;
            let bytes = tokio::fs::read(&path)
                .await
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "file".to_string());
            Ok(Fetched {
                name,
                bytes: Bytes::from(bytes),
            })
        }
        FileSource::Sharepoint {
            username,
            password,
            inherit_file_type,
        } => {
            let u = parse_http_url(location)?;
            let (bytes, content_type) = ntlm::get(&u, username, password).await?;
            let mut name = url_file_name(&u);
            if !inherit_file_type {
                name = with_content_type_extension(&name, content_type.as_deref());
            }
            Ok(Fetched { name, bytes })
        }
    }
}

/// Without `fileType: inherit`, a SharePoint file is named after the content type the server
/// sent (`photo` served as `image/png` becomes `photo.png`); the name's own extension is kept
/// when it already matches that type or when the type is unknown or generic.
fn with_content_type_extension(name: &str, content_type: Option<&str>) -> String {
    let Some(ct) = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "application/octet-stream")
    else {
        return name.to_string();
    };
    let Some(exts) = mime_guess::get_mime_extensions_str(&ct) else {
        return name.to_string();
    };
    let path = Path::new(name);
    let current = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if current.as_deref().is_some_and(|c| exts.contains(&c)) {
        return name.to_string();
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string());
    format!("{stem}.{}", exts[0])
}

/// The path of a `local` file: the value itself when absolute, else relative to `directory`.
fn local_path(directory: Option<&Path>, location: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(location);
    if p.is_absolute() || is_windows_absolute(location) {
        return Ok(p);
    }
    match directory {
        Some(d) => Ok(d.join(p)),
        None => Err(format!(
            "\"{location}\" is a relative path and this `files` entry has no `directory` to resolve it against"
        )),
    }
}

/// `C:\…` or `\\server\share\…` (also accepted as absolute on other systems, so the message
/// is "cannot read", not "relative path").
fn is_windows_absolute(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/'))
        || s.starts_with("\\\\")
}

fn http_reason(e: reqwest::Error) -> String {
    let what = crate::net::failure(&e);
    // Without the URL: it is reported (redacted) separately.
    let e = e.without_url();
    format!("the request {what}: {}", crate::net::error_chain(&e))
}

/// HTTP GET with NTLM authentication (what SharePoint on-premises asks for), using `sspi`.
pub mod ntlm {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    use bytes::Bytes;
    use reqwest::StatusCode;
    use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
    use sspi::{
        AuthIdentity, BufferType, ClientRequestFlags, CredentialUse, DataRepresentation, Ntlm,
        SecurityBuffer, Sspi, SspiImpl, Username,
    };

    use super::{Secret, http_reason};

    /// The NTLM client side of one connection.
    struct Client {
        ntlm: Ntlm,
        creds: Option<sspi::AuthIdentityBuffers>,
    }

    impl Client {
        fn new(username: &str, password: &Secret) -> Result<Client, String> {
            let username = Username::parse(username)
                .map_err(|_| "the SharePoint `username` is not a valid user name (use `user`, `DOMAIN\\user` or `user@domain`)".to_string())?;
            let identity = AuthIdentity {
                username,
                password: password.expose().to_string().into(),
            };
            let mut ntlm = Ntlm::new();
            let acq = ntlm
                .acquire_credentials_handle()
                .with_credential_use(CredentialUse::Outbound)
                .with_auth_data(&identity)
                .execute(&mut ntlm)
                .map_err(|e| format!("NTLM set-up failed: {:?}", e.error_type))?;
            Ok(Client {
                ntlm,
                creds: acq.credentials_handle,
            })
        }

        /// The next token to send, given the server's (none for the first message).
        fn step(&mut self, input: Option<Vec<u8>>) -> Result<Vec<u8>, String> {
            let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
            let mut input = input.map(|i| vec![SecurityBuffer::new(i, BufferType::Token)]);
            let mut builder = self
                .ntlm
                .initialize_security_context()
                .with_credentials_handle(&mut self.creds)
                .with_context_requirements(ClientRequestFlags::ALLOCATE_MEMORY)
                .with_target_data_representation(DataRepresentation::Native)
                .with_output(&mut output);
            if let Some(i) = input.as_mut() {
                builder = builder.with_input(i);
            }
            self.ntlm
                .initialize_security_context_impl(&mut builder)
                .and_then(|mut g| g.resolve_to_result())
                .map_err(|e| format!("NTLM handshake failed: {:?}", e.error_type))?;
            Ok(std::mem::take(&mut output[0].buffer))
        }
    }

    /// The NTLM token of a `WWW-Authenticate: NTLM <base64>` header, if any.
    fn challenge(headers: &HeaderMap) -> Option<Vec<u8>> {
        headers.get_all(WWW_AUTHENTICATE).iter().find_map(|v| {
            let v = v.to_str().ok()?.trim();
            let (scheme, token) = v.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("NTLM") {
                return None;
            }
            B64.decode(token.trim()).ok()
        })
    }

    fn offers_ntlm(headers: &HeaderMap) -> bool {
        headers.get_all(WWW_AUTHENTICATE).iter().any(|v| {
            v.to_str()
                .ok()
                .and_then(|v| v.split_whitespace().next())
                .is_some_and(|s| s.eq_ignore_ascii_case("NTLM"))
        })
    }

    /// GET `url`, authenticating with NTLM when the server asks for it. The handshake runs
    /// on one kept-alive connection (NTLM authenticates the connection, not the request).
    /// Returns the body and its content type.
    pub async fn get(
        url: &url::Url,
        username: &str,
        password: &Secret,
    ) -> Result<(Bytes, Option<String>), String> {
        // A client of its own: one connection, reused for the three requests.
        let http = super::http_client(|b| b.pool_max_idle_per_host(1))?;
        let mut client = Client::new(username, password)?;
        let negotiate = client.step(None)?;
        let resp = http
            .get(url.clone())
            .header(AUTHORIZATION, format!("NTLM {}", B64.encode(&negotiate)))
            .send()
            .await
            .map_err(http_reason)?;
        let resp = if resp.status() == StatusCode::UNAUTHORIZED {
            let Some(token) = challenge(resp.headers()) else {
                let offered = offers_ntlm(resp.headers());
                return Err(if offered {
                    "SharePoint did not answer the NTLM negotiation with a challenge".to_string()
                } else {
                    "the server answered HTTP 401 and does not offer NTLM authentication"
                        .to_string()
                });
            };
            // Drain the body so the connection can be reused for the next step.
            let _ = resp.bytes().await;
            let authenticate = client.step(Some(token))?;
            http.get(url.clone())
                .header(AUTHORIZATION, format!("NTLM {}", B64.encode(&authenticate)))
                .send()
                .await
                .map_err(http_reason)?
        } else {
            resp
        };
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED {
            return Err(
                "SharePoint refused the NTLM login: check the `username` (DOMAIN\\user) and `password` of this `files` entry"
                    .to_string(),
            );
        }
        if !status.is_success() {
            return Err(format!("the server answered HTTP {status}"));
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp.bytes().await.map_err(http_reason)?;
        Ok((bytes, content_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_credentials_and_query() {
        assert_eq!(
            redact_location("https://user:pw@files.example/a/b.jpg?sig=SECRET#x"),
            "https://files.example/a/b.jpg?…"
        );
        assert_eq!(redact_location("/srv/photos/a.jpg"), "/srv/photos/a.jpg");
    }

    #[test]
    fn file_names_come_from_the_last_segment() {
        let u = url::Url::parse("https://x.example/dir/John%20Smith.jpg?v=1").unwrap();
        assert_eq!(url_file_name(&u), "John Smith.jpg");
        let u = url::Url::parse("https://x.example/").unwrap();
        assert_eq!(url_file_name(&u), "file");
    }

    #[test]
    fn content_type_extension_without_inherit() {
        assert_eq!(
            with_content_type_extension("photo", Some("image/png")),
            "photo.png"
        );
        assert_eq!(
            with_content_type_extension("photo.jpeg", Some("image/jpeg")),
            "photo.jpeg"
        );
        assert_eq!(
            with_content_type_extension("doc.bin", Some("application/octet-stream")),
            "doc.bin"
        );
        assert_eq!(with_content_type_extension("a.txt", None), "a.txt");
    }

    #[test]
    fn local_paths() {
        assert_eq!(
            local_path(Some(Path::new("/srv/x")), "a/b.jpg").unwrap(),
            PathBuf::from("/srv/x/a/b.jpg")
        );
        assert_eq!(
            local_path(Some(Path::new("/srv/x")), "/abs/b.jpg").unwrap(),
            PathBuf::from("/abs/b.jpg")
        );
        assert!(local_path(None, "b.jpg").is_err());
    }
}
