//! Fliplet REST API emulator (see README.md in this folder).
//!
//! ```no_run
//! # async fn demo() {
//! let emu = fliplet_emulator::Emulator::start().await;
//! let basic = emu.setup_basic();
//! let url = format!("{}/v1/data-sources/{}/data", emu.url(), basic.data_source_id);
//! # let _ = url;
//! # }
//! ```

mod api;
mod control;
mod model;
mod query;
mod server;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tower::Layer as _;

pub use model::{
    Basic, DataSource, DataSourceState, Entry, Fault, FaultAction, JournalEntry, MediaFileState,
    MediaFolder, NextIds, Organization, Perm, Settings, State, Token, UpdateUnknown, User,
};
pub use server::write_state_atomically;

use server::{ApiError, Shared};
use store::Db;

/// A running emulator. Dropping it stops the server (and saves the state file, if any).
pub struct Emulator {
    shared: Arc<Shared>,
    url: String,
    addr: SocketAddr,
    server: Option<JoinHandle<()>>,
    persister: Option<JoinHandle<()>>,
    shutdown_tx: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Emulator {
    /// Empty state on an ephemeral loopback port.
    pub async fn start() -> Emulator {
        Self::start_with_state(State::default()).await
    }

    /// The given state on an ephemeral loopback port.
    pub async fn start_with_state(state: State) -> Emulator {
        Self::serve(SocketAddr::from(([127, 0, 0, 1], 0)), state, None)
            .await
            .expect("start the Fliplet emulator")
    }

    /// Serve `state` on `addr`; with `persist_to`, every change is written back to that file
    /// (temp file then rename), shortly after it happens and on shutdown.
    pub async fn serve(
        addr: SocketAddr,
        state: State,
        persist_to: Option<PathBuf>,
    ) -> anyhow::Result<Emulator> {
        let db = Db::from_state(state)?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let host = if local.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else if local.is_ipv6() {
            format!("[{}]", local.ip())
        } else {
            local.ip().to_string()
        };
        let url = format!("http://{host}:{}", local.port());
        let shared = Arc::new(Shared {
            db: Mutex::new(db),
            journal: Mutex::new(Default::default()),
            faults: Mutex::new(Vec::new()),
            rate: Mutex::new(Default::default()),
            persist_to,
            dirty: AtomicBool::new(false),
            dirty_notify: Notify::new(),
            base_url: url.clone(),
        });
        let router: Router = Router::new()
            .merge(api::routes())
            .merge(control::routes())
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(server::BODY_LIMIT))
            .with_state(shared.clone());
        let app = axum::middleware::from_fn_with_state(shared.clone(), server::outer).layer(router);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
            )
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
        });
        let persister = shared.persist_to.as_ref().map(|_| {
            let sh = shared.clone();
            tokio::spawn(async move {
                loop {
                    sh.dirty_notify.notified().await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if let Err(e) = sh.persist_if_dirty() {
                        tracing::warn!("fliplet-emulator: cannot save the state file: {e}");
                    }
                }
            })
        });
        Ok(Emulator {
            shared,
            url,
            addr: local,
            server: Some(server),
            persister,
            shutdown_tx: Some(tx),
        })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop serving (gracefully, for up to 5 s) and save the state file if there is one.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        if let Some(mut h) = self.server.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut h)
                .await
                .is_err()
        {
            h.abort();
        }
        if let Some(p) = self.persister.take() {
            p.abort();
        }
        self.shared.persist_if_dirty()
    }

    pub fn add_organization(&self, name: &str) -> u64 {
        self.shared.add_organization(name)
    }

    pub fn add_user(&self, organization_id: u64, full_name: &str, email: &str) -> u64 {
        self.shared.add_user(organization_id, full_name, email)
    }

    /// Add an existing user to another organization.
    pub fn add_user_to_organization(&self, user_id: u64, organization_id: u64) {
        if let Some(u) = self.shared.db().users.get_mut(&user_id)
            && !u.organization_ids.contains(&organization_id)
        {
            u.organization_ids.push(organization_id);
        }
    }

    /// Register a token (with its region prefix, e.g. `eu--abc`) for a user.
    pub fn add_token(&self, user_id: u64, token: &str) {
        self.shared.add_token(user_id, token)
    }

    /// A data source with `type: null` and `columns: null`.
    pub fn add_data_source(&self, organization_id: u64, name: &str) -> u64 {
        self.shared
            .add_data_source(organization_id, name, None, None)
    }

    /// A data source with a type (e.g. `"keystore"`) and optional columns.
    pub fn add_data_source_with(
        &self,
        organization_id: u64,
        name: &str,
        r#type: Option<&str>,
        columns: Option<Vec<String>>,
    ) -> u64 {
        self.shared
            .add_data_source(organization_id, name, r#type.map(str::to_string), columns)
    }

    /// Add verbs to a token's grant on a data source.
    pub fn grant(&self, token: &str, data_source_id: u64, perms: &[Perm]) {
        self.shared.grant(token, data_source_id, perms)
    }

    /// Remove verbs from a token's grant on a data source.
    pub fn revoke(&self, token: &str, data_source_id: u64, perms: &[Perm]) {
        self.shared.revoke(token, data_source_id, perms)
    }

    /// Insert entries (JSON objects); returns their new ids.
    pub fn insert_entries(&self, data_source_id: u64, data: Vec<serde_json::Value>) -> Vec<u64> {
        self.shared.insert_entries(data_source_id, data)
    }

    /// All entries in ascending id order.
    pub fn entries(&self, data_source_id: u64) -> Vec<Entry> {
        self.shared.entries(data_source_id)
    }

    pub fn entry_count(&self, data_source_id: u64) -> usize {
        self.shared
            .db()
            .ds
            .get(&data_source_id)
            .map_or(0, |d| d.entries.len())
    }

    pub fn data_source(&self, id: u64) -> Option<DataSource> {
        self.shared.data_source(id)
    }

    /// Add a media folder directly (no token needed).
    pub fn add_media_folder(
        &self,
        organization_id: u64,
        name: &str,
        parent_id: Option<u64>,
    ) -> u64 {
        let mut db = self.shared.db();
        let id = db.next_folder();
        let ts = db.now().to_string();
        db.folders.insert(
            id,
            MediaFolder {
                id,
                name: name.to_string(),
                parent_id,
                organization_id,
                app_id: None,
                created_at: ts.clone(),
                updated_at: ts,
            },
        );
        id
    }

    /// Add a media file directly; `client_checksum` is what an upload's `checksum` field
    /// would have stored.
    pub fn add_media_file(
        &self,
        organization_id: u64,
        folder_id: Option<u64>,
        name: &str,
        bytes: Vec<u8>,
        client_checksum: Option<&str>,
    ) -> u64 {
        let mut db = self.shared.db();
        let id = db.next_file();
        let ts = db.now().to_string();
        db.files.insert(
            id,
            store::StoredFile {
                meta: MediaFileState {
                    id,
                    name: name.to_string(),
                    content_type: "application/octet-stream".into(),
                    media_folder_id: folder_id,
                    organization_id,
                    app_id: None,
                    user_id: None,
                    client_checksum: client_checksum.map(str::to_string),
                    content_base64: String::new(),
                    created_at: ts.clone(),
                    updated_at: ts,
                },
                bytes: bytes.into(),
            },
        );
        id
    }

    /// Media files (with `contentBase64` filled in).
    pub fn media_files(&self) -> Vec<MediaFileState> {
        self.shared.db().to_state().media_files
    }

    pub fn media_folders(&self) -> Vec<MediaFolder> {
        self.shared.db().folders.values().cloned().collect()
    }

    /// Every recorded `v1/*` request, oldest first (control-plane calls are not recorded).
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.shared.journal_entries()
    }

    pub fn clear_journal(&self) {
        self.shared.journal().clear()
    }

    pub fn inject_fault(&self, fault: Fault) {
        self.shared.faults().push(fault)
    }

    pub fn clear_faults(&self) {
        self.shared.faults().clear()
    }

    /// Rate-limit mode: 200 data-source requests per 10 s per token (see
    /// [`Emulator::set_rate_limit_params`]).
    pub fn set_rate_limit(&self, on: bool) {
        self.shared.db().settings.rate_limit = on;
        self.shared.rate().clear();
    }

    /// Change the rate-limit budget (default 200 per 10 000 ms).
    pub fn set_rate_limit_params(&self, max: u32, window: Duration) {
        {
            let mut db = self.shared.db();
            db.settings.rate_limit_max = max;
            db.settings.rate_limit_window_ms = window.as_millis() as u64;
        }
        self.shared.rate().clear();
    }

    /// Status for data-source access denials: 400 (default), 401 or 403.
    pub fn set_denial_status(&self, status: u16) {
        assert!(
            [400, 401, 403].contains(&status),
            "denial status must be 400, 401 or 403"
        );
        self.shared.db().settings.denial_status = status;
    }

    /// What a commit does with an update of an unknown id
    /// (docs/fliplet-api.md, "Commit behaviours", commit-update-unknown).
    pub fn set_update_unknown(&self, mode: UpdateUnknown) {
        self.shared.db().settings.update_unknown = mode;
    }

    pub fn settings(&self) -> Settings {
        self.shared.db().settings.clone()
    }

    /// Org "Acme Ltd", user "Test User" <test@acme.test>, token "eu--test-token", data
    /// source "Staff" granted all four verbs.
    pub fn setup_basic(&self) -> Basic {
        self.shared.setup_basic()
    }

    /// The whole state, as the state file would hold it.
    pub fn state_snapshot(&self) -> State {
        self.shared.db().to_state()
    }

    /// Replace the whole state (switches, journal and faults are kept).
    pub fn load_state(&self, state: State) -> anyhow::Result<()> {
        self.shared.replace_state(state)?;
        self.shared.mark_dirty();
        Ok(())
    }

    /// Empty state, default switches, no faults, empty journal.
    pub fn reset(&self) {
        self.shared.reset();
        self.shared.mark_dirty();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.abort();
        }
        if let Some(p) = self.persister.take() {
            p.abort();
        }
        if let Err(e) = self.shared.persist_if_dirty() {
            tracing::warn!("fliplet-emulator: cannot save the state file: {e}");
        }
    }
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("Route {} not found", uri.path()))
}
