//! The plan: what a push would insert, update and delete. A pure function of the source rows,
//! the remote entries and the options — no I/O — so the dry-run preview *is* the plan and can
//! never disagree with the run.
//!
//! Semantics follow the original agent (`libs/agent-runner.js`), with these documented
//! differences:
//! - keys match on a canonical form: the number `123` and the string `"123"` are the same key
//!   (the original compared with `===`, so values imported by other means never matched);
//!   with `case_insensitive_primary_column`, strings are compared lower-cased;
//! - a key of `0` is a key (the original skipped it as "missing", being falsy in JavaScript);
//!   `null` and `""` are missing keys;
//! - without a `timestamp_column`, a matched row is updated when one of its columns differs
//!   from the entry (the original never updated such rows in `update` mode);
//! - timestamps that cannot be parsed count as changed (the original treated them as equal).

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone};
use serde::Serialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use crate::config::Mode;
use crate::crypto::{cryptojs_decrypt, field_plaintext};
use crate::fliplet::RemoteEntry;
use crate::secret::Secret;
use crate::source::Table;

/// What the plan needs from a push operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanOptions {
    pub primary_column: Option<String>,
    pub case_insensitive: bool,
    pub timestamp_column: Option<String>,
    pub delete_column: Option<String>,
    pub mode: Mode,
    /// Columns left out of the content comparison made when there is no timestamp column.
    pub compare_ignore: Vec<String>,
    /// File columns (`files:`). Their remote value is a Fliplet URL, never the source's path
    /// or URL, so without a timestamp column a set file column counts as unchanged once the
    /// entry has a `<column>MediaFileId` (the file was uploaded), and as changed while it has
    /// none (e.g. the file could not be fetched last time). A null or empty file column is
    /// compared like any other column.
    pub file_columns: Vec<String>,
    /// Encrypted columns (`encrypt.fields`). Ciphertexts use a random salt, so they differ on
    /// every run: without a timestamp column, an encrypted column is compared by decrypting
    /// the remote value with [`PlanOptions::encryption_key`] and comparing the plaintext with
    /// the text the local value would be encrypted from. No key (a dry run before the keystore
    /// exists) or a value that does not decrypt counts as changed. Values that are not
    /// encrypted (null, false, 0, "") are compared as they are.
    pub encrypted_columns: Vec<String>,
    pub encryption_key: Option<Secret>,
    /// `remove_duplicate_entries`: delete the extra copies of entries that share a primary
    /// key with another entry (the entry with the lowest id is kept). Off: they are only
    /// reported (in `replace` mode they are deleted anyway, as no row matches them).
    pub remove_duplicates: bool,
}

/// Why a row is left out of the commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    /// The primary key column is null or empty.
    MissingKey,
    /// An earlier row (`first_row`) has the same key.
    DuplicateKey { first_row: usize },
    /// The row is marked deleted and no entry has its key: nothing to do.
    DeletedNotOnFliplet,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::MissingKey => f.write_str("the row is missing its primary key value"),
            SkipReason::DuplicateKey { first_row } => write!(
                f,
                "a duplicate row has been found for the same primary key (first seen in row {})",
                first_row + 1
            ),
            SkipReason::DeletedNotOnFliplet => {
                f.write_str("the row is marked as deleted and is not present on Fliplet servers")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    /// Index of the row in the source table.
    pub row: usize,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Update {
    pub row: usize,
    pub entry_id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeleteReason {
    /// The row's `delete_column` is set.
    Flagged { row: usize },
    /// `mode: replace` and the source no longer returns this entry's key.
    NotInSource,
    /// The entry shares its primary key with the entry `kept` (the lowest id of that key),
    /// and `remove_duplicate_entries` is on (or `mode: replace`).
    DuplicateKey { kept: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Delete {
    pub entry_id: u64,
    /// Index of the entry in the remote list given to [`plan`].
    pub remote: usize,
    pub reason: DeleteReason,
}

/// A remote entry whose primary key another entry (`kept`, the lowest id) also has. A row
/// only ever matches the kept entry, so the others are never updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Duplicate {
    pub entry_id: u64,
    /// Index of the entry in the remote list given to [`plan`].
    pub remote: usize,
    pub kept: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Unchanged {
    pub row: usize,
    pub entry_id: u64,
}

/// The outcome of planning a push.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// Rows to insert (indices into the table).
    pub inserts: Vec<usize>,
    pub updates: Vec<Update>,
    pub deletes: Vec<Delete>,
    pub unchanged: Vec<Unchanged>,
    pub skipped: Vec<Skip>,
    /// Remote entries that share a primary key with another entry (see [`Duplicate`]).
    pub duplicates: Vec<Duplicate>,
    pub warnings: Vec<String>,
}

impl Plan {
    /// Whether the plan would send anything.
    pub fn is_empty(&self) -> bool {
        self.inserts.is_empty() && self.updates.is_empty() && self.deletes.is_empty()
    }

    /// Entry ids to delete, deduplicated, in plan order.
    pub fn delete_ids(&self) -> Vec<u64> {
        self.deletes.iter().map(|d| d.entry_id).collect()
    }
}

/// A precondition of the plan does not hold; nothing may be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "`{key}: {column}` is not a column of the query result (columns: {available}). Check the spelling and case, or add it to the query (use SQL \"AS\" to rename)."
    )]
    UnknownColumn {
        key: &'static str,
        column: String,
        available: String,
    },
}

