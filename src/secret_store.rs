//! Secret store: job secrets kept in the OS keychain (or, on a headless host without one, in a
//! sealed file), referenced from job files instead of being written in them.
//!
//! # Syntax in job files
//!
//! Any secret value of a job file (`auth_token`, `database_password`, `files[].password` of a
//! `sharepoint` file column, `encrypt.key`, `encrypt.salt`) may be written as a reference:
//!
//! ```yaml
//! auth_token: keychain:fliplet-agent/sales-sync/auth_token
//! database_password: keychain:fliplet-agent/sales-sync/database_password
//! ```
//!
//! `keychain:<name>` means: the entry of the OS keychain with service `fliplet-agent` and
//! user/account `<name>` (macOS Keychain, Windows Credential Manager, the freedesktop Secret
//! Service on Linux). Any other value is the secret itself, exactly as in the original
//! fliplet-agent YAML, so existing files keep working. [`resolve_job`] replaces references
//! by the stored values after loading; [`import_job_file`] moves the plaintext secrets of an
//! existing file into the store and rewrites the file with references.
//!
//! Names made by [`import_job_file`] are `fliplet-agent/<job id>/<key path>`, where the key
//! path is `auth_token`, `database_password`, `files/<index>/password`, `encrypt/key` or
//! `encrypt/salt`.
//!
//! # Backends
//!
//! [`SecretStore::open`] probes the OS keychain (writes, reads back and deletes a probe
//! entry). When none is reachable (a server without a desktop session, a container) it falls
//! back to a sealed file `<app_dir>/secrets.sealed`: a JSON map name → value sealed with
//! AES-256-GCM ([`crate::crypto::seal`]) under a random 32-byte key kept next to it in
//! `<app_dir>/secrets.key`. Both files are created with mode 0600 on Unix, so they are
//! readable only by this user (and root); this protects against other users and against the
//! file leaking alone, not against this user's own processes. The fallback is logged with a
//! warning and reported by [`SecretStore::fallback_reason`] so the app can show it.
//!
//! Errors ([`SecretsError`]) name the reference and say how to fix it; they never contain a
//! secret value.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use crate::config::{FileSource, Job, Operation};
use crate::crypto;
use crate::secret::Secret;

/// Prefix of a secret reference in a job file.
pub const REFERENCE_PREFIX: &str = "keychain:";
/// Keychain service under which every entry is stored.
pub const SERVICE: &str = "fliplet-agent";
/// File name of the sealed-file fallback, inside the app directory.
pub const SEALED_FILE: &str = "secrets.sealed";
/// File name of the sealing key of the fallback, inside the app directory.
pub const KEY_FILE: &str = "secrets.key";

/// How long the keychain probe may take before the keychain is considered unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where secrets are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The OS keychain (service [`SERVICE`]).
    Keychain,
    /// The sealed-file fallback at `path` (its key is [`KEY_FILE`] in the same folder).
    SealedFile { path: PathBuf },
}

/// Why a secret operation failed. Messages say what to do; they never contain a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A `keychain:<name>` reference points to no stored entry.
    #[error(
        "{field}: the secret `{REFERENCE_PREFIX}{name}` is not in the {backend}; store it \
         again under that name (re-import the job file or enter it in the app's settings), \
         or write the value itself in the job file instead of the reference"
    )]
    MissingReference {
        /// Which key of the job refers to it (`auth_token`, `database_password`, ...).
        field: String,
        name: String,
        backend: String,
    },

    /// No entry with this name.
    #[error("no secret named `{name}` is stored in the {backend}")]
    NotFound { name: String, backend: String },

    /// A name that cannot be used (empty, or containing control characters).
    #[error("`{name}` cannot be used as a secret name: {reason}")]
    InvalidName { name: String, reason: &'static str },

    /// The OS keychain refused or failed.
    #[error(
        "the OS keychain failed while accessing `{name}`: {message}; check that the \
         keychain is unlocked (log in to the desktop session) and try again"
    )]
    Keychain { name: String, message: String },

    /// Reading or writing a file failed.
    #[error(
        "cannot {action} {path}: {message}; check that the folder exists and is writable by this user"
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        message: String,
    },

    /// The sealed file could not be opened (wrong key file, corrupted or altered).
    #[error(
        "cannot open the sealed secrets file {path}: {reason}; if {key} was lost or \
         replaced, delete both files and store the secrets again"
    )]
    Sealed {
        path: PathBuf,
        key: PathBuf,
        reason: String,
    },

    /// Listing entries is not possible with this backend.
    #[error("the OS keychain cannot list the stored secrets; look them up by name")]
    ListUnsupported,

    /// The job file could not be rewritten.
    #[error("{path}:{line}: cannot import `{key}`: {reason}")]
    Import {
        path: PathBuf,
        line: usize,
        key: String,
        reason: String,
    },
}

