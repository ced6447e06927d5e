//! Reading `ldifde` exports: LDIF content files (RFC 2849).
//!
//! Not every municipality can, or wants to, open its domain controllers to samla. The offline
//! route is an export their own administrators run (`ldifde -f export.ldf`, or `ldifde -u` for
//! UTF-16) and hand over as a file. [`LdifReader`] turns such a file into the same
//! [`RawEntry`] values the LDAP source produces, so everything downstream treats both alike.
//! It streams: memory stays bounded by the largest entry, whatever the size of the export.
//!
//! Supported, as `ldifde` writes it and RFC 2849 allows for content records:
//! - an optional `version: 1` line, `#` comments (also folded ones), records separated by one or
//!   more blank lines, LF or CRLF line endings, with or without a final line ending;
//! - folded lines: a line starting with one space continues the previous one, splitting a UTF-8
//!   character or a base64 value anywhere;
//! - `name: text` (UTF-8), `name:: base64` (binary such as `objectGUID`, or non-ASCII text such as
//!   `Åsa`), empty values, `dn::` for non-ASCII DNs, and attribute options such as
//!   `member;range=0-1499`, kept as written;
//! - `changetype: add`, which `ldifde` writes into exports, is ignored;
//! - input in UTF-8, UTF-8 with a byte order mark, or UTF-16LE with a byte order mark
//!   (`ldifde -u`), transcoded on the fly.
//!
//! Refused, each with the line where it starts:
//! - `name:< URL` values: samla never reads files (or anything else) named by its input;
//! - change records (`changetype:` other than `add`) and `control:` lines: they describe changes
//!   to apply, not the directory's content, and an export that contains them is not one;
//! - anything malformed: a record not starting with `dn:`, a line without a colon, an invalid
//!   attribute name, invalid base64, text values or DNs that are not UTF-8, a continuation line
//!   with nothing to continue, broken UTF-16 input;
//! - other encodings, named with what to do ("the file is UTF-16LE without a byte order mark;
//!   save it as UTF-8"): UTF-16BE, and UTF-16 without a byte order mark (a NUL next to the
//!   first character, which in UTF-8 LDIF cannot be).
//!
//! After the first error the reader stops: a damaged export is handed back, not half-imported.
//! Which characters a value may hold is not the reader's business but the converter's, the same
//! for every source ([`crate::model::convert::refused_text`]); [`LdifReader::record_line`] says
//! where each record starts, so that its refusals (and a second record with the same DN) can
//! name the line.

use std::io::{self, BufRead, Chain, Cursor, Read};
use std::iter::FusedIterator;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::model::RawEntry;

/// A malformed LDIF: the 1-based line where the problem starts and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct LdifError {
    pub line: usize,
    pub reason: String,
}

/// Streams entries from an LDIF source; memory stays bounded by the largest entry.
pub struct LdifReader<R: BufRead> {
    input: Decoder<R>,
    /// Physical lines read so far, which is also the number of the line in `lookahead`.
    line: usize,
    /// The last physical line read, without its line ending. Reading it tells whether the
    /// current logical line continues.
    lookahead: Vec<u8>,
    /// `lookahead` holds a line that is not yet part of a logical line.
    pending: bool,
    eof: bool,
    /// The current logical line, unfolded.
    logical: Vec<u8>,
    seen_version: bool,
    seen_dn: bool,
    done: bool,
    /// The line of the `dn:` of the record read last.
    record_line: usize,
}

impl<R: BufRead> LdifReader<R> {
    /// Reads from `reader`; its encoding is detected from its first bytes on the first `next`.
    pub fn new(reader: R) -> Self {
        LdifReader {
            input: Decoder::new(reader),
            line: 0,
            lookahead: Vec::new(),
            pending: false,
            eof: false,
            logical: Vec::new(),
            seen_version: false,
            seen_dn: false,
            done: false,
            record_line: 0,
        }
    }

    /// The 1-based line where the record `next` returned last starts (its `dn:` line); 0
    /// before the first.
    pub fn record_line(&self) -> usize {
        self.record_line
    }

