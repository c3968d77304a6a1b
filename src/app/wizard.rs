//! The setup wizard's use-cases, with no user interface. The desktop app edits a
//! [`JobDraft`] (one push from an SQL query into a Fliplet data source) step by step, and
//! each step checks itself here, against the real services: the token with `GET v1/user`,
//! the data source with its entries, the database with a connection, the query by running
//! it, the schedule by parsing it, and the whole job with a dry run.
//!
//! Secrets never sit in a draft as plain values: the token and passwords are handed over
//! once ([`verify_token`], [`test_connection`], [`store_secret`]), stored in the keychain
//! (or sealed file), and the draft keeps their `keychain:<name>` reference. Saving writes the
//! job in the multi-operation format (`config::emit`), which `fliplet-agent start` runs too.

use crate::config::{DEFAULT_RUN_TIMEOUT, DeleteGate};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::error::{AppError, ErrorCode};
use crate::config::{
    Connection, DatabaseConfig, Driver, EncryptConfig, FileColumn, FileSource, Hook, Job,
    JobFormat, Mode, Operation, PushOperation, PushSource, QueryTimeouts, Verbosity,
};
use crate::fliplet::{ApiError, Client, ClientOptions, RetryPolicy};
use crate::hint::Hint;
use crate::schedule;
use crate::secret::Secret;
use crate::secret_store::{self, REFERENCE_PREFIX, SERVICE, SecretStore};
use crate::source::{self, SourceError};
use crate::sync::plan::canonical_key;
use crate::sync::run::{self, JobPreview};

/// First line of a job file written by the wizard.
pub const WIZARD_MARKER: &str = "# fliplet-agent: made with the setup wizard";

/// Rows shown per list in a wizard preview (the counts are always complete).
pub const PREVIEW_ROWS: usize = 200;

/// How long a wizard check may wait for Fliplet.
const API_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Rules of a draft that the wizard also checks as the user types: the values and words are
// these, exported to the front end with [`rules`] (ui/src/lib/generated/constants.ts).
// ---------------------------------------------------------------------------------------

/// The bounds of a number of a job: values outside `min..=max` are refused; above
/// `soft_max` the wizard warns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The number's name in messages.
    pub what: &'static str,
    pub min: usize,
    pub max: usize,
    pub soft_max: usize,
    pub default: usize,
    /// The warning above `soft_max` (it does not stop anything).
    pub above_soft_max: &'static str,
}

/// `batch_size`: entries sent per request.
pub const BATCH_SIZE: Bounds = Bounds {
    what: "batch size",
    min: 1,
    max: 100_000,
    soft_max: 10_000,
    default: 1000,
    above_soft_max: "Batches of more than 10000 entries make large requests that may time out.",
};

/// `concurrency`: requests sent at the same time.
pub const CONCURRENCY: Bounds = Bounds {
    what: "concurrency",
    min: 1,
    max: 100,
    soft_max: 20,
    default: 1,
    above_soft_max: "More than 20 requests at a time may be slowed down (rate-limited) by Fliplet.",
};

impl Bounds {
    /// The error of a value outside the bounds.
    pub fn out_of_range(&self) -> String {
        format!(
            "The {} must be between {} and {} (default {}).",
            self.what, self.min, self.max, self.default
        )
    }

    /// `value` when it is within the bounds, else an error about the draft field `field`.
    pub fn check(&self, field: &str, value: usize) -> Result<usize, AppError> {
        if (self.min..=self.max).contains(&value) {
            Ok(value)
        } else {
            Err(AppError::invalid(field, self.out_of_range()))
        }
    }
}

/// The longest job name (its file name without `.yml`).
pub const NAME_MAX_LEN: usize = 100;
const NAME_EMPTY: &str = "Give the job a name.";
const NAME_TOO_LONG: &str = "The name is too long (100 characters at most).";
const NAME_CHARACTERS: &str = "Use only letters, digits, “-”, “_” and “.” (no spaces).";
const NAME_LEADING_DOT: &str = "The name cannot start with a dot.";

/// Why `name` (trimmed) cannot be a job's name, the file name of the job without `.yml`:
/// letters, digits, `-`, `_` and `.`, not starting with a dot, at most [`NAME_MAX_LEN`]
/// characters. `None`: it can.
pub fn name_problem(name: &str) -> Option<&'static str> {
    let n = name.trim();
    if n.is_empty() {
        Some(NAME_EMPTY)
    } else if n.chars().count() > NAME_MAX_LEN {
        Some(NAME_TOO_LONG)
    } else if !n
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Some(NAME_CHARACTERS)
    } else if n.starts_with('.') {
        Some(NAME_LEADING_DOT)
    } else {
        None
    }
}

/// The rules above as the front end receives them (generated into
/// `ui/src/lib/generated/constants.ts` as `WIZARD_RULES`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct WizardRules {
    pub name: NameRule,
    pub batch_size: BoundsRule,
    pub concurrency: BoundsRule,
}

/// [`name_problem`]'s limit and words.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct NameRule {
    pub max_len: usize,
    pub empty: &'static str,
    pub too_long: &'static str,
    pub characters: &'static str,
    pub leading_dot: &'static str,
}

/// [`Bounds`] with its words.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct BoundsRule {
    pub min: usize,
    pub max: usize,
    pub soft_max: usize,
    pub default: usize,
    pub out_of_range: String,
    pub above_soft_max: &'static str,
}

impl From<Bounds> for BoundsRule {
    fn from(b: Bounds) -> Self {
        BoundsRule {
            min: b.min,
            max: b.max,
            soft_max: b.soft_max,
            default: b.default,
            out_of_range: b.out_of_range(),
            above_soft_max: b.above_soft_max,
        }
    }
}

