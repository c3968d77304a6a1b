//! Fliplet Data Integration Service: the headless core.
//!
//! Everything a user can trigger (validate a job, test a connection, preview a run, run,
//! schedule) is a core function returning plain data. The `fliplet-agent` CLI
//! (`src/main.rs`) and the desktop app are thin shells over it. See `docs/architecture.md`.

/// The version and the commit it was built from, e.g. `0.1.0 (commit 1a2b3c4d5e6f)`: what
/// `--version` prints, the app's About section shows and each start writes to the log file.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("FLIPLET_AGENT_COMMIT"),
    ")"
);

pub mod app;
pub mod atomic_file;
pub mod config;
pub mod crypto;
pub mod fliplet;
pub mod hint;
pub mod log;
pub mod net;
pub mod paths;
pub mod schedule;
pub mod secret;
pub mod secret_store;
pub mod source;
pub mod sync;

// The TypeScript types of the desktop app's front end (ui/src/lib/generated/), from the
// types above: generated and checked by `cargo test`.
#[cfg(test)]
mod bindings;
