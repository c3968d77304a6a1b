//! Cron schedule helpers (pure: no runtime, no clock).
//!
//! A job's `frequency` follows standard crontab, as the original's docs promise (they send
//! users to crontab.guru):
//!
//! - 5 fields `minute hour day-of-month month day-of-week`, or 6 fields with leading seconds;
//! - day of week 0–7, where 0 and 7 are both Sunday; month 1–12; names allowed
//!   (`MON`, `JAN`, case-insensitive); ranges, lists and steps (`1-5`, `1,15`, `*/15`);
//! - when both the day of month and the day of week are restricted (`0 0 1 * MON`), a day
//!   matching *either* fires, as in crontab and in the original (the `cron` npm package
//!   1.7.2);
//! - the nicknames `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight` and
//!   `@hourly` (`@reboot` is refused: use `sync_on_init: true`).
//!
//! croner 3 parses and computes the times; the scheduler (`app::scheduler`) sleeps until the
//! next time it gives, so what [`next_runs`] shows is what runs.
//!
//! Where the original read an expression differently from crontab (it counted months 0–11,
//! so `0 0 1 1 *` fired on 1 February, and read day-of-week 7 as Saturday),
//! [`original_difference`] says so with both dates: this agent keeps the crontab meaning,
//! which is what the user wrote the expression for.

use chrono::{DateTime, TimeZone};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// Why a cron expression was refused. `Display` names the expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "the cron expression is empty: write 5 fields (minute hour day-of-month month day-of-week), e.g. '*/15 * * * *'"
    )]
    Empty,
    #[error(
        "`{expression}` has {fields} field{}: a cron expression has 5 fields (minute hour day-of-month month day-of-week), or 6 with leading seconds, e.g. '*/15 * * * *'",
        if *fields == 1 { "" } else { "s" }
    )]
    FieldCount { expression: String, fields: usize },
    #[error("`{expression}` is not a valid cron expression: {reason}")]
    Invalid { expression: String, reason: String },
}

/// The parser settings: the seconds field (added by [`to_six_field`]) and crontab's rule for
/// the two day fields (either matches).
fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(false)
        .build()
}

/// Crontab nicknames as 5-field expressions.
fn nickname(expr: &str) -> Option<Result<&'static str, ScheduleError>> {
    if !expr.starts_with('@') {
        return None;
    }
    let five = match expr.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        "@reboot" => {
            return Some(Err(ScheduleError::Invalid {
                expression: expr.to_string(),
                reason: "`@reboot` is not supported: set `sync_on_init: true` to run when the agent starts".into(),
            }));
        }
        _ => {
            return Some(Err(ScheduleError::Invalid {
                expression: expr.to_string(),
                reason: "unknown nickname; use @yearly, @monthly, @weekly, @daily or @hourly"
                    .into(),
            }));
        }
    };
    Some(Ok(five))
}

/// Turn a crontab expression into the 6-field form (leading seconds) the scheduler needs,
/// after validating it: 5 fields get `0 ` prefixed, 6 fields are kept, nicknames are
/// expanded. Surrounding and repeated whitespace is normalised.
pub fn to_six_field(expr: &str) -> Result<String, ScheduleError> {
    let trimmed = expr.trim();
    if trimmed.is_empty() {
        return Err(ScheduleError::Empty);
    }
    let expanded = match nickname(trimmed) {
        Some(five) => five?,
        None => trimmed,
    };
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    let six = match fields.len() {
        5 => format!("0 {}", fields.join(" ")),
        6 => fields.join(" "),
        n => {
            return Err(ScheduleError::FieldCount {
                expression: trimmed.to_string(),
                fields: n,
            });
        }
    };
    parse_six(trimmed, &six)?;
    Ok(six)
}

fn parse_six(original: &str, six: &str) -> Result<Cron, ScheduleError> {
    parser().parse(six).map_err(|e| ScheduleError::Invalid {
        expression: original.to_string(),
        reason: e.to_string(),
    })
}