/// The rules of a draft the front end checks as the user types.
pub fn rules() -> WizardRules {
    WizardRules {
        name: NameRule {
            max_len: NAME_MAX_LEN,
            empty: NAME_EMPTY,
            too_long: NAME_TOO_LONG,
            characters: NAME_CHARACTERS,
            leading_dot: NAME_LEADING_DOT,
        },
        batch_size: BATCH_SIZE.into(),
        concurrency: CONCURRENCY.into(),
    }
}

/// The database settings of a draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct DatabaseDraft {
    /// `mssql`, `postgres`, `mysql` or `sqlite`.
    #[cfg_attr(test, ts(type = r#""mssql" | "postgres" | "mysql" | "sqlite""#))]
    pub driver: String,
    /// Empty: localhost.
    pub host: String,
    /// `None`: the driver's default port.
    pub port: Option<u16>,
    pub username: String,
    /// Database name; for SQLite the database file.
    pub database: String,
    /// `keychain:<name>` reference, or `None` for no password.
    pub password: Option<String>,
    pub domain: String,
    pub instance: String,
    pub encrypt: bool,
}

impl Default for DatabaseDraft {
    fn default() -> Self {
        DatabaseDraft {
            driver: "postgres".into(),
            host: String::new(),
            port: None,
            username: String::new(),
            database: String::new(),
            password: None,
            domain: String::new(),
            instance: String::new(),
            encrypt: false,
        }
    }
}

/// A request header of a remote file column; `value` is a `keychain:` reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct HeaderDraft {
    pub name: String,
    pub value: String,
}

/// A file column of a draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct FileDraft {
    pub column: String,
    /// `remote`, `local` or `sharepoint`.
    #[serde(rename = "type")]
    #[cfg_attr(test, ts(type = r#""remote" | "local" | "sharepoint""#))]
    pub kind: String,
    pub headers: Vec<HeaderDraft>,
    /// `local`: folder of relative paths; empty: the values are absolute paths.
    pub directory: String,
    pub username: String,
    /// `sharepoint`: `keychain:` reference of the password.
    pub password: Option<String>,
    pub inherit_file_type: bool,
}

impl Default for FileDraft {
    fn default() -> Self {
        FileDraft {
            column: String::new(),
            kind: "remote".into(),
            headers: Vec::new(),
            directory: String::new(),
            username: String::new(),
            password: None,
            inherit_file_type: false,
        }
    }
}

/// Field encryption of a draft.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(default)]
pub struct EncryptDraft {
    pub fields: Vec<String>,
    /// `keychain:` reference of a fixed key; `None`: the organization's keystore.
    pub key: Option<String>,
}

/// The form the wizard edits: one push from an SQL query into a Fliplet data source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct JobDraft {
    /// The job being edited (its file is replaced on save); `None` for a new job.
    pub id: Option<String>,
    /// The job id to save as (file name without `.yml`).
    pub name: String,
    pub description: String,
    /// `keychain:` reference of the Fliplet API token.
    pub auth_token: Option<String>,
    /// Empty: the token's region (or `$FLIPLET_API_URL`).
    pub api_url: String,
    /// Extra CA certificate file; empty: none.
    pub ca_file: String,
    pub data_source_id: Option<u64>,
    pub database: DatabaseDraft,
    pub query: String,
    pub primary_column: String,
    pub case_insensitive: bool,
    pub timestamp_column: String,
    pub delete_column: String,
    /// `update` or `replace`.
    #[cfg_attr(test, ts(type = r#""update" | "replace""#))]
    pub mode: String,
    pub merge: bool,
    /// `remove_duplicate_entries` (not in the wizard's form; kept when a job is edited).
    #[serde(default)]
    pub remove_duplicate_entries: bool,
    /// `insert`, `update`.
    #[cfg_attr(test, ts(type = r#"Array<"insert" | "update">"#))]
    pub run_hooks: Vec<String>,
    pub batch_size: usize,
    pub concurrency: usize,
    pub files: Vec<FileDraft>,
    pub encrypt: Option<EncryptDraft>,
    /// Cron expression; empty: never scheduled.
    pub frequency: String,
    pub sync_on_init: bool,
    /// `query_timeout` in seconds (0: no limit). The wizard shows no field for it: a job
    /// edited in the wizard keeps its value.
    pub query_timeout: u64,
    /// `stall_timeout` in seconds (0: no limit), kept like `query_timeout`.
    pub stall_timeout: u64,
    /// The delete gate (`delete_gate_percent`, `delete_gate_min`), `allow_empty_source` and
    /// `run_timeout`: not in the form, kept when a job is edited.
    pub delete_gate_percent: u8,
    pub delete_gate_min: usize,
    pub allow_empty_source: bool,
    pub run_timeout: u64,
    /// `on_schema_change: stop` (not in the form; kept when a job is edited).
    pub stop_on_schema_change: bool,
    /// `stale_after` in seconds (`None`: the default rule, `0`: never stale). No field in
    /// the wizard: a job edited in the wizard keeps its value.
    #[serde(default)]
    pub stale_after: Option<u64>,
}

