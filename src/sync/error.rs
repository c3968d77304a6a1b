//! Why a sync run did not complete: one error type for the push, its commits and its guards.
//! Messages follow the original's catalogue and say what to do.

use crate::fliplet::{ApiError, KeystoreError};
use crate::source::SourceError;
use crate::sync::files::FilesError;
use crate::sync::guard::LockError;
use crate::sync::plan::PlanError;

/// Why a push did not complete. Messages follow the original's catalogue and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("Unable to authenticate with Fliplet API: {0}")]
    Auth(String),
    /// The API could not be reached or answered with errors before the token was checked.
    #[error("Cannot reach the Fliplet API at {base}: {message}")]
    Unreachable { base: String, message: String },
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error(
        "You don't have access to the dataSource {data_source_id}. Please check the permissions of your Fliplet user. ({message})"
    )]
    NoAccess {
        data_source_id: u64,
        message: String,
    },
    #[error("Cannot fetch the entries of data source {data_source_id}: {source}")]
    Fetch {
        data_source_id: u64,
        source: ApiError,
    },
    #[error("{0}")]
    Plan(#[from] PlanError),
    #[error(
        "Cannot sync data to Fliplet servers: {message}{}",
        commit_progress(*.sent, *.total, *.resumable)
    )]
    Commit {
        message: String,
        /// Commit requests answered before the failure, and how many the run needed.
        sent: usize,
        total: usize,
        /// Whether the next run can tell what landed (a primary key matches rows to entries).
        resumable: bool,
    },
    #[error(
        "Cannot sync data to Fliplet servers: the answer to commit {commit} of {total} was lost {rounds} times in a row (last: {message}). Nothing was sent twice: what the data source holds was read again each time. The next run checks that commit before sending anything and finishes the sync. If this keeps happening, check the network path to the Fliplet API (proxy, firewall, timeouts) or lower batch_size."
    )]
    CommitUnknown {
        message: String,
        commit: usize,
        total: usize,
        rounds: usize,
    },
    #[error("{0}")]
    Lock(#[from] LockError),
    /// The delete gate or the empty-source rule stopped the run before any write.
    #[error("{0}")]
    DeleteGate(String),
    /// `on_schema_change: stop` and the query's columns changed.
    #[error(
        "{0} The run is stopped before writing anything (on_schema_change: stop). If the change is intended, set on_schema_change: warn for one run, or fix the query (use SQL \"AS\" to keep the old names)."
    )]
    SchemaDrift(String),
    #[error("{}", stopped_message(.reason, *.sent, *.total))]
    Stopped {
        reason: String,
        /// Commit requests answered before the stop, and how many the run needed (0, 0:
        /// stopped before writing anything).
        sent: usize,
        total: usize,
    },
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Files(#[from] FilesError),
    #[error("{0}")]
    Keystore(#[from] KeystoreError),
}

fn commit_progress(sent: usize, total: usize, resumable: bool) -> String {
    if sent == 0 {
        String::new()
    } else if resumable {
        format!(
            " ({sent} of {total} commit requests had already been applied; the next run will send the rest)"
        )
    } else {
        format!(
            " ({sent} of {total} commit requests had already been applied. This job has no primary_column, so rows cannot be matched to entries: the next run appends every row again, including those already appended. Set primary_column to make runs resumable.)"
        )
    }
}

fn stopped_message(reason: &str, sent: usize, total: usize) -> String {
    if total == 0 {
        format!("The run was stopped before writing anything: {reason}.")
    } else {
        format!(
            "The run was stopped between two commits: {reason}. {sent} of {total} commit requests had been applied (none was cut in half); the next run sends the rest."
        )
    }
}

impl RunError {
    /// A run stopped before it wrote anything.
    pub fn stopped(reason: String) -> RunError {
        RunError::Stopped {
            reason,
            sent: 0,
            total: 0,
        }
    }

    /// A failure to read a data source's entries.
    pub fn fetch(data_source_id: u64, e: ApiError) -> RunError {
        match e {
            ApiError::NoAccess { message, .. } | ApiError::Unauthorized { message } => {
                RunError::NoAccess {
                    data_source_id,
                    message,
                }
            }
            source => RunError::Fetch {
                data_source_id,
                source,
            },
        }
    }
}
