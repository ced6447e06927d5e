//! Fixed-clock time arithmetic: the estate never reads the wall clock, every date is an
//! offset from [`REFERENCE_UNIX`] so that the output stays byte-identical from run to run.

/// Seconds between 1601-01-01 (the FILETIME epoch) and 1970-01-01.
const FILETIME_UNIX_OFFSET: i64 = 11_644_473_600;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
pub(crate) const fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub(crate) const DAY: i64 = 86_400;

/// The estate's "now": 2026-03-01T00:00:00Z. Activity, expiry and staleness are relative to it.
pub const REFERENCE_UNIX: i64 = days_from_civil(2026, 3, 1) * DAY;

/// Unix seconds of midnight UTC on a date.
pub(crate) const fn unix(y: i64, m: i64, d: i64) -> i64 {
    days_from_civil(y, m, d) * DAY
}

/// AD FILETIME (100 ns since 1601) of Unix seconds.
pub(crate) const fn filetime(unix: i64) -> i64 {
    (unix + FILETIME_UNIX_OFFSET) * 10_000_000
}

/// AD generalized time, as `ldifde` writes it: `20240101120000.0Z`.
pub(crate) fn generalized(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(DAY));
    let s = unix.rem_euclid(DAY);
    format!("{y:04}{m:02}{d:02}{:02}{:02}{:02}.0Z", s / 3600, s / 60 % 60, s % 60)
}

/// `YYYY-MM-DD` of Unix seconds.
pub(crate) fn date(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(REFERENCE_UNIX, 1_772_323_200);
        assert_eq!(generalized(REFERENCE_UNIX + 3661), "20260301010101.0Z");
        assert_eq!(filetime(0), 116_444_736_000_000_000);
        assert_eq!(date(unix(1999, 12, 31)), "1999-12-31");
    }
}
