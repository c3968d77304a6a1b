//! Value conversions shared by the SQL sources: the JSON shapes the original agent (Node.js,
//! node-pg / mysql2 / tedious) produced, built from the databases' text forms or driver values.

use chrono::{
    Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone,
    Timelike,
};
use serde_json::{Map, Number, Value};

/// Largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

/// A Node.js `Buffer` as `JSON.stringify` writes it: `{"type":"Buffer","data":[1,2,255]}`.
pub fn buffer(bytes: &[u8]) -> Value {
    let mut map = Map::new();
    map.insert("type".to_string(), Value::String("Buffer".to_string()));
    map.insert(
        "data".to_string(),
        Value::Array(bytes.iter().map(|b| Value::from(*b)).collect()),
    );
    Value::Object(map)
}

/// A float as `JSON.stringify` writes it: NaN and ±Infinity become `null`, and integral
/// values within the safe range are written as integers (`2`, not `2.0`; `-0` as `0`).
pub fn float(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() <= MAX_SAFE_INTEGER as f64 {
        return Value::from(v as i64);
    }
    Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Text of a float column (`parseFloat`); non-finite values become `null`, unparseable text
/// stays a string.
pub fn parse_float(s: &str) -> Value {
    match s.trim().parse::<f64>() {
        Ok(v) => float(v),
        Err(_) => Value::String(s.to_string()),
    }
}

/// Text of an integer column that always fits a JS number (int2/int4/int/...).
pub fn parse_int(s: &str) -> Value {
    match s.parse::<i64>() {
        Ok(v) => Value::from(v),
        Err(_) => parse_safe_int(s),
    }
}

/// Text of a MySQL bigint (mysql2 `supportBigNumbers`): a number when it is a safe integer
/// (|v| ≤ 2^53-1), otherwise the decimal string.
pub fn parse_safe_int(s: &str) -> Value {
    match s.parse::<i64>() {
        Ok(v) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&v) => Value::from(v),
        Ok(_) => Value::String(s.to_string()),
        Err(_) => match s.parse::<u64>() {
            Ok(_) => Value::String(s.to_string()),
            Err(_) => parse_float_or_string(s),
        },
    }
}

fn parse_float_or_string(s: &str) -> Value {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => float(v),
        _ => Value::String(s.to_string()),
    }
}

/// A JSON text parsed into its value; text that is not valid JSON stays a string.
pub fn parse_json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
}

fn push_digits(out: &mut String, mut v: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut i = buf.len();
    while v > 0 && i > 0 {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let start = buf.len().saturating_sub(width).min(i);
    for b in &buf[start..] {
        out.push(*b as char);
    }
}

/// JavaScript `Date.prototype.toISOString()` of a UTC instant:
/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (years outside 0..=9999 as `±YYYYYY`), milliseconds truncated.
pub fn iso_utc(dt: NaiveDateTime) -> String {
    let mut out = String::with_capacity(27);
    let year = dt.year();
    if (0..=9999).contains(&year) {
        push_digits(&mut out, year as u32, 4);
    } else {
        out.push(if year < 0 { '-' } else { '+' });
        push_digits(&mut out, year.unsigned_abs(), 6);
    }
    out.push('-');
    push_digits(&mut out, dt.month(), 2);
    out.push('-');
    push_digits(&mut out, dt.day(), 2);
    out.push('T');
    push_digits(&mut out, dt.hour(), 2);
    out.push(':');
    push_digits(&mut out, dt.minute(), 2);
    out.push(':');
    push_digits(&mut out, dt.second(), 2);
    out.push('.');
    push_digits(&mut out, (dt.nanosecond() / 1_000_000).min(999), 3);
    out.push('Z');
    out
}

/// Parse a PostgreSQL/MySQL timestamp text: `YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM[:SS]]][ BC]`
/// (a `T` separator is accepted too). Returns the wall-clock time and the UTC offset in
/// seconds when the text carries one. `None` for anything else (zero dates, `infinity`).
pub fn parse_timestamp(s: &str) -> Option<(NaiveDateTime, Option<i32>)> {
    let (s, bc) = match s.strip_suffix(" BC") {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    let b = s.as_bytes();
    let mut i = 0;
    let num = |i: &mut usize, max: usize| -> Option<u32> {
        let start = *i;
        let mut v: u32 = 0;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            v = v * 10 + (b[*i] - b'0') as u32;
            *i += 1;
        }
        (*i > start).then_some(v)
    };
    let year = num(&mut i, 7)? as i32;
    let year = if bc { 1 - year } else { year };
    (b.get(i) == Some(&b'-')).then_some(())?;
    i += 1;
    let month = num(&mut i, 2)?;
    (b.get(i) == Some(&b'-')).then_some(())?;
    i += 1;
    let day = num(&mut i, 2)?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    if i == b.len() {
        return Some((date.and_hms_opt(0, 0, 0)?, None));
    }
    if b[i] != b' ' && b[i] != b'T' {
        return None;
    }
    i += 1;
    let hour = num(&mut i, 2)?;
    (b.get(i) == Some(&b':')).then_some(())?;
    i += 1;
    let minute = num(&mut i, 2)?;
    (b.get(i) == Some(&b':')).then_some(())?;
    i += 1;
    let second = num(&mut i, 2)?;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + (b[i] - b'0') as u32;
            }
            i += 1;
        }
        let digits = (i - start).min(9);
        nanos *= 10u32.pow(9 - digits as u32);
    }
    let time = if hour == 24 && minute == 0 && second == 0 && nanos == 0 {
        // PostgreSQL accepts 24:00:00 as the end of the day.
        return Some((
            date.succ_opt()?.and_hms_opt(0, 0, 0)?,
            parse_offset(&b[i..])?,
        ));
    } else {
        NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?
    };
    Some((NaiveDateTime::new(date, time), parse_offset(&b[i..])?))
}

