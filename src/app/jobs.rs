//! The jobs folder: job files in the original YAML format, one job per file, whose secrets
//! are `keychain:<name>` references (see [`crate::secret_store`]). The desktop app lists, runs
//! and edits them; `fliplet-agent start <file>` runs the same files.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::app::error::AppError;
use crate::config::{Driver, JobFormat, LoadedJob, Operation, load_job};
use crate::schedule;
use crate::secret::Secret;
use crate::secret_store::{self, SecretStore};

/// First line of a job file made by the app's demo mode.
pub const DEMO_MARKER: &str = "# fliplet-agent: demo job";

/// One secret key of a job file and where its value is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SecretKey {
    /// `auth_token` or `database_password`.
    pub key: String,
    /// The keychain entry the file refers to; `None` when the value is written in the file
    /// itself (or absent).
    pub reference: Option<String>,
    /// Whether the file has a value (plain or reference) for this key.
    pub present: bool,
}

/// A job file of the jobs folder, as the Jobs screen and the tray show it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct JobFile {
    /// The file name without `.yml` / `.yaml`: the job's id in history and keychain names.
    pub id: String,
    pub path: PathBuf,
    /// The job's name in logs (the file name).
    pub name: String,
    pub description: Option<String>,
    /// `frequency` of the (first) operation.
    pub frequency: Option<String>,
    /// The schedule in words ("At every 15th minute.").
    pub schedule: Option<String>,
    /// Next scheduled run, in UTC.
    pub next_run: Option<DateTime<Utc>>,
    pub sync_on_init: bool,
    /// Why the file cannot be loaded (then the other fields are empty).
    pub error: Option<String>,
    /// Made by the demo mode.
    pub demo: bool,
    pub secrets: Vec<SecretKey>,
}

/// The job id of a file name: its stem, when it is made of letters, digits, `-`, `_`, `.`
/// and the extension is `.yml` or `.yaml`.
pub fn job_id_of(path: &Path) -> Option<String> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    if ext != "yml" && ext != "yaml" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    let ok = !stem.is_empty()
        && !stem.starts_with('.')
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ok.then(|| stem.to_owned())
}

/// The job files of `dir`, sorted by id (an absent folder has none).
pub fn list(dir: &Path) -> Vec<JobFile> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<(String, PathBuf)> = read
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter_map(|p| job_id_of(&p).map(|id| (id, p)))
        .collect();
    paths.sort();
    paths.dedup_by(|a, b| a.0 == b.0);
    paths
        .into_iter()
        .map(|(id, path)| describe(&id, &path))
        .collect()
}

/// The path of job `id` in `dir`.
pub fn find(dir: &Path, id: &str) -> Result<PathBuf, AppError> {
    ["yml", "yaml"]
        .iter()
        .map(|ext| dir.join(format!("{id}.{ext}")))
        .find(|p| p.is_file() && job_id_of(p).as_deref() == Some(id))
        .ok_or_else(|| AppError::not_found(format!("There is no job `{id}` in {}", dir.display())))
}

/// Whether the file was made by the demo mode.
pub fn is_demo(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .map(|t| t.starts_with(DEMO_MARKER))
        .unwrap_or(false)
}

fn describe(id: &str, path: &Path) -> JobFile {
    let mut out = JobFile {
        id: id.to_owned(),
        path: path.to_path_buf(),
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        description: None,
        frequency: None,
        schedule: None,
        next_run: None,
        sync_on_init: false,
        error: None,
        demo: is_demo(path),
        secrets: Vec::new(),
    };
    let loaded = match load_job(path) {
        Ok(l) => l,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    let job = &loaded.job;
    out.name = job.name.clone();
    out.sync_on_init = job.sync_on_init;
    if let Some(op) = job.operations.first() {
        out.description = op.description().map(str::to_owned);
        out.frequency = op.frequency().map(str::to_owned);
    }
    if let Some(expr) = &out.frequency {
        out.schedule = schedule::describe(expr).ok();
        out.next_run = schedule::next_runs(expr, chrono::Local::now(), 1)
            .ok()
            .and_then(|v| v.into_iter().next())
            .map(|t| t.with_timezone(&Utc));
    }
    let key = |key: &str, value: Option<&Secret>| SecretKey {
        key: key.to_owned(),
        reference: value
            .and_then(secret_store::reference_name)
            .map(str::to_owned),
        present: value.is_some_and(|v| !v.is_empty()),
    };
    out.secrets = vec![key("auth_token", Some(&job.auth_token))];
    // `database_password` of a single-operation file; SQLite has no login: its jobs have no
    // database password to set.
    if job.format == JobFormat::Single
        && let Some(db) = job
            .operations
            .iter()
            .filter_map(Operation::connection)
            .map(|c| &c.config)
            .find(|d| d.driver != Driver::Sqlite)
    {
        out.secrets
            .push(key("database_password", db.password.as_ref()));
    }
    out
}

/// Load a job file and replace its `keychain:` references by the stored values.
pub fn load_resolved(path: &Path, store: &SecretStore) -> Result<LoadedJob, AppError> {
    let mut loaded = load_job(path)?;
    secret_store::resolve_job(&mut loaded.job, store)?;
    Ok(loaded)
}

/// Whether any secret of the job is a `keychain:` reference.
pub fn has_references(job: &crate::config::Job) -> bool {
    secret_store::job_secrets(job)
        .iter()
        .any(|s| secret_store::reference_name(s).is_some())
}

/// The job id under which `fliplet-agent protect` stores the secrets of the job file at
/// `path`: its id in the app when it is a job of `jobs_dir` (so the app finds them where it
/// would put them), otherwise its file stem and a digest of its absolute path (two files
/// named `job.yml` in different folders never share an entry).
pub fn secret_id_for_path(path: &Path, jobs_dir: &Path) -> String {
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let in_jobs_dir =
        std::fs::canonicalize(jobs_dir).is_ok_and(|d| absolute.parent() == Some(d.as_path()));
    if in_jobs_dir && let Some(id) = job_id_of(&absolute) {
        return id;
    }
    let stem: String = absolute
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let digest = crate::crypto::md5_hex(absolute.to_string_lossy().as_bytes());
    format!("{stem}-{}", &digest[..8])
}

/// For the command line: resolve the job's references with the store the desktop app uses
/// (the OS keychain, or the sealed file in [`crate::paths::data_dir`]). Opens no store when
/// the job has no reference.
pub fn resolve_for_cli(job: &mut crate::config::Job) -> Result<(), secret_store::SecretsError> {
    if !has_references(job) {
        return Ok(());
    }
    let store = SecretStore::open(&crate::paths::data_dir());
    secret_store::resolve_job(job, &store)
}

/// Store a secret of job `id` in `store` and make its file refer to it (see
/// [`secret_store::set_job_secret`]). Returns the reference.
pub fn set_secret(
    dir: &Path,
    store: &SecretStore,
    id: &str,
    key: &str,
    value: &Secret,
) -> Result<String, AppError> {
    let path = find(dir, id)?;
    Ok(secret_store::set_job_secret(&path, store, id, key, value)?)
}