impl Default for JobDraft {
    fn default() -> Self {
        JobDraft {
            id: None,
            name: String::new(),
            description: String::new(),
            auth_token: None,
            api_url: String::new(),
            ca_file: String::new(),
            data_source_id: None,
            database: DatabaseDraft::default(),
            query: String::new(),
            primary_column: String::new(),
            case_insensitive: false,
            timestamp_column: String::new(),
            delete_column: String::new(),
            mode: "update".into(),
            merge: false,
            remove_duplicate_entries: false,
            run_hooks: Vec::new(),
            batch_size: BATCH_SIZE.default,
            concurrency: CONCURRENCY.default,
            files: Vec::new(),
            encrypt: None,
            frequency: "0 * * * *".into(),
            sync_on_init: false,
            query_timeout: QueryTimeouts::DEFAULT_QUERY,
            stall_timeout: QueryTimeouts::DEFAULT_STALL,
            delete_gate_percent: DeleteGate::DEFAULT_PERCENT,
            delete_gate_min: DeleteGate::DEFAULT_MIN,
            allow_empty_source: false,
            run_timeout: DEFAULT_RUN_TIMEOUT,
            stop_on_schema_change: false,
            stale_after: None,
        }
    }
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// A secret of the draft: must be a `keychain:` reference (plain values are never saved).
fn reference(field: &str, value: &Option<String>) -> Result<Option<Secret>, AppError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.starts_with(REFERENCE_PREFIX) => Ok(Some(Secret::new(v))),
        Some(_) => Err(AppError::invalid(
            field,
            "This secret was not stored in the keychain; enter it again.",
        )),
    }
}

fn driver_of(key: &str) -> Result<Driver, AppError> {
    Ok(match key {
        "mssql" => Driver::Mssql,
        "postgres" => Driver::Postgres,
        "mysql" => Driver::Mysql,
        "sqlite" => Driver::Sqlite,
        other => {
            return Err(AppError::invalid(
                "database.driver",
                format!(
                    "Unknown database driver `{other}`: choose SQL Server, PostgreSQL, MySQL/MariaDB or SQLite."
                ),
            ));
        }
    })
}

impl DatabaseDraft {
    /// The connection settings, with the password still a reference.
    pub fn to_config(&self) -> Result<DatabaseConfig, AppError> {
        let driver = driver_of(&self.driver)?;
        let sqlite = driver == Driver::Sqlite;
        if sqlite && self.database.trim().is_empty() {
            return Err(AppError::invalid(
                "database.database",
                "Choose the SQLite database file.",
            ));
        }
        let mssql = driver == Driver::Mssql;
        Ok(DatabaseConfig {
            driver,
            host: if sqlite { None } else { opt(&self.host) },
            port: if sqlite { None } else { self.port },
            username: if sqlite { None } else { opt(&self.username) },
            password: if sqlite {
                None
            } else {
                reference("database.password", &self.password)?
            },
            database: opt(&self.database),
            domain: if mssql { opt(&self.domain) } else { None },
            instance: if mssql { opt(&self.instance) } else { None },
            encrypt: (mssql && self.encrypt).then_some(true),
            native_odbc: false,
        })
    }

    fn from_config(db: &DatabaseConfig) -> DatabaseDraft {
        DatabaseDraft {
            driver: db.driver.key().into(),
            host: db.host.clone().unwrap_or_default(),
            port: db.port,
            username: db.username.clone().unwrap_or_default(),
            database: db.database.clone().unwrap_or_default(),
            password: db.password.as_ref().map(|p| p.expose().to_owned()),
            domain: db.domain.clone().unwrap_or_default(),
            instance: db.instance.clone().unwrap_or_default(),
            encrypt: db.encrypt.unwrap_or(false),
        }
    }
}