/// A key in canonical form: numbers and numeric strings compare equal.
pub fn canonical_key(value: &Value, case_insensitive: bool) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(if case_insensitive {
            s.to_lowercase()
        } else {
            s.clone()
        }),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                format!("{}", f as i64)
            }
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

/// Whether a `delete_column` value marks the row deleted: set and not null, `false`, `0` or
/// an empty string (the original's JavaScript truthiness).
pub fn is_marked_deleted(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// Parse a timestamp value as an instant, in milliseconds since the epoch. Strings in
/// ISO-8601/RFC 3339 form (with or without offset; without one means local time, as the
/// original's moment.js did), `YYYY-MM-DD HH:MM:SS[.fff]`, a bare date, or a number of
/// milliseconds since the epoch.
pub fn parse_instant(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(d) = DateTime::parse_from_rfc3339(s) {
                return Some(d.timestamp_millis());
            }
            for fmt in [
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%d %H:%M",
            ] {
                if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
                    return local_millis(n);
                }
            }
            for fmt in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
                if let Ok(d) = DateTime::parse_from_str(s, fmt) {
                    return Some(d.timestamp_millis());
                }
            }
            if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                return local_millis(d.and_hms_opt(0, 0, 0)?);
            }
            None
        }
        _ => None,
    }
}

fn local_millis(n: NaiveDateTime) -> Option<i64> {
    Local
        .from_local_datetime(&n)
        .earliest()
        .map(|d| d.timestamp_millis())
}

/// Whether two timestamp values denote instants at least one second apart. Equal values
/// never differ; values that cannot be parsed as instants (and are not equal) differ.
pub fn timestamps_differ(local: &Value, remote: Option<&Value>) -> bool {
    let remote = remote.unwrap_or(&Value::Null);
    if local == remote {
        return false;
    }
    match (parse_instant(local), parse_instant(remote)) {
        (Some(a), Some(b)) => (a - b).abs() >= 1000,
        _ => true,
    }
}

