//! Recognising Swedish personal identity numbers (personnummer, samordningsnummer).
//!
//! They must never reach the cloud, and they turn up where nobody planned them: in
//! `employeeNumber`, in `extensionAttribute7`, in a description. Recognising one is pure: ten
//! or twelve digits, optionally with `-` or `+` before the last four, a plausible date (day
//! + 60 for samordningsnummer) and a valid Luhn check digit.

/// True when `value` has the shape and check digit of a personnummer.
pub fn looks_like_personnummer(value: &str) -> bool {
    let v = value.trim();
    let digits: Vec<u8> = v.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
    let separators = v.bytes().filter(|b| !b.is_ascii_digit()).count();
    let sep_ok = match separators {
        0 => true,
        1 => {
            let pos = v.len().saturating_sub(5);
            matches!(v.as_bytes().get(pos), Some(b'-' | b'+'))
        }
        _ => false,
    };
    if !sep_ok || !(digits.len() == 10 || digits.len() == 12) {
        return false;
    }
    let ten = &digits[digits.len() - 10..];
    let month = ten[2] * 10 + ten[3];
    let day = ten[4] * 10 + ten[5];
    let day = if day > 60 { day - 60 } else { day };
    (1..=12).contains(&month) && (1..=31).contains(&day) && luhn_ok(ten)
}

fn luhn_ok(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d) * if i % 2 == 0 { 2 } else { 1 };
            if d > 9 { d - 9 } else { d }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_shapes() {
        // Skatteverket's published test numbers.
        assert!(looks_like_personnummer("19811218-9876"));
        assert!(looks_like_personnummer("811218-9876"));
        assert!(looks_like_personnummer("198112189876"));
        assert!(!looks_like_personnummer("19811218-9875"));
        assert!(!looks_like_personnummer("E12345"));
        assert!(!looks_like_personnummer("19811318-9876"));
        assert!(!looks_like_personnummer("1981-1218-9876"));
    }
}