/// Parse an expression (5 or 6 fields) into croner's schedule, with the scheduler's settings.
pub fn parse(expr: &str) -> Result<Cron, ScheduleError> {
    let six = to_six_field(expr)?;
    parse_six(expr.trim(), &six)
}

/// The schedule in English words, e.g. `0 0 * * 0` → "At 00:00, on Sunday.".
pub fn describe(expr: &str) -> Result<String, ScheduleError> {
    Ok(parse(expr)?.describe())
}

/// The next `n` times the expression fires strictly after `from`, in `from`'s time zone
/// (pass `chrono::Local::now()` for crontab's behaviour: the machine's local time).
pub fn next_runs<Tz>(
    expr: &str,
    from: DateTime<Tz>,
    n: usize,
) -> Result<Vec<DateTime<Tz>>, ScheduleError>
where
    Tz: TimeZone + Copy,
{
    let cron = parse(expr)?;
    Ok(cron.iter_after(from).take(n).collect())
}

/// A warning when the expression never fires: no date matches it (`0 0 31 2 *`, 31 February;
/// or a day of the month that never falls on the day of the week given). The scheduler
/// (croner) searches up to the year 5000, and so does this check.
pub fn never_fires(expr: &str) -> Option<String> {
    let cron = parse(expr).ok()?;
    match cron.find_next_occurrence(&chrono::Utc::now(), false) {
        Ok(_) => None,
        Err(_) => Some(format!(
            "`{}` never fires: no date matches it (like 31 February); this operation will never run on its schedule",
            expr.trim()
        )),
    }
}