impl JobDraft {
    /// The job the draft describes, with its secrets still `keychain:` references. Every
    /// field is checked; an error names the field (`field`) and what to do.
    pub fn to_job(&self) -> Result<Job, AppError> {
        let auth_token = reference("authToken", &self.auth_token)?.ok_or_else(|| {
            AppError::invalid("authToken", "Verify your Fliplet API token first (step 1).")
        })?;
        let datasource_id = self.data_source_id.filter(|id| *id > 0).ok_or_else(|| {
            AppError::invalid("dataSourceId", "Choose the target data source (step 2).")
        })?;
        let database = self.database.to_config()?;
        let query = self.query.trim();
        if query.is_empty() {
            return Err(AppError::invalid(
                "query",
                "Write the SQL query whose rows go to the data source (step 4).",
            ));
        }
        BATCH_SIZE.check("batchSize", self.batch_size)?;
        CONCURRENCY.check("concurrency", self.concurrency)?;
        let frequency = opt(&self.frequency);
        if let Some(expr) = &frequency {
            schedule::parse(expr)
                .map_err(|e| AppError::new(ErrorCode::Schedule, e.to_string()).on("frequency"))?;
        }
        let mode = match self.mode.as_str() {
            "" | "update" => Mode::Update,
            "replace" => Mode::Replace,
            other => {
                return Err(AppError::invalid(
                    "mode",
                    format!("Unknown mode `{other}`: choose update or replace."),
                ));
            }
        };
        let run_hooks = self
            .run_hooks
            .iter()
            .map(|h| match h.as_str() {
                "insert" => Ok(Hook::Insert),
                "update" => Ok(Hook::Update),
                other => Err(AppError::invalid(
                    "runHooks",
                    format!("Unknown hook `{other}`: choose insert and/or update."),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let primary_column = opt(&self.primary_column);
        let files = self
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| f.to_column(i))
            .collect::<Result<Vec<_>, _>>()?;
        let encrypt = match &self.encrypt {
            Some(e) if !e.fields.is_empty() => {
                if let Some(pk) = &primary_column
                    && e.fields.iter().any(|f| f == pk)
                {
                    return Err(AppError::invalid(
                        "encrypt",
                        format!(
                            "The primary key column `{pk}` cannot be encrypted: entries are matched by its value."
                        ),
                    ));
                }
                Some(EncryptConfig {
                    fields: e.fields.clone(),
                    key: reference("encrypt.key", &e.key)?,
                    salt: None,
                })
            }
            _ => None,
        };
        let source = PushSource::Sql {
            connection: Connection::single_format(database),
            query: query.to_owned(),
            timeouts: self.timeouts(),
        };
        let push = PushOperation {
            description: opt(&self.description),
            frequency,
            primary_column,
            case_insensitive_primary_column: self.case_insensitive,
            timestamp_column: opt(&self.timestamp_column),
            mode,
            batch_size: self.batch_size,
            concurrency: self.concurrency,
            delete_column: opt(&self.delete_column),
            run_hooks,
            merge: self.merge.then_some(true),
            remove_duplicate_entries: self.remove_duplicate_entries,
            delete_gate: DeleteGate {
                percent: self.delete_gate_percent.min(100),
                min: self.delete_gate_min,
            },
            allow_empty_source: self.allow_empty_source,
            on_schema_change: if self.stop_on_schema_change {
                crate::config::OnSchemaChange::Stop
            } else {
                crate::config::OnSchemaChange::Warn
            },
            files,
            encrypt,
            ..PushOperation::with_source(datasource_id, source)
        };
        let name = opt(&self.name).unwrap_or_else(|| "new-job".into());
        Ok(Job {
            path: None,
            name: format!("{name}.yml"),
            auth_token,
            api_url: opt(&self.api_url).map(|u| u.trim_end_matches('/').to_owned()),
            ca_file: opt(&self.ca_file).map(PathBuf::from),
            sync_on_init: self.sync_on_init,
            log_verbosity: Verbosity::Info,
            run_timeout: self.run_timeout,
            format: JobFormat::Multi,
            operations: vec![Operation::Push(push)],
            stale_after: self.stale_after,
        })
    }

    /// The draft of a job (for editing), when the wizard can show it: one push operation
    /// reading an SQL query. `id` is the job's id.
    pub fn from_job(job: &Job, id: Option<&str>) -> Result<JobDraft, AppError> {
        let not_here = |why: &str| {
            AppError::new(
                ErrorCode::Validation,
                format!(
                    "{} {why}; the setup wizard edits jobs with one push from an SQL query. Edit the file itself instead.",
                    job.name
                ),
            )
        };
        let [Operation::Push(push)] = job.operations.as_slice() else {
            return Err(not_here(&format!(
                "has {} operations",
                job.operations.len()
            )));
        };
        let PushSource::Sql {
            connection,
            query,
            timeouts,
        } = &push.source
        else {
            return Err(not_here("does not read an SQL query"));
        };
        let db = &connection.config;
        let secret = |s: &Option<Secret>| s.as_ref().map(|s| s.expose().to_owned());
        Ok(JobDraft {
            id: id.map(str::to_owned),
            name: id.map(str::to_owned).unwrap_or_else(|| job_stem(&job.name)),
            description: push.description.clone().unwrap_or_default(),
            auth_token: Some(job.auth_token.expose().to_owned()).filter(|t| !t.is_empty()),
            api_url: job.api_url.clone().unwrap_or_default(),
            ca_file: job
                .ca_file
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
            data_source_id: Some(push.datasource_id),
            database: DatabaseDraft::from_config(db),
            query: query.clone(),
            primary_column: push.primary_column.clone().unwrap_or_default(),
            case_insensitive: push.case_insensitive_primary_column,
            timestamp_column: push.timestamp_column.clone().unwrap_or_default(),
            delete_column: push.delete_column.clone().unwrap_or_default(),
            mode: match push.mode {
                Mode::Update => "update",
                Mode::Replace => "replace",
            }
            .into(),
            merge: push.merge == Some(true),
            remove_duplicate_entries: push.remove_duplicate_entries,
            run_hooks: push.run_hooks.iter().map(|h| h.as_str().into()).collect(),
            batch_size: push.batch_size,
            concurrency: push.concurrency,
            files: push.files.iter().map(FileDraft::from_column).collect(),
            encrypt: push.encrypt.as_ref().map(|e| EncryptDraft {
                fields: e.fields.clone(),
                key: secret(&e.key),
            }),
            frequency: push.frequency.clone().unwrap_or_default(),
            sync_on_init: job.sync_on_init,
            query_timeout: timeouts.query,
            stall_timeout: timeouts.stall,
            delete_gate_percent: push.delete_gate.percent,
            delete_gate_min: push.delete_gate.min,
            allow_empty_source: push.allow_empty_source,
            run_timeout: job.run_timeout,
            stop_on_schema_change: push.on_schema_change == crate::config::OnSchemaChange::Stop,
            stale_after: job.stale_after,
        })
    }

    /// The draft's `query_timeout` and `stall_timeout` (larger values are capped).
    fn timeouts(&self) -> QueryTimeouts {
        QueryTimeouts {
            query: self.query_timeout.min(QueryTimeouts::MAX),
            stall: self.stall_timeout.min(QueryTimeouts::MAX),
        }
    }
}

/// `sample.yml` → `sample`, made a valid job id.
fn job_stem(file_name: &str) -> String {
    let stem = Path::new(file_name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let id = dashed(&stem, &['-', '_', '.']);
    let id = id.trim_start_matches('.').to_owned();
    if id.is_empty() {
        "imported-job".into()
    } else {
        id
    }
}

/// `text` with every character but ASCII letters, digits and `keep` replaced by `-`.
fn dashed(text: &str, keep: &[char]) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || keep.contains(&c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

impl FileDraft {
    fn to_column(&self, i: usize) -> Result<FileColumn, AppError> {
        let field = format!("files[{i}]");
        let column = opt(&self.column)
            .ok_or_else(|| AppError::invalid(&field, "Choose the column that holds the file."))?;
        let source = match self.kind.as_str() {
            "remote" => FileSource::Remote {
                headers: self
                    .headers
                    .iter()
                    .filter(|h| !h.name.trim().is_empty())
                    .map(|h| {
                        let v = reference(&format!("{field}.headers"), &Some(h.value.clone()))?
                            .unwrap_or_else(|| Secret::new(""));
                        Ok((h.name.trim().to_owned(), v))
                    })
                    .collect::<Result<Vec<_>, AppError>>()?,
            },
            "local" => FileSource::Local {
                directory: opt(&self.directory).map(PathBuf::from),
            },
            "sharepoint" => {
                let username = opt(&self.username).ok_or_else(|| {
                    AppError::invalid(
                        &format!("{field}.username"),
                        "SharePoint files need the user name (DOMAIN\\user) to log in with.",
                    )
                })?;
                let password = reference(&format!("{field}.password"), &self.password)?
                    .ok_or_else(|| {
                        AppError::invalid(
                            &format!("{field}.password"),
                            "SharePoint files need the password of that user.",
                        )
                    })?;
                FileSource::Sharepoint {
                    username,
                    password,
                    inherit_file_type: self.inherit_file_type,
                }
            }
            other => {
                return Err(AppError::invalid(
                    &field,
                    format!(
                        "Unknown file type `{other}`: choose remote URL, local path or SharePoint."
                    ),
                ));
            }
        };
        Ok(FileColumn { column, source })
    }

    fn from_column(f: &FileColumn) -> FileDraft {
        let base = FileDraft {
            column: f.column.clone(),
            ..FileDraft::default()
        };
        match &f.source {
            FileSource::Remote { headers } => FileDraft {
                headers: headers
                    .iter()
                    .map(|(n, v)| HeaderDraft {
                        name: n.clone(),
                        value: v.expose().to_owned(),
                    })
                    .collect(),
                ..base
            },
            FileSource::Local { directory } => FileDraft {
                kind: "local".into(),
                directory: directory
                    .as_ref()
                    .map(|d| d.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                ..base
            },
            FileSource::Sharepoint {
                username,
                password,
                inherit_file_type,
            } => FileDraft {
                kind: "sharepoint".into(),
                username: username.clone(),
                password: Some(password.expose().to_owned()),
                inherit_file_type: *inherit_file_type,
                ..base
            },
        }
    }
}

// ---------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------

/// The job of a draft with its secrets resolved, ready to connect with.
pub fn resolved_job(draft: &JobDraft, store: &SecretStore) -> Result<Job, AppError> {
    let mut job = draft.to_job()?;
    secret_store::resolve_job(&mut job, store)?;
    Ok(job)
}

/// Store `value` under `fliplet-agent/<name>` and return its reference. `name` keeps
/// letters, digits and `-_.@:/`; anything else becomes `-`.
pub fn store_secret(store: &SecretStore, name: &str, value: &str) -> Result<String, AppError> {
    if value.is_empty() {
        return Err(AppError::invalid("secret", "The value is empty."));
    }
    let clean: String = name.trim().chars().take(200).collect();
    let clean = dashed(&clean, &['-', '_', '.', '@', ':', '/']);
    let clean = clean.trim_matches('/');
    if clean.is_empty() {
        return Err(AppError::invalid("secret", "The secret needs a name."));
    }
    let full = format!("{SERVICE}/{clean}");
    store.set(&full, &Secret::new(value))?;
    Ok(format!("{REFERENCE_PREFIX}{full}"))
}

fn client(token: Secret, api_url: &str, ca_file: &str) -> Result<Client, AppError> {
    let chosen_ca = opt(ca_file).map(PathBuf::from);
    if let Some(p) = chosen_ca.as_ref().filter(|p| !p.is_file()) {
        return Err(AppError::new(
            ErrorCode::Tls,
            format!("The CA certificate file {} does not exist.", p.display()),
        )
        .on("caFile")
        .with_hint(Hint::CaFileMissing));
    }
    Client::new(
        token,
        ClientOptions {
            base_url: run::base_url_or_env(opt(api_url)),
            extra_ca_file: run::ca_file_or_env(chosen_ca),
            retry: Some(RetryPolicy {
                attempts: 1,
                ..Default::default()
            }),
            timeout: Some(API_TIMEOUT),
        },
    )
    .map_err(|e| {
        AppError::new(ErrorCode::Tls, e.to_string())
            .on("caFile")
            .with_hint(Hint::CaFilePem)
    })
}

/// The wizard's words for an API error (`field`: the field the call was about).
fn api_error(e: ApiError, base_url: &str, field: &str) -> AppError {
    match e {
        ApiError::Unauthorized { message } => AppError::new(
            ErrorCode::Token,
            format!("Fliplet ({base_url}) refused the token: {message}"),
        )
        .on(field)
        .with_hint(Hint::TokenRefused),
        ApiError::NoAccess { message, .. } => AppError::new(ErrorCode::NoAccess, message)
            .on(field)
            .with_hint(Hint::DataSourceAccess),
        ApiError::NotFound { message } => AppError::new(ErrorCode::Validation, message).on(field),
        // The message says what was trusted and what to check.
        ApiError::Certificate { .. } => AppError::new(
            ErrorCode::Tls,
            format!("Cannot verify Fliplet's TLS certificate: {e}"),
        )
        .on("caFile"),
        ApiError::Transient { ref message, .. }
            if message.contains("certificate") || message.contains("UnknownIssuer") =>
        {
            AppError::new(
                ErrorCode::Tls,
                format!("Cannot verify Fliplet's TLS certificate: {e}"),
            )
            .on("caFile")
            .with_hint(Hint::TlsProxy)
        }
        ApiError::Transient { .. } => AppError::new(
            ErrorCode::Network,
            format!("Cannot reach the Fliplet API at {base_url}: {e}"),
        )
        .on(field)
        .with_hint(Hint::Network),
        other => AppError::new(ErrorCode::Other, other.to_string()).on(field),
    }
}

/// Who a token belongs to.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TokenCheck {
    /// The keychain reference the token was stored under.
    pub reference: String,
    pub user: TokenUser,
    pub region: String,
    pub api_url: String,
    pub organizations: Vec<OrganizationItem>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TokenUser {
    pub id: u64,
    pub full_name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct OrganizationItem {
    pub id: u64,
    pub name: String,
}

/// Check a token with `GET v1/user`; on success store it (under
/// `fliplet-agent/token-<user id>`) and say whose it is.
pub async fn verify_token(
    store: &SecretStore,
    token: &str,
    api_url: &str,
    ca_file: &str,
) -> Result<TokenCheck, AppError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(
            AppError::invalid("token", "Paste the API token first.").with_hint(Hint::ApiToken)
        );
    }
    let client = client(Secret::new(token), api_url, ca_file)?;
    let base = client.base_url().to_owned();
    let user = client
        .user()
        .await
        .map_err(|e| api_error(e, &base, "token"))?;
    let organizations = client
        .organizations()
        .await
        .map(|orgs| {
            orgs.into_iter()
                .map(|o| OrganizationItem {
                    id: o.id,
                    name: o.name.unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let reference = store_secret(store, &format!("token-{}", user.id), token)?;
    Ok(TokenCheck {
        reference,
        user: TokenUser {
            id: user.id,
            full_name: user.full_name.clone(),
            email: user.email.clone(),
        },
        region: crate::fliplet::region_of(token),
        api_url: base,
        organizations,
    })
}

fn draft_client(draft: &JobDraft, store: &SecretStore) -> Result<(Client, String), AppError> {
    let token = reference("authToken", &draft.auth_token)?
        .ok_or_else(|| AppError::invalid("authToken", "Verify your Fliplet API token first."))?;
    let token = secret_store::resolve(&token, store, "auth_token").map_err(|e| {
        AppError::from(e)
            .on("authToken")
            .with_hint(Hint::TokenAgain)
    })?;
    let client = client(token, &draft.api_url, &draft.ca_file)?;
    let base = client.base_url().to_owned();
    Ok((client, base))
}

/// A data source in the wizard's list.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct DataSourceItem {
    pub id: u64,
    pub name: String,
    pub app_id: Option<u64>,
    pub organization_id: Option<u64>,
}

/// The data sources the draft's token can see, by name.
pub async fn data_sources(
    draft: &JobDraft,
    store: &SecretStore,
) -> Result<Vec<DataSourceItem>, AppError> {
    let (client, base) = draft_client(draft, store)?;
    let mut out: Vec<DataSourceItem> = client
        .data_sources(None)
        .await
        .map_err(|e| api_error(e, &base, "dataSourceId"))?
        .into_iter()
        .map(|d| DataSourceItem {
            id: d.id,
            name: d.name.unwrap_or_default(),
            app_id: None,
            organization_id: d.organization_id,
        })
        .collect();
    out.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then(a.id.cmp(&b.id))
    });
    Ok(out)
}

/// One data source: its columns and entry count, or why the token may not read it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct DataSourceInfo {
    pub id: u64,
    pub name: String,
    pub columns: Option<Vec<String>>,
    pub entry_count: Option<usize>,
    pub access_error: Option<AppError>,
}

/// Look at data source `id` with the draft's token.
pub async fn data_source(
    draft: &JobDraft,
    store: &SecretStore,
    id: u64,
) -> Result<DataSourceInfo, AppError> {
    let (client, base) = draft_client(draft, store)?;
    let denied = |e: ApiError, name: String| -> Result<DataSourceInfo, AppError> {
        match e {
            ApiError::NoAccess { .. } => Ok(DataSourceInfo {
                id,
                name,
                columns: None,
                entry_count: None,
                access_error: Some(api_error(e, &base, "dataSourceId")),
            }),
            ApiError::NotFound { .. } => Err(AppError::invalid(
                "dataSourceId",
                format!("There is no data source {id} (or this token cannot see it)."),
            )
            .with_hint(Hint::DataSourceId)),
            e => Err(api_error(e, &base, "dataSourceId")),
        }
    };
    let ds = match client.data_source(id).await {
        Ok(ds) => ds,
        Err(e) => return denied(e, String::new()),
    };
    let name = ds.name.clone().unwrap_or_default();
    let entries = match client.entries(id).await {
        Ok(e) => e,
        Err(e) => return denied(e, name),
    };
    let mut columns: Vec<String> = ds.columns.unwrap_or_default();
    for entry in &entries {
        if let Value::Object(map) = entry.data_value() {
            for k in map.keys() {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
    }
    Ok(DataSourceInfo {
        id,
        name,
        columns: Some(columns),
        entry_count: Some(entries.len()),
        access_error: None,
    })
}

/// The database error in the wizard's words, about the field it most likely concerns.
fn source_error(e: SourceError) -> AppError {
    match e {
        SourceError::Connect {
            ref target,
            ref message,
            ref hint,
        } => {
            // The source's hints name the job file's keys; the wizard's name its fields.
            let (field, hint) = match hint.as_deref() {
                Some(source::HINT_AUTH) => ("database.password", Some(Hint::DatabaseLogin)),
                Some(source::HINT_HOST) => ("database.host", Some(Hint::DatabaseHost)),
                Some(source::HINT_DATABASE) => ("database.database", Some(Hint::DatabaseName)),
                _ => ("database", None),
            };
            match hint {
                Some(hint) => AppError::new(
                    ErrorCode::Database,
                    format!("Unable to connect to the database ({target}): {message}"),
                )
                .on(field)
                .with_hint(hint),
                None => AppError::new(ErrorCode::Database, e.to_string()).on(field),
            }
        }
        SourceError::Query { .. } => AppError::new(ErrorCode::Query, e.to_string()).on("query"),
        _ => AppError::new(ErrorCode::Database, e.to_string()).on("database"),
    }
}

/// A successful connection test.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ConnectionCheck {
    /// The reference the password was stored under (`None`: no new password given).
    pub password: Option<String>,
    pub description: String,
    pub server_version: Option<String>,
}

/// The database settings of a draft with the password resolved; `password` (typed in the
/// wizard) replaces the stored one.
fn resolved_database(
    draft: &JobDraft,
    store: &SecretStore,
    password: Option<&str>,
) -> Result<DatabaseConfig, AppError> {
    let mut d = draft.database.clone();
    if password.is_some() {
        d.password = None;
    }
    let mut db = d.to_config()?;
    if let Some(p) = &db.password {
        db.password = Some(
            secret_store::resolve(p, store, "database_password").map_err(|e| {
                AppError::from(e)
                    .on("database.password")
                    .with_hint(Hint::PasswordAgain)
            })?,
        );
    }
    if let Some(p) = password.filter(|p| !p.is_empty())
        && db.driver != Driver::Sqlite
    {
        db.password = Some(Secret::new(p));
    }
    Ok(db)
}

/// Connect with the draft's database settings. On success a typed `password` is stored
/// (under `fliplet-agent/db-<driver>-<user>@<host>:<port>`) and its reference returned.
pub async fn test_connection(
    draft: &JobDraft,
    store: &SecretStore,
    password: Option<&str>,
) -> Result<ConnectionCheck, AppError> {
    let db = resolved_database(draft, store, password)?;
    if db.driver == Driver::Sqlite {
        let file = db.database.as_deref().unwrap_or_default();
        if file != ":memory:" && !Path::new(file).is_file() {
            return Err(AppError::new(
                ErrorCode::Database,
                format!("The SQLite database file {file} does not exist."),
            )
            .on("database.database")
            .with_hint(Hint::SqliteFile));
        }
    }
    source::test_connection(&db).await.map_err(source_error)?;
    let version_query = match db.driver {
        Driver::Mssql => "SELECT @@VERSION AS v",
        Driver::Postgres | Driver::Mysql => "SELECT version() AS v",
        Driver::Sqlite => "SELECT 'SQLite ' || sqlite_version() AS v",
    };
    let server_version = source::fetch(&db, version_query, Some(1))
        .await
        .ok()
        .and_then(|t| t.rows.into_iter().next())
        .and_then(|r| r.into_iter().next())
        .and_then(|v| {
            v.as_str()
                .map(|s| s.lines().next().unwrap_or("").trim().to_owned())
        });
    let password = match password.filter(|p| !p.is_empty()) {
        Some(p) if db.driver != Driver::Sqlite => {
            let host = db.host.as_deref().unwrap_or("localhost");
            let port = db.port.or(db.driver.default_port()).unwrap_or_default();
            let user = db.username.as_deref().unwrap_or("");
            Some(store_secret(
                store,
                &format!("db-{}-{user}@{host}:{port}", db.driver.key()),
                p,
            )?)
        }
        _ => None,
    };
    Ok(ConnectionCheck {
        password,
        description: db.describe(),
        server_version,
    })
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct QueryColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
}

/// The first rows of a query, as the agent would send them.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct QueryResult {
    pub columns: Vec<QueryColumn>,
    /// The first rows, as the agent would send them (by column order).
    #[cfg_attr(test, ts(type = "Array<Array<unknown>>"))]
    pub rows: Vec<Vec<Value>>,
    /// The query returned more rows than shown.
    pub more: bool,
    /// For each column (in order), what a sync would make of it as the primary key.
    pub keys: Vec<ColumnKeys>,
}

/// One column of a query result as the primary key: the rows a sync would skip, found with
/// the sync plan's own key rule ([`canonical_key`]: null and empty text are no key, numbers
/// and numeric text compare equal, text may be compared ignoring case).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ColumnKeys {
    pub column: String,
    /// 1-based rows without a key: a sync skips them.
    pub empty: Vec<usize>,
    /// Keys in several rows: a sync keeps the first row of each.
    pub duplicates: Vec<KeyDuplicate>,
    /// The same with `caseInsensitive` (keys compared ignoring case).
    pub duplicates_ignoring_case: Vec<KeyDuplicate>,
}

/// A key value found in several rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct KeyDuplicate {
    /// The value of its first row.
    pub value: String,
    /// 1-based rows.
    pub rows: Vec<usize>,
}

impl ColumnKeys {
    /// Column `index` of `rows` as the primary key.
    pub fn of(column: &str, rows: &[Vec<Value>], index: usize) -> ColumnKeys {
        fn value(row: &[Value], index: usize) -> &Value {
            row.get(index).unwrap_or(&Value::Null)
        }
        let duplicates = |case_insensitive: bool| {
            let mut seen: Vec<KeyDuplicate> = Vec::new();
            let mut by_key: std::collections::HashMap<String, usize> = Default::default();
            for (r, row) in rows.iter().enumerate() {
                let v = value(row, index);
                let Some(key) = canonical_key(v, case_insensitive) else {
                    continue;
                };
                match by_key.get(&key) {
                    Some(&i) => seen[i].rows.push(r + 1),
                    None => {
                        by_key.insert(key, seen.len());
                        seen.push(KeyDuplicate {
                            value: match v {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            },
                            rows: vec![r + 1],
                        });
                    }
                }
            }
            seen.retain(|d| d.rows.len() > 1);
            seen
        };
        ColumnKeys {
            column: column.to_owned(),
            empty: (0..rows.len())
                .filter(|&r| canonical_key(value(&rows[r], index), false).is_none())
                .map(|r| r + 1)
                .collect(),
            duplicates: duplicates(false),
            duplicates_ignoring_case: duplicates(true),
        }
    }
}

/// Run the draft's query and return its first `limit` rows (1 to 1000).
pub async fn run_query(
    draft: &JobDraft,
    store: &SecretStore,
    limit: usize,
) -> Result<QueryResult, AppError> {
    let limit = limit.clamp(1, 1000);
    let db = resolved_database(draft, store, None)?;
    let query = draft.query.trim();
    if query.is_empty() {
        return Err(AppError::invalid("query", "Write a query first."));
    }
    let table = source::fetch_with_timeouts(&db, query, Some(limit + 1), &draft.timeouts())
        .await
        .map_err(source_error)?;
    let more = table.rows.len() > limit;
    let mut rows = table.rows;
    rows.truncate(limit);
    let keys = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| ColumnKeys::of(&c.name, &rows, i))
        .collect();
    Ok(QueryResult {
        columns: table
            .columns
            .into_iter()
            .map(|c| QueryColumn {
                name: c.name,
                type_name: c.type_name,
            })
            .collect(),
        rows,
        more,
        keys,
    })
}

/// A cron expression in words with its next five runs.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ScheduleInfo {
    pub description: String,
    /// ISO 8601, UTC.
    pub next: Vec<String>,
}

pub fn describe_schedule(expr: &str) -> Result<ScheduleInfo, AppError> {
    let expr = expr.trim();
    let bad = |m: String| AppError::new(ErrorCode::Schedule, m).on("frequency");
    if expr.is_empty() {
        return Err(bad("Write a cron expression, e.g. `*/15 * * * *`.".into()));
    }
    let mut description = schedule::describe(expr).map_err(|e| bad(e.to_string()))?;
    if let Some(note) = schedule::original_difference(expr, chrono::Local::now()) {
        description.push(' ');
        description.push_str(&note);
    }
    let next = schedule::next_runs(expr, chrono::Local::now(), 5)
        .map_err(|e| bad(e.to_string()))?
        .into_iter()
        .map(|t| {
            t.with_timezone(&Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .collect();
    Ok(ScheduleInfo { description, next })
}

/// The dry run of a draft: what a run would insert, update and delete, row by row.
/// Writes nothing anywhere.
pub async fn preview(draft: &JobDraft, store: &SecretStore) -> Result<JobPreview, AppError> {
    let job = resolved_job(draft, store)?;
    Ok(run::preview_job(&job, Some(PREVIEW_ROWS)).await)
}

/// The text of the job file a draft saves as (multi-operation format). Every secret in it
/// is a `keychain:` reference; the text is read back with the loader before it is used.
pub fn job_file_text(draft: &JobDraft) -> Result<String, AppError> {
    let job = draft.to_job()?;
    if secret_store::job_secrets(&job)
        .iter()
        .any(|s| secret_store::reference_name(s).is_none())
    {
        return Err(AppError::new(
            ErrorCode::Secrets,
            "A secret of this job is not in the keychain; enter it again.",
        ));
    }
    let text = format!(
        "{WIZARD_MARKER}\n# `fliplet-agent start <this file>` runs it too; secrets are keychain references.\n{}",
        crate::config::emit::to_multi_yaml(&job)
    );
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_soft_limit_warnings_name_the_soft_limits() {
        for b in [BATCH_SIZE, CONCURRENCY] {
            assert!(b.above_soft_max.contains(&b.soft_max.to_string()), "{b:?}");
            assert!((b.min..=b.max).contains(&b.default) && b.soft_max < b.max);
            assert!(b.check("x", b.max).is_ok() && b.check("x", b.min).is_ok());
            let e = b.check("x", b.max + 1).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("x"));
            assert_eq!(e.message, b.out_of_range());
            assert!(b.check("x", b.min - 1).is_err());
        }
    }

    #[test]
    fn a_valid_name_is_exactly_a_job_id_the_jobs_folder_lists() {
        let long = "a".repeat(NAME_MAX_LEN);
        for name in [
            "sales",
            "a.b-c_d",
            "x",
            ".hidden",
            "two words",
            "é",
            "",
            " ",
            "a/b",
            "..",
            &long,
        ] {
            let listed = crate::app::jobs::job_id_of(Path::new(&format!("{name}.yml")));
            assert_eq!(
                name_problem(name).is_none(),
                listed.as_deref() == Some(name),
                "{name:?}"
            );
        }
        assert_eq!(name_problem(&format!("{long}a")), Some(NAME_TOO_LONG));
        assert_eq!(name_problem("  "), Some(NAME_EMPTY));
        assert_eq!(name_problem("a b"), Some(NAME_CHARACTERS));
        assert_eq!(name_problem(".a"), Some(NAME_LEADING_DOT));
    }

    #[test]
    fn key_issues_follow_the_plan_key_rule() {
        let rows: Vec<Vec<Value>> = [
            json!(1),
            json!("1"),
            json!("  "),
            json!(null),
            json!(""),
            json!("Ab"),
            json!("aB"),
            json!(1.0),
        ]
        .into_iter()
        .map(|v| vec![v])
        .collect();
        let k = ColumnKeys::of("id", &rows, 0);
        // Whitespace is a key for the plan (it is pushed), null and "" are not.
        assert_eq!(k.empty, vec![4, 5]);
        let dup = |value: &str, rows: &[usize]| KeyDuplicate {
            value: value.into(),
            rows: rows.to_vec(),
        };
        assert_eq!(k.duplicates, vec![dup("1", &[1, 2, 8])]);
        assert_eq!(
            k.duplicates_ignoring_case,
            vec![dup("1", &[1, 2, 8]), dup("Ab", &[6, 7])]
        );
    }
}
