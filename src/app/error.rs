//! The error every shell shows: a small code the front end branches on, and a message
//! worded for the user (already free of secrets).

use serde::Serialize;

use crate::hint::Hint;

/// What kind of failure, for the front end to branch on. Only variants a consumer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No job or run with that id.
    NotFound,
    /// The job file is invalid.
    Config,
    /// The keychain or sealed-secrets store failed, or a reference is missing.
    Secrets,
    /// The run history failed.
    History,
    /// Anything else (files, demo set-up, scheduler).
    Other,
    /// Setup wizard: the Fliplet token is unknown, revoked or of another region.
    Token,
    /// Setup wizard: Fliplet cannot be reached.
    Network,
    /// Setup wizard: TLS certificate verification failed (a proxy intercepting TLS?).
    Tls,
    /// Setup wizard: the token may not read the data source.
    NoAccess,
    /// Setup wizard: the database connection or login failed.
    Database,
    /// Setup wizard: the database rejected the query.
    Query,
    /// Setup wizard: a cron expression is invalid.
    Schedule,
    /// Setup wizard: the job being set up is incomplete or invalid.
    Validation,
}

/// `{code, message}` as the desktop app's front end receives it (what every failed command
/// rejects with), with what to do about it (`hint`, the words of `hint_kind`: set together
/// by [`AppError::with_hint`]) and, for the setup wizard, the job field it concerns (`field`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    /// What to do about it, in words ([`Hint::text`] of `hint_kind`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub hint: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub hint_kind: Option<Hint>,
    /// The draft field it concerns (`name`, `query`, `database.password` …).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub field: Option<String>,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
            hint: None,
            hint_kind: None,
            field: None,
        }
    }

    /// The same error with a hint (what to do about it).
    pub fn with_hint(mut self, hint: Hint) -> Self {
        self.hint = Some(hint.text());
        self.hint_kind = Some(hint);
        self
    }

    /// The same error, about the draft field `field` (`name`, `query`, `database.host`).
    pub fn on(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// An invalid or missing value of the field `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Validation, message).on(field)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
}

impl From<crate::config::ConfigError> for AppError {
    fn from(e: crate::config::ConfigError) -> Self {
        Self::new(ErrorCode::Config, e.to_string())
    }
}

impl From<crate::secret_store::SecretsError> for AppError {
    fn from(e: crate::secret_store::SecretsError) -> Self {
        Self::new(ErrorCode::Secrets, e.to_string())
    }
}

impl From<crate::app::history::HistoryError> for AppError {
    fn from(e: crate::app::history::HistoryError) -> Self {
        Self::new(ErrorCode::History, e.to_string())
    }
}