/// The values a month or day-of-week field selects, names counting from `first_name`:
/// `*` is the whole range `low`–`high`, numbers are clamped into it, ranges and steps as
/// usual. As the original (`cron` 1.7.2) read a field with `low`/`high` 0–11 (month) or 0–6
/// (day of week) and `first_name` 0, so 12 was 11 and 7 was 6; as crontab reads it with 1–12
/// and 0–7 (names from 1 for months). `None` for what this reading does not cover.
fn field_values(
    field: &str,
    low: u32,
    high: u32,
    names: &[&str],
    first_name: u32,
) -> Option<Vec<u32>> {
    let mut field = field.to_ascii_lowercase();
    for (i, name) in names.iter().enumerate() {
        field = field.replace(name, &(first_name + i as u32).to_string());
    }
    let field = field.replace('*', &format!("{low}-{high}"));
    let mut out = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (lo, hi) = match range.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, Some(b.parse::<u32>().ok()?)),
            None => (range.parse::<u32>().ok()?, None),
        };
        let lo = lo.clamp(low, high);
        let hi = hi.map_or(lo, |h| h.min(high));
        let mut v = lo;
        while v <= hi {
            out.push(v);
            v += step;
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// The expression, in crontab terms, that fires when the original fired `expr`, when that
/// differs from what `expr` means in crontab (months counted 0–11, day-of-week 7 read as
/// Saturday); `None` when both read it the same way.
pub fn original_equivalent(expr: &str) -> Option<String> {
    if expr.trim().starts_with('@') {
        // The original refused nicknames ("Unknown alias"): no days to compare.
        return None;
    }
    let six = to_six_field(expr).ok()?;
    let mut fields: Vec<String> = six.split_whitespace().map(str::to_owned).collect();
    let (month, dow) = (&fields[4], &fields[5]);
    let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    // Month: the original's 0–11 are crontab's 1–12.
    let theirs_m: Vec<u32> = field_values(month, 0, 11, &MONTHS, 0)?
        .into_iter()
        .map(|m| m + 1)
        .collect();
    let ours_m = field_values(month, 1, 12, &MONTHS, 1)?;
    let theirs_d = field_values(dow, 0, 6, &DAYS, 0)?;
    let mut ours_d: Vec<u32> = field_values(dow, 0, 7, &DAYS, 0)?
        .into_iter()
        .map(|d| d % 7)
        .collect();
    ours_d.sort_unstable();
    ours_d.dedup();
    if theirs_m == ours_m && theirs_d == ours_d {
        return None;
    }
    if theirs_m != ours_m {
        fields[4] = if theirs_m.len() == 12 {
            "*".into()
        } else {
            list(&theirs_m)
        };
    }
    if theirs_d != ours_d {
        fields[5] = if theirs_d.len() == 7 {
            "*".into()
        } else {
            list(&theirs_d)
        };
    }
    // Back to the form the user wrote (5 fields unless they wrote seconds).
    let five = expr.split_whitespace().count() == 5;
    Some(if five {
        fields[1..].join(" ")
    } else {
        fields.join(" ")
    })
}

/// A warning when the original fired `expr` on other days than this agent will (see
/// [`original_equivalent`]), with the next date of each and what to write to keep the
/// original's days. `now` is the time to count from.
pub fn original_difference<Tz>(expr: &str, now: DateTime<Tz>) -> Option<String>
where
    Tz: TimeZone + Copy,
    Tz::Offset: std::fmt::Display,
{
    let theirs = original_equivalent(expr)?;
    let date = |e: &str| {
        next_runs(e, now.clone(), 1)
            .ok()
            .and_then(|v| v.into_iter().next())
            .map_or("never".to_string(), |t| {
                t.format("%a %Y-%m-%d %H:%M").to_string()
            })
    };
    // Which of the two fields the original read otherwise.
    let fields = |e: &str| -> Vec<String> {
        to_six_field(e)
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let (ours_f, theirs_f) = (fields(expr), fields(&theirs));
    let differs = |i: usize| ours_f.get(i) != theirs_f.get(i);
    let (ours_rule, theirs_rule) = match (differs(4), differs(5)) {
        (true, false) => ("months 1–12", "counted months 0–11"),
        (false, true) => ("day-of-week 7 = Sunday", "read day-of-week 7 as Saturday"),
        _ => (
            "months 1–12, day-of-week 7 = Sunday",
            "counted months 0–11 and read day-of-week 7 as Saturday",
        ),
    };
    Some(format!(
        "`{}` is read as crontab reads it ({ours_rule}): next run {}. The original fliplet-agent {theirs_rule}, so it ran this on other days (next: {}). To keep the original's days, write '{theirs}'.",
        expr.trim(),
        date(expr),
        date(&theirs)
    ))
}

/// The largest `stale_after` accepted (10 years).
pub const MAX_STALE_AFTER: u64 = 3650 * 86_400;

// ---------------------------------------------------------------------------------------
// Durations (`stale_after`, read by the watchdog)
// ---------------------------------------------------------------------------------------

/// A `stale_after` value in seconds: a whole number of seconds (`3600`), or numbers with
/// units `w`, `d`, `h`, `m`, `s` (`36h`, `1d12h`, `90m`, `2w`; spaces allowed between
/// parts). `0` turns the watchdog off.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty".into());
    }
    if let Ok(n) = t.parse::<u64>() {
        return check_max(n);
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if c.is_whitespace() && digits.is_empty() {
            continue;
        }
        let unit = match c {
            'w' => 7 * 86_400,
            'd' => 86_400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(format!("unknown unit `{c}`")),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("a number must come before `{c}`"))?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or("too large")?;
    }
    if !digits.is_empty() {
        return Err(format!("`{digits}` has no unit"));
    }
    check_max(total)
}

fn check_max(n: u64) -> Result<u64, String> {
    if n > MAX_STALE_AFTER {
        Err("longer than 10 years".into())
    } else {
        Ok(n)
    }
}