fn io_err(action: &'static str, path: &Path, e: std::io::Error) -> SecretsError {
    SecretsError::Io {
        action,
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The secret store shared by the CLI and the desktop app.
pub struct SecretStore {
    backend: Backend,
    fallback_reason: Option<String>,
    /// Serialises read-modify-write of the sealed file within this process.
    lock: Mutex<()>,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStore")
            .field("backend", &self.backend)
            .field("fallback_reason", &self.fallback_reason)
            .finish()
    }
}

impl SecretStore {
    /// The OS keychain if one is reachable, otherwise the sealed file in `app_dir` (with a
    /// `tracing::warn!` and a [`fallback_reason`](Self::fallback_reason)).
    pub fn open(app_dir: &Path) -> SecretStore {
        match probe_keychain() {
            Ok(()) => SecretStore::keychain_unchecked(),
            Err(reason) => {
                let path = app_dir.join(SEALED_FILE);
                tracing::warn!(
                    "no OS keychain is reachable ({reason}); secrets are kept in the sealed \
                     file {}, readable only by this user",
                    path.display()
                );
                SecretStore {
                    backend: Backend::SealedFile { path },
                    fallback_reason: Some(reason),
                    lock: Mutex::new(()),
                }
            }
        }
    }

    /// The OS keychain, after checking that it works.
    pub fn keychain() -> Result<SecretStore, SecretsError> {
        probe_keychain().map_err(|message| SecretsError::Keychain {
            name: "(probe)".into(),
            message,
        })?;
        Ok(SecretStore::keychain_unchecked())
    }

    fn keychain_unchecked() -> SecretStore {
        SecretStore {
            backend: Backend::Keychain,
            fallback_reason: None,
            lock: Mutex::new(()),
        }
    }

    /// The sealed file in `app_dir`, without trying the keychain (headless hosts, tests).
    pub fn sealed_file(app_dir: &Path) -> SecretStore {
        SecretStore {
            backend: Backend::SealedFile {
                path: app_dir.join(SEALED_FILE),
            },
            fallback_reason: None,
            lock: Mutex::new(()),
        }
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Why [`open`](Self::open) fell back to the sealed file (`None` when it did not).
    pub fn fallback_reason(&self) -> Option<String> {
        self.fallback_reason.clone()
    }

    /// "OS keychain" or "sealed secrets file /path", for messages.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Keychain => format!("OS keychain (service \"{SERVICE}\")"),
            Backend::SealedFile { path } => format!("sealed secrets file {}", path.display()),
        }
    }

    /// Store (or replace) the secret `name`.
    pub fn set(&self, name: &str, value: &Secret) -> Result<(), SecretsError> {
        check_name(name)?;
        match &self.backend {
            Backend::Keychain => keychain_entry(name)?
                .set_password(value.expose())
                .map_err(|e| keychain_err(name, e)),
            Backend::SealedFile { path } => {
                let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
                let mut map = read_sealed(path)?;
                map.insert(name.to_owned(), value.expose().to_owned());
                write_sealed(path, &map)
            }
        }
    }

    /// The secret `name`; [`SecretsError::NotFound`] when there is none.
    pub fn get(&self, name: &str) -> Result<Secret, SecretsError> {
        check_name(name)?;
        let not_found = || SecretsError::NotFound {
            name: name.to_owned(),
            backend: self.describe(),
        };
        match &self.backend {
            Backend::Keychain => match keychain_entry(name)?.get_password() {
                Ok(v) => Ok(Secret::new(v)),
                Err(keyring::Error::NoEntry) => Err(not_found()),
                Err(e) => Err(keychain_err(name, e)),
            },
            Backend::SealedFile { path } => {
                let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
                read_sealed(path)?
                    .remove(name)
                    .map(Secret::new)
                    .ok_or_else(not_found)
            }
        }
    }

    /// Delete the secret `name`. Returns whether it existed.
    pub fn delete(&self, name: &str) -> Result<bool, SecretsError> {
        check_name(name)?;
        match &self.backend {
            Backend::Keychain => match keychain_entry(name)?.delete_credential() {
                Ok(()) => Ok(true),
                Err(keyring::Error::NoEntry) => Ok(false),
                Err(e) => Err(keychain_err(name, e)),
            },
            Backend::SealedFile { path } => {
                let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
                let mut map = read_sealed(path)?;
                let existed = map.remove(name).is_some();
                if existed {
                    write_sealed(path, &map)?;
                }
                Ok(existed)
            }
        }
    }

    /// Names of the stored secrets, sorted. Only the sealed file can list; the keychain gives
    /// [`SecretsError::ListUnsupported`].
    pub fn list(&self) -> Result<Vec<String>, SecretsError> {
        match &self.backend {
            Backend::Keychain => Err(SecretsError::ListUnsupported),
            Backend::SealedFile { path } => {
                let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
                Ok(read_sealed(path)?.into_keys().collect())
            }
        }
    }
}

