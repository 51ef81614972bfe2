//! How every front end writes numbers, money, clock times and durations: the alerts, the
//! statusline, `headroom status` and `watch`, the tray's menu and the Extra Usage messages.
//! The settings pane has its own copy in `ui/format.js` (it has no Rust to call).
//!
//! Pure: the zone and `now` come in as arguments, so the same instant always reads the same.
//! Percentages are floored (89.7 % reads "89 %") so the text never claims a threshold that did
//! not fire; durations are floored to the minute so "in 1 h 10 min" is never later than the
//! truth.

use chrono::{DateTime, Datelike, TimeZone, Timelike};

use crate::num::{floor_to_u64, round_clamped};
use crate::report::Zone;

/// Whether `c` must never reach a terminal, menu or notification from data: a control
/// character (C0, DEL, C1: escape sequences, bells, cursor moves) or a bidirectional
/// formatting character (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069), which makes text
/// read in another order than it is stored ("Trojan Source").
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every [`is_unsafe_char`] replaced by U+FFFD (�), so that a name taken from
/// data (a model, a project folder, a session) prints as the text it is and nothing more.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(is_unsafe_char) {
        text.chars()
            .map(|c| if is_unsafe_char(c) { '\u{FFFD}' } else { c })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

/// `91 %`: floored, never negative.
pub fn percent(value: f64) -> String {
    if value.is_finite() {
        format!("{} %", floor_to_u64(value).unwrap_or(0))
    } else {
        "? %".to_owned()
    }
}

/// `$12.50`, `€3.00`, `£1.20`, or `12.50 CHF` for other currencies.
pub fn money(amount: f64, currency: &str) -> String {
    // Clamped short of i64::MIN, whose absolute value has no i64.
    let cents = round_clamped(amount * 100.0, -i64::MAX, i64::MAX).unwrap_or(0);
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let number = format!("{}.{:02}", group_thousands(cents / 100), cents % 100);
    match currency.to_ascii_uppercase().as_str() {
        "USD" | "" => format!("{sign}${number}"),
        "EUR" => format!("{sign}€{number}"),
        "GBP" => format!("{sign}£{number}"),
        other => format!("{sign}{number} {other}"),
    }
}

/// `$75` for whole amounts (spend steps).
pub fn whole_money(amount: u64, currency: &str) -> String {
    let number = group_thousands(amount);
    match currency.to_ascii_uppercase().as_str() {
        "USD" | "" => format!("${number}"),
        "EUR" => format!("€{number}"),
        "GBP" => format!("£{number}"),
        other => format!("{number} {other}"),
    }
}

/// `1204` → `1,204`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 h 10 min`, `45 min`, `2 d 3 h`, `less than a minute`: floored.
pub fn duration(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    if minutes < 1 {
        return "less than a minute".to_owned();
    }
    let (days, hours, mins) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    match (days, hours, mins) {
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// The longest snooze (and duration) [`parse_duration_ms`] accepts: 7 days.
pub const MAX_DURATION_MS: i64 = 7 * 86_400_000;

/// A snooze as typed (`headroom alerts --snooze`): [`parse_duration_within`] up to
/// [`MAX_DURATION_MS`].
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    parse_duration_within(s, MAX_DURATION_MS)
}

/// The one duration grammar of what a user types (a snooze, `extra-usage enable --timeout`):
/// `1h`, `30m`, `90s`, `2h30m`, `1d`, or a bare number of minutes (`90`), at most `max_ms`.
/// Anything else, zero, or a number too large to compute is `None` (checked arithmetic:
/// typed input never overflows).
pub fn parse_duration_within(s: &str, max_ms: i64) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let total = if let Ok(minutes) = s.parse::<i64>() {
        minutes.checked_mul(60_000)?
    } else {
        let (mut total, mut number) = (0i64, String::new());
        for c in s.chars() {
            match c {
                '0'..='9' => number.push(c),
                'd' | 'h' | 'm' | 's' if !number.is_empty() => {
                    let n: i64 = number.parse().ok()?;
                    let unit = match c {
                        'd' => 86_400_000,
                        'h' => 3_600_000,
                        'm' => 60_000,
                        _ => 1_000,
                    };
                    total = total.checked_add(n.checked_mul(unit)?)?;
                    number.clear();
                }
                ' ' => {}
                _ => return None,
            }
        }
        if !number.is_empty() {
            return None;
        }
        total
    };
    (total > 0 && total <= max_ms).then_some(total)
}

