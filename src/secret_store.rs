//! Secret store: job secrets kept in the OS keychain (or, on a headless host without one, in a
//! sealed file), referenced from job files instead of being written in them.
//!
//! # Syntax in job files
//!
//! Any secret value of a job file (`auth_token`, `database_password`, `files[].password` of a
//! `sharepoint` file column, `encrypt.key`, `encrypt.salt`; in the multi-operation format also
//! `connections.<name>.password` and HTTP `source.headers`) may be written as a reference:
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
//! `encrypt/salt`; in a multi-operation file `connections/<name>/password`,
//! `operations/<i>/source/headers/<header>`, `operations/<i>/files/<j>/password`,
//! `operations/<i>/encrypt/key` or `…/salt`.
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
use saphyr_parser::ScalarStyle;

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
/// Handled keys: every secret of either job format (see [`find_secret_values`]), found by
/// the YAML reader and replaced at the location it reports, so only the values change:
/// comments, blank lines, quoting of other values and line endings are kept (a reference
/// inside a flow group `{...}` is written in single quotes). Values that are already
/// references are left. A secret written as a block scalar (`|`, `>`), with an anchor or a
/// tag, or reached through an alias is reported as an error, without touching the file.
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
        let replacement = f.replacement(&format!("{REFERENCE_PREFIX}{name}"));
        store.set(&name, &Secret::new(f.value))?;
        edits.push((f.span, replacement));
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
            out.replace_range(f.span.clone(), &f.replacement(&reference));
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
    /// Inside a flow group or list (`{...}`, `[...]`).
    in_flow: bool,
}

impl FoundValue {
    /// The text that replaces the value by `reference`: quoted inside a flow group or list
    /// (where a plain `keychain:…` could be misread), after a space where the key had no
    /// value.
    fn replacement(&self, reference: &str) -> String {
        let value = if self.in_flow {
            format!("'{reference}'")
        } else {
            reference.to_owned()
        };
        if self.value.is_empty() {
            format!(" {value}")
        } else {
            value
        }
    }
}