fn check_name(name: &str) -> Result<(), SecretsError> {
    let invalid = |reason| SecretsError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if name.trim().is_empty() {
        return Err(invalid("the name is empty"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("the name contains control characters"));
    }
    Ok(())
}

fn keychain_entry(name: &str) -> Result<keyring::Entry, SecretsError> {
    keyring::Entry::new(SERVICE, name).map_err(|e| keychain_err(name, e))
}

/// keyring's messages never contain the password (`BadEncoding` prints no bytes).
fn keychain_err(name: &str, e: keyring::Error) -> SecretsError {
    SecretsError::Keychain {
        name: name.to_owned(),
        message: e.to_string(),
    }
}

/// Write, read back and delete a probe entry, on a thread with a timeout (a D-Bus call to a
/// wedged Secret Service must not hang start-up). `Err` says why the keychain is unusable.
fn probe_keychain() -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(probe_keychain_now());
    });
    match rx.recv_timeout(PROBE_TIMEOUT) {
        Ok(result) => result,
        Err(_) => Err(format!(
            "the OS keychain did not answer within {} seconds",
            PROBE_TIMEOUT.as_secs()
        )),
    }
}

fn probe_keychain_now() -> Result<(), String> {
    let name = format!(".probe-{}-{}", std::process::id(), random_suffix());
    let entry = keyring::Entry::new(SERVICE, &name).map_err(|e| e.to_string())?;
    let value = format!("probe-{}", random_suffix());
    entry.set_password(&value).map_err(|e| e.to_string())?;
    let read = entry.get_password();
    let _ = entry.delete_credential();
    match read {
        Ok(v) if v == value => Ok(()),
        Ok(_) => Err("the OS keychain returned a different value than was stored".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn random_suffix() -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(12)
        .map(char::from)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Sealed file
// ---------------------------------------------------------------------------------------

fn key_path(sealed: &Path) -> PathBuf {
    sealed.with_file_name(KEY_FILE)
}

fn sealed_err(path: &Path, reason: impl Into<String>) -> SecretsError {
    SecretsError::Sealed {
        path: path.to_path_buf(),
        key: key_path(path),
        reason: reason.into(),
    }
}

/// The sealing key, created (mode 0600) when `create` and it does not exist yet.
fn read_key(
    sealed: &Path,
    create: bool,
) -> Result<Option<zeroize::Zeroizing<[u8; 32]>>, SecretsError> {
    let kp = key_path(sealed);
    match fs::read(&kp) {
        Ok(bytes) => {
            let bytes = zeroize::Zeroizing::new(bytes);
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                sealed_err(
                    sealed,
                    format!("the key file {} is not 32 bytes long", kp.display()),
                )
            })?;
            Ok(Some(zeroize::Zeroizing::new(key)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if sealed.exists() {
                return Err(sealed_err(
                    sealed,
                    format!("its key file {} is missing", kp.display()),
                ));
            }
            if !create {
                return Ok(None);
            }
            let key = zeroize::Zeroizing::new(crypto::random_key());
            write_private(&kp, key.as_slice())?;
            Ok(Some(key))
        }
        Err(e) => Err(io_err("read", &kp, e)),
    }
}

fn read_sealed(path: &Path) -> Result<BTreeMap<String, String>, SecretsError> {
    let Some(key) = read_key(path, false)? else {
        return Ok(BTreeMap::new());
    };
    let blob = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io_err("read", path, e)),
    };
    let plain = zeroize::Zeroizing::new(
        crypto::unseal(&blob, &key).map_err(|e| sealed_err(path, e.to_string()))?,
    );
    serde_json::from_slice(&plain)
        .map_err(|_| sealed_err(path, "its content is not a map of secrets"))
}

fn write_sealed(path: &Path, map: &BTreeMap<String, String>) -> Result<(), SecretsError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| io_err("create the folder", dir, e))?;
    }
    let key = read_key(path, true)?.expect("created");
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(map).expect("a string map serialises"));
    let blob = crypto::seal(&plain, &key);
    write_private(path, &blob)
}

