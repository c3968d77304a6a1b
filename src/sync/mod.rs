//! Push: the pure plan ([`plan`]) and its application against Fliplet ([`push`]); pull:
//! entries of a data source into a table or a file ([`pull`], [`table`]).

pub mod commit;
pub mod control;
pub mod drift;
pub mod error;
pub mod files;
pub mod guard;
pub mod on_sync;
pub mod plan;
pub mod pull;
pub mod push;
pub mod row;
pub mod run;
pub mod table;

pub use error::RunError;
pub use plan::{Plan, PlanError, PlanOptions, plan};
pub use push::{Counts, EncryptionReport, FileCounts, PushPreview, PushRun, run_push};