/// Build the plan. See the module documentation for the rules.
pub fn plan(table: &Table, remote: &[RemoteEntry], opts: &PlanOptions) -> Result<Plan, PlanError> {
    let column = |key: &'static str, name: &Option<String>| -> Result<Option<usize>, PlanError> {
        match name {
            None => Ok(None),
            Some(n) => match table.column_index(n) {
                Some(i) => Ok(Some(i)),
                None => Err(PlanError::UnknownColumn {
                    key,
                    column: n.clone(),
                    available: table.column_names().join(", "),
                }),
            },
        }
    };
    let pk = column("primary_column", &opts.primary_column)?;
    let ts = column("timestamp_column", &opts.timestamp_column)?;
    let del = column("delete_column", &opts.delete_column)?;

    let mut plan = Plan::default();
    let replace = opts.mode == Mode::Replace;

    let Some(pk) = pk else {
        plan.warnings.push("A primary key has not been set, which means rows will always be appended to the data source whenever this script runs. To allow updating rows, please define a primary key to be used for the comparison.".into());
        plan.inserts = (0..table.rows.len()).collect();
        if replace {
            plan.deletes = remote
                .iter()
                .enumerate()
                .map(|(i, e)| Delete {
                    entry_id: e.id,
                    remote: i,
                    reason: DeleteReason::NotInSource,
                })
                .collect();
        }
        return Ok(plan);
    };
    let pk_name = opts.primary_column.as_deref().unwrap_or_default();
    let ts_name = opts.timestamp_column.as_deref();

    // One hash map for both jobs: canonical key -> (first remote entry with that key, first
    // source row with that key). O(1) per row and per entry; a fast non-cryptographic hasher,
    // as keys come from the user's own data.
    let wanted: Vec<&str> = std::iter::once(pk_name).chain(ts_name).collect();
    let mut index: HashMap<String, Slot, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(
            remote.len().max(table.rows.len()),
            foldhash::fast::RandomState::default(),
        );
    // Remote entries whose key an entry with a lower id also has.
    let mut extras: Vec<(usize, String)> = Vec::new();
    let mut remote_ts: Vec<Option<Value>> = Vec::new();
    if ts.is_some() {
        remote_ts.reserve(remote.len());
    }
    for (i, entry) in remote.iter().enumerate() {
        let mut fields = extract_fields(entry.data.get(), &wanted);
        if ts.is_some() {
            remote_ts.push(fields.pop().flatten());
        }
        if let Some(key) = fields
            .first()
            .and_then(|v| v.as_ref())
            .and_then(|v| canonical_key(v, opts.case_insensitive))
        {
            match index.entry(key) {
                std::collections::hash_map::Entry::Occupied(mut o) => {
                    let kept = o.get().remote.expect("only remote entries are indexed yet");
                    let (keep, extra) = if entry.id < remote[kept].id {
                        (i, kept)
                    } else {
                        (kept, i)
                    };
                    o.get_mut().remote = Some(keep);
                    extras.push((extra, o.key().clone()));
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(Slot {
                        remote: Some(i),
                        row: None,
                    });
                }
            }
        }
    }

    let mut matched = vec![false; remote.len()];
    let compare = Compare::new(table, opts);

    for (r, row) in table.rows.iter().enumerate() {
        let Some(key) = canonical_key(&row[pk], opts.case_insensitive) else {
            plan.skipped.push(Skip {
                row: r,
                reason: SkipReason::MissingKey,
            });
            continue;
        };
        let deleted = del.is_some_and(|d| is_marked_deleted(&row[d]));
        let slot = index.entry(key).or_insert(Slot {
            remote: None,
            row: None,
        });
        if let Some(first_row) = slot.row {
            plan.skipped.push(Skip {
                row: r,
                reason: SkipReason::DuplicateKey { first_row },
            });
            continue;
        }
        slot.row = Some(r);
        let found = slot.remote;
        let Some(e) = found else {
            if deleted {
                plan.skipped.push(Skip {
                    row: r,
                    reason: SkipReason::DeletedNotOnFliplet,
                });
            } else {
                plan.inserts.push(r);
            }
            continue;
        };
        matched[e] = true;
        let entry_id = remote[e].id;
        if deleted {
            plan.deletes.push(Delete {
                entry_id,
                remote: e,
                reason: DeleteReason::Flagged { row: r },
            });
            continue;
        }
        let changed = replace
            || match ts {
                Some(t) => timestamps_differ(&row[t], remote_ts[e].as_ref()),
                None => compare.differs(row, remote[e].data.get()),
            };
        if changed {
            plan.updates.push(Update { row: r, entry_id });
        } else {
            plan.unchanged.push(Unchanged { row: r, entry_id });
        }
    }

    extras.sort_unstable();
    let mut duplicate_of: HashMap<usize, u64> = HashMap::new();
    for (extra, key) in extras {
        let kept = index
            .get(&key)
            .and_then(|slot| slot.remote)
            .map(|k| remote[k].id)
            .expect("the key of a duplicate is indexed");
        let entry_id = remote[extra].id;
        plan.duplicates.push(Duplicate {
            entry_id,
            remote: extra,
            kept,
        });
        if replace {
            // Deleted with the other unmatched entries below, in listing order.
            duplicate_of.insert(extra, kept);
        } else if opts.remove_duplicates {
            matched[extra] = true;
            plan.deletes.push(Delete {
                entry_id,
                remote: extra,
                reason: DeleteReason::DuplicateKey { kept },
            });
        }
    }
    if !plan.duplicates.is_empty() {
        plan.warnings.push(duplicates_warning(
            &plan.duplicates,
            pk_name,
            opts.remove_duplicates || replace,
        ));
    }

    if replace {
        for (i, entry) in remote.iter().enumerate() {
            if !matched[i] {
                plan.deletes.push(Delete {
                    entry_id: entry.id,
                    remote: i,
                    reason: match duplicate_of.get(&i) {
                        Some(&kept) => DeleteReason::DuplicateKey { kept },
                        None => DeleteReason::NotInSource,
                    },
                });
            }
        }
        if table.rows.is_empty() && !remote.is_empty() {
            plan.warnings.push(format!(
                "The source returned no rows: \"mode: replace\" will delete all {} entries of the data source.",
                remote.len()
            ));
        }
    }
    Ok(plan)
}