/// Write `bytes` to `path` atomically (temp file in the same folder + rename), with mode
/// 0600 on Unix.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SecretsError> {
    write_atomic(path, bytes, Some(0o600))
}

fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<(), SecretsError> {
    crate::atomic_file::write(path, bytes, mode).map_err(|e| io_err("write", path, e))
}

// ---------------------------------------------------------------------------------------
// Job resolution
// ---------------------------------------------------------------------------------------

/// The name a value refers to, if it is a `keychain:<name>` reference.
pub fn reference_name(value: &Secret) -> Option<&str> {
    value.expose().strip_prefix(REFERENCE_PREFIX)
}

/// Every secret of a job with the YAML key naming it (`auth_token`, `database_password`,
/// `files[1].password`, `encrypt.key`, prefixed by `operations[i].` when the job has several
/// operations), mutably.
fn job_secrets_mut(job: &mut Job) -> Vec<(String, &mut Secret)> {
    let mut out: Vec<(String, &mut Secret)> = vec![("auth_token".into(), &mut job.auth_token)];
    let several = job.operations.len() > 1;
    let single_format = job.format == crate::config::JobFormat::Single;
    for (i, op) in job.operations.iter_mut().enumerate() {
        let prefix = if several {
            format!("operations[{i}].")
        } else {
            String::new()
        };
        let push = match op {
            Operation::Push(push) => push,
            Operation::Pull(pull) => {
                if let crate::config::PullTarget::Table { connection, .. } = &mut pull.target
                    && let Some(p) = connection.config.password.as_mut()
                {
                    out.push((format!("connections.{}.password", connection.name), p));
                }
                continue;
            }
        };
        match &mut push.source {
            crate::config::PushSource::Sql { connection: c, .. } => {
                if let Some(p) = c.config.password.as_mut() {
                    let key = if single_format {
                        "database_password".into()
                    } else {
                        format!("connections.{}.password", c.name)
                    };
                    out.push((key, p));
                }
            }
            crate::config::PushSource::Http(http) => {
                for (name, value) in http.headers.iter_mut() {
                    out.push((format!("{prefix}source.headers.{name}"), value));
                }
            }
            _ => {}
        }
        for (j, file) in push.files.iter_mut().enumerate() {
            if let FileSource::Sharepoint { password, .. } = &mut file.source {
                out.push((format!("{prefix}files[{j}].password"), password));
            }
        }
        if let Some(enc) = push.encrypt.as_mut() {
            if let Some(k) = enc.key.as_mut() {
                out.push((format!("{prefix}encrypt.key"), k));
            }
            if let Some(s) = enc.salt.as_mut() {
                out.push((format!("{prefix}encrypt.salt"), s));
            }
        }
    }
    out
}

/// The keys of the secrets of a job that are still plain text in its file (not `keychain:`
/// references, not empty), e.g. `auth_token`, `connections.crm.password`.
pub fn plain_secret_keys(job: &Job) -> Vec<String> {
    let mut job = job.clone();
    job_secrets_mut(&mut job)
        .into_iter()
        .filter(|(_, s)| !s.is_empty() && reference_name(s).is_none())
        .map(|(key, _)| key)
        .collect()
}

