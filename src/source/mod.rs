//! Sources of rows. SQL sources read through each database's own driver types and map every
//! column to the JSON value the original agent sent (see README "SQL type mapping").

use serde::Serialize;
use serde_json::Value;

/// A column of a result set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    /// Name as returned by the query (spaces and unicode kept).
    pub name: String,
    /// The database's own type name (e.g. `TIMESTAMPTZ`, `DECIMAL`, `nvarchar`), for display.
    pub type_name: String,
}

/// Rows fetched from a source, column-oriented to keep memory low on large tables:
/// `rows[i][j]` is the value of `columns[j]` in row `i`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// Index of a column by exact name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Column names in order.
    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }
}