/// `""` → `Some(None)`; `+02`, `-05:30`, `+05:30:15`, `Z` → `Some(Some(seconds))`.
fn parse_offset(b: &[u8]) -> Option<Option<i32>> {
    if b.is_empty() {
        return Some(None);
    }
    if b == b"Z" {
        return Some(Some(0));
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let mut parts = [0i32; 3];
    for (n, part) in b[1..].split(|c| *c == b':').enumerate() {
        if n > 2 || part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        parts[n] = std::str::from_utf8(part).ok()?.parse().ok()?;
    }
    Some(Some(sign * (parts[0] * 3600 + parts[1] * 60 + parts[2])))
}

/// A wall-clock time read in the agent machine's local time zone, as the UTC instant.
/// Ambiguous times (DST fall-back) take the earlier instant and non-existent ones (spring
/// forward) the offset before the change, as JavaScript's `Date` does.
pub fn local_to_utc(naive: NaiveDateTime) -> NaiveDateTime {
    match chrono::Local.from_local_datetime(&naive) {
        LocalResult::Single(dt) => dt.naive_utc(),
        LocalResult::Ambiguous(a, b) => a.naive_utc().min(b.naive_utc()),
        LocalResult::None => {
            let before = naive - Duration::hours(24);
            let offset = chrono::Local
                .offset_from_utc_datetime(&before)
                .fix()
                .local_minus_utc();
            naive - Duration::seconds(offset as i64)
        }
    }
}

/// PostgreSQL `timestamptz` text (session TimeZone UTC, but any offset is honoured) →
/// ISO UTC string. `infinity` and unparseable values → `null` (JSON of node-pg's value).
pub fn pg_timestamptz(s: &str) -> Value {
    match parse_timestamp(s) {
        Some((naive, offset)) => {
            let utc = naive - Duration::seconds(offset.unwrap_or(0) as i64);
            Value::String(iso_utc(utc))
        }
        None => Value::Null,
    }
}

/// PostgreSQL `timestamp` (without time zone) text: local time of the agent machine → UTC.
pub fn pg_timestamp_local(s: &str) -> Value {
    match parse_timestamp(s) {
        Some((naive, Some(offset))) => {
            Value::String(iso_utc(naive - Duration::seconds(offset as i64)))
        }
        Some((naive, None)) => Value::String(iso_utc(local_to_utc(naive))),
        None => Value::Null,
    }
}

/// MySQL `datetime`/`timestamp` text, read as UTC. Zero dates (`0000-00-00 …`) → `null`
/// (mysql2 produced an invalid Date, which JSON writes as null).
pub fn mysql_datetime(s: &str) -> Value {
    match parse_timestamp(s) {
        Some((naive, offset)) => Value::String(iso_utc(
            naive - Duration::seconds(offset.unwrap_or(0) as i64),
        )),
        None => Value::Null,
    }
}

/// PostgreSQL interval text in the `postgres` IntervalStyle (`1 year 2 mons 3 days 04:05:06.5`,
/// `-1 days +02:00:00`) → node-pg's postgres-interval object: only the non-zero keys of
/// years, months, days, hours, minutes, seconds, milliseconds (`{}` for zero). Text in another
/// style stays a string.
pub fn pg_interval(s: &str) -> Value {
    parse_interval(s).unwrap_or_else(|| Value::String(s.to_string()))
}

fn parse_interval(s: &str) -> Option<Value> {
    let mut map = Map::new();
    let mut put = |key: &str, v: i64| {
        if v != 0 {
            map.insert(key.to_string(), Value::from(v));
        }
    };
    let mut tokens = s.split_whitespace().peekable();
    let mut time: Option<&str> = None;
    while let Some(tok) = tokens.next() {
        if tok.contains(':') {
            time = Some(tok);
            if tokens.peek().is_some() {
                return None;
            }
            break;
        }
        let n: i64 = tok.parse().ok()?;
        let unit = tokens.next()?;
        match unit {
            "year" | "years" => put("years", n),
            "mon" | "mons" => put("months", n),
            "day" | "days" => put("days", n),
            _ => return None,
        }
    }
    if let Some(t) = time {
        let (neg, t) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let mut parts = t.split(':');
        let hours: i64 = parts.next()?.parse().ok()?;
        let minutes: i64 = parts.next()?.parse().ok()?;
        let sec_part = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let (secs, frac) = match sec_part.split_once('.') {
            Some((s, f)) => (s, f),
            None => (sec_part, ""),
        };
        let seconds: i64 = secs.parse().ok()?;
        if frac.len() > 6 || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let micros: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<6}").parse().ok()?
        };
        let sign = if neg { -1 } else { 1 };
        put("hours", sign * hours);
        put("minutes", sign * minutes);
        put("seconds", sign * seconds);
        if micros != 0 {
            let v = if micros % 1000 == 0 {
                Value::from(sign * micros / 1000)
            } else {
                float((sign * micros) as f64 / 1000.0)
            };
            map.insert("milliseconds".to_string(), v);
        }
    }
    Some(Value::Object(map))
}

