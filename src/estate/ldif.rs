//! A small streaming LDIF writer with the two encodings the flavours need.
//!
//! `ldifde` base64-encodes every value that is not plain printable ASCII (`sn:: w5ZiZXJn`)
//! and folds lines at 78 columns; `ldapadd` takes raw UTF-8 and long lines, which keeps the
//! slapd and Samba files readable. Values that RFC 2849 forbids in plain form (a leading space,
//! `:` or `<`, a trailing space, control characters) are base64 in every flavour.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::io::{self, Write};

/// Maximum physical line length in the folded (`ldifde`) form.
pub(crate) const FOLD_AT: usize = 78;

pub(crate) struct LdifWriter<'w> {
    out: io::BufWriter<&'w mut dyn Write>,
    /// Base64 for non-ASCII values and 78-column folding, as `ldifde` writes.
    ldifde: bool,
    line: String,
    b64: String,
}

impl<'w> LdifWriter<'w> {
    pub(crate) fn new(out: &'w mut dyn Write, ldifde: bool) -> LdifWriter<'w> {
        LdifWriter {
            out: io::BufWriter::with_capacity(1 << 20, out),
            ldifde,
            line: String::with_capacity(256),
            b64: String::with_capacity(256),
        }
    }

    /// Starts an entry: the `dn` line, plus `changetype: add` in the `ldifde` form.
    pub(crate) fn start(&mut self, dn: &str) -> io::Result<()> {
        self.attr("dn", dn)?;
        if self.ldifde { self.attr("changetype", "add") } else { Ok(()) }
    }

    /// Starts a `changetype: modify` record that adds values of `attr`.
    pub(crate) fn start_modify_add(&mut self, dn: &str, attr: &str) -> io::Result<()> {
        self.attr("dn", dn)?;
        self.attr("changetype", "modify")?;
        self.attr("add", attr)
    }

    /// The `-` line that closes one modification.
    pub(crate) fn modify_sep(&mut self) -> io::Result<()> {
        self.out.write_all(b"-\n")
    }

    /// Ends an entry with the blank line.
    pub(crate) fn end(&mut self) -> io::Result<()> {
        self.out.write_all(b"\n")
    }

    /// One text value, base64-encoded when the flavour or RFC 2849 requires it.
    pub(crate) fn attr(&mut self, name: &str, value: &str) -> io::Result<()> {
        if needs_base64(value, self.ldifde) {
            return self.binary(name, value.as_bytes());
        }
        self.line.clear();
        self.line.push_str(name);
        self.line.push_str(": ");
        self.line.push_str(value);
        self.flush_line()
    }

    /// One integer value.
    pub(crate) fn int(&mut self, name: &str, value: i64) -> io::Result<()> {
        self.line.clear();
        self.line.push_str(name);
        self.line.push_str(": ");
        push_int(&mut self.line, value);
        self.flush_line()
    }

    /// One binary value, always base64 (`objectGUID::`).
    pub(crate) fn binary(&mut self, name: &str, value: &[u8]) -> io::Result<()> {
        self.b64.clear();
        STANDARD.encode_string(value, &mut self.b64);
        self.line.clear();
        self.line.push_str(name);
        self.line.push_str(":: ");
        self.line.push_str(&self.b64);
        self.flush_line()
    }

    fn flush_line(&mut self) -> io::Result<()> {
        let bytes = self.line.as_bytes();
        if !self.ldifde || bytes.len() <= FOLD_AT {
            self.out.write_all(bytes)?;
            return self.out.write_all(b"\n");
        }
        // Fold: the first physical line holds FOLD_AT bytes, continuations a space and
        // FOLD_AT - 1 bytes, never splitting a UTF-8 sequence.
        let mut pos = 0;
        let mut width = FOLD_AT;
        while pos < bytes.len() {
            let mut end = (pos + width).min(bytes.len());
            while end > pos + 1 && !self.line.is_char_boundary(end) {
                end -= 1;
            }
            if pos > 0 {
                self.out.write_all(b" ")?;
            }
            self.out.write_all(&bytes[pos..end])?;
            self.out.write_all(b"\n")?;
            pos = end;
            width = FOLD_AT - 1;
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Whether a value must be written as `name:: base64`.
pub(crate) fn needs_base64(value: &str, ascii_only: bool) -> bool {
    let b = value.as_bytes();
    match (b.first(), b.last()) {
        (None, _) => false,
        (Some(b' ' | b':' | b'<'), _) | (_, Some(b' ')) => true,
        _ => b.iter().any(|&c| c == 0 || c == b'\r' || c == b'\n' || (ascii_only && c >= 0x80)),
    }
}

fn push_int(s: &mut String, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let neg = v < 0;
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        s.push('-');
    }
    for &c in &buf[i..] {
        s.push(c as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(ldifde: bool, f: impl FnOnce(&mut LdifWriter<'_>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        let mut w = LdifWriter::new(&mut out, ldifde);
        f(&mut w).unwrap();
        w.finish().unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn non_ascii_is_base64_only_in_ldifde() {
        assert_eq!(written(true, |w| w.attr("sn", "Öberg")), "sn:: w5ZiZXJn\n");
        assert_eq!(written(false, |w| w.attr("sn", "Öberg")), "sn: Öberg\n");
        assert_eq!(written(false, |w| w.attr("description", " x")), "description:: IHg=\n");
        assert_eq!(written(false, |w| w.int("groupType", -2_147_483_646)), "groupType: -2147483646\n");
        assert_eq!(written(false, |w| w.int("x", i64::MAX)), "x: 9223372036854775807\n");
    }

    #[test]
    fn folds_at_78_columns() {
        let long = "a".repeat(200);
        let text = written(true, |w| w.attr("description", &long));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.iter().all(|l| l.len() <= FOLD_AT));
        assert!(lines[1..].iter().all(|l| l.starts_with(' ')));
        let unfolded: String = lines.iter().enumerate().map(|(i, l)| if i == 0 { *l } else { &l[1..] }).collect();
        assert_eq!(unfolded, format!("description: {long}"));
    }
}
