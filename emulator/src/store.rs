//! The in-memory store behind the emulator.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use indexmap::IndexMap;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::model::*;

/// An entry's `data` as an ordered map of raw JSON values (keeps key order and the exact
/// text of every value).
pub type DataMap = IndexMap<String, Box<RawValue>>;

pub struct StoredEntry {
    /// Compact JSON text of the `data` object.
    pub data: Box<str>,
    pub created_at: Arc<str>,
    pub updated_at: Arc<str>,
}

pub struct Ds {
    pub meta: DataSource,
    pub entries: BTreeMap<u64, StoredEntry>,
}

pub struct StoredFile {
    pub meta: MediaFileState,
    pub bytes: Bytes,
}

pub struct TokenInfo {
    pub user_id: u64,
    /// Per data source: bit set of `Perm::bit`.
    pub grants: HashMap<u64, u8>,
}

#[derive(Default)]
pub struct Db {
    pub orgs: BTreeMap<u64, Organization>,
    pub users: BTreeMap<u64, User>,
    pub tokens: HashMap<String, TokenInfo>,
    pub ds: BTreeMap<u64, Ds>,
    pub folders: BTreeMap<u64, MediaFolder>,
    pub files: BTreeMap<u64, StoredFile>,
    pub next: NextIds,
    pub last_ms: i64,
    pub settings: Settings,
}

pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    let digest = Md5::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn bump(next: &mut u64) -> u64 {
    if *next == 0 {
        *next = 1;
    }
    let id = *next;
    *next += 1;
    id
}

/// Serialise a data map compactly.
pub fn data_text(map: &DataMap) -> Box<str> {
    serde_json::to_string(map)
        .expect("raw values serialise")
        .into_boxed_str()
}

impl Db {
    /// A timestamp for a write: strictly later than every earlier one, so `updatedAt`
    /// always changes.
    pub fn now(&mut self) -> Arc<str> {
        let real = chrono::Utc::now().timestamp_millis();
        let ms = real.max(self.last_ms + 1);
        self.last_ms = ms;
        Arc::from(format_ms(ms))
    }

    pub fn next_org(&mut self) -> u64 {
        bump(&mut self.next.organization)
    }
    pub fn next_user(&mut self) -> u64 {
        bump(&mut self.next.user)
    }
    pub fn next_ds(&mut self) -> u64 {
        bump(&mut self.next.data_source)
    }
    pub fn next_entry(&mut self) -> u64 {
        bump(&mut self.next.entry)
    }
    pub fn next_folder(&mut self) -> u64 {
        bump(&mut self.next.media_folder)
    }
    pub fn next_file(&mut self) -> u64 {
        bump(&mut self.next.media_file)
    }

    pub fn user_orgs(&self, user_id: u64) -> Vec<u64> {
        let mut orgs = self
            .users
            .get(&user_id)
            .map(|u| u.organization_ids.clone())
            .unwrap_or_default();
        orgs.sort_unstable();
        orgs.dedup();
        orgs
    }

    pub fn user_in_org(&self, user_id: u64, org: u64) -> bool {
        self.users
            .get(&user_id)
            .is_some_and(|u| u.organization_ids.contains(&org))
    }

    pub fn grant(&mut self, token: &str, ds: u64, perms: &[Perm]) {
        if let Some(t) = self.tokens.get_mut(token) {
            let bits = t.grants.entry(ds).or_insert(0);
            for p in perms {
                *bits |= p.bit();
            }
        }
    }

    pub fn has_perm(&self, token: &str, ds: u64, perm: Perm) -> bool {
        self.tokens
            .get(token)
            .and_then(|t| t.grants.get(&ds))
            .is_some_and(|bits| bits & perm.bit() != 0)
    }

    /// Insert an entry with a fresh id into data source `ds` (which must exist).
    pub fn insert_entry(&mut self, ds: u64, data: Box<str>, ts: &Arc<str>) -> u64 {
        let id = self.next_entry();
        let d = self.ds.get_mut(&ds).expect("data source exists");
        d.entries.insert(
            id,
            StoredEntry {
                data,
                created_at: ts.clone(),
                updated_at: ts.clone(),
            },
        );
        id
    }