    /// Reads the next record, skipping blank lines, comments and the version line before it.
    fn read_record(&mut self) -> Result<Option<RawEntry>, LdifError> {
        let mut entry = loop {
            let Some(line) = self.next_logical()? else {
                return Ok(None);
            };
            if matches!(self.logical.first(), None | Some(b'#')) {
                continue;
            }
            let (name, value) = parse_line(&self.logical).map_err(|e| LdifError { line, reason: e.to_string() })?;
            if name.eq_ignore_ascii_case("dn") {
                let dn = String::from_utf8(value)
                    .map_err(|_| LdifError { line, reason: "the dn is not valid UTF-8".to_string() })?;
                self.seen_dn = true;
                self.record_line = line;
                break RawEntry::new(dn);
            }
            if name.eq_ignore_ascii_case("version") && !self.seen_dn && !self.seen_version {
                if value != b"1" {
                    let reason = format!("unsupported LDIF version \"{}\"; only version 1 exists", excerpt(&value));
                    return Err(LdifError { line, reason });
                }
                self.seen_version = true;
                continue;
            }
            let reason = if self.seen_dn {
                format!("the record starts with `{name}:` instead of `dn:`")
            } else {
                format!("`{name}:` line before any `dn:` line")
            };
            return Err(LdifError { line, reason });
        };

        while let Some(line) = self.next_logical()? {
            match self.logical.first() {
                None => break,
                Some(b'#') => continue,
                Some(_) => {}
            }
            let (name, value) = parse_line(&self.logical).map_err(|e| LdifError { line, reason: e.to_string() })?;
            let refusal = if name.eq_ignore_ascii_case("changetype") {
                if value.eq_ignore_ascii_case(b"add") {
                    continue;
                }
                format!("changetype: {} records are changes, not directory content", excerpt(&value))
            } else if name.eq_ignore_ascii_case("control") {
                "`control:` lines belong to change records, not directory content".to_string()
            } else if name.eq_ignore_ascii_case("dn") {
                "a second `dn:` in one record; records are separated by a blank line".to_string()
            } else {
                entry.push(name, value);
                continue;
            };
            return Err(LdifError { line, reason: refusal });
        }
        Ok(Some(entry))
    }

    /// Reads the next logical line (a physical line and its continuations, unfolded) into
    /// `logical` and returns the number of its first physical line; `None` at the end of input.
    fn next_logical(&mut self) -> Result<Option<usize>, LdifError> {
        if !self.pending && !self.advance()? {
            return Ok(None);
        }
        self.pending = false;
        let start = self.line;
        if self.lookahead.first() == Some(&b' ') {
            let reason = "continuation line (starting with a space) with no line before it to continue";
            return Err(LdifError { line: start, reason: reason.to_string() });
        }
        std::mem::swap(&mut self.logical, &mut self.lookahead);
        // A blank line is never continued: stop here rather than read into the next record.
        if self.logical.is_empty() {
            return Ok(Some(start));
        }
        while self.advance()? {
            match self.lookahead.split_first() {
                Some((b' ', rest)) => self.logical.extend_from_slice(rest),
                _ => {
                    self.pending = true;
                    break;
                }
            }
        }
        Ok(Some(start))
    }

    /// Reads the next physical line into `lookahead`, without its line ending; false at the end.
    fn advance(&mut self) -> Result<bool, LdifError> {
        self.lookahead.clear();
        if self.eof {
            return Ok(false);
        }
        match self.input.read_until(b'\n', &mut self.lookahead) {
            Ok(0) => {
                self.eof = true;
                Ok(false)
            }
            Ok(_) => {
                self.line += 1;
                if self.lookahead.last() == Some(&b'\n') {
                    self.lookahead.pop();
                    if self.lookahead.last() == Some(&b'\r') {
                        self.lookahead.pop();
                    }
                }
                Ok(true)
            }
            // The decoder's refusals (an encoding, broken UTF-16) say what is wrong themselves.
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                Err(LdifError { line: self.line + 1, reason: e.to_string() })
            }
            Err(e) => Err(LdifError { line: self.line + 1, reason: format!("cannot read the input: {e}") }),
        }
    }
}

impl<R: BufRead> Iterator for LdifReader<R> {
    type Item = Result<RawEntry, LdifError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.read_record().transpose();
        self.done = !matches!(result, Some(Ok(_)));
        result
    }
}

impl<R: BufRead> FusedIterator for LdifReader<R> {}

