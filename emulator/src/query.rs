//! Evaluation of `data/query` bodies: Sift-style `where`, `$filters`, ordering.

use std::cmp::Ordering;

use serde_json::{Map, Value};

pub type QResult<T> = Result<T, String>;

/// Look a column up in an entry's data: an exact key first (keys may contain dots or
/// spaces), then a dotted path into nested objects. A `data.` prefix is stripped.
pub fn lookup<'a>(data: &'a Value, column: &str) -> Option<&'a Value> {
    let column = column.strip_prefix("data.").unwrap_or(column);
    let obj = data.as_object()?;
    if let Some(v) = obj.get(column) {
        return Some(v);
    }
    if column.contains('.') {
        let mut cur = data;
        for part in column.split('.') {
            cur = match cur {
                Value::Object(m) => m.get(part)?,
                Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        return Some(cur);
    }
    None
}

/// Validate a where clause without evaluating it (so that an unsupported operator gives
/// 400 even on an empty data source).
pub fn validate(filter: &Value) -> QResult<()> {
    matches(&Value::Object(Map::new()), filter).map(|_| ())
}

/// Does `data` match the where clause `filter`?
pub fn matches(data: &Value, filter: &Value) -> QResult<bool> {
    let Value::Object(conds) = filter else {
        return Err("where must be an object".into());
    };
    let mut all = true;
    for (key, cond) in conds {
        let ok = match key.as_str() {
            "$and" => {
                let mut r = true;
                for f in as_array(cond, "$and")? {
                    r &= matches(data, f)?;
                }
                r
            }
            "$or" => {
                let mut r = false;
                for f in as_array(cond, "$or")? {
                    r |= matches(data, f)?;
                }
                r
            }
            "$nor" => {
                let mut r = true;
                for f in as_array(cond, "$nor")? {
                    r &= !matches(data, f)?;
                }
                r
            }
            "$not" => !matches(data, cond)?,
            "$filters" => {
                let mut r = true;
                for f in as_array(cond, "$filters")? {
                    r &= fliplet_filter(data, f)?;
                }
                r
            }
            k if k.starts_with('$') => return Err(format!("Unsupported operator {k}")),
            column => field_matches(lookup(data, column), cond)?,
        };
        all &= ok;
    }
    Ok(all)
}

fn as_array<'a>(v: &'a Value, op: &str) -> QResult<&'a Vec<Value>> {
    v.as_array().ok_or_else(|| format!("{op} expects an array"))
}

fn is_operator_object(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty() && m.keys().all(|k| k.starts_with('$')),
        _ => false,
    }
}

/// Equality in the Sift sense: deep equality, or membership when the field is an array.
fn equals(field: Option<&Value>, value: &Value) -> bool {
    match field {
        None => value.is_null(),
        Some(f) => {
            if f == value {
                return true;
            }
            if let Value::Array(items) = f {
                return items.iter().any(|i| i == value);
            }
            false
        }
    }
}