/// Every secret value of a job (the run history and the log redact them).
/// Call it after [`resolve_job`] so the real values are redacted, not the references.
pub fn job_secrets(job: &Job) -> Vec<Secret> {
    let mut job = job.clone();
    job_secrets_mut(&mut job)
        .into_iter()
        .map(|(_, s)| s.clone())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Replace every `keychain:<name>` secret of `job` by the value stored under `<name>`.
/// Plain values are left as they are. A missing entry is a
/// [`SecretsError::MissingReference`] naming the key and the reference.
pub fn resolve_job(job: &mut Job, store: &SecretStore) -> Result<(), SecretsError> {
    for (field, secret) in job_secrets_mut(job) {
        *secret = resolve(secret, store, &field)?;
    }
    Ok(())
}

/// The value of `secret`: the stored value when it is a `keychain:<name>` reference (a
/// missing entry is a [`SecretsError::MissingReference`] naming `field`), else itself.
pub fn resolve(secret: &Secret, store: &SecretStore, field: &str) -> Result<Secret, SecretsError> {
    let Some(name) = reference_name(secret) else {
        return Ok(secret.clone());
    };
    store.get(name).map_err(|e| match e {
        SecretsError::NotFound { .. } => SecretsError::MissingReference {
            field: field.to_owned(),
            name: name.to_owned(),
            backend: store.describe(),
        },
        e => e,
    })
}

/// Move the plain (non-reference, non-empty) secrets of a loaded job into `store`, under
/// `fliplet-agent/<job id>/<key>`, and make the job refer to them. The job file is not
/// touched (the setup wizard saves the job later). Returns the keys moved.
pub fn move_plain_secrets(
    job: &mut Job,
    store: &SecretStore,
    job_id: &str,
) -> Result<Vec<String>, SecretsError> {
    let mut moved = Vec::new();
    for (key, secret) in job_secrets_mut(job) {
        if secret.is_empty() || reference_name(secret).is_some() {
            continue;
        }
        let name = format!("{SERVICE}/{job_id}/{key}");
        store.set(&name, secret)?;
        *secret = Secret::new(format!("{REFERENCE_PREFIX}{name}"));
        moved.push(key);
    }
    Ok(moved)
}

// ---------------------------------------------------------------------------------------
// Import of a plaintext job file
// ---------------------------------------------------------------------------------------

/// What [`import_job_file`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// Key paths moved into the store, with the name they are stored under, in file order.
    pub moved: Vec<ImportedKey>,
    /// Key paths that were already references.
    pub already_references: Vec<String>,
    /// Key paths whose value was empty (nothing to store; left as is).
    pub empty: Vec<String>,
}

/// One secret moved by [`import_job_file`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportedKey {
    /// `auth_token`, `database_password`, `files/0/password`, `encrypt/key`, `encrypt/salt`.
    pub key: String,
    /// Name in the store (`fliplet-agent/<job id>/<key>`).
    pub name: String,
    /// 1-based line in the file.
    pub line: usize,
}

/// Move the plaintext secrets of a fliplet-agent YAML job file into `store` and rewrite the
/// file in place (temp file + rename) with `keychain:` references.
///
/// Handled keys (block-style YAML, as the original's sample file): top-level `auth_token`
/// and `database_password`, `password` of each item of the top-level `files:` list, and
/// `key` / `salt` under the top-level `encrypt:` mapping. Only the values change; comments,
/// blank lines, quoting of other values and line endings are kept. Values that are already
/// references are left. A secret written as a block scalar (`|`, `>`) or inside a flow
/// mapping is reported as an error, without touching the file.
///
/// All secrets are stored before the file is replaced, so an interruption never leaves a
/// file that refers to entries that do not exist.
pub fn import_job_file(
    path: &Path,
    store: &SecretStore,
    job_id: &str,
) -> Result<ImportReport, SecretsError> {
    check_job_id(path, job_id)?;
    // Rewrite the real file when `path` is a symlink (the rename would replace the link).
    let real = fs::canonicalize(path).map_err(|e| io_err("read", path, e))?;
    let text = fs::read_to_string(&real).map_err(|e| io_err("read", path, e))?;
    let found = find_secret_values(&text, path)?;

    let mut report = ImportReport::default();
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for f in found {
        if f.value.starts_with(REFERENCE_PREFIX) {
            report.already_references.push(f.key);
            continue;
        }
        if f.value.is_empty() {
            report.empty.push(f.key);
            continue;
        }
        let name = format!("{SERVICE}/{job_id}/{}", f.key);
        store.set(&name, &Secret::new(f.value))?;
        edits.push((f.span, format!("{REFERENCE_PREFIX}{name}")));
        report.moved.push(ImportedKey {
            key: f.key,
            name,
            line: f.line,
        });
    }
    if edits.is_empty() {
        return Ok(report);
    }
    let mut out = text.clone();
    for (span, replacement) in edits.into_iter().rev() {
        out.replace_range(span, &replacement);
    }
    rewrite(&real, out.as_bytes())?;
    Ok(report)
}