/// Why a logical line is not `name: value`; the reader adds its line number ([`LdifError`]).
#[derive(Debug, thiserror::Error)]
enum LineError {
    #[error("expected `name: value`, found a line without a colon: \"{0}\"")]
    NoColon(String),
    #[error("invalid attribute name \"{0}\"")]
    Name(String),
    #[error("invalid base64 in the value of {name}: {source}")]
    Base64 { name: String, source: base64::DecodeError },
    #[error("`{0}:<` takes its value from a URL; refused, because samla never reads files named by its input")]
    Url(String),
    #[error("the value of {0} is not valid UTF-8; binary values must be base64 (`{0}:: ...`)")]
    NotUtf8(String),
}

/// Splits a logical line `name: text` or `name:: base64` into the name and the value's bytes.
fn parse_line(line: &[u8]) -> Result<(&str, Vec<u8>), LineError> {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Err(LineError::NoColon(excerpt(line)));
    };
    let (name, rest) = (&line[..colon], &line[colon + 1..]);
    let name = std::str::from_utf8(name)
        .ok()
        .filter(|name| is_attribute_name(name))
        .ok_or_else(|| LineError::Name(excerpt(name)))?;
    let value = match rest.split_first() {
        Some((b':', encoded)) => {
            STANDARD.decode(encoded.trim_ascii()).map_err(|source| LineError::Base64 { name: name.to_string(), source })
        }
        Some((b'<', _)) => Err(LineError::Url(name.to_string())),
        _ => {
            let text = &rest[rest.iter().take_while(|&&b| b == b' ').count()..];
            match std::str::from_utf8(text) {
                Ok(_) => Ok(text.to_vec()),
                Err(_) => Err(LineError::NotUtf8(name.to_string())),
            }
        }
    };
    Ok((name, value?))
}

/// An attribute type (name or OID) with options, as AD writes them: `cn`, `1.2.840.113556.1.4.221`,
/// `member;range=0-1499`, `userCertificate;binary`.
fn is_attribute_name(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-;.=*_".contains(&b))
}

/// The start of some input, escaped, for an error message.
fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 60;
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", text[..cut].escape_debug()),
        None => text.escape_debug().to_string(),
    }
}

/// Presents the input as UTF-8: skips a UTF-8 byte order mark, and transcodes UTF-16LE
/// (`ldifde -u`, recognised by its byte order mark) chunk by chunk.
struct Decoder<R> {
    /// The bytes read while looking for a byte order mark, followed by the rest of the input.
    inner: Chain<Cursor<Vec<u8>>, R>,
    encoding: Encoding,
    utf16: Utf16,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// The byte order mark has not been looked for yet.
    Unknown,
    Utf8,
    Utf16Le,
}

/// Transcoding state for UTF-16LE input.
#[derive(Default)]
struct Utf16 {
    /// Transcoded bytes, of which the first `pos` have been consumed.
    out: Vec<u8>,
    pos: usize,
    /// The first byte of a code unit whose second byte is in the next chunk.
    odd_byte: Option<u8>,
    /// A high surrogate waiting for its low half.
    high_surrogate: Option<u16>,
    /// A line fold (`\r\n `) found between the halves of a surrogate pair; it is written out
    /// before the character, which keeps the lines and the unfolded text the same.
    held_fold: Vec<u8>,
    /// Why the input cannot be transcoded further; reported once `out` is drained.
    fault: Option<&'static str>,
}

const UNPAIRED_SURROGATE: &str = "invalid UTF-16LE: unpaired surrogate";

/// The refusal of an encoding the reader does not transcode, naming it and what to do.
fn unsupported(encoding: &str) -> io::Error {
    let reason = format!(
        "the file is {encoding}; save it as UTF-8 (UTF-16LE with a byte order mark, as `ldifde -u` writes it, is read too)"
    );
    io::Error::new(io::ErrorKind::InvalidData, reason)
}

impl<R: BufRead> Decoder<R> {
    fn new(reader: R) -> Self {
        Decoder { inner: Cursor::new(Vec::new()).chain(reader), encoding: Encoding::Unknown, utf16: Utf16::default() }
    }