/// Seconds as the shortest `stale_after` text: `1d12h`, `90s`, `0`.
pub fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "0".into();
    }
    let mut out = String::new();
    let mut rest = secs;
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate, Timelike, Utc, Weekday};

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
        Utc.from_utc_datetime(
            &NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .and_hms_opt(h, min, s)
                .unwrap(),
        )
    }

    #[test]
    fn five_fields_get_a_seconds_prefix() {
        assert_eq!(to_six_field("*/15 * * * *").unwrap(), "0 */15 * * * *");
        assert_eq!(to_six_field("  0 */2 * * *  ").unwrap(), "0 0 */2 * * *");
        assert_eq!(to_six_field("0 8 * * *").unwrap(), "0 0 8 * * *");
        assert_eq!(to_six_field("0\t0  * * 0").unwrap(), "0 0 0 * * 0");
    }

    #[test]
    fn six_fields_are_kept() {
        assert_eq!(to_six_field("30 */5 * * * *").unwrap(), "30 */5 * * * *");
    }

    #[test]
    fn nicknames_expand() {
        assert_eq!(to_six_field("@daily").unwrap(), "0 0 0 * * *");
        assert_eq!(to_six_field("@HOURLY").unwrap(), "0 0 * * * *");
        assert!(
            to_six_field("@reboot")
                .unwrap_err()
                .to_string()
                .contains("sync_on_init")
        );
    }

    #[test]
    fn wrong_field_counts_name_the_expression() {
        let e = to_six_field("* * *").unwrap_err();
        assert_eq!(
            e,
            ScheduleError::FieldCount {
                expression: "* * *".into(),
                fields: 3
            }
        );
        assert!(e.to_string().contains("`* * *` has 3 fields"));
        assert!(to_six_field("0 0 0 * * * 2030").is_err());
        assert_eq!(to_six_field("   ").unwrap_err(), ScheduleError::Empty);
    }

    #[test]
    fn garbage_is_refused_with_the_reason() {
        for bad in [
            "every day",
            "61 * * * *",
            "* 24 * * *",
            "* * 32 * *",
            "* * * 13 *",
            "* * * * 8",
            "a b c d e",
        ] {
            let e = to_six_field(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "{bad}: {e}");
        }
        let e = to_six_field("61 * * * *").unwrap_err().to_string();
        assert!(e.contains("not a valid cron expression"), "{e}");
    }

    #[test]
    fn every_fifteen_minutes() {
        let runs = next_runs("*/15 * * * *", at(2024, 3, 1, 10, 7, 12), 5).unwrap();
        let expected: Vec<_> = [(10, 15), (10, 30), (10, 45), (11, 0), (11, 15)]
            .iter()
            .map(|&(h, m)| at(2024, 3, 1, h, m, 0))
            .collect();
        assert_eq!(runs, expected);
    }

    #[test]
    fn every_two_hours() {
        let runs = next_runs("0 */2 * * *", at(2024, 3, 1, 21, 0, 0), 5).unwrap();
        assert_eq!(
            runs,
            vec![
                at(2024, 3, 1, 22, 0, 0),
                at(2024, 3, 2, 0, 0, 0),
                at(2024, 3, 2, 2, 0, 0),
                at(2024, 3, 2, 4, 0, 0),
                at(2024, 3, 2, 6, 0, 0),
            ]
        );
    }

    #[test]
    fn every_day_at_eight() {
        let runs = next_runs("0 8 * * *", at(2024, 2, 27, 9, 0, 0), 5).unwrap();
        let days: Vec<_> = runs
            .iter()
            .map(|d| (d.month(), d.day(), d.hour(), d.minute()))
            .collect();
        assert_eq!(
            days,
            vec![
                (2, 28, 8, 0),
                (2, 29, 8, 0),
                (3, 1, 8, 0),
                (3, 2, 8, 0),
                (3, 3, 8, 0)
            ]
        );
    }

    #[test]
    fn zero_and_seven_are_both_sunday() {
        // 2024-03-01 is a Friday; the following Sundays are 3, 10, 17, 24, 31 March.
        for expr in [
            "0 0 * * 0",
            "0 0 * * 7",
            "0 0 * * SUN",
            "0 0 * * sun",
            "@weekly",
        ] {
            let runs = next_runs(expr, at(2024, 3, 1, 12, 0, 0), 5).unwrap();
            assert!(runs.iter().all(|d| d.weekday() == Weekday::Sun), "{expr}");
            let days: Vec<_> = runs.iter().map(|d| d.day()).collect();
            assert_eq!(days, vec![3, 10, 17, 24, 31], "{expr}");
        }
    }

    #[test]
    fn names_and_ranges() {
        let runs = next_runs("30 9 * JAN MON-FRI", at(2024, 1, 5, 10, 0, 0), 3).unwrap();
        // Friday 5 Jan 10:00 -> Mon 8, Tue 9, Wed 10 January at 09:30.
        let days: Vec<_> = runs
            .iter()
            .map(|d| (d.month(), d.day(), d.hour(), d.minute()))
            .collect();
        assert_eq!(days, vec![(1, 8, 9, 30), (1, 9, 9, 30), (1, 10, 9, 30)]);
    }

    #[test]
    fn six_fields_with_seconds() {
        let runs = next_runs("*/20 * * * * *", at(2024, 3, 1, 10, 0, 5), 3).unwrap();
        assert_eq!(
            runs,
            vec![
                at(2024, 3, 1, 10, 0, 20),
                at(2024, 3, 1, 10, 0, 40),
                at(2024, 3, 1, 10, 1, 0)
            ]
        );
    }

    #[test]
    fn next_runs_is_strictly_after_from() {
        let runs = next_runs("0 8 * * *", at(2024, 3, 1, 8, 0, 0), 1).unwrap();
        assert_eq!(runs, vec![at(2024, 3, 2, 8, 0, 0)]);
    }

    #[test]
    fn next_runs_in_local_time() {
        let now = chrono::Local::now();
        let runs = next_runs("0 8 * * *", now, 2).unwrap();
        assert_eq!(runs.len(), 2);
        assert!(
            runs.iter()
                .all(|d| d.hour() == 8 && d.minute() == 0 && *d > now)
        );
    }

    #[test]
    fn descriptions_in_words() {
        let sunday = describe("0 0 * * 0").unwrap();
        assert_eq!(sunday, "At 00:00, on Sunday.");
        assert!(sunday.contains("Sunday"), "{sunday}");
        assert_eq!(describe("0 0 * * 7").unwrap(), sunday);
        let quarter = describe("*/15 * * * *").unwrap();
        assert!(quarter.contains("15"), "{quarter}");
        assert!(describe("nonsense").is_err());
    }

    #[test]
    fn expressions_that_never_fire_are_reported() {
        for expr in [
            "0 0 31 2 *",
            "0 0 30 2 *",
            "0 0 31 4,6,9,11 *",
            "0 0 0 31 2 * ",
        ] {
            let note = never_fires(expr).unwrap_or_else(|| panic!("{expr}"));
            assert!(note.contains("never fires"), "{note}");
        }
        for expr in ["*/15 * * * *", "0 0 29 2 *", "0 0 31 * *", "0 0 1 * MON"] {
            assert_eq!(never_fires(expr), None, "{expr}");
        }
    }

    /// Next fire times as the original (cron 1.7.2) and crontab compute them, from
    /// Wed 2026-07-01 00:00 UTC (hand-checked against a calendar).
    #[test]
    fn next_times_follow_crontab_and_the_original() {
        let from = at(2026, 7, 1, 0, 0, 0);
        type Minute = (i32, u32, u32, u32, u32);
        let cases: &[(&str, &[Minute])] = &[
            // Either day field matches when both are restricted: the 15th, or a Monday.
            (
                "0 9 15 * MON",
                &[
                    (2026, 7, 6, 9, 0),
                    (2026, 7, 13, 9, 0),
                    (2026, 7, 15, 9, 0),
                    (2026, 7, 20, 9, 0),
                ],
            ),
            // Only one restricted: that one alone decides.
            ("0 9 15 * *", &[(2026, 7, 15, 9, 0), (2026, 8, 15, 9, 0)]),
            ("0 9 * * 5", &[(2026, 7, 3, 9, 0), (2026, 7, 10, 9, 0)]),
            // Ranges, lists and steps.
            (
                "30 8-10/2 * * 1-5",
                &[
                    (2026, 7, 1, 8, 30),
                    (2026, 7, 1, 10, 30),
                    (2026, 7, 2, 8, 30),
                ],
            ),
            (
                "0 0 1,15 * *",
                &[(2026, 7, 15, 0, 0), (2026, 8, 1, 0, 0), (2026, 8, 15, 0, 0)],
            ),
            // The first of the month or a Sunday (7 and 0 are both Sunday).
            (
                "0 0 1 * 7",
                &[(2026, 7, 5, 0, 0), (2026, 7, 12, 0, 0), (2026, 7, 19, 0, 0)],
            ),
            ("0 0 1 JAN *", &[(2027, 1, 1, 0, 0)]),
        ];
        for (expr, want) in cases {
            let got = next_runs(expr, from, want.len()).unwrap();
            let want: Vec<_> = want
                .iter()
                .map(|&(y, m, d, h, min)| at(y, m, d, h, min, 0))
                .collect();
            assert_eq!(got, want, "{expr}");
        }
        // Six fields: seconds first.
        let got = next_runs("*/20 0 0 1 * *", from, 3).unwrap();
        assert_eq!(
            got,
            vec![
                at(2026, 7, 1, 0, 0, 20),
                at(2026, 7, 1, 0, 0, 40),
                at(2026, 8, 1, 0, 0, 0)
            ]
        );
    }

    #[test]
    fn where_the_original_read_months_and_day_seven_otherwise_it_is_said() {
        // Months: the original counted 0–11 (1 = February; 12 was clamped to 11 = December).
        assert_eq!(
            original_equivalent("0 0 1 1 *").as_deref(),
            Some("0 0 1 2 *")
        );
        assert_eq!(
            original_equivalent("0 0 1 3-5 *").as_deref(),
            Some("0 0 1 4,5,6 *")
        );
        assert_eq!(original_equivalent("0 0 1 12 *"), None);
        assert_eq!(
            original_equivalent("0 0 1 11,12 *").as_deref(),
            Some("0 0 1 12 *")
        );
        assert_eq!(
            original_equivalent("0 0 0 1 1 *").as_deref(),
            Some("0 0 0 1 2 *")
        );
        // Day of week 7: Saturday for the original (clamped to 6), Sunday in crontab.
        assert_eq!(
            original_equivalent("0 0 * * 7").as_deref(),
            Some("0 0 * * 6")
        );
        assert_eq!(
            original_equivalent("0 0 * * 1-7").as_deref(),
            Some("0 0 * * 1,2,3,4,5,6")
        );
        // Read alike: names (0-based in the original too), steps over the whole range, `*`.
        for same in [
            "*/15 * * * *",
            "0 0 1 JAN *",
            "0 0 1 */3 *",
            "0 0 * * 0",
            "0 0 * * 1-5",
            "0 0 * * MON-FRI",
            "0 9 15 * MON",
            "@daily",
        ] {
            assert_eq!(original_equivalent(same), None, "{same}");
        }
        let from = at(2026, 7, 1, 0, 0, 0);
        let note = original_difference("0 0 1 1 *", from).unwrap();
        assert!(note.contains("next run Fri 2027-01-01 00:00"), "{note}");
        assert!(note.contains("(next: Mon 2027-02-01 00:00)"), "{note}");
        assert!(note.contains("write '0 0 1 2 *'"), "{note}");
        assert!(
            note.contains("(months 1–12)") && note.contains("counted months 0–11,"),
            "{note}"
        );
        let note = original_difference("0 0 * * 7", from).unwrap();
        assert!(
            note.contains("(day-of-week 7 = Sunday)") && !note.contains("months"),
            "{note}"
        );
    }
}
