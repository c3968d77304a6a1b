//! The error every shell shows: a small code the front end branches on, and a message
//! worded for the user (already free of secrets).

use serde::Serialize;

/// What kind of failure, for the front end to branch on. Only variants a consumer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
}

/// `{code, message}` as the desktop app's front end receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
        }
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

impl From<crate::secrets::SecretsError> for AppError {
    fn from(e: crate::secrets::SecretsError) -> Self {
        Self::new(ErrorCode::Secrets, e.to_string())
    }
}

impl From<crate::history::HistoryError> for AppError {
    fn from(e: crate::history::HistoryError) -> Self {
        Self::new(ErrorCode::History, e.to_string())
    }
}
