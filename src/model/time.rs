//! Active Directory's two ways of writing time, as one typed value.
//!
//! `pwdLastSet`, `accountExpires` and `lastLogonTimestamp` are FILETIMEs: 100-nanosecond
//! ticks since 1601-01-01 UTC, where 0 and 0x7FFFFFFFFFFFFFFF mean "never". `whenCreated` and
//! `whenChanged` are LDAP generalized time (`20240101123000.0Z`). Later stages ask "unused for
//! 400 days?" of one type and never see ticks.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// A point in time, or AD's "never" (no expiry, never logged on, must change password).
/// Written as an RFC 3339 time in UTC or `"never"`; read by hand (see the `Deserialize` impl).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(untagged)]
pub enum AdTime {
    At(DateTime<Utc>),
    Never(NeverMarker),
}

/// Serialises as the string `"never"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum NeverMarker {
    #[serde(rename = "never")]
    Never,
}

/// A time value that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not {1}")]
pub struct TimeError(pub String, pub &'static str);

/// Seconds between 1601-01-01 and 1970-01-01.
const EPOCH_DIFF_SECS: i64 = 11_644_473_600;

impl AdTime {
    pub const NEVER: AdTime = AdTime::Never(NeverMarker::Never);

    /// Reads a FILETIME given as decimal text.
    pub fn from_filetime_text(text: &str) -> Result<AdTime, TimeError> {
        let ticks: i64 = text.trim().parse().map_err(|_| TimeError(text.to_string(), "a FILETIME"))?;
        Self::from_filetime(ticks).ok_or_else(|| TimeError(text.to_string(), "a FILETIME in range"))
    }

    /// 0 and `i64::MAX` are "never"; negative values are refused.
    pub fn from_filetime(ticks: i64) -> Option<AdTime> {
        if ticks == 0 || ticks == i64::MAX {
            return Some(Self::NEVER);
        }
        if ticks < 0 {
            return None;
        }
        let secs = ticks / 10_000_000 - EPOCH_DIFF_SECS;
        let nanos = (ticks % 10_000_000) as u32 * 100;
        Utc.timestamp_opt(secs, nanos).single().map(AdTime::At)
    }

    pub fn to_filetime(self) -> i64 {
        match self {
            AdTime::Never(_) => i64::MAX,
            AdTime::At(t) => {
                (t.timestamp() + EPOCH_DIFF_SECS) * 10_000_000 + i64::from(t.timestamp_subsec_nanos() / 100)
            }
        }
    }

    /// Reads generalized time: `YYYYMMDDHHMMSS[.f]Z` (AD always writes UTC with `.0Z`).
    pub fn from_generalized(text: &str) -> Result<AdTime, TimeError> {
        let bad = || TimeError(text.to_string(), "generalized time (YYYYMMDDHHMMSS.0Z)");
        let t = text.trim().strip_suffix('Z').ok_or_else(bad)?;
        let (whole, frac) = t.split_once(['.', ',']).unwrap_or((t, ""));
        if whole.len() != 14 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let naive = NaiveDateTime::parse_from_str(whole, "%Y%m%d%H%M%S").map_err(|_| bad())?;
        Ok(AdTime::At(Utc.from_utc_datetime(&naive)))
    }

    pub fn at(self) -> Option<DateTime<Utc>> {
        match self {
            AdTime::At(t) => Some(t),
            AdTime::Never(_) => None,
        }
    }
}

/// Reads what `Serialize` writes. serde's derived untagged reading copied every value into a
/// buffer and tried each variant in turn, and chrono's general parser read the time (2.6% of
/// loading a million users' snapshots in perf, each user having three times). The form chrono
/// writes (`2026-02-16T03:16:25.475107Z`) is read directly; anything else goes to chrono's
/// parser, as before.
impl<'de> Deserialize<'de> for AdTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<AdTime, D::Error> {
        super::deserialize_parsed(deserializer, "an RFC 3339 time or \"never\"", |text| {
            if text == "never" {
                return Ok(AdTime::NEVER);
            }
            match utc_rfc3339(text) {
                Some(t) => Ok(AdTime::At(t)),
                None => text
                    .parse::<DateTime<chrono::FixedOffset>>()
                    .map(|t| AdTime::At(t.with_timezone(&Utc)))
                    .map_err(|e| format!("{text:?} is not an RFC 3339 time or \"never\": {e}")),
            }
        })
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.f]Z` (up to nine fraction digits), or None for anything else,
/// including what chrono's parser would still accept (offsets, leap seconds, lower case).
fn utc_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |n, &d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.len() < 20 || separators.iter().any(|&(i, c)| b[i] != c) || b.last() != Some(&b'Z') {
        return None;
    }
    let fraction = &b[19..b.len() - 1];
    let nanos = match fraction {
        [] => 0,
        [b'.', rest @ ..] if (1..=9).contains(&rest.len()) => {
            digits(20..b.len() - 1)? * 10u32.pow(9 - rest.len() as u32)
        }
        _ => return None,
    };
    let date = chrono::NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?)?;
    let time = chrono::NaiveTime::from_hms_nano_opt(digits(11..13)?, digits(14..16)?, digits(17..19)?, nanos)?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_known_values() {
        // 2024-01-01T00:00:00Z
        let t = AdTime::from_filetime_text("133485408000000000").unwrap();
        assert_eq!(t.at().unwrap().to_rfc3339(), "2024-01-01T00:00:00+00:00");
        assert_eq!(t.to_filetime(), 133485408000000000);
        assert_eq!(AdTime::from_filetime_text("0").unwrap(), AdTime::NEVER);
        assert_eq!(AdTime::from_filetime_text("9223372036854775807").unwrap(), AdTime::NEVER);
        assert!(AdTime::from_filetime_text("-5").is_err());
        assert!(AdTime::from_filetime_text("soon").is_err());
    }

    #[test]
    fn generalized_time() {
        let t = AdTime::from_generalized("20240101123000.0Z").unwrap();
        assert_eq!(t.at().unwrap().to_rfc3339(), "2024-01-01T12:30:00+00:00");
        assert!(AdTime::from_generalized("20241301000000.0Z").is_err());
        assert!(AdTime::from_generalized("2024").is_err());
    }

    #[test]
    fn serialises_readably() {
        assert_eq!(serde_json::to_string(&AdTime::NEVER).unwrap(), "\"never\"");
        let t = AdTime::from_generalized("20240101000000Z").unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"2024-01-01T00:00:00Z\"");
        let back: AdTime = serde_json::from_str("\"never\"").unwrap();
        assert_eq!(back, AdTime::NEVER);
        let err = serde_json::from_str::<AdTime>("\"yesterday\"").unwrap_err().to_string();
        assert!(err.contains("\"yesterday\" is not an RFC 3339 time"), "{err}");
        assert!(serde_json::from_str::<AdTime>("5").is_err());
    }

    /// Times in chrono's written form are read directly, and exactly as chrono's parser reads
    /// them; other forms chrono accepts still read through it.
    #[test]
    fn reading_matches_chronos_parser() {
        use chrono::Datelike;
        use proptest::prelude::*;
        let chrono_reads = |text: &str| text.parse::<DateTime<chrono::FixedOffset>>().unwrap().with_timezone(&Utc);
        let read = |text: &str| serde_json::from_value::<AdTime>(serde_json::Value::from(text)).unwrap();
        proptest!(|(secs in -62_000_000_000i64..250_000_000_000, nanos in 0u32..1_000_000_000, digits in 0usize..10)| {
            let t = Utc.timestamp_opt(secs, nanos).single().unwrap();
            let text = t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            // Every fraction length from none to nine digits.
            let text = match digits {
                0 => format!("{}Z", &text[..text.len() - 11]),
                n => format!("{}Z", &text[..text.len() - 10 + n]),
            };
            prop_assert_eq!(read(&text), AdTime::At(chrono_reads(&text)), "{}", text);
            prop_assert!(utc_rfc3339(&text).is_some() || !(0..=9999).contains(&t.year()), "{}", text);
        });
        for text in
            ["2024-01-01T12:00:00+02:00", "2024-01-01t12:00:00z", "2016-12-31T23:59:60Z", "2024-01-01T12:00:00.5-01:30"]
        {
            assert_eq!(utc_rfc3339(text), None, "{text}");
            assert_eq!(read(text), AdTime::At(chrono_reads(text)), "{text}");
        }
        for text in
            ["2024-13-01T00:00:00Z", "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00.1234567890Z", "2024-01-01T24:00:00Z"]
        {
            assert_eq!(utc_rfc3339(text), None, "{text}");
        }
    }
}
