//! What the app keeps: the core's [`Agent`] and when the process started (for the
//! launch-to-interactive measurement). No sync logic lives here.

use std::sync::Arc;
use std::time::Instant;

use fliplet_agent::app::agent::Agent;

pub struct AppState {
    pub agent: Arc<Agent>,
    pub started: Instant,
}
