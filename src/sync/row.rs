//! A row of the query result on its way to a commit: serialised straight from the table, with
//! the changes files and encryption make to it.

use std::collections::HashMap;

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::Value;

use crate::source::Table;

/// Changes to a row's data on its way to the commit: file columns replaced by Fliplet URLs
/// (or left out when the file could not be fetched), `<column>MediaFileId` added, and
/// encrypted fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowPatch {
    /// Column index -> value sent instead of the source value.
    pub set: HashMap<usize, Value>,
    /// Columns left out.
    pub omit: Vec<usize>,
    /// Keys added after the row's columns.
    pub extra: Vec<(String, Value)>,
}

/// A row of a table serialised as a JSON object in column order, with its [`RowPatch`].
#[derive(Debug, Clone, Copy)]
pub struct RowObject<'a> {
    table: &'a Table,
    row: usize,
    patch: Option<&'a RowPatch>,
}

impl<'a> RowObject<'a> {
    pub fn new(table: &'a Table, row: usize) -> Self {
        RowObject {
            table,
            row,
            patch: None,
        }
    }

    pub fn with_patch(self, patch: Option<&'a RowPatch>) -> Self {
        RowObject { patch, ..self }
    }
}

impl Serialize for RowObject<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let values = &self.table.rows[self.row];
        let mut map = s.serialize_map(None)?;
        for (i, (c, v)) in self.table.columns.iter().zip(values).enumerate() {
            match self.patch {
                None => map.serialize_entry(&c.name, v)?,
                Some(p) => {
                    if p.omit.contains(&i) {
                        continue;
                    }
                    map.serialize_entry(&c.name, p.set.get(&i).unwrap_or(v))?;
                }
            }
        }
        if let Some(p) = self.patch {
            for (k, v) in &p.extra {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}