/// The keys of a job file that [`set_job_secret`] can set: top-level `auth_token` and
/// `database_password`.
pub const SETTABLE_KEYS: &[&str] = &["auth_token", "database_password"];

/// Store `value` as the secret `key` (`auth_token` or `database_password`) of the job file at
/// `path` and make the file refer to it: the value goes to `store` under
/// `fliplet-agent/<job id>/<key>`, and the file's value for `key` becomes
/// `keychain:fliplet-agent/<job id>/<key>` (the line is added when the key is absent). The
/// value itself is never written to the file. Returns the reference written.
pub fn set_job_secret(
    path: &Path,
    store: &SecretStore,
    job_id: &str,
    key: &str,
    value: &Secret,
) -> Result<String, SecretsError> {
    check_job_id(path, job_id)?;
    if !SETTABLE_KEYS.contains(&key) {
        return Err(SecretsError::Import {
            path: path.to_path_buf(),
            line: 0,
            key: key.to_owned(),
            reason: format!("only {} can be set here", SETTABLE_KEYS.join(" and ")),
        });
    }
    let real = fs::canonicalize(path).map_err(|e| io_err("read", path, e))?;
    let text = fs::read_to_string(&real).map_err(|e| io_err("read", path, e))?;
    let found = find_secret_values(&text, path)?;
    let name = format!("{SERVICE}/{job_id}/{key}");
    let reference = format!("{REFERENCE_PREFIX}{name}");
    store.set(&name, value)?;
    let out = match found.into_iter().find(|f| f.key == key) {
        Some(f) => {
            let mut out = text.clone();
            out.replace_range(f.span, &reference);
            out
        }
        None => {
            let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
            let mut out = text.clone();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push_str(newline);
            }
            out.push_str(&format!("{key}: {reference}{newline}"));
            out
        }
    };
    if out != text {
        rewrite(&real, out.as_bytes())?;
    }
    Ok(reference)
}

/// Replace the file at `real` atomically, keeping its permissions.
fn rewrite(real: &Path, bytes: &[u8]) -> Result<(), SecretsError> {
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(real)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    };
    #[cfg(not(unix))]
    let mode = None;
    write_atomic(real, bytes, mode)
}

fn check_job_id(path: &Path, job_id: &str) -> Result<(), SecretsError> {
    let ok = !job_id.is_empty()
        && job_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(SecretsError::Import {
            path: path.to_path_buf(),
            line: 0,
            key: "(job id)".into(),
            reason: format!(
                "the job id `{job_id}` must be non-empty and use only letters, digits, `-`, `_` and `.`"
            ),
        })
    }
}

/// A secret value found in a job file.
#[derive(Debug)]
struct FoundValue {
    key: String,
    line: usize,
    /// Byte range of the value's text (including quotes) in the file.
    span: std::ops::Range<usize>,
    /// The unquoted value.
    value: String,
}

/// Indentation (spaces) of a line, and whether it is blank or a comment.
fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Split `key: rest` at the start of `s` (after indentation). Returns the key and the
/// offset of the text after `:` within `s`.
fn split_key(s: &str) -> Option<(&str, usize)> {
    let colon = s.find(':')?;
    let key = &s[..colon];
    let after = &s[colon + 1..];
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    let key = key.trim();
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
        .unwrap_or(key);
    Some((key, colon + 1))
}

