//! The privacy guard's pure core: finding personnummer in values bound for the cloud, and the
//! keyed hash that may replace them.
//!
//! Why personnummer must never leave the premises: Swedish law (lag (2018:218) med
//! kompletterande bestämmelser till EU:s dataskyddsförordning, 3 kap. 10 §) allows processing
//! of personal identity numbers only where it is clearly justified by the purpose, by the need
//! for secure identification or by some other considerable reason. Nothing in a Microsoft 365
//! tenant needs one: people there are identified by the anchor derived from their objectGUID.
//! And once a value is in the tenant it is readable by every administrator, every application
//! granted `User.Read.All` and every export or sync built on them, under a foreign provider's
//! jurisdiction, and it cannot be called back. So the municipalities' rule is absolute, and the
//! guard checks every value bound for Graph, whatever the attribute is called: numbers turn up
//! in `employeeNumber`, in `extensionAttribute7`, in free-text descriptions.
//!
//! What counts as a personnummer is defined once, in [`crate::model::personnummer`]: ten or
//! twelve digits, with or without `-`/`+` before the last four, a plausible date (day + 60 for
//! a samordningsnummer), a valid Luhn check digit, and no neighbouring digits extending it.
//! Numbers with a wrong check digit pass: they are not personnummer, and refusing every
//! ten-digit number (phone numbers, order numbers) would make the guard useless.
//!
//! When a value is caught the configured [`PrivacyPolicy`] decides: refuse the run, drop the
//! value, or replace it with [`keyed_hash`]. The hash is keyed because an unkeyed hash of a
//! personnummer is no protection: there are only a few hundred million valid numbers, and
//! anyone could hash them all and read the table backwards. The key stays on-premises with the
//! rest of the secrets; with it, the same number always gives the same hash, so values can
//! still be compared and matched without being revealed.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::ops::Range;

use crate::model::personnummer;

/// What the guard does with a value bound for Graph that contains a personnummer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PrivacyPolicy {
    /// Stop the run and report the violation: nothing is mapped until the mapping is fixed.
    Refuse,
    /// Leave the attribute out of what is sent.
    Drop,
    /// Send [`keyed_hash`] of the value instead.
    Hash,
}

/// True when `value` contains something that looks like a Swedish personal identity number
/// anywhere in it, embedded in text too ("pnr 19811218-9876 ok").
pub fn contains_personnummer(value: &str) -> bool {
    !personnummer::find(value).is_empty()
}

/// The byte ranges of the personnummer in `value`, in order, for reports (which must show where
/// a number is, never the number).
pub fn find_personnummer(value: &str) -> Vec<Range<usize>> {
    personnummer::find(value)
}

/// `value` with every personnummer in it replaced by `[personnummer]`, for messages and reports
/// that need to show the rest of the value.
pub fn redact(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut last = 0;
    for r in personnummer::find(value) {
        out.push_str(&value[last..r.start]);
        out.push_str("[personnummer]");
        last = r.end;
    }
    out.push_str(&value[last..]);
    out
}

/// A keyed hash that replaces a sensitive value: HMAC-SHA256(key, value) in lower-case hex, the
/// first 32 characters (128 bits), prefixed `h:`. Deterministic for the same key and value.
pub fn keyed_hash(key: &[u8], value: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&hmac_key_block(key));
    mac.update(value.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut hex = hex::encode(digest);
    hex.truncate(32);
    format!("h:{hex}")
}

