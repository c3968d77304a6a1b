//! Push: the pure plan ([`plan`]) and its application against Fliplet ([`push`]).

pub mod plan;

pub use plan::{Plan, PlanError, PlanOptions, plan};