fn find_secret_values(text: &str, path: &Path) -> Result<Vec<FoundValue>, SecretsError> {
    #[derive(PartialEq)]
    enum Section {
        Other,
        Files,
        Encrypt,
    }
    let mut found = Vec::new();
    let mut section = Section::Other;
    let mut file_index: Option<usize> = None;
    let mut dash_indent = 0usize;
    let mut offset = 0usize;
    for (n, raw_line) in text.split_inclusive('\n').enumerate() {
        let line_start = offset;
        offset += raw_line.len();
        let line = raw_line.trim_end_matches(['\n', '\r']);
        if is_blank_or_comment(line) || line.starts_with("---") || line.starts_with("...") {
            continue;
        }
        let indent = indent_of(line);
        let body = &line[indent..];
        let mut target: Option<(String, &str, usize)> = None; // (key path, line rest, rest offset in line)
        if indent == 0 {
            file_index = None;
            section = Section::Other;
            if let Some((key, after)) = split_key(body) {
                match key {
                    "auth_token" | "database_password" => {
                        target = Some((key.to_owned(), &line[after..], after))
                    }
                    "files" => section = Section::Files,
                    "encrypt" => {
                        section = Section::Encrypt;
                        if line[after..].trim_start().starts_with('{') {
                            return Err(import_err(
                                path,
                                n,
                                "encrypt",
                                "flow-style mappings (`{ ... }`) are not supported; write `encrypt:` as an indented block",
                            ));
                        }
                    }
                    _ => {}
                }
            }
        } else if section == Section::Files {
            let (item_body, item_off) = if let Some(rest) = body.strip_prefix("- ") {
                file_index = Some(file_index.map_or(0, |i| i + 1));
                dash_indent = indent;
                let skip = rest.len() - rest.trim_start().len();
                (&rest[skip..], indent + 2 + skip)
            } else if body == "-" {
                file_index = Some(file_index.map_or(0, |i| i + 1));
                dash_indent = indent;
                continue;
            } else {
                (body, indent)
            };
            if let Some(i) = file_index
                && (item_off > dash_indent)
                && let Some((key, after)) = split_key(item_body)
                && key == "password"
            {
                let rest_off = item_off + after;
                target = Some((format!("files/{i}/password"), &line[rest_off..], rest_off));
            }
        } else if section == Section::Encrypt
            && let Some((key, after)) = split_key(body)
            && matches!(key, "key" | "salt")
        {
            let rest_off = indent + after;
            target = Some((format!("encrypt/{key}"), &line[rest_off..], rest_off));
        }
        let Some((key, rest, rest_off)) = target else {
            continue;
        };
        let (value, range) =
            parse_scalar(rest).map_err(|reason| import_err(path, n, &key, reason))?;
        let start = line_start + rest_off + range.start;
        found.push(FoundValue {
            key,
            line: n + 1,
            span: start..start + range.len(),
            value,
        });
    }
    Ok(found)
}

fn import_err(path: &Path, n: usize, key: &str, reason: &str) -> SecretsError {
    SecretsError::Import {
        path: path.to_path_buf(),
        line: n + 1,
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Parse the one-line YAML scalar in `rest` (the text after `key:`). Returns the value and
/// the byte range of its text (quotes included) within `rest`. Errors never contain the
/// value.
fn parse_scalar(rest: &str) -> Result<(String, std::ops::Range<usize>), &'static str> {
    let lead = rest.len() - rest.trim_start().len();
    let s = &rest[lead..];
    if s.is_empty() || s.starts_with('#') {
        return Ok((String::new(), lead..lead));
    }
    match s.as_bytes()[0] {
        b'\'' => {
            let mut value = String::new();
            let mut chars = s.char_indices().skip(1).peekable();
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().map(|(_, c)| *c) == Some('\'') {
                        chars.next();
                        value.push('\'');
                        continue;
                    }
                    check_after(&s[i + 1..])?;
                    return Ok((value, lead..lead + i + 1));
                }
                value.push(c);
            }
            Err("the single-quoted value does not end on the same line; put it on one line")
        }
        b'"' => {
            let mut value = String::new();
            let mut chars = s.char_indices().skip(1);
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        check_after(&s[i + 1..])?;
                        return Ok((value, lead..lead + i + 1));
                    }
                    '\\' => {
                        let Some((_, e)) = chars.next() else { break };
                        match e {
                            'n' => value.push('\n'),
                            't' => value.push('\t'),
                            'r' => value.push('\r'),
                            '0' => value.push('\0'),
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            '/' => value.push('/'),
                            ' ' => value.push(' '),
                            'u' => {
                                let hex: String = (0..4)
                                    .filter_map(|_| chars.next())
                                    .map(|(_, c)| c)
                                    .collect();
                                let c = u32::from_str_radix(&hex, 16)
                                    .ok()
                                    .and_then(char::from_u32)
                                    .ok_or("the double-quoted value has an invalid \\u escape")?;
                                value.push(c);
                            }
                            _ => {
                                return Err(
                                    "the double-quoted value uses an escape this importer does not support; write the value in single quotes",
                                );
                            }
                        }
                    }
                    c => value.push(c),
                }
            }
            Err("the double-quoted value does not end on the same line; put it on one line")
        }
        b'|' | b'>' => Err(
            "block scalars (`|`, `>`) are not supported for secrets; write the value on one line",
        ),
        b'{' | b'[' => {
            Err("flow collections are not valid here; the value must be a single string")
        }
        b'&' | b'*' | b'!' => Err(
            "YAML anchors, aliases and tags are not supported for secrets; write the value itself",
        ),
        _ => {
            // Plain scalar: ends at ` #` (comment) or end of line; trailing spaces trimmed.
            let end = s.find(" #").or_else(|| s.find("\t#")).unwrap_or(s.len());
            let value = s[..end].trim_end();
            Ok((value.to_owned(), lead..lead + value.len()))
        }
    }
}

