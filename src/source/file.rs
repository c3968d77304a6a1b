//! File sources: a JSON file (an array of records, or an array at a path inside it) and a CSV
//! file (header row, delimiter, quoting; UTF-8 with or without BOM, or Windows-1252).
//!
//! CSV values are text, like the original's `csvtojson` gave them; an empty field is `""`.

use serde_json::Value;

use super::records::{records_at, table_from_records};
use super::{Column, SourceError, Table};
use crate::config::{CsvEncoding, CsvSource, JsonFileSource};

fn file_error(message: String) -> SourceError {
    SourceError::File { message }
}

fn read(path: &std::path::Path, what: &str) -> Result<Vec<u8>, SourceError> {
    std::fs::read(path).map_err(|e| {
        file_error(format!(
            "Cannot read the {what} file {}: {e}. Check the `path` of the source (relative paths start at the job file's folder).",
            path.display()
        ))
    })
}

/// Read a JSON file source.
pub fn fetch_json(src: &JsonFileSource) -> Result<Table, SourceError> {
    let bytes = read(&src.path, "JSON")?;
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let what = format!("the JSON file {}", src.path.display());
    let doc: Value = serde_json::from_slice(text).map_err(|e| {
        file_error(format!(
            "{what} is not valid JSON: {e} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let records = records_at(doc, src.records.as_deref(), &what).map_err(file_error)?;
    table_from_records(records, &what).map_err(file_error)
}

/// Decode the bytes of a CSV file to text.
fn decode(bytes: &[u8], encoding: CsvEncoding, what: &str) -> Result<String, SourceError> {
    match encoding {
        CsvEncoding::Utf8 => {
            let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            match std::str::from_utf8(body) {
                Ok(s) => Ok(s.to_string()),
                Err(e) => {
                    let line = body[..e.valid_up_to()]
                        .iter()
                        .filter(|b| **b == b'\n')
                        .count()
                        + 1;
                    Err(file_error(format!(
                        "{what} is not valid UTF-8 (line {line}); if it was saved by Excel on Windows, set `encoding: windows-1252`"
                    )))
                }
            }
        }
        CsvEncoding::Windows1252 => {
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            Ok(text.into_owned())
        }
    }
}

/// Read a CSV file source. A row with a different number of fields than the header is an
/// error naming its line; nothing is pushed from a file with such a row.
pub fn fetch_csv(src: &CsvSource) -> Result<Table, SourceError> {
    let bytes = read(&src.path, "CSV")?;
    let what = format!("the CSV file {}", src.path.display());
    let text = decode(&bytes, src.encoding, &what)?;
    parse_csv(&text, src, &what)
}

/// Parse CSV text (exposed for tests).
pub fn parse_csv(text: &str, src: &CsvSource, what: &str) -> Result<Table, SourceError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(src.delimiter)
        .quote(src.quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut columns: Vec<Column> = Vec::new();
    let mut rows: Vec<Vec<Value>> = Vec::new();
    let mut expected: Option<(usize, u64)> = None;
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            file_error(format!("{what}, line {line}: cannot read the row: {e}"))
        })?;
        let line = record.position().map(|p| p.line()).unwrap_or(i as u64 + 1);
        // A completely empty line (e.g. a trailing newline) is skipped.
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        match expected {
            None => {
                expected = Some((record.len(), line));
                if src.header {
                    for (j, name) in record.iter().enumerate() {
                        let name = name.trim();
                        let name = if name.is_empty() {
                            format!("column{}", j + 1)
                        } else {
                            name.to_string()
                        };
                        if columns.iter().any(|c| c.name == name) {
                            return Err(file_error(format!(
                                "{what}, line {line}: the header names the column {name:?} twice; column names must be unique"
                            )));
                        }
                        columns.push(Column {
                            name,
                            type_name: "text".into(),
                        });
                    }
                    continue;
                }
                for j in 0..record.len() {
                    columns.push(Column {
                        name: format!("column{}", j + 1),
                        type_name: "text".into(),
                    });
                }
            }
            Some((n, first)) if record.len() != n => {
                return Err(file_error(format!(
                    "{what}, line {line}: the row has {} field{} but {} {n} (line {first}); check the delimiter and the quoting of that row. Nothing was pushed.",
                    record.len(),
                    if record.len() == 1 { "" } else { "s" },
                    if src.header {
                        "the header has"
                    } else {
                        "the first row has"
                    },
                )));
            }
            Some(_) => {}
        }
        rows.push(
            record
                .iter()
                .map(|v| Value::String(v.to_string()))
                .collect(),
        );
    }
    Ok(Table { columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> CsvSource {
        CsvSource {
            path: "x.csv".into(),
            delimiter: b',',
            quote: b'"',
            header: true,
            encoding: CsvEncoding::Utf8,
        }
    }

    #[test]
    fn csv_quoting_and_line_numbers() {
        let t = parse_csv("id,name\n1,\"Ann, Jr\"\n2,\"multi\nline\"\n", &src(), "f").unwrap();
        assert_eq!(t.column_names(), vec!["id", "name"]);
        assert_eq!(t.rows[0][1], Value::String("Ann, Jr".into()));
        assert_eq!(t.rows[1][1], Value::String("multi\nline".into()));
        let e = parse_csv("id,name\n1,a\n2,b,c\n", &src(), "f").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        assert!(e.to_string().contains("3 fields"), "{e}");
    }

    #[test]
    fn decodes_bom_and_windows_1252() {
        let s = decode(b"\xEF\xBB\xBFid\n", CsvEncoding::Utf8, "f").unwrap();
        assert_eq!(s, "id\n");
        let s = decode(b"Caf\xE9 \x80\n", CsvEncoding::Windows1252, "f").unwrap();
        assert_eq!(s, "Café €\n");
        let e = decode(b"a\nCaf\xE9\n", CsvEncoding::Utf8, "f").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }
}
