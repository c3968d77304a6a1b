//! The application layer: what the desktop app and the command line do with jobs beyond one
//! sync run — the jobs folder ([`jobs`]), the run history ([`history`]), schedules
//! ([`scheduler`]), the stale-data watchdog ([`watchdog`]), the desktop agent's use-cases
//! ([`agent`]), the setup wizard's checks ([`wizard`]), what both tray processes show
//! ([`tray`]) and how they notify on Linux (`notify`, with the `notify` feature), the
//! hand-over between the app's processes ([`instance`]) and the no-account demo ([`demo`]). It builds on `sync` (one run of a job), `config`, `source` and `fliplet`,
//! which never import from here.

pub mod agent;
pub mod demo;
pub mod error;
pub mod history;
pub mod instance;
pub mod jobs;
#[cfg(all(target_os = "linux", feature = "notify"))]
pub mod notify;
pub mod scheduler;
pub mod tray;
pub mod watchdog;
pub mod wizard;
