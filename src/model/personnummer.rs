//! Recognising Swedish personal identity numbers (personnummer, samordningsnummer).
//!
//! They must never reach the cloud, and they turn up where nobody planned them: in
//! `employeeNumber`, in `extensionAttribute7`, in a description. Recognising one is pure: ten
//! or twelve digits, optionally with `-` or `+` before the last four, a plausible date (day
//! + 60 for samordningsnummer) and a valid Luhn check digit.
//!
//! Two questions are asked: is a whole value one ([`looks_like_personnummer`], for attributes
//! such as `employeeNumber`), and where in a longer text are there any ([`find`], for the
//! privacy guard, which must also catch "pnr 19811218-9876 ok" in a description). Both share
//! one definition of what a personnummer looks like, so they can never disagree.
//!
//! The shapes recognised (`Y` year, `M` month, `D` day, `N` serial and check digit):
//!
//! ```text
//! YYYYMMDD-NNNN   YYMMDD-NNNN   YYMMDD+NNNN   YYYYMMDDNNNN   YYMMDDNNNN
//! ```
//!
//! `+` may also stand where `-` does in the twelve-digit form. A match is a whole run of digits:
//! digits right before or after it (a 16-digit card number, an 11-digit phone number) mean it
//! is part of something longer and not a personnummer. In the twelve-digit forms the century
//! must be 18, 19 or 20. The date check is the plausibility check Skatteverket's format allows
//! (month 1-12, day 1-31, or 61-91 for a samordningsnummer), not a calendar lookup.

use std::ops::Range;

/// True when `value` (leading and trailing white space ignored) is, as a whole, a personnummer
/// or samordningsnummer in one of the recognised shapes.
pub fn looks_like_personnummer(value: &str) -> bool {
    let v = value.trim();
    let start = value.len() - value.trim_start().len();
    find(value).iter().any(|r| r.start == start && r.len() == v.len())
}

/// Byte ranges of every personnummer or samordningsnummer anywhere in `value`, in order.
pub fn find(value: &str) -> Vec<Range<usize>> {
    let b = value.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let run_end = digit_run_end(b, i);
        let run = run_end - i;
        // Candidate end (exclusive) and its digits, or None when this run starts nothing.
        let candidate = match run {
            10 | 12 => Some(run_end),
            6 | 8 if matches!(b.get(run_end), Some(b'-' | b'+')) => {
                let tail_start = run_end + 1;
                let tail_end = digit_run_end(b, tail_start);
                (tail_end - tail_start == 4).then_some(tail_end)
            }
            _ => None,
        };
        match candidate {
            Some(end) if digits_valid(b[i..end].iter().filter(|c| c.is_ascii_digit()).map(|c| c - b'0')) => {
                found.push(i..end);
                i = end;
            }
            _ => i = run_end,
        }
    }
    found
}

/// True when ten or twelve digits (no separator) form a valid personnummer.
fn digits_valid(digits: impl Iterator<Item = u8>) -> bool {
    let digits: Vec<u8> = digits.collect();
    let ten = match digits.len() {
        10 => &digits[..],
        12 if (18..=20).contains(&(digits[0] * 10 + digits[1])) => &digits[2..],
        _ => return false,
    };
    let month = ten[2] * 10 + ten[3];
    let day = ten[4] * 10 + ten[5];
    let day_ok = (1..=31).contains(&day) || (61..=91).contains(&day);
    (1..=12).contains(&month) && day_ok && luhn_ok(ten)
}

fn digit_run_end(b: &[u8], from: usize) -> usize {
    from + b.get(from..).unwrap_or_default().iter().take_while(|c| c.is_ascii_digit()).count()
}

fn luhn_ok(digits: &[u8]) -> bool {
    luhn_sum(digits).is_multiple_of(10)
}

/// Luhn's weighted sum: weights 2, 1, 2, 1, ... from the first digit, products' digits added.
fn luhn_sum(digits: &[u8]) -> u32 {
    digits
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d) * if i % 2 == 0 { 2 } else { 1 };
            if d > 9 { d - 9 } else { d }
        })
        .sum()
}

/// The Luhn check digit for the first nine digits of the ten-digit form (`YYMMDDNNN`).
pub fn check_digit(nine: &[u8; 9]) -> u8 {
    // The weights of the ten-digit form put 2 on the first nine digits' even positions, as
    // here; the sum is at most 9 * 9, so the result is a single digit.
    let sum = luhn_sum(nine);
    ((10 - sum % 10) % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_shapes() {
        // Skatteverket's published test numbers.
        assert!(looks_like_personnummer("19811218-9876"));
        assert!(looks_like_personnummer("811218-9876"));
        assert!(looks_like_personnummer("811218+9876"));
        assert!(looks_like_personnummer("198112189876"));
        assert!(looks_like_personnummer("8112189876"));
        assert!(looks_like_personnummer(" 19121212-1212 "));
        assert!(!looks_like_personnummer("19811218-9875"));
        assert!(!looks_like_personnummer("E12345"));
        assert!(!looks_like_personnummer("19811318-9876"));
        assert!(!looks_like_personnummer("1981-1218-9876"));
        assert!(!looks_like_personnummer(""));
    }

    #[test]
    fn whole_value_only() {
        assert!(!looks_like_personnummer("pnr 19811218-9876"));
        assert!(!looks_like_personnummer("19811218-9876 x"));
        assert!(!looks_like_personnummer("119811218-9876"));
        assert!(!looks_like_personnummer("19811218-98761"));
        assert!(!looks_like_personnummer("19811218--9876"));
    }

    #[test]
    fn samordningsnummer_day_plus_sixty() {
        // 1981-12-18 as a samordningsnummer: day 78.
        let nine = [8, 1, 1, 2, 7, 8, 9, 8, 7];
        let pnr = format!("811278-987{}", check_digit(&nine));
        assert!(looks_like_personnummer(&pnr), "{pnr}");
        assert!(!looks_like_personnummer("811260-9876"), "day 60 is neither");
        assert!(!looks_like_personnummer("811232-9876"), "day 32 is neither");
    }

    #[test]
    fn century_must_be_plausible() {
        assert!(looks_like_personnummer("18811218-9876"));
        assert!(looks_like_personnummer("20811218-9876"));
        assert!(!looks_like_personnummer("21811218-9876"));
        assert!(!looks_like_personnummer("99811218-9876"));
    }

    #[test]
    fn check_digit_matches_known_numbers() {
        assert_eq!(check_digit(&[8, 1, 1, 2, 1, 8, 9, 8, 7]), 6);
        assert_eq!(check_digit(&[1, 2, 1, 2, 1, 2, 1, 2, 1]), 2);
    }

    #[test]
    fn finds_spans_in_text() {
        let t = "pnr 19811218-9876, also 121212-1212; not 8112189875";
        let spans = find(t);
        assert_eq!(spans.len(), 2);
        assert_eq!(&t[spans[0].clone()], "19811218-9876");
        assert_eq!(&t[spans[1].clone()], "121212-1212");
        assert!(find("ålder 811218-9876 år").iter().any(|r| &"ålder 811218-9876 år"[r.clone()] == "811218-9876"));
    }
}
