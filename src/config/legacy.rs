//! The original fliplet-agent YAML format (one push per file). TODO: implemented by the
//! config work item.

use std::path::Path;

use super::{ConfigError, LoadedJob};

/// Parse and validate the text of a legacy YAML job file. `path` is used in messages and to
/// resolve relative paths (SQLite file, local file folders) against the file's folder.
pub fn parse(_text: &str, path: &Path) -> Result<LoadedJob, ConfigError> {
    Err(ConfigError::Read {
        file: path.display().to_string(),
        message: "not implemented yet".into(),
    })
}