    /// Reads the first bytes, decides the encoding and keeps whatever follows the byte order mark.
    fn sniff(&mut self) -> io::Result<()> {
        let (head, input) = self.inner.get_mut();
        let mut start = [0u8; 4];
        let mut len = 0;
        while len < start.len() {
            match input.read(&mut start[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let start = &start[..len];
        let (encoding, bom_len) = match start {
            [0xEF, 0xBB, 0xBF, ..] => (Encoding::Utf8, 3),
            [0xFF, 0xFE, ..] => (Encoding::Utf16Le, 2),
            [0xFE, 0xFF, ..] => return Err(unsupported("UTF-16BE")),
            // A NUL next to the first character: LDIF starts with text (`dn`, `version`, `#`),
            // so this is UTF-16 without a byte order mark, which would read as "d\0n\0".
            [first, 0, ..] if *first != 0 => return Err(unsupported("UTF-16LE without a byte order mark")),
            [0, second, ..] if *second != 0 => return Err(unsupported("UTF-16BE without a byte order mark")),
            _ => (Encoding::Utf8, 0),
        };
        head.get_mut().extend_from_slice(&start[bom_len..]);
        self.encoding = encoding;
        Ok(())
    }

    /// Transcodes the next chunk unless `out` still holds unconsumed bytes; `out` stays empty
    /// only at the end of the input.
    fn transcode(&mut self) -> io::Result<()> {
        let state = &mut self.utf16;
        while state.pos == state.out.len() {
            if let Some(reason) = state.fault {
                return Err(io::Error::new(io::ErrorKind::InvalidData, reason));
            }
            state.out.clear();
            state.pos = 0;
            let chunk = self.inner.fill_buf()?;
            if chunk.is_empty() {
                if state.odd_byte.is_none() && state.high_surrogate.is_none() {
                    return Ok(());
                }
                state.fault = Some("the UTF-16LE input ends in the middle of a character");
                continue;
            }
            let mut used = 0;
            for &byte in chunk {
                used += 1;
                if let Err(reason) = state.push_byte(byte) {
                    state.fault = Some(reason);
                    break;
                }
            }
            self.inner.consume(used);
        }
        Ok(())
    }
}

impl Utf16 {
    fn push_byte(&mut self, byte: u8) -> Result<(), &'static str> {
        match self.odd_byte.take() {
            None => {
                self.odd_byte = Some(byte);
                Ok(())
            }
            Some(first) => self.push_unit(u16::from_le_bytes([first, byte])),
        }
    }

    fn push_unit(&mut self, unit: u16) -> Result<(), &'static str> {
        let Some(high) = self.high_surrogate else {
            return match unit {
                0xD800..=0xDBFF => {
                    self.high_surrogate = Some(unit);
                    Ok(())
                }
                _ => push_code_point(&mut self.out, u32::from(unit)),
            };
        };
        match (self.held_fold.as_slice(), unit) {
            (_, 0xDC00..=0xDFFF) => {
                self.out.append(&mut self.held_fold);
                self.high_surrogate = None;
                let code = 0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                return push_code_point(&mut self.out, code);
            }
            ([], 0x0D) => self.held_fold.push(b'\r'),
            ([] | [b'\r'], 0x0A) => self.held_fold.push(b'\n'),
            ([.., b'\n'], 0x20) => self.held_fold.push(b' '),
            _ => return Err(UNPAIRED_SURROGATE),
        }
        Ok(())
    }
}

/// Appends `code` as UTF-8; a lone surrogate is not a character and is an error.
fn push_code_point(out: &mut Vec<u8>, code: u32) -> Result<(), &'static str> {
    let c = char::from_u32(code).ok_or(UNPAIRED_SURROGATE)?;
    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    Ok(())
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Decoder<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.encoding == Encoding::Unknown {
            self.sniff()?;
        }
        if self.encoding == Encoding::Utf16Le {
            self.transcode()?;
            return Ok(&self.utf16.out[self.utf16.pos..]);
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if self.encoding == Encoding::Utf16Le {
            self.utf16.pos = (self.utf16.pos + amount).min(self.utf16.out.len());
        } else {
            self.inner.consume(amount);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use proptest::prelude::*;

    use super::*;

    fn read_all(input: &[u8]) -> Vec<Result<RawEntry, LdifError>> {
        LdifReader::new(input).collect()
    }

    fn entries(input: &[u8]) -> Vec<RawEntry> {
        read_all(input).into_iter().collect::<Result<_, _>>().unwrap_or_else(|e| panic!("unexpected error: {e}"))
    }

    /// The error `input` ends with.
    fn error(input: &[u8]) -> LdifError {
        match read_all(input).pop() {
            Some(Err(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn entry(dn: &str, attrs: &[(&str, &[u8])]) -> RawEntry {
        let mut entry = RawEntry::new(dn);
        for (name, value) in attrs {
            entry.push(name, value.to_vec());
        }
        entry
    }

    fn utf16le(text: &str) -> Vec<u8> {
        let mut out = vec![0xFF, 0xFE];
        out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        out
    }

    #[test]
    fn reads_records_with_version_comments_and_blank_lines() {
        let input = b"version: 1\n\
            \n\
            # exported by ldifde\n\
            # a folded\n\
            \x20 comment\n\
            dn: CN=Anna,OU=Users,DC=ale,DC=se\n\
            changetype: add\n\
            objectClass: top\n\
            objectClass: user\n\
            # a comment inside a record\n\
            cn: Anna\n\
            \n\
            \n\
            \n\
            dn: CN=Bo,OU=Users,DC=ale,DC=se\n\
            cn: Bo\n";
        assert_eq!(
            entries(input),
            vec![
                entry(
                    "CN=Anna,OU=Users,DC=ale,DC=se",
                    &[("objectClass", b"top"), ("objectClass", b"user"), ("cn", b"Anna")]
                ),
                entry("CN=Bo,OU=Users,DC=ale,DC=se", &[("cn", b"Bo")]),
            ]
        );
    }

    #[test]
    fn final_line_ending_is_optional() {
        let expected = vec![entry("CN=a", &[("cn", b"a")]), entry("CN=b", &[("cn", b"b")])];
        assert_eq!(entries(b"dn: CN=a\ncn: a\n\ndn: CN=b\ncn: b"), expected);
        assert_eq!(entries(b"dn: CN=a\ncn: a\n\ndn: CN=b\ncn: b\n"), expected);
        assert_eq!(entries(b"dn: CN=a\ncn: a\n\ndn: CN=b\ncn: b\n\n\n"), expected);
    }

    #[test]
    fn empty_inputs_have_no_entries() {
        for input in [&b""[..], b"\n\n", b"version: 1\n", b"# only a comment", b"\xEF\xBB\xBF", b"\xFF\xFE"] {
            assert_eq!(entries(input), vec![], "{input:?}");
        }
    }

    #[test]
    fn crlf_line_endings() {
        let input = b"version: 1\r\n\r\ndn: CN=a\r\ncn: x\r\ndescription: long\r\n  text\r\n\r\ndn: CN=b\r\ncn: y";
        assert_eq!(
            entries(input),
            vec![entry("CN=a", &[("cn", b"x"), ("description", b"long text")]), entry("CN=b", &[("cn", b"y")])]
        );
    }

    #[test]
    fn folded_lines_are_joined() {
        // The fold splits the two bytes of "Å", a base64 value, and keeps the spaces after the first.
        let input = b"dn: CN=\xC3\n \x85sa,DC=x\nobjectGUID:: AAECAwQFBgcI\n CQoLDA0ODw==\ndescription: one\n   two\nc\n n: folded name\n";
        assert_eq!(
            entries(input),
            vec![entry(
                "CN=Åsa,DC=x",
                &[
                    ("objectGUID", &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]),
                    ("description", b"one  two"),
                    ("cn", b"folded name"),
                ]
            )]
        );
    }

    #[test]
    fn base64_and_empty_values() {
        let input = b"dn:: Q049w4VzYSDDlmJlcmcsREM9YWxlLERDPXNl\n\
            objectSid:: AQUAAAAAAAUVAAAA\n\
            givenName:: w4VzYQ==\n\
            description:\n\
            info::\n\
            sn:    spaced  \n";
        let got = entries(input);
        assert_eq!(got.len(), 1);
        let e = &got[0];
        assert_eq!(e.dn, "CN=Åsa Öberg,DC=ale,DC=se");
        assert_eq!(e.values("objectSid").collect::<Vec<_>>(), vec![&[1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0][..]]);
        assert_eq!(e.values("givenName").collect::<Vec<_>>(), vec!["Åsa".as_bytes()]);
        assert_eq!(e.values("description").collect::<Vec<_>>(), vec![&b""[..]]);
        assert_eq!(e.values("info").collect::<Vec<_>>(), vec![&b""[..]]);
        assert_eq!(e.values("sn").collect::<Vec<_>>(), vec![&b"spaced  "[..]]);
    }

    #[test]
    fn attribute_options_are_kept_as_written() {
        let input = b"dn: CN=g\nmember;range=0-1499: CN=a\nmember;range=0-1499: CN=b\nuserCertificate;binary:: AQID\n";
        let got = entries(input);
        assert_eq!(
            got[0].attrs,
            vec![
                ("member;range=0-1499".to_string(), vec![b"CN=a".to_vec(), b"CN=b".to_vec()]),
                ("userCertificate;binary".to_string(), vec![vec![1, 2, 3]]),
            ]
        );
    }

    #[test]
    fn url_values_are_refused() {
        let e = error(b"dn: CN=a\ncn: a\njpegPhoto:< file:///etc/passwd\n");
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("URL"), "{e}");
    }

    #[test]
    fn change_records_are_refused() {
        for kind in ["modify", "delete", "modrdn", "moddn"] {
            let e = error(format!("dn: CN=a\nchangetype: {kind}\nreplace: cn\n").as_bytes());
            assert_eq!(e.line, 2);
            assert_eq!(e.reason, format!("changetype: {kind} records are changes, not directory content"));
        }
    }

    #[test]
    fn controls_are_refused() {
        let e = error(b"dn: CN=a\ncontrol: 1.2.840.113556.1.4.805 true\nchangetype: delete\n");
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("control"), "{e}");
    }

    #[test]
    fn utf8_byte_order_mark_is_skipped() {
        assert_eq!(
            entries("\u{FEFF}dn: CN=Åsa\ncn: Åsa\n".as_bytes()),
            vec![entry("CN=Åsa", &[("cn", "Åsa".as_bytes())])]
        );
    }

    #[test]
    fn utf16le_is_transcoded() {
        // A surrogate pair split by a fold, as a fold counting UTF-16 units would leave it.
        let mut input = utf16le("version: 1\r\n\r\ndn: CN=Åsa Öberg,DC=ale\r\ndescription: smile ");
        input.extend(0xD83Du16.to_le_bytes());
        input.extend(utf16le("\r\n ").split_off(2));
        input.extend(0xDE00u16.to_le_bytes());
        input.extend(utf16le(" ok\r\n\r\ndn: CN=b\r\ncn: b\r\n").split_off(2));
        let expected = vec![
            entry("CN=Åsa Öberg,DC=ale", &[("description", "smile \u{1F600} ok".as_bytes())]),
            entry("CN=b", &[("cn", b"b")]),
        ];
        assert_eq!(entries(&input), expected);
        for capacity in [1, 2, 3, 7] {
            let got: Vec<_> =
                LdifReader::new(BufReader::with_capacity(capacity, &input[..])).collect::<Result<_, _>>().unwrap();
            assert_eq!(got, expected, "capacity {capacity}");
        }
    }

    #[test]
    fn broken_utf16_is_an_error_on_its_line() {
        let mut input = utf16le("dn: CN=a\ncn: a\ndescription: ");
        input.extend(0xDC00u16.to_le_bytes());
        assert_eq!(error(&input).line, 3);
        let mut input = utf16le("dn: CN=a\ncn: ");
        input.extend(0xD800u16.to_le_bytes());
        input.extend(utf16le("x\n").split_off(2));
        assert_eq!(error(&input).line, 2);
        let mut input = utf16le("dn: CN=a\n");
        input.push(b'c');
        let e = error(&input);
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("middle of a character"), "{e}");
        let e = error(b"\xFE\xFF\0d\0n");
        assert_eq!(e.line, 1);
        assert!(e.reason.contains("UTF-16BE"), "{e}");
    }

    #[test]
    fn utf16_without_a_byte_order_mark_is_named() {
        let text = "dn: CN=a\ncn: a\n";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        for (input, encoding) in
            [(le, "UTF-16LE without a byte order mark"), (be, "UTF-16BE without a byte order mark")]
        {
            let e = error(&input);
            assert_eq!(e.line, 1);
            assert!(e.reason.contains(encoding) && e.reason.contains("save it as UTF-8"), "{e}");
        }
        let e =
            error(&[&b"\xFE\xFF"[..], &text.encode_utf16().flat_map(u16::to_be_bytes).collect::<Vec<_>>()].concat());
        assert!(e.reason.contains("the file is UTF-16BE; save it as UTF-8"), "{e}");
    }

    #[test]
    fn each_record_says_where_it_starts() {
        let mut reader = LdifReader::new(&b"version: 1\n\n# c\ndn: CN=a\ncn: a\n\n\ndn: CN=b\n"[..]);
        assert_eq!(reader.record_line(), 0);
        reader.next().unwrap().unwrap();
        assert_eq!(reader.record_line(), 4);
        reader.next().unwrap().unwrap();
        assert_eq!(reader.record_line(), 8);
    }

    #[test]
    fn invalid_utf8_text_is_an_error_on_its_line() {
        let e = error(b"dn: CN=a\ncn: ok\ndescription: caf\xE9\n");
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("description is not valid UTF-8"), "{e}");
        let e = error(b"dn: CN=a\n\ndn:: /w==\n");
        assert_eq!((e.line, e.reason.as_str()), (3, "the dn is not valid UTF-8"));
    }

    #[test]
    fn record_not_starting_with_dn() {
        let e = error(b"dn: CN=a\ncn: a\n\ncn: b\ndn: CN=b\n");
        assert_eq!(e.line, 4);
        assert!(e.reason.contains("instead of `dn:`"), "{e}");
    }

    #[test]
    fn attribute_before_any_dn() {
        let e = error(b"version: 1\n# hello\ncn: a\ndn: CN=a\n");
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("before any `dn:`"), "{e}");
    }

