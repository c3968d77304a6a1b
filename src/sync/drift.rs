//! Schema drift: the query's columns compared with those of the job's last successful run.
//!
//! A renamed or dropped column in a view silently changes the shape of every entry a push
//! sends. Each successful real run records its columns (name and database type) beside the
//! data source's lock; the next run lists what was added, removed or retyped, in the preview
//! and the run log, and `on_schema_change: stop` stops the run before it writes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::source::Column;

/// How the query's columns differ from the last successful run's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SchemaDrift {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// `(column, type before, type now)`.
    pub retyped: Vec<(String, String, String)>,
}

impl SchemaDrift {
    /// The drift from `before` to `now`, if any. Types are compared only where both runs
    /// report one (HTTP and file sources have none).
    pub fn between(before: &[RecordedColumn], now: &[Column]) -> Option<SchemaDrift> {
        let mut d = SchemaDrift::default();
        for c in now {
            match before.iter().find(|b| b.name == c.name) {
                None => d.added.push(c.name.clone()),
                Some(b)
                    if !b.type_name.is_empty()
                        && !c.type_name.is_empty()
                        && !b.type_name.eq_ignore_ascii_case(&c.type_name) =>
                {
                    d.retyped
                        .push((c.name.clone(), b.type_name.clone(), c.type_name.clone()))
                }
                Some(_) => {}
            }
        }
        for b in before {
            if !now.iter().any(|c| c.name == b.name) {
                d.removed.push(b.name.clone());
            }
        }
        (!d.added.is_empty() || !d.removed.is_empty() || !d.retyped.is_empty()).then_some(d)
    }

    /// One line for the preview and the log.
    pub fn describe(&self) -> String {
        let quote = |v: &[String]| {
            v.iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        if !self.removed.is_empty() {
            parts.push(format!("removed {}", quote(&self.removed)));
        }
        if !self.added.is_empty() {
            parts.push(format!("added {}", quote(&self.added)));
        }
        if !self.retyped.is_empty() {
            parts.push(format!(
                "retyped {}",
                self.retyped
                    .iter()
                    .map(|(c, a, b)| format!("\"{c}\" ({a} → {b})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        format!(
            "The query's columns changed since the last successful run: {}. Entries written by this run will have the new shape.",
            parts.join("; ")
        )
    }
}

/// A column as recorded after a successful run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedColumn {
    pub name: String,
    pub type_name: String,
}

/// Where a job's columns for one data source are recorded.
#[derive(Debug, Clone)]
pub struct SchemaFile {
    path: PathBuf,
}

impl SchemaFile {
    pub fn new(dir: &Path, base_url: &str, data_source_id: u64, job: &str) -> SchemaFile {
        use md5::{Digest, Md5};
        let job_hash = Md5::digest(job.as_bytes());
        let short: String = job_hash
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect();
        SchemaFile {
            path: dir.join(format!(
                "{}.columns-{short}.json",
                crate::sync::guard::stem(base_url, data_source_id)
            )),
        }
    }

    /// The columns of the last successful run, if one was recorded.
    pub fn read(&self) -> Option<Vec<RecordedColumn>> {
        serde_json::from_str(&std::fs::read_to_string(&self.path).ok()?).ok()
    }

    /// Record the columns of a successful run.
    pub fn write(&self, columns: &[Column]) {
        let cols: Vec<RecordedColumn> = columns
            .iter()
            .map(|c| RecordedColumn {
                name: c.name.clone(),
                type_name: c.type_name.clone(),
            })
            .collect();
        let write = || -> std::io::Result<()> {
            if let Some(d) = self.path.parent() {
                std::fs::create_dir_all(d)?;
            }
            crate::atomic_file::write(
                &self.path,
                &serde_json::to_vec(&cols).expect("columns serialise"),
                None,
            )
        };
        if let Err(e) = write() {
            tracing::warn!(
                "Cannot record the query's columns in {}: {e}",
                self.path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(n: &str, t: &str) -> Column {
        Column {
            name: n.into(),
            type_name: t.into(),
        }
    }
    fn rec(n: &str, t: &str) -> RecordedColumn {
        RecordedColumn {
            name: n.into(),
            type_name: t.into(),
        }
    }

    #[test]
    fn added_removed_and_retyped_columns_are_listed() {
        let before = [rec("id", "INT4"), rec("email", "TEXT"), rec("n", "INT4")];
        let now = [col("id", "INT4"), col("mail", "TEXT"), col("n", "NUMERIC")];
        let d = SchemaDrift::between(&before, &now).unwrap();
        assert_eq!(d.added, vec!["mail"]);
        assert_eq!(d.removed, vec!["email"]);
        assert_eq!(
            d.retyped,
            vec![("n".to_string(), "INT4".to_string(), "NUMERIC".to_string())]
        );
        assert!(
            d.describe()
                .contains("removed \"email\"; added \"mail\"; retyped \"n\" (INT4 → NUMERIC)")
        );
        assert_eq!(
            SchemaDrift::between(
                &before,
                &[col("id", "int4"), col("email", "TEXT"), col("n", "INT4")]
            ),
            None
        );
        // No type on one side (an HTTP source): only names count.
        assert_eq!(
            SchemaDrift::between(&[rec("a", "")], &[col("a", "TEXT")]),
            None
        );
    }
}
