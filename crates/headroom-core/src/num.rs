//! Conversions between the number types the core stores and computes with, each with its range
//! checked: a float from a server or a forecast, or a count from a transcript, never becomes an
//! integer by a bare `as` cast (which silently saturates or maps NaN to 0) or by a wrapping
//! `u64 -> i64` cast (which turns 2^63 tokens into a negative count).

/// A count as SQLite stores it (i64), saturating at `i64::MAX`.
pub(crate) fn count_to_sql(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A count read back from SQLite: negative values (written by old versions that cast with
/// `as i64`) read as 0.
pub(crate) fn count_from_sql(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The integer nearest to `value`, or `None` when it is not finite or outside i64.
pub(crate) fn round_to_i64(value: f64) -> Option<i64> {
    // 2^63 is exactly representable; every finite f64 below it (and >= -2^63) fits in i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let rounded = value.round();
    // The cast is exact: the range is checked first.
    (-LIMIT..LIMIT).contains(&rounded).then_some(rounded as i64)
}

/// `value` rounded and clamped to `[min, max]`; NaN gives `None`.
pub(crate) fn round_clamped(value: f64, min: i64, max: i64) -> Option<i64> {
    if value.is_nan() {
        return None;
    }
    Some(match round_to_i64(value) {
        Some(n) => n.clamp(min, max),
        None if value > 0.0 => max,
        None => min,
    })
}

/// The largest integer not above `value`, as a u64: `None` for NaN, negative values saturate
/// to 0 and values past `u64::MAX` to `u64::MAX`.
pub(crate) fn floor_to_u64(value: f64) -> Option<u64> {
    // 2^64 is exactly representable; every finite f64 in [0, 2^64) fits in u64.
    const LIMIT: f64 = 18_446_744_073_709_551_616.0;
    if value.is_nan() {
        return None;
    }
    let floored = value.floor();
    Some(if floored <= 0.0 {
        0
    } else if floored >= LIMIT {
        u64::MAX
    } else {
        // Exact: 0 < floored < 2^64.
        floored as u64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_saturate_instead_of_wrapping() {
        assert_eq!(count_to_sql(u64::MAX), i64::MAX);
        assert_eq!(count_to_sql(1 << 63), i64::MAX);
        assert_eq!(count_to_sql(42), 42);
        assert_eq!(count_from_sql(-5), 0);
        assert_eq!(count_from_sql(i64::MAX), i64::MAX as u64);
    }

    #[test]
    fn rounding_checks_the_range() {
        assert_eq!(round_to_i64(1.5), Some(2));
        assert_eq!(round_to_i64(-1.5), Some(-2));
        assert_eq!(round_to_i64(f64::NAN), None);
        assert_eq!(round_to_i64(f64::INFINITY), None);
        assert_eq!(round_to_i64(9.3e18), None);
        assert_eq!(round_to_i64(-9.3e18), None);
        assert_eq!(round_to_i64(-9_223_372_036_854_775_808.0), Some(i64::MIN));
        assert_eq!(round_clamped(1e300, 0, 10), Some(10));
        assert_eq!(round_clamped(-1e300, 0, 10), Some(0));
        assert_eq!(round_clamped(f64::NAN, 0, 10), None);
        assert_eq!(floor_to_u64(2.9), Some(2));
        assert_eq!(floor_to_u64(-3.0), Some(0));
        assert_eq!(floor_to_u64(1e30), Some(u64::MAX));
        assert_eq!(floor_to_u64(f64::NAN), None);
    }
}