    #[test]
    fn line_without_colon_counts_folded_lines_and_comments() {
        let e = error(b"dn: CN=a\n# a\n  folded comment\ncn: x\n  y\n  z\nno colon here\n");
        assert_eq!(e.line, 7);
        assert!(e.reason.contains("without a colon"), "{e}");
    }

    #[test]
    fn invalid_base64_is_reported_where_the_line_starts() {
        let e = error(b"dn: CN=a\nobjectGUID:: AAEC\n AwQ*\n");
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("invalid base64 in the value of objectGUID"), "{e}");
    }

    #[test]
    fn continuation_with_nothing_to_continue() {
        assert_eq!(error(b" dn: CN=a\n").line, 1);
        assert_eq!(error(b"dn: CN=a\ncn: a\n\n cn: b\n").line, 4);
    }

    #[test]
    fn other_malformed_lines() {
        let e = error(b"dn: CN=a\ncn: a\ndn: CN=b\n");
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("second `dn:`"), "{e}");
        let e = error(b"dn: CN=a\ncommon name: a\n");
        assert_eq!((e.line, e.reason.as_str()), (2, "invalid attribute name \"common name\""));
        assert_eq!(error(b"version: 2\n").line, 1);
    }

    #[test]
    fn iteration_ends_after_the_first_error() {
        let mut reader = LdifReader::new(&b"dn: CN=a\n\ncn: x\n\ndn: CN=b\n"[..]);
        assert_eq!(reader.next().unwrap().unwrap(), RawEntry::new("CN=a"));
        assert_eq!(reader.next().unwrap().unwrap_err().line, 3);
        assert!(reader.next().is_none());
        assert!(reader.next().is_none());
    }

    /// Reads `input` in chunks of `capacity` bytes to the end, checking the error contract.
    fn read_to_end(input: &[u8], capacity: usize) {
        let mut reader = LdifReader::new(BufReader::with_capacity(capacity, input));
        let mut count = 0;
        while let Some(result) = reader.next() {
            count += 1;
            assert!(count <= input.len());
            if let Err(e) = result {
                assert!(e.line >= 1);
                assert!(reader.next().is_none());
            }
        }
    }

    const FRAGMENTS: &[&str] = &[
        "dn: CN=a,DC=x",
        "dn:: Q049w4VzYQ==",
        "dn:",
        "cn: x",
        "cn::",
        "objectGUID:: AAECAw==",
        "version: 1",
        "changetype: add",
        "changetype: modify",
        "control: 1.2",
        "member;range=0-*: y",
        "photo:< file:///x",
        "#",
        "# c",
        "\n",
        "\n",
        "\n",
        "\r\n",
        "\r",
        " ",
        "  ",
        ":",
        "::",
        ":<",
        "=",
        "Å",
        "\u{FEFF}",
        "\u{1F600}",
        "\0",
        "-",
        "a",
        "*",
    ];

    /// Encodes `text` as UTF-8 (0), UTF-8 with a byte order mark (1) or UTF-16LE (2).
    fn encode(text: &str, encoding: u8) -> Vec<u8> {
        match encoding {
            0 => text.as_bytes().to_vec(),
            1 => [&b"\xEF\xBB\xBF"[..], text.as_bytes()].concat(),
            _ => utf16le(text),
        }
    }

    /// Writes `name: value` (or `name:: base64`) folded at `width`, at character boundaries if asked.
    fn push_line(out: &mut Vec<u8>, name: &str, value: &[u8], base64: bool, width: usize, eol: &str, char_folds: bool) {
        let text = std::str::from_utf8(value)
            .ok()
            .filter(|t| !base64 && !t.contains(['\0', '\r', '\n']) && !t.starts_with([' ', ':', '<']));
        let line = match text {
            Some(text) => format!("{name}: {text}"),
            None => format!("{name}:: {}", STANDARD.encode(value)),
        };
        let mut start = 0;
        while start < line.len() {
            let mut end = (start + if start == 0 { width } else { width - 1 }).min(line.len());
            if start > 0 {
                out.push(b' ');
            }
            if char_folds {
                while !line.is_char_boundary(end) {
                    end += 1;
                }
            }
            out.extend_from_slice(&line.as_bytes()[start..end]);
            out.extend_from_slice(eol.as_bytes());
            start = end;
        }
    }

    type Attrs = Vec<(&'static str, Vec<u8>, bool)>;

    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            any::<String>().prop_map(String::into_bytes),
            "[a-zA-Z0-9 =,.åäöÅÄÖ-]{0,30}".prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..40),
        ]
    }

    fn attrs() -> impl Strategy<Value = Attrs> {
        let names = prop::sample::select(vec![
            "cn",
            "CN",
            "objectClass",
            "objectGUID",
            "displayName",
            "member;range=0-1499",
            "userCertificate;binary",
            "1.2.840.113556.1.4.221",
        ]);
        prop::collection::vec((names, value(), any::<bool>()), 0..8)
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            prefix in prop::sample::select(vec![&b""[..], b"\xEF\xBB\xBF", b"\xFF\xFE", b"\xFE\xFF"]),
            body in prop::collection::vec(any::<u8>(), 0..400),
            capacity in 1usize..64,
        ) {
            read_to_end(&[prefix, &body].concat(), capacity);
        }

        #[test]
        fn ldif_like_text_never_panics(
            fragments in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..80),
            encoding in 0u8..3,
            capacity in 1usize..64,
        ) {
            read_to_end(&encode(&fragments.concat(), encoding), capacity);
        }

        #[test]
        fn rendered_entries_read_back_identically(
            records in prop::collection::vec((any::<String>(), any::<bool>(), attrs()), 0..5),
            version in any::<bool>(),
            width in 2usize..80,
            crlf in any::<bool>(),
            encoding in 0u8..3,
            capacity in 1usize..200,
        ) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = Vec::new();
            if version {
                text.extend_from_slice(format!("version: 1{eol}{eol}").as_bytes());
            }
            let mut expected = Vec::new();
            for (i, (dn, dn_base64, attrs)) in records.iter().enumerate() {
                if i > 0 {
                    text.extend_from_slice(eol.as_bytes());
                }
                let mut entry = RawEntry::new(dn.clone());
                push_line(&mut text, "dn", dn.as_bytes(), *dn_base64, width, eol, encoding == 2);
                for (name, value, base64) in attrs {
                    push_line(&mut text, name, value, *base64, width, eol, encoding == 2);
                    entry.push(name, value.clone());
                }
                expected.push(entry);
            }
            let input = match encoding {
                0 => text,
                1 => [&b"\xEF\xBB\xBF"[..], &text].concat(),
                _ => utf16le(std::str::from_utf8(&text).unwrap()),
            };
            let got: Result<Vec<_>, _> = LdifReader::new(BufReader::with_capacity(capacity, &input[..])).collect();
            prop_assert_eq!(got.map_err(|e| e.to_string()), Ok(expected));
        }
    }
}