/// PostgreSQL `bytea` text (hex format `\x0102ff`, or the legacy escape format) → Buffer form.
pub fn pg_bytea(s: &str) -> Value {
    match decode_bytea(s) {
        Some(bytes) => buffer(&bytes),
        None => Value::String(s.to_string()),
    }
}

fn decode_bytea(s: &str) -> Option<Vec<u8>> {
    if let Some(hex) = s.strip_prefix("\\x") {
        let h = hex.as_bytes();
        if h.len() % 2 != 0 {
            return None;
        }
        let nib = |c: u8| -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        };
        let mut out = Vec::with_capacity(h.len() / 2);
        for pair in h.chunks_exact(2) {
            out.push(nib(pair[0])? << 4 | nib(pair[1])?);
        }
        return Some(out);
    }
    // Escape format: `\\` is a backslash, `\nnn` an octal byte, anything else literal.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
            } else {
                let oct = b.get(i + 1..i + 4)?;
                let v = oct.iter().try_fold(0u32, |acc, c| {
                    (b'0'..=b'7')
                        .contains(c)
                        .then(|| acc * 8 + (c - b'0') as u32)
                })?;
                out.push(u8::try_from(v).ok()?);
                i += 4;
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// PostgreSQL array text (`{1,2,3}`, `{{1,2},{3,4}}`, `{"a b",NULL}`, `[0:1]={1,2}`) → JSON
/// array, each element converted by `elem`. `None` when the text is not an array literal.
pub fn pg_array(s: &str, elem: &dyn Fn(&str) -> Value) -> Option<Value> {
    let s = if s.starts_with('[') {
        &s[s.find('=')? + 1..]
    } else {
        s
    };
    let b = s.as_bytes();
    let mut i = 0;
    let v = parse_array_level(b, &mut i, elem)?;
    (i == b.len()).then_some(v)
}

fn parse_array_level(b: &[u8], i: &mut usize, elem: &dyn Fn(&str) -> Value) -> Option<Value> {
    if b.get(*i) != Some(&b'{') {
        return None;
    }
    *i += 1;
    let mut items = Vec::new();
    if b.get(*i) == Some(&b'}') {
        *i += 1;
        return Some(Value::Array(items));
    }
    loop {
        match b.get(*i)? {
            b'{' => items.push(parse_array_level(b, i, elem)?),
            b'"' => {
                *i += 1;
                let mut buf = Vec::new();
                loop {
                    match b.get(*i)? {
                        b'\\' => {
                            buf.push(*b.get(*i + 1)?);
                            *i += 2;
                        }
                        b'"' => {
                            *i += 1;
                            break;
                        }
                        c => {
                            buf.push(*c);
                            *i += 1;
                        }
                    }
                }
                items.push(elem(std::str::from_utf8(&buf).ok()?));
            }
            _ => {
                let start = *i;
                while *i < b.len() && b[*i] != b',' && b[*i] != b'}' {
                    *i += 1;
                }
                let text = std::str::from_utf8(&b[start..*i]).ok()?.trim();
                if text.eq_ignore_ascii_case("NULL") {
                    items.push(Value::Null);
                } else {
                    items.push(elem(text));
                }
            }
        }
        match b.get(*i)? {
            b',' => *i += 1,
            b'}' => {
                *i += 1;
                return Some(Value::Array(items));
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn iso_formats() {
        let dt = NaiveDate::from_ymd_opt(2024, 3, 5)
            .unwrap()
            .and_hms_milli_opt(7, 14, 27, 512)
            .unwrap();
        assert_eq!(iso_utc(dt), "2024-03-05T07:14:27.512Z");
        let dt = NaiveDate::from_ymd_opt(-43, 3, 15)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        assert_eq!(iso_utc(dt), "-000043-03-15T00:00:00.000Z");
        let dt = NaiveDate::from_ymd_opt(12345, 1, 2)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        assert_eq!(iso_utc(dt), "+012345-01-02T00:00:00.000Z");
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            pg_timestamptz("2024-03-05 07:14:27.512+00"),
            json!("2024-03-05T07:14:27.512Z")
        );
        assert_eq!(
            pg_timestamptz("2024-03-05 09:14:27.5129+02"),
            json!("2024-03-05T07:14:27.512Z")
        );
        assert_eq!(
            pg_timestamptz("2024-03-05 01:00:00-05:30"),
            json!("2024-03-05T06:30:00.000Z")
        );
        assert_eq!(
            pg_timestamptz("2024-12-31 23:59:59+00"),
            json!("2024-12-31T23:59:59.000Z")
        );
        assert_eq!(pg_timestamptz("infinity"), Value::Null);
        assert_eq!(
            pg_timestamptz("0044-03-15 00:00:00+00 BC"),
            json!("-000043-03-15T00:00:00.000Z")
        );
        assert_eq!(
            mysql_datetime("2024-03-05 09:14:27.512"),
            json!("2024-03-05T09:14:27.512Z")
        );
        assert_eq!(mysql_datetime("0000-00-00 00:00:00"), Value::Null);
        let naive = NaiveDate::from_ymd_opt(2024, 3, 5)
            .unwrap()
            .and_hms_milli_opt(9, 14, 27, 512)
            .unwrap();
        let expected = chrono::Local
            .from_local_datetime(&naive)
            .earliest()
            .unwrap()
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        assert_eq!(
            pg_timestamp_local("2024-03-05 09:14:27.512"),
            json!(expected)
        );
    }

    #[test]
    fn intervals() {
        assert_eq!(
            pg_interval("1 day 02:00:00"),
            json!({"days": 1, "hours": 2})
        );
        assert_eq!(pg_interval("00:00:00"), json!({}));
        assert_eq!(
            pg_interval("1 year 2 mons -3 days -04:05:06.5"),
            json!({"years": 1, "months": 2, "days": -3, "hours": -4, "minutes": -5,
                   "seconds": -6, "milliseconds": -500})
        );
        assert_eq!(
            pg_interval("00:00:00.000123"),
            json!({"milliseconds": 0.123})
        );
        assert_eq!(pg_interval("P1D"), json!("P1D"));
    }

    #[test]
    fn arrays_and_bytes() {
        let int = |s: &str| parse_int(s);
        assert_eq!(pg_array("{1,2,3}", &int), Some(json!([1, 2, 3])));
        assert_eq!(pg_array("{}", &int), Some(json!([])));
        assert_eq!(
            pg_array("{{1,NULL},{3,4}}", &int),
            Some(json!([[1, null], [3, 4]]))
        );
        let text = |s: &str| Value::String(s.to_string());
        assert_eq!(
            pg_array(r#"{"a b","x\"y",plain,"NULL"}"#, &text),
            Some(json!(["a b", "x\"y", "plain", "NULL"]))
        );
        assert_eq!(pg_array("[0:1]={7,8}", &int), Some(json!([7, 8])));
        assert_eq!(
            pg_bytea("\\x0102ff"),
            json!({"type":"Buffer","data":[1,2,255]})
        );
        assert_eq!(pg_bytea("\\x"), json!({"type":"Buffer","data":[]}));
        assert_eq!(
            pg_bytea("a\\001\\\\"),
            json!({"type":"Buffer","data":[97,1,92]})
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_safe_int("-5"), json!(-5));
        assert_eq!(
            parse_safe_int("9007199254740991"),
            json!(9007199254740991i64)
        );
        assert_eq!(
            parse_safe_int("9007199254740993"),
            json!("9007199254740993")
        );
        assert_eq!(
            parse_safe_int("18446744073709551615"),
            json!("18446744073709551615")
        );
        assert_eq!(parse_float("1.5"), json!(1.5));
        assert_eq!(parse_float("NaN"), Value::Null);
        assert_eq!(parse_float("2").to_string(), "2");
        assert_eq!(parse_float("-0").to_string(), "0");
        assert_eq!(parse_float("1e300"), json!(1e300));
        assert_eq!(parse_float("-Infinity"), Value::Null);
    }
}