/// How many entries share a key with another, their ids (the first 20), and what happens.
fn duplicates_warning(dups: &[Duplicate], pk: &str, removed: bool) -> String {
    let ids: Vec<String> = dups
        .iter()
        .take(20)
        .map(|d| d.entry_id.to_string())
        .collect();
    let more = if dups.len() > ids.len() {
        format!(" and {} more", dups.len() - ids.len())
    } else {
        String::new()
    };
    let n = dups.len();
    let what = if removed {
        "they are deleted, keeping the entry with the lowest id of each key".to_string()
    } else {
        "no row ever updates them. To delete the extra copies (keeping the entry with the lowest id of each key), set `remove_duplicate_entries: true` in the job file and preview the run".to_string()
    };
    format!(
        "{n} data source {} a \"{pk}\" value with an entry of lower id (ids {}{more}): {what}.",
        if n == 1 {
            "entry shares"
        } else {
            "entries share"
        },
        ids.join(", ")
    )
}

/// What the plan's key index knows about one key.
struct Slot {
    /// The first remote entry with this key.
    remote: Option<usize>,
    /// The first source row with this key (later ones are duplicates).
    row: Option<usize>,
}

/// How each column is compared when there is no timestamp column.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    Plain,
    Ignore,
    /// A file column; the field is `<column>MediaFileId`.
    File,
    Encrypted,
}

struct Compare<'a> {
    table: &'a Table,
    rules: Vec<Rule>,
    media_id_names: Vec<String>,
    key: Option<&'a str>,
}

impl<'a> Compare<'a> {
    fn new(table: &'a Table, opts: &'a PlanOptions) -> Self {
        let mut rules = vec![Rule::Plain; table.columns.len()];
        let mut media_id_names = vec![String::new(); table.columns.len()];
        for c in &opts.encrypted_columns {
            if let Some(i) = table.column_index(c) {
                rules[i] = Rule::Encrypted;
            }
        }
        for c in &opts.file_columns {
            if let Some(i) = table.column_index(c) {
                rules[i] = Rule::File;
                media_id_names[i] = format!("{c}MediaFileId");
            }
        }
        for c in &opts.compare_ignore {
            if let Some(i) = table.column_index(c) {
                rules[i] = Rule::Ignore;
            }
        }
        Compare {
            table,
            rules,
            media_id_names,
            key: opts.encryption_key.as_ref().map(Secret::expose),
        }
    }

    /// Whether a row's values differ from an entry's data, column by column (a missing
    /// remote column equals a local null).
    fn differs(&self, row: &[Value], raw: &str) -> bool {
        let Ok(remote) = serde_json::from_str::<serde_json::Map<String, Value>>(raw) else {
            return true;
        };
        let plain = |name: &str, local: &Value| match remote.get(name) {
            Some(v) => v != local,
            None => !local.is_null(),
        };
        self.table.columns.iter().enumerate().any(|(i, c)| {
            let local = &row[i];
            match self.rules[i] {
                Rule::Ignore => false,
                Rule::Plain => plain(&c.name, local),
                Rule::File => match local {
                    Value::String(s) if !s.trim().is_empty() => remote
                        .get(&self.media_id_names[i])
                        .is_none_or(Value::is_null),
                    _ => plain(&c.name, local),
                },
                Rule::Encrypted => match field_plaintext(local) {
                    None => plain(&c.name, local),
                    Some(text) => match (self.key, remote.get(&c.name)) {
                        (Some(key), Some(Value::String(cipher))) => {
                            cryptojs_decrypt(cipher, key).map_or(true, |t| t != text)
                        }
                        _ => true,
                    },
                },
            }
        })
    }
}

/// Read only the named top-level fields of a JSON object text, skipping everything else
/// without building it. Returns one slot per wanted name (None when absent or not an object).
pub fn extract_fields(raw: &str, wanted: &[&str]) -> Vec<Option<Value>> {
    let mut out = vec![None; wanted.len()];
    let mut de = serde_json::Deserializer::from_str(raw);
    let _ = de::Deserializer::deserialize_any(
        &mut de,
        FieldsVisitor {
            wanted,
            out: &mut out,
        },
    );
    for i in 1..wanted.len() {
        if let Some(first) = wanted[..i].iter().position(|w| *w == wanted[i]) {
            out[i] = out[first].clone();
        }
    }
    out
}

struct FieldsVisitor<'a, 'b> {
    wanted: &'a [&'a str],
    out: &'b mut Vec<Option<Value>>,
}

impl<'de> Visitor<'de> for FieldsVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(slot) = map.next_key_seed(KeySeed(self.wanted))? {
            match slot {
                Some(i) if self.out[i].is_none() => self.out[i] = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Deserialises a map key to the index of the wanted name it equals, without allocating for
/// keys that need no unescaping.
struct KeySeed<'a>(&'a [&'a str]);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|w| *w == v))
    }
}

#[cfg(test)]
mod tests;