/// The secret values of a job file of either format, located by the YAML reader: top-level
/// `auth_token`; single-operation files: `database_password`, `files[i].password`,
/// `encrypt.key`/`salt`; multi-operation files: `connections.<name>.password` and, per
/// operation, `source.headers.<name>`, `files[j].password`, `encrypt.key`/`salt`. Keys
/// are named as in the store (`files/0/password`). Errors never contain a value.
fn find_secret_values(text: &str, path: &Path) -> Result<Vec<FoundValue>, SecretsError> {
    use crate::config::yaml::{Node, Value, load_tree};
    let root = match load_tree(text) {
        Ok(Some(root)) => root,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => {
            return Err(SecretsError::Import {
                path: path.to_path_buf(),
                line: e.line.unwrap_or(0),
                key: "(file)".into(),
                reason: e.message,
            });
        }
    };
    fn items(node: Option<&Node>) -> &[Node] {
        match node.map(|n| &n.value) {
            Some(Value::Seq(items)) => items,
            _ => &[],
        }
    }
    fn names(node: Option<&Node>) -> Vec<&str> {
        match node.map(|n| &n.value) {
            Some(Value::Map(entries)) => entries
                .iter()
                .filter_map(|(k, _)| match &k.value {
                    Value::Scalar { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
    // Where a secret may be: (the group holding it, its key there, its name in the store).
    type Place<'a> = (Option<&'a Node>, &'a str, String);
    let mut places: Vec<Place> = vec![(Some(&root), "auth_token", "auth_token".into())];
    /// The secrets of one push: SharePoint passwords and encryption keys.
    fn push_places<'a>(op: &'a Node, prefix: &str, places: &mut Vec<Place<'a>>) {
        for (j, file) in items(op.get("files")).iter().enumerate() {
            places.push((
                Some(file),
                "password",
                format!("{prefix}files/{j}/password"),
            ));
        }
        for name in ["key", "salt"] {
            places.push((op.get("encrypt"), name, format!("{prefix}encrypt/{name}")));
        }
    }
    if root.get("operations").is_some() {
        let connections = root.get("connections");
        for name in names(connections) {
            let group = connections.and_then(|c| c.get(name));
            places.push((group, "password", format!("connections/{name}/password")));
        }
        for (i, op) in items(root.get("operations")).iter().enumerate() {
            let headers = op.get("source").and_then(|s| s.get("headers"));
            for name in names(headers) {
                places.push((
                    headers,
                    name,
                    format!("operations/{i}/source/headers/{name}"),
                ));
            }
            push_places(op, &format!("operations/{i}/"), &mut places);
        }
    } else {
        places.push((Some(&root), "database_password", "database_password".into()));
        push_places(&root, "", &mut places);
    }

    let mut found = Vec::new();
    for (group, name, key) in places {
        let Some((k, v)) = group.and_then(|g| g.entry(name)) else {
            continue;
        };
        let fail = |reason: &str| SecretsError::Import {
            path: path.to_path_buf(),
            line: k.line,
            key: key.clone(),
            reason: reason.to_owned(),
        };
        let (Value::Scalar { text: value, .. }, Some(w)) = (&v.value, &v.written) else {
            return Err(fail(match v.value {
                Value::Scalar { .. } => {
                    "YAML anchors, aliases and tags are not supported for secrets; write the value itself"
                }
                _ => "a list or group is not valid here; the value must be a single string",
            }));
        };
        if w.decorated {
            return Err(fail(
                "YAML anchors, aliases and tags are not supported for secrets; write the value itself",
            ));
        }
        if matches!(w.style, ScalarStyle::Literal | ScalarStyle::Folded) {
            return Err(fail(
                "block scalars (`|`, `>`) are not supported for secrets; write the value on one line",
            ));
        }
        let empty = v.is_null();
        let span = if empty {
            // Nothing written after `key:`: the reference goes right after the colon.
            let after_key = k.written.as_ref().map_or(w.bytes.start, |k| k.bytes.end);
            let colon = text[after_key..]
                .find(':')
                .map_or(w.bytes.start, |c| after_key + c + 1);
            colon..colon
        } else {
            w.bytes.clone()
        };
        found.push(FoundValue {
            key,
            line: k.line,
            span,
            value: if empty { String::new() } else { value.clone() },
            in_flow: w.in_flow,
        });
    }
    found.sort_by_key(|f| f.span.start);
    if let Some(w) = found.windows(2).find(|w| w[0].span == w[1].span) {
        return Err(SecretsError::Import {
            path: path.to_path_buf(),
            line: w[1].line,
            key: w[1].key.clone(),
            reason: "YAML anchors, aliases and tags are not supported for secrets; write the value itself".into(),
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_forms() {
        let cases: &[(&str, &str, &str)] = &[
            (" eu--123", "eu--123", "eu--123"),
            (" 123456  # pw", "123456", "123456"),
            (" 'it''s' # c", "it's", "'it''s'"),
            (" \"a\\\"b#c\"", "a\"b#c", "\"a\\\"b#c\""),
            (" a#b", "a#b", "a#b"),
            (" \"caf\\u00e9 ✓\"", "café ✓", "\"caf\\u00e9 ✓\""),
            ("", "", ""),
            ("   # only comment", "", ""),
        ];
        for (rest, value, written) in cases {
            // Characters of several bytes before the value: offsets are bytes, not chars.
            let text = format!("# ✓ ünïcode\nauth_token:{rest}\n");
            let found = find_secret_values(&text, Path::new("x.yml")).unwrap();
            assert_eq!(found.len(), 1, "{rest}");
            assert_eq!(found[0].value, *value, "{rest}");
            assert_eq!(&text[found[0].span.clone()], *written, "{rest}");
        }
        for bad in [" |\n  x", " &a x", " !!str x", " [a]"] {
            let text = format!("auth_token:{bad}\n");
            assert!(
                find_secret_values(&text, Path::new("x.yml")).is_err(),
                "{bad}"
            );
        }
        // The same value reached twice through an alias.
        let text = "auth_token: t\nfiles: [&f {password: p}, *f]\n";
        assert!(find_secret_values(text, Path::new("x.yml")).is_err());
    }

    #[test]
    fn finds_secrets_of_the_multi_operation_format_and_in_flow_groups() {
        let text = "auth_token: 'eu--1'\nconnections:\n  local:\n    driver: postgres\n    password: pw1\n  other: {driver: mysql, password: \"pw2\"}\noperations:\n  - type: push\n    datasource_id: 1\n    source:\n      type: http\n      url: http://x\n      headers: {X-Key: hk, Authorization: 'Bearer b'}\n    files:\n      - {column: a, type: sharepoint, password: sp}\n    encrypt:\n      key: k1\n";
        let found = find_secret_values(text, Path::new("x.yml")).unwrap();
        let keys: Vec<_> = found
            .iter()
            .map(|f| (f.key.as_str(), f.value.as_str(), f.in_flow))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("auth_token", "eu--1", false),
                ("connections/local/password", "pw1", false),
                ("connections/other/password", "pw2", true),
                ("operations/0/source/headers/X-Key", "hk", true),
                (
                    "operations/0/source/headers/Authorization",
                    "Bearer b",
                    true
                ),
                ("operations/0/files/0/password", "sp", true),
                ("operations/0/encrypt/key", "k1", false),
            ]
        );
        // Every value replaced by its reference: the file still reads, with the references.
        let mut out = text.to_owned();
        for f in found.iter().rev() {
            out.replace_range(
                f.span.clone(),
                &f.replacement(&format!("keychain:x/{}", f.key)),
            );
        }
        let again = find_secret_values(&out, Path::new("x.yml")).unwrap();
        assert_eq!(again.len(), found.len());
        for (a, f) in again.iter().zip(&found) {
            assert_eq!(a.value, format!("keychain:x/{}", f.key));
        }
        assert!(
            out.contains("\n    password: keychain:x/connections/local/password\n"),
            "{out}"
        );
    }

    #[test]
    fn finds_secrets_in_blocks() {
        let text = "# c\nauth_token: eu--1 # tok\ndatabase_password: '123'\nfiles:\n  - column: a\n    type: remote\n  - column: b\n    type: sharepoint\n    username: u\n    password: \"pw\"\n  -   password: p2\nencrypt:\n  fields:\n    - x\n  key: k1\n  salt: s1\nquery: \"SELECT 'password: no'\"\n";
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