/// HMAC's key block (RFC 2104): a key longer than SHA-256's 64-byte block is hashed first,
/// then the key is padded with zeros to the block size. Built here so that creating the MAC
/// cannot fail, whatever the key's length.
fn hmac_key_block(key: &[u8]) -> hmac::digest::Key<Hmac<Sha256>> {
    let mut block = hmac::digest::Key::<Hmac<Sha256>>::default();
    if key.len() > block.len() {
        let hashed = Sha256::digest(key);
        block[..hashed.len()].copy_from_slice(&hashed);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::personnummer::check_digit;
    use proptest::prelude::*;

    #[test]
    fn skatteverket_test_numbers_in_every_format() {
        for v in [
            "19811218-9876",
            "811218-9876",
            "811218+9876",
            "198112189876",
            "8112189876",
            "19121212-1212",
            "121212-1212",
            "121212+1212",
            "191212121212",
            "1212121212",
        ] {
            assert!(contains_personnummer(v), "{v}");
            assert_eq!(find_personnummer(v), vec![0..v.len()], "{v}");
        }
    }

    #[test]
    fn samordningsnummer() {
        // 1981-12-18 + 60 days in the day field.
        let c = check_digit(&[8, 1, 1, 2, 7, 8, 9, 8, 7]);
        for v in [format!("19811278-987{c}"), format!("811278-987{c}"), format!("811278987{c}")] {
            assert!(contains_personnummer(&v), "{v}");
        }
        let wrong = (c + 1) % 10;
        assert!(!contains_personnummer(&format!("811278-987{wrong}")));
    }

    #[test]
    fn embedded_in_text() {
        let t = "pnr 19811218-9876 ok";
        assert!(contains_personnummer(t));
        assert_eq!(find_personnummer(t), vec![4..17]);
        assert!(contains_personnummer("Anställd (811218-9876), Bjuv"));
        assert!(contains_personnummer("id:8112189876;"));
        assert!(contains_personnummer("Åsa 811218-9876 Öberg"));
        assert_eq!(redact("pnr 19811218-9876 ok, 121212-1212."), "pnr [personnummer] ok, [personnummer].");
        assert_eq!(redact("nothing here"), "nothing here");
    }

    #[test]
    fn wrong_check_digit_is_not_caught() {
        for v in ["19811218-9875", "811218-9870", "198112189871", "8112189879", "19121212-1213"] {
            assert!(!contains_personnummer(v), "{v}");
        }
    }

    #[test]
    fn longer_digit_runs_are_not_caught() {
        // A 16-digit card number whose last 10 or 12 digits would pass alone.
        assert!(contains_personnummer("8112189876"));
        assert!(!contains_personnummer("4000008112189876"));
        assert!(!contains_personnummer("4000198112189876"));
        assert!(!contains_personnummer("1198112189876"));
        assert!(!contains_personnummer("81121898761"));
        assert!(!contains_personnummer("19811218-98761"));
        assert!(!contains_personnummer("119811218-9876"));
        assert!(!contains_personnummer("4000 0081 1218 9876"));
    }

    #[test]
    fn implausible_dates_are_not_caught() {
        // Month 13, day 0, day 32, day 60, day 92, each with a correct Luhn digit.
        for (yy, mm, dd) in [(26, 13, 1), (81, 12, 0), (81, 12, 32), (81, 12, 60), (81, 12, 92), (81, 0, 18)] {
            let nine = [yy / 10, yy % 10, mm / 10, mm % 10, dd / 10, dd % 10, 1, 2, 3];
            let c = check_digit(&nine);
            let ten = format!("{yy:02}{mm:02}{dd:02}123{c}");
            assert!(!contains_personnummer(&ten), "{ten}");
            assert!(!contains_personnummer(&format!("20{ten}")), "20{ten}");
        }
        // 2026-13-01 in the twelve-digit form.
        let c = check_digit(&[2, 6, 1, 3, 0, 1, 1, 2, 3]);
        assert!(!contains_personnummer(&format!("20261301-123{c}")));
    }

    #[test]
    fn keyed_hash_is_hmac_sha256_truncated() {
        // RFC 4231 test case 1 and 6 (a key longer than the block).
        let h = keyed_hash(&[0x0b; 20], "Hi There");
        assert_eq!(h, "h:b0344c61d8db38535ca8afceaf0bf12b");
        let h = keyed_hash(&[0xaa; 131], "Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(h, "h:60e431591ee0b67f0d8a26aacbf5b77f");
        // Empty key, 64-byte key.
        assert_eq!(keyed_hash(b"", "x").len(), 34);
        assert_eq!(keyed_hash(&[1; 64], "x"), keyed_hash(&[1; 64], "x"));
        assert_ne!(keyed_hash(b"k1", "19811218-9876"), keyed_hash(b"k2", "19811218-9876"));
        assert_ne!(keyed_hash(b"k1", "19811218-9876"), keyed_hash(b"k1", "811218-9876"));
    }

    #[test]
    fn policy_spelling() {
        #[derive(serde::Deserialize)]
        struct P {
            p: PrivacyPolicy,
        }
        let p: P = toml::from_str("p = \"hash\"").unwrap();
        assert_eq!(p.p, PrivacyPolicy::Hash);
        assert!(toml::from_str::<P>("p = \"Hash\"").is_err());
        assert_eq!(serde_json::to_string(&PrivacyPolicy::Refuse).unwrap(), "\"refuse\"");
    }

    /// A valid personnummer's digits: a date 1900-2025 (day + 60 sometimes), three serial
    /// digits and the computed check digit.
    fn valid_digits() -> impl Strategy<Value = (u32, [u8; 10])> {
        (1900u32..=2025, 1u8..=12, 1u8..=31, any::<bool>(), 0u16..1000).prop_map(|(year, month, day, coord, serial)| {
            let dim = match month {
                2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            let day = day.min(dim) + if coord { 60 } else { 0 };
            let yy = (year % 100) as u8;
            let s = [(serial / 100) as u8, (serial / 10 % 10) as u8, (serial % 10) as u8];
            let nine = [yy / 10, yy % 10, month / 10, month % 10, day / 10, day % 10, s[0], s[1], s[2]];
            let c = check_digit(&nine);
            let mut ten = [0; 10];
            ten[..9].copy_from_slice(&nine);
            ten[9] = c;
            (year / 100, ten)
        })
    }

    fn format(century: u32, ten: &[u8; 10], shape: usize) -> String {
        let d: String = ten.iter().map(|d| char::from(b'0' + d)).collect();
        match shape {
            0 => format!("{century}{}-{}", &d[..6], &d[6..]),
            1 => format!("{}-{}", &d[..6], &d[6..]),
            2 => format!("{}+{}", &d[..6], &d[6..]),
            3 => format!("{century}{d}"),
            _ => d,
        }
    }

    /// Random text that neither ends (prefix) nor starts (suffix) with an ASCII digit.
    fn text() -> impl Strategy<Value = (String, String)> {
        (any::<String>(), any::<String>()).prop_map(|(mut p, mut s)| {
            if p.ends_with(|c: char| c.is_ascii_digit()) {
                p.push('x');
            }
            if s.starts_with(|c: char| c.is_ascii_digit()) {
                s.insert(0, ' ');
            }
            (p, s)
        })
    }

    proptest! {
        #[test]
        fn valid_numbers_are_caught_in_any_format_and_text(
            (century, ten) in valid_digits(), shape in 0usize..5, (pre, post) in text()
        ) {
            let number = format(century, &ten, shape);
            prop_assert!(contains_personnummer(&number), "{}", number);
            let t = format!("{pre}{number}{post}");
            let span = pre.len()..pre.len() + number.len();
            prop_assert!(find_personnummer(&t).contains(&span), "{:?} in {:?}", number, t);
            prop_assert!(contains_personnummer(&t));
            prop_assert!(!redact(&t).contains(&number));
        }

        #[test]
        fn a_wrong_check_digit_is_not_caught(
            (century, mut ten) in valid_digits(), shape in 0usize..5, delta in 1u8..10, (pre, post) in text()
        ) {
            ten[9] = (ten[9] + delta) % 10;
            let number = format(century, &ten, shape);
            prop_assert!(!contains_personnummer(&number), "{}", number);
            let t = format!("{pre}{number}{post}");
            let span = pre.len()..pre.len() + number.len();
            prop_assert!(!find_personnummer(&t).iter().any(|r| r.start < span.end && span.start < r.end));
        }

        #[test]
        fn spans_are_char_boundaries_and_never_overlap(s in any::<String>()) {
            let spans = find_personnummer(&s);
            for w in spans.windows(2) {
                prop_assert!(w[0].end <= w[1].start);
            }
            for r in spans {
                prop_assert!(s.get(r).is_some());
            }
        }
    }
}
