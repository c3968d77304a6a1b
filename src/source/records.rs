//! JSON records (objects) to a [`Table`], and dotted paths into JSON documents: shared by the
//! HTTP and JSON-file sources and by inline rows.

use serde_json::Value;

use super::{Column, Table};

/// Follow a dotted path (`d.results`, `data.0.items`) into a JSON value. An empty path is
/// the value itself; a numeric segment indexes an array.
pub fn at_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = value;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        cur = match cur {
            Value::Object(m) => m.get(seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// What a JSON value is, for messages.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Array(a) => format!("an array of {} items", a.len()),
        Value::Object(m) => {
            let keys: Vec<&str> = m.keys().take(8).map(String::as_str).collect();
            format!(
                "an object with the keys {}{}",
                keys.join(", "),
                if m.len() > 8 { ", ..." } else { "" }
            )
        }
    }
}

/// The array of records at `path` in `doc` (the whole document when `path` is `None`).
/// `what` names the document in messages ("the response of GET https://...").
pub fn records_at(doc: Value, path: Option<&str>, what: &str) -> Result<Vec<Value>, String> {
    let path = path.unwrap_or("");
    if path.is_empty() {
        return match doc {
            Value::Array(a) => Ok(a),
            other => Err(format!(
                "{what} is not an array of records but {}; set `records:` to the path of the array (e.g. `records: data` or `records: d.results`)",
                describe(&other)
            )),
        };
    }
    match at_path(&doc, path) {
        Some(Value::Array(a)) => Ok(a.clone()),
        Some(other) => Err(format!(
            "{what}: `records: {path}` is {}, not an array of records",
            describe(other)
        )),
        None => Err(format!(
            "{what} has no array at `records: {path}` (the document is {}); check the path",
            describe(&doc)
        )),
    }
}

/// Records (JSON objects) as a table: columns in order of first appearance; a column missing
/// from a record is null in that row.
pub fn table_from_records(records: Vec<Value>, what: &str) -> Result<Table, String> {
    let mut columns: Vec<Column> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut objects = Vec::with_capacity(records.len());
    for (i, r) in records.into_iter().enumerate() {
        match r {
            Value::Object(m) => {
                for k in m.keys() {
                    if !index.contains_key(k) {
                        index.insert(k.clone(), columns.len());
                        columns.push(Column {
                            name: k.clone(),
                            type_name: "json".into(),
                        });
                    }
                }
                objects.push(m);
            }
            other => {
                return Err(format!(
                    "record {} of {what} is {}, not an object of `column: value` pairs",
                    i + 1,
                    describe(&other)
                ));
            }
        }
    }
    let rows = objects
        .into_iter()
        .map(|mut m| {
            columns
                .iter()
                .map(|c| m.remove(&c.name).unwrap_or(Value::Null))
                .collect()
        })
        .collect();
    Ok(Table { columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_tables() {
        let doc = json!({"d": {"results": [{"ID": 1, "a": "x"}, {"ID": 2, "b": true}]}});
        let recs = records_at(doc.clone(), Some("d.results"), "doc").unwrap();
        let t = table_from_records(recs, "doc").unwrap();
        assert_eq!(t.column_names(), vec!["ID", "a", "b"]);
        assert_eq!(t.rows[1], vec![json!(2), Value::Null, json!(true)]);
        assert!(
            records_at(doc.clone(), Some("d.nope"), "doc")
                .unwrap_err()
                .contains("no array")
        );
        assert!(
            records_at(doc, None, "doc")
                .unwrap_err()
                .contains("not an array")
        );
        assert!(
            table_from_records(vec![json!(1)], "x")
                .unwrap_err()
                .contains("record 1")
        );
        assert_eq!(at_path(&json!([[1, 2]]), "0.1"), Some(&json!(2)));
    }
}