/// Minute of the day of `ms` in `zone` (for quiet hours).
pub fn minute_of_day(ms: i64, zone: Zone) -> u16 {
    match local_parts(ms, zone) {
        Some(p) => (p.hour * 60 + p.minute) as u16,
        None => 0,
    }
}

struct Parts {
    days_from_ce: i32,
    weekday: &'static str,
    day: u32,
    month: &'static str,
    hour: u32,
    minute: u32,
}

fn parts<Tz: TimeZone>(t: DateTime<Tz>) -> Parts {
    const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    Parts {
        days_from_ce: t.num_days_from_ce(),
        weekday: WEEKDAYS[t.weekday().num_days_from_monday() as usize],
        day: t.day(),
        month: MONTHS[t.month0() as usize],
        hour: t.hour(),
        minute: t.minute(),
    }
}

fn local_parts(ms: i64, zone: Zone) -> Option<Parts> {
    match zone {
        Zone::Local => chrono::Local.timestamp_millis_opt(ms).single().map(parts),
        Zone::Named(tz) => tz.timestamp_millis_opt(ms).single().map(parts),
    }
}

/// Which day a clock time falls on, as seen from `now`.
enum Day {
    Today,
    Tomorrow,
    /// Within the coming week.
    Weekday(&'static str),
    /// Further out, or before today.
    Date(u32, &'static str),
}

/// The day and the `HH:MM` of `ms` in `zone`, seen from `now_ms`; `None` for an instant the
/// zone cannot place.
fn day_and_time(ms: i64, now_ms: i64, zone: Zone) -> Option<(Day, String)> {
    let (t, now) = (local_parts(ms, zone)?, local_parts(now_ms, zone)?);
    let day = match t.days_from_ce - now.days_from_ce {
        0 => Day::Today,
        1 => Day::Tomorrow,
        2..=6 => Day::Weekday(t.weekday),
        _ => Day::Date(t.day, t.month),
    };
    Some((day, format!("{:02}:{:02}", t.hour, t.minute)))
}

/// A clock time as a person near `now` reads it: `14:32` today, `tomorrow 09:00`,
/// `Tue 14:32` within the week, `3 Mar 14:32` further out.
pub fn clock(ms: i64, now_ms: i64, zone: Zone) -> String {
    match day_and_time(ms, now_ms, zone) {
        None => "an unknown time".to_owned(),
        Some((Day::Today, hm)) => hm,
        Some((Day::Tomorrow, hm)) => format!("tomorrow {hm}"),
        Some((Day::Weekday(weekday), hm)) => format!("{weekday} {hm}"),
        Some((Day::Date(day, month), hm)) => format!("{day} {month} {hm}"),
    }
}

/// [`clock`] as it follows a verb: `at 14:32`, `tomorrow at 09:00`, `on Tue 14:32`,
/// `on 3 Mar 14:32` (so a sentence never reads "resets at tomorrow 09:00"). The pane's
/// `atClock` writes the same (`ui/format-cases.json`).
pub fn at_clock(ms: i64, now_ms: i64, zone: Zone) -> String {
    match day_and_time(ms, now_ms, zone) {
        None => "at an unknown time".to_owned(),
        Some((Day::Today, hm)) => format!("at {hm}"),
        Some((Day::Tomorrow, hm)) => format!("tomorrow at {hm}"),
        Some((Day::Weekday(weekday), hm)) => format!("on {weekday} {hm}"),
        Some((Day::Date(day, month), hm)) => format!("on {day} {month} {hm}"),
    }
}

/// `resets at 14:00 (in 1 h 10 min)`, `resets tomorrow at 09:00 (in 20 h)`, or, with no
/// reset time known, `resets at a time not yet known`.
pub fn resets(resets_at_ms: Option<i64>, now_ms: i64, zone: Zone) -> String {
    match resets_at_ms {
        Some(at) if at > now_ms => format!(
            "resets {} (in {})",
            at_clock(at, now_ms, zone),
            duration(at - now_ms)
        ),
        Some(_) => "is due to reset now".to_owned(),
        None => "resets at a time not yet known".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_typed() {
        assert_eq!(parse_duration_ms("1h"), Some(3_600_000));
        assert_eq!(parse_duration_ms("30m"), Some(1_800_000));
        assert_eq!(parse_duration_ms("2h30m"), Some(9_000_000));
        assert_eq!(parse_duration_ms(" 2H 30M "), Some(9_000_000));
        assert_eq!(parse_duration_ms("90"), Some(5_400_000));
        assert_eq!(parse_duration_ms("1d"), Some(86_400_000));
        assert_eq!(parse_duration_ms("7d"), Some(MAX_DURATION_MS));
        for bad in ["8d", "h", "1x", "-5", "5h3", "", "0", "0m", "abc"] {
            assert_eq!(parse_duration_ms(bad), None, "{bad:?}");
        }
        // The same grammar under another bound (`extra-usage enable --timeout`, 24 h).
        let day = 86_400_000;
        assert_eq!(parse_duration_within("90s", day), Some(90_000));
        assert_eq!(parse_duration_within("1h30m", day), Some(5_400_000));
        assert_eq!(parse_duration_within("24h", day), Some(day));
        assert_eq!(parse_duration_within("25h", day), None);
        assert_eq!(parse_duration_within("99999999999999999999s", day), None);
    }

    #[test]
    fn huge_or_bare_durations_past_the_cap_are_refused_not_overflowed() {
        // A bare number of minutes used to skip the 7-day cap, and numbers past i64 / 60 000
        // overflowed (a panic in a debug build, a wrapped snooze in a release one).
        assert_eq!(parse_duration_ms("20000"), None);
        assert_eq!(parse_duration_ms("153722867280912931"), None);
        assert_eq!(parse_duration_ms("9223372036854775807"), None);
        assert_eq!(parse_duration_ms("106751991167301d"), None);
        assert_eq!(parse_duration_ms("9223372036854775807m1m"), None);
        assert_eq!(
            parse_duration_ms("5124095576030431h5124095576030431h"),
            None
        );
    }

    #[test]
    fn extreme_amounts_never_overflow() {
        // -9.3e16 dollars is below i64::MIN cents: its absolute value used to overflow.
        assert_eq!(
            money(-1e300, "USD"),
            format!("-${}.07", group_thousands(i64::MAX.unsigned_abs() / 100))
        );
        assert!(money(-9.3e16, "EUR").starts_with("-€92,233,720,368,547,758"));
        assert!(money(1e300, "USD").starts_with("$92,233,720,368,547,758"));
        assert_eq!(whole_money(u64::MAX, "USD"), "$18,446,744,073,709,551,615");
        assert_eq!(percent(1e300), "18446744073709551615 %");
        assert_eq!(percent(-5.0), "0 %");
    }

    fn utc() -> Zone {
        Zone::Named(chrono_tz::UTC)
    }

    #[test]
    fn numbers_read_naturally() {
        assert_eq!(percent(91.0), "91 %");
        assert_eq!(percent(89.99), "89 %");
        assert_eq!(percent(-3.0), "0 %");
        assert_eq!(percent(f64::NAN), "? %");
        assert_eq!(money(12.5, "USD"), "$12.50");
        assert_eq!(money(1234.567, "usd"), "$1,234.57");
        assert_eq!(money(3.0, "EUR"), "€3.00");
        assert_eq!(money(7.1, "CHF"), "7.10 CHF");
        assert_eq!(whole_money(1000, "USD"), "$1,000");
        assert_eq!(duration(70 * 60_000 + 59_000), "1 h 10 min");
        assert_eq!(duration(2 * 3_600_000), "2 h");
        assert_eq!(duration(45 * 60_000), "45 min");
        assert_eq!(duration(20_000), "less than a minute");
        assert_eq!(duration((2 * 24 + 3) * 3_600_000 + 5 * 60_000), "2 d 3 h");
    }

    #[test]
    fn clock_times_are_local_and_relative_to_today() {
        // 2026-03-03 (a Tuesday) 10:00 UTC.
        let now = 1_772_532_000_000;
        assert_eq!(
            clock(now + 4 * 3_600_000 + 32 * 60_000, now, utc()),
            "14:32"
        );
        assert_eq!(clock(now + 23 * 3_600_000, now, utc()), "tomorrow 09:00");
        assert_eq!(clock(now + 3 * 86_400_000, now, utc()), "Fri 10:00");
        assert_eq!(clock(now + 9 * 86_400_000, now, utc()), "12 Mar 10:00");
        let berlin = Zone::Named(chrono_tz::Europe::Berlin);
        assert_eq!(clock(now, now, berlin), "11:00");
        let kolkata = Zone::Named(chrono_tz::Asia::Kolkata);
        assert_eq!(clock(now, now, kolkata), "15:30");
        assert_eq!(minute_of_day(now, kolkata), 15 * 60 + 30);
        assert_eq!(
            resets(Some(now + 70 * 60_000), now, utc()),
            "resets at 11:10 (in 1 h 10 min)"
        );
        assert_eq!(
            resets(Some(now + 20 * 3_600_000), now, utc()),
            "resets tomorrow at 06:00 (in 20 h)"
        );
        assert_eq!(resets(None, now, utc()), "resets at a time not yet known");
    }
}
