//! Active Directory's two ways of writing time, as one typed value.
//!
//! `pwdLastSet`, `accountExpires` and `lastLogonTimestamp` are FILETIMEs: 100-nanosecond
//! ticks since 1601-01-01 UTC, where 0 and 0x7FFFFFFFFFFFFFFF mean "never". `whenCreated` and
//! `whenChanged` are LDAP generalized time (`20240101123000.0Z`). Later stages ask "unused for
//! 400 days?" of one type and never see ticks.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// A point in time, or AD's "never" (no expiry, never logged on, must change password).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AdTime {
    At(DateTime<Utc>),
    Never(NeverMarker),
}

/// Serialises as the string `"never"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
    }
}
