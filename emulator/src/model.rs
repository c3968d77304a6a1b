//! The serde model of the emulator's state (the `--state` file format) and the public
//! value types handed out by the library API.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One data-source verb a token may be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Perm {
    Select,
    Insert,
    Update,
    Delete,
}

impl Perm {
    /// All four verbs.
    pub const ALL: &'static [Perm] = &[Perm::Select, Perm::Insert, Perm::Update, Perm::Delete];

    /// The verb used in Fliplet's `datasource.access` message ("read", "insert", ...).
    pub fn verb(self) -> &'static str {
        match self {
            Perm::Select => "read",
            Perm::Insert => "insert",
            Perm::Update => "update",
            Perm::Delete => "delete",
        }
    }

    pub(crate) fn bit(self) -> u8 {
        match self {
            Perm::Select => 1,
            Perm::Insert => 2,
            Perm::Update => 4,
            Perm::Delete => 8,
        }
    }
}

/// The complete, serialisable state of an emulator: this is the `--state` JSON file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct State {
    pub organizations: Vec<Organization>,
    pub users: Vec<User>,
    pub tokens: Vec<Token>,
    pub data_sources: Vec<DataSourceState>,
    pub media_folders: Vec<MediaFolder>,
    pub media_files: Vec<MediaFileState>,
    /// Next ids to hand out; ids are never reused. Missing or too small values are raised
    /// to one more than the largest id present.
    pub next_ids: NextIds,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NextIds {
    pub organization: u64,
    pub user: u64,
    pub data_source: u64,
    pub entry: u64,
    pub media_folder: u64,
    pub media_file: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: u64,
    pub email: String,
    pub full_name: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub is_admin: bool,
    /// Organizations the user belongs to; the first listed by `GET v1/organizations` is the
    /// one with the smallest id.
    #[serde(default)]
    pub organization_ids: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    /// The full token including its region prefix, e.g. `eu--abc`.
    pub token: String,
    pub user_id: u64,
    /// Per data source id: the verbs this token may use.
    #[serde(default)]
    pub grants: BTreeMap<u64, Vec<Perm>>,
}

/// A data source as the library API returns it (no entries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSource {
    pub id: u64,
    pub name: String,
    pub organization_id: u64,
    #[serde(default)]
    pub app_id: Option<u64>,
    #[serde(default)]
    pub r#type: Option<String>,
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    #[serde(default)]
    pub hooks: Vec<Value>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
}

/// A data source in the state file: its attributes plus its entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceState {
    #[serde(flatten)]
    pub data_source: DataSource,
    #[serde(default)]
    pub entries: Vec<Entry>,
}

/// One data source entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub id: u64,
    pub data: Value,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFolder {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub parent_id: Option<u64>,
    pub organization_id: u64,
    #[serde(default)]
    pub app_id: Option<u64>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
}

/// A media file in the state file; the bytes are base64 in `contentBase64`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFileState {
    pub id: u64,
    pub name: String,
    #[serde(default = "default_content_type")]
    pub content_type: String,
    #[serde(default)]
    pub media_folder_id: Option<u64>,
    pub organization_id: u64,
    #[serde(default)]
    pub app_id: Option<u64>,
    #[serde(default)]
    pub user_id: Option<u64>,
    /// The `checksum` form field sent at upload time, if any.
    #[serde(default)]
    pub client_checksum: Option<String>,
    #[serde(default)]
    pub content_base64: String,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
}

fn default_content_type() -> String {
    "application/octet-stream".into()
}

/// One recorded `v1/*` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    pub method: String,
    /// The path exactly as requested (leading `/`, trailing slash kept).
    pub path: String,
    /// The raw query string without `?` (empty when none).
    pub query: String,
    /// Selected headers with lower-case names: `auth-token`, `user-agent`, `content-type`.
    pub headers: BTreeMap<String, String>,
    /// The body: parsed JSON when it is JSON and under 1 MiB, else the first 64 KiB as a
    /// (lossy UTF-8) string; `None` when empty.
    pub body: Option<Value>,
    /// Size of the whole request body in bytes.
    #[serde(default)]
    pub body_size: usize,
    /// True when `body` holds only a prefix of the request body.
    #[serde(default)]
    pub body_truncated: bool,
    /// Response status (0 when the connection was dropped by a fault).
    #[serde(default)]
    pub status: u16,
}

impl JournalEntry {
    /// A header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// A fault to inject on the next `times` requests matching `method` and `path`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// HTTP method, or `*` for any.
    pub method: String,
    /// Path pattern such as `/v1/data-sources/*/commit`: `*` matches one segment, `**` the
    /// rest; leading and trailing slashes are ignored.
    pub path: String,
    /// How many matching requests are affected; 0 means every one until faults are cleared.
    pub times: u32,
    /// How many matching requests go through untouched before the fault applies (e.g. 1:
    /// the second commit and those after it).
    pub after: u32,
    pub action: FaultAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer with this status and JSON body; the request is not applied.
    Respond { status: u16, body: Value },
    /// Answer with this status, content type and text body (e.g. a gateway's HTML page).
    /// With `apply`, the request is first handled normally (its effect stays) and only the
    /// answer is replaced.
    RespondText {
        status: u16,
        content_type: String,
        body: String,
        apply: bool,
    },
    /// Hold the request this long, then handle it normally. The handling goes on even when
    /// the client has gone meanwhile (a slow server still applying a request whose client
    /// was killed or timed out).
    Delay(Duration),
    /// Close the connection without answering; the request is not applied.
    Drop,
    /// Handle the request normally (its effect stays), then close the connection without
    /// answering: the answer is lost.
    ApplyThenDrop,
    /// Handle the request normally at once, then hold the answer this long (past a client's
    /// timeout, the answer is lost).
    ApplyThenDelay(Duration),
}

/// What `setup_basic` created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Basic {
    pub token: String,
    pub organization_id: u64,
    pub user_id: u64,
    pub data_source_id: u64,
}

/// What a commit does with an update whose `id` is not in the data source
/// (docs/fliplet-api.md, "Commit behaviours", commit-update-unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateUnknown {
    /// Skip it silently (default).
    #[default]
    Ignore,
    /// Reject the whole commit with 400.
    Error,
    /// Insert it as a new entry with a fresh id.
    Insert,
}

/// Runtime switches (not part of the state file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    pub rate_limit: bool,
    /// Data-source requests allowed per window and token (default 200).
    pub rate_limit_max: u32,
    /// Window length in milliseconds (default 10000).
    pub rate_limit_window_ms: u64,
    /// Status of data-source access denials: 400 (default), 401 or 403.
    pub denial_status: u16,
    pub update_unknown: UpdateUnknown,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rate_limit: false,
            rate_limit_max: 200,
            rate_limit_window_ms: 10_000,
            denial_status: 400,
            update_unknown: UpdateUnknown::Ignore,
        }
    }
}

impl State {
    /// The demo state shipped in `emulator/demo/state.json`.
    pub fn demo() -> State {
        serde_json::from_str(include_str!("../demo/state.json")).expect("demo state is valid")
    }

    /// Load a state file.
    pub fn load(path: &std::path::Path) -> anyhow::Result<State> {
        let text = std::fs::read_to_string(path)?;
        Ok(serde_json::from_str(&text)?)
    }
}