    pub fn from_state(state: State) -> anyhow::Result<Db> {
        let mut db = Db {
            next: state.next_ids.clone(),
            ..Db::default()
        };
        let now = db.now();
        let fill = |s: String| if s.is_empty() { now.to_string() } else { s };
        for o in state.organizations {
            db.next.organization = db.next.organization.max(o.id + 1);
            db.orgs.insert(o.id, o);
        }
        for u in state.users {
            db.next.user = db.next.user.max(u.id + 1);
            db.users.insert(u.id, u);
        }
        for t in state.tokens {
            let grants = t
                .grants
                .iter()
                .map(|(ds, perms)| (*ds, perms.iter().fold(0u8, |b, p| b | p.bit())))
                .collect();
            db.tokens.insert(
                t.token,
                TokenInfo {
                    user_id: t.user_id,
                    grants,
                },
            );
        }
        for d in state.data_sources {
            let mut meta = d.data_source;
            meta.created_at = fill(meta.created_at);
            meta.updated_at = fill(meta.updated_at);
            db.next.data_source = db.next.data_source.max(meta.id + 1);
            let mut entries = BTreeMap::new();
            for e in d.entries {
                db.next.entry = db.next.entry.max(e.id + 1);
                if !e.data.is_object() {
                    anyhow::bail!(
                        "entry {} of data source {}: data must be an object",
                        e.id,
                        meta.id
                    );
                }
                entries.insert(
                    e.id,
                    StoredEntry {
                        data: serde_json::to_string(&e.data)?.into_boxed_str(),
                        created_at: Arc::from(fill(e.created_at)),
                        updated_at: Arc::from(fill(e.updated_at)),
                    },
                );
            }
            db.ds.insert(meta.id, Ds { meta, entries });
        }
        for mut f in state.media_folders {
            f.created_at = fill(f.created_at);
            f.updated_at = fill(f.updated_at);
            db.next.media_folder = db.next.media_folder.max(f.id + 1);
            db.folders.insert(f.id, f);
        }
        for mut f in state.media_files {
            f.created_at = fill(f.created_at);
            f.updated_at = fill(f.updated_at);
            db.next.media_file = db.next.media_file.max(f.id + 1);
            let bytes = base64::engine::general_purpose::STANDARD.decode(&f.content_base64)?;
            f.content_base64 = String::new();
            db.files.insert(
                f.id,
                StoredFile {
                    meta: f,
                    bytes: Bytes::from(bytes),
                },
            );
        }
        Ok(db)
    }

    pub fn to_state(&self) -> State {
        let mut tokens: Vec<Token> = self
            .tokens
            .iter()
            .map(|(token, t)| Token {
                token: token.clone(),
                user_id: t.user_id,
                grants: t
                    .grants
                    .iter()
                    .map(|(ds, bits)| {
                        let perms = Perm::ALL
                            .iter()
                            .copied()
                            .filter(|p| bits & p.bit() != 0)
                            .collect();
                        (*ds, perms)
                    })
                    .collect(),
            })
            .collect();
        tokens.sort_by(|a, b| a.token.cmp(&b.token));
        State {
            organizations: self.orgs.values().cloned().collect(),
            users: self.users.values().cloned().collect(),
            tokens,
            data_sources: self
                .ds
                .values()
                .map(|d| DataSourceState {
                    data_source: d.meta.clone(),
                    entries: d
                        .entries
                        .iter()
                        .map(|(id, e)| stored_to_entry(*id, e))
                        .collect(),
                })
                .collect(),
            media_folders: self.folders.values().cloned().collect(),
            media_files: self
                .files
                .values()
                .map(|f| {
                    let mut m = f.meta.clone();
                    m.content_base64 = base64::engine::general_purpose::STANDARD.encode(&f.bytes);
                    m
                })
                .collect(),
            next_ids: self.next.clone(),
        }
    }
}

pub fn stored_to_entry(id: u64, e: &StoredEntry) -> Entry {
    Entry {
        id,
        data: serde_json::from_str(&e.data).unwrap_or(Value::Null),
        created_at: e.created_at.to_string(),
        updated_at: e.updated_at.to_string(),
    }
}

/// Add the keys of `map` not yet in `columns`, in first-seen order.
pub struct ColumnTracker {
    seen: HashSet<String>,
    added: Vec<String>,
}

impl ColumnTracker {
    pub fn new(meta: &DataSource) -> Self {
        ColumnTracker {
            seen: meta.columns.iter().flatten().cloned().collect(),
            added: Vec::new(),
        }
    }
    pub fn see<'a>(&mut self, keys: impl IntoIterator<Item = &'a String>) {
        for k in keys {
            if !self.seen.contains(k) {
                self.seen.insert(k.clone());
                self.added.push(k.clone());
            }
        }
    }
    pub fn apply(self, meta: &mut DataSource) {
        if self.added.is_empty() {
            return;
        }
        meta.columns.get_or_insert_with(Vec::new).extend(self.added);
    }
}

/// Append the JSON of one entry to `out`.
pub fn write_entry(out: &mut Vec<u8>, ds: u64, id: u64, e: &StoredEntry) {
    out.extend_from_slice(b"{\"id\":");
    push_u64(out, id);
    out.extend_from_slice(b",\"dataSourceId\":");
    push_u64(out, ds);
    out.extend_from_slice(b",\"data\":");
    out.extend_from_slice(e.data.as_bytes());
    out.extend_from_slice(b",\"createdAt\":\"");
    out.extend_from_slice(e.created_at.as_bytes());
    out.extend_from_slice(b"\",\"updatedAt\":\"");
    out.extend_from_slice(e.updated_at.as_bytes());
    out.extend_from_slice(b"\"}");
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Bytes `write_entry` needs for this entry, at most.
pub fn entry_size(e: &StoredEntry) -> usize {
    e.data.len() + e.created_at.len() + e.updated_at.len() + 100
}

/// `{"entries":[...]}` for the given entries.
pub fn write_entries<'a>(
    ds: u64,
    entries: impl Iterator<Item = (&'a u64, &'a StoredEntry)> + Clone,
) -> Vec<u8> {
    let size: usize = entries.clone().map(|(_, e)| entry_size(e)).sum();
    let mut out = Vec::with_capacity(16 + size);
    out.extend_from_slice(b"{\"entries\":[");
    let mut first = true;
    for (id, e) in entries {
        if !first {
            out.push(b',');
        }
        first = false;
        write_entry(&mut out, ds, *id, e);
    }
    out.extend_from_slice(b"]}");
    out
}
