//! Push: the pure plan ([`plan`]) and its application against Fliplet ([`push`]).

pub mod files;
pub mod plan;
pub mod push;

pub use plan::{Plan, PlanError, PlanOptions, plan};
pub use push::{Counts, EncryptionReport, FileCounts, PushPreview, PushRun, RunError, run_push};