fn field_matches(field: Option<&Value>, cond: &Value) -> QResult<bool> {
    if !is_operator_object(cond) {
        return Ok(equals(field, cond));
    }
    let ops = cond.as_object().expect("operator object");
    let mut all = true;
    for (op, arg) in ops {
        let ok = match op.as_str() {
            "$eq" => equals(field, arg),
            "$ne" => !equals(field, arg),
            "$gt" => compare(field, arg) == Some(Ordering::Greater),
            "$gte" => matches!(
                compare(field, arg),
                Some(Ordering::Greater | Ordering::Equal)
            ),
            "$lt" => compare(field, arg) == Some(Ordering::Less),
            "$lte" => matches!(compare(field, arg), Some(Ordering::Less | Ordering::Equal)),
            "$in" => as_array(arg, "$in")?.iter().any(|v| equals(field, v)),
            "$nin" => !as_array(arg, "$nin")?.iter().any(|v| equals(field, v)),
            "$exists" => {
                let want = truthy(arg);
                field.is_some() == want
            }
            "$not" => !field_matches(field, arg)?,
            "$size" => match (field, arg.as_u64()) {
                (Some(Value::Array(a)), Some(n)) => a.len() as u64 == n,
                (_, None) => return Err("$size expects a number".into()),
                _ => false,
            },
            "$all" => {
                let wanted = as_array(arg, "$all")?;
                match field {
                    Some(Value::Array(a)) => wanted.iter().all(|w| a.contains(w)),
                    _ => false,
                }
            }
            "$mod" => {
                let parts = as_array(arg, "$mod")?;
                let (Some(d), Some(r)) = (
                    parts.first().and_then(Value::as_i64),
                    parts.get(1).and_then(Value::as_i64),
                ) else {
                    return Err("$mod expects [divisor, remainder]".into());
                };
                if d == 0 {
                    return Err("$mod divisor must not be 0".into());
                }
                field.and_then(Value::as_i64).is_some_and(|v| v % d == r)
            }
            "$elemMatch" => match field {
                Some(Value::Array(a)) => {
                    let mut any = false;
                    for item in a {
                        let m = if is_operator_object(arg) {
                            field_matches(Some(item), arg)?
                        } else {
                            matches(item, arg)?
                        };
                        if m {
                            any = true;
                            break;
                        }
                    }
                    any
                }
                _ => false,
            },
            "$iLike" => {
                let pattern = arg
                    .as_str()
                    .ok_or_else(|| "$iLike expects a string".to_string())?;
                field.is_some_and(|f| ilike(&text_of(f), pattern))
            }
            other => return Err(format!("Unsupported operator {other}")),
        };
        all &= ok;
    }
    Ok(all)
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// Case-insensitive partial match. `%` is a wildcard; without one the pattern matches
/// anywhere in the text.
fn ilike(text: &str, pattern: &str) -> bool {
    let text = text.to_lowercase();
    let pattern = pattern.to_lowercase();
    if !pattern.contains('%') {
        return text.contains(&pattern);
    }
    let parts: Vec<&str> = pattern.split('%').collect();
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            if !text.starts_with(part) {
                return false;
            }
            pos = part.len();
        } else if i == parts.len() - 1 {
            return text.len() >= pos + part.len() && text[pos..].ends_with(part);
        } else {
            match text[pos..].find(part) {
                Some(at) => pos += at + part.len(),
                None => return false,
            }
        }
    }
    true
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Compare two values of the same kind (numbers numerically, strings lexically).
fn compare(field: Option<&Value>, arg: &Value) -> Option<Ordering> {
    match (field?, arg) {
        (Value::Number(a), Value::Number(b)) => cmp_numbers(a, b),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn cmp_numbers(a: &serde_json::Number, b: &serde_json::Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        _ => false,
    }
}

/// Loose equality used by `$filters` (`==`): same JSON value, or same text ignoring case.
fn loose_eq(field: Option<&Value>, value: &Value) -> bool {
    match field {
        None => is_empty(Some(value)),
        Some(f) => f == value || text_of(f).to_lowercase() == text_of(value).to_lowercase(),
    }
}

fn fliplet_filter(data: &Value, f: &Value) -> QResult<bool> {
    let column = f
        .get("column")
        .and_then(Value::as_str)
        .ok_or_else(|| "$filters items need a column".to_string())?;
    let condition = f
        .get("condition")
        .and_then(Value::as_str)
        .ok_or_else(|| "$filters items need a condition".to_string())?;
    let value = f.get("value").unwrap_or(&Value::Null);
    let field = lookup(data, column);
    let numeric = |ord: fn(f64, f64) -> bool| -> bool {
        match (field.and_then(as_number), as_number(value)) {
            (Some(a), Some(b)) => ord(a, b),
            _ => false,
        }
    };
    Ok(match condition {
        "==" => loose_eq(field, value),
        "!=" => !loose_eq(field, value),
        ">" => numeric(|a, b| a > b),
        ">=" => numeric(|a, b| a >= b),
        "<" => numeric(|a, b| a < b),
        "<=" => numeric(|a, b| a <= b),
        "contains" => field.is_some_and(|f| {
            text_of(f)
                .to_lowercase()
                .contains(&text_of(value).to_lowercase())
        }),
        "empty" => is_empty(field),
        "notempty" => !is_empty(field),
        "oneof" => {
            let options: Vec<Value> = match value {
                Value::Array(a) => a.clone(),
                Value::String(s) => s
                    .split(',')
                    .map(|p| Value::String(p.trim().to_string()))
                    .collect(),
                other => vec![other.clone()],
            };
            options.iter().any(|o| loose_eq(field, o))
        }
        "between" => {
            let (from, to) = match value {
                Value::Array(a) if a.len() == 2 => (&a[0], &a[1]),
                Value::Object(o) => (
                    o.get("from").unwrap_or(&Value::Null),
                    o.get("to").unwrap_or(&Value::Null),
                ),
                _ => return Err("between expects [from, to] or {from, to}".into()),
            };
            match (field.and_then(as_number), as_number(from), as_number(to)) {
                (Some(x), Some(a), Some(b)) => a <= x && x <= b,
                _ => false,
            }
        }
        other => return Err(format!("Unsupported $filters condition {other}")),
    })
}

/// Total order over JSON values used by `order`: missing/null < bool < number < string <
/// array < object.
pub fn total_cmp(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            None | Some(Value::Null) => 0,
            Some(Value::Bool(_)) => 1,
            Some(Value::Number(_)) => 2,
            Some(Value::String(_)) => 3,
            Some(Value::Array(_)) => 4,
            Some(Value::Object(_)) => 5,
        }
    }
    match (a, b) {
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            cmp_numbers(x, y).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(x @ Value::Array(_)), Some(y @ Value::Array(_)))
        | (Some(x @ Value::Object(_)), Some(y @ Value::Object(_))) => {
            x.to_string().cmp(&y.to_string())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operators() {
        let d = json!({"a": 5, "s": "Hello World", "arr": [1, 2], "n": null});
        let t = |w: Value| matches(&d, &w).unwrap();
        assert!(t(json!({"a": 5})));
        assert!(!t(json!({"a": "5"})));
        assert!(t(json!({"a": {"$gt": 4, "$lte": 5}})));
        assert!(t(json!({"s": {"$iLike": "hello%"}})));
        assert!(t(json!({"s": {"$iLike": "WORLD"}})));
        assert!(t(json!({"arr": 2})));
        assert!(t(json!({"missing": {"$exists": false}})));
        assert!(t(json!({"$or": [{"a": 1}, {"a": 5}]})));
        assert!(t(json!({"a": {"$not": {"$in": [1, 2]}}})));
        assert!(t(
            json!({"$filters": [{"column": "s", "condition": "contains", "value": "lo w"}]})
        ));
        assert!(t(
            json!({"$filters": [{"column": "n", "condition": "empty"}]})
        ));
        assert!(matches(&d, &json!({"a": {"$regex": "x"}})).is_err());
    }
}