fn check_after(after: &str) -> Result<(), &'static str> {
    let t = after.trim_start();
    if t.is_empty() || t.starts_with('#') {
        Ok(())
    } else {
        Err("unexpected text after the quoted value")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_scalar_forms() {
        let cases: &[(&str, &str, &str)] = &[
            (" eu--123", "eu--123", "eu--123"),
            (" 123456  # pw", "123456", "123456"),
            (" 'it''s' # c", "it's", "'it''s'"),
            (" \"a\\\"b#c\"", "a\"b#c", "\"a\\\"b#c\""),
            (" a#b", "a#b", "a#b"),
            ("", "", ""),
            ("   # only comment", "", ""),
        ];
        for (rest, value, text) in cases {
            let (v, r) = parse_scalar(rest).unwrap();
            assert_eq!(&v, value, "{rest}");
            assert_eq!(&rest[r], *text, "{rest}");
        }
        assert!(parse_scalar(" |").is_err());
        assert!(parse_scalar(" 'open").is_err());
    }

    #[test]
    fn finds_secrets_in_blocks() {
        let text = "# c\nauth_token: eu--1 # tok\ndatabase_password: '123'\nfiles:\n  - column: a\n    type: remote\n  - column: b\n    type: sharepoint\n    username: u\n    password: \"pw\"\n  -   password: p2\nencrypt:\n  fields:\n    - x\n  key: k1\n  salt: s1\nquery: SELECT 'password: no'\n";
        let found = find_secret_values(text, Path::new("x.yml")).unwrap();
        let keys: Vec<_> = found
            .iter()
            .map(|f| (f.key.as_str(), f.value.as_str(), &text[f.span.clone()]))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("auth_token", "eu--1", "eu--1"),
                ("database_password", "123", "'123'"),
                ("files/1/password", "pw", "\"pw\""),
                ("files/2/password", "p2", "p2"),
                ("encrypt/key", "k1", "k1"),
                ("encrypt/salt", "s1", "s1"),
            ]
        );
    }

    #[test]
    fn errors_never_contain_values() {
        let text = "auth_token: |\n  secretvalue\n";
        let e = find_secret_values(text, Path::new("x.yml")).unwrap_err();
        assert!(!e.to_string().contains("secretvalue"));
        assert!(e.to_string().contains("x.yml:1"), "{e}");
    }

    #[test]
    fn sealed_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = SecretStore::sealed_file(dir.path());
        assert!(store.list().unwrap().is_empty());
        store.set("a/b", &Secret::new("v1")).unwrap();
        store.set("c", &Secret::new("v2")).unwrap();
        assert_eq!(store.get("a/b").unwrap().expose(), "v1");
        assert_eq!(store.list().unwrap(), vec!["a/b", "c"]);
        assert!(store.delete("c").unwrap());
        assert!(!store.delete("c").unwrap());
        assert!(matches!(store.get("c"), Err(SecretsError::NotFound { .. })));
        let raw = fs::read(dir.path().join(SEALED_FILE)).unwrap();
        assert!(!raw.windows(2).any(|w| w == b"v1"));
    }

    #[test]
    fn job_id_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = SecretStore::sealed_file(dir.path());
        let p = dir.path().join("j.yml");
        fs::write(&p, "auth_token: x\n").unwrap();
        assert!(import_job_file(&p, &store, "a b").is_err());
        assert!(import_job_file(&p, &store, "../x").is_err());
    }
}
