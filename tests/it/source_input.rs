//! What a source must not hand on (issue 29): values with control characters, an object
//! twice, an export in another encoding; and configuration that is wrong (a password that
//! cannot be read, a samla.toml that is not UTF-8) said with exit 2 before anything is read.

use crate::support::{IDS, Project, samla, stderr};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::path::Path;

/// A project reading the ldifde flavour of a small sample estate, not yet discovered.
fn estate_project() -> Project {
    let sources: String =
        IDS.iter().map(|id| format!("[[source]]\nname = \"{id}\"\nldif = \"estate/{id}.ldif\"\n\n")).collect();
    let p = Project::new(&sources);
    samla()
        .args(["estate", "generate", "--flavor", "ldifde", "--scale", "0.05", "--out"])
        .arg(p.path().join("estate"))
        .assert()
        .success();
    p
}

/// One record of an LDIF: its text (without the blank line after it), its DN and the line of
/// its `dn:`.
struct Record {
    text: String,
    dn: String,
    line: usize,
}

/// The `nth` record (from 0) with a DN written as text on one line that has the line `needle`.
fn record(ldif: &Path, needle: &str, nth: usize) -> Record {
    let text = std::fs::read_to_string(ldif).unwrap();
    let mut line = 1;
    let mut found = Vec::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines();
        let (first, second) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
        if first.starts_with("dn: ") && !second.starts_with(' ') && block.lines().any(|l| l == needle) {
            found.push(Record { text: block.to_string(), dn: first[4..].to_string(), line });
        }
        line += block.matches('\n').count() + 2;
    }
    found.into_iter().nth(nth).unwrap_or_else(|| panic!("no record {nth} with {needle:?} in {}", ldif.display()))
}

/// Replaces line `from` of `rec` by `to` (one line for one, so no line moves) in the file.
fn edit(ldif: &Path, rec: &Record, from: &str, to: &str) {
    let text = std::fs::read_to_string(ldif).unwrap();
    let changed: Vec<&str> = rec.text.lines().map(|l| if l == from { to } else { l }).collect();
    std::fs::write(ldif, text.replacen(&rec.text, &changed.join("\n"), 1)).unwrap();
}

fn snapshots_of(p: &Project, municipality: &str) -> usize {
    let out = p.samla(&["snapshots", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list.as_array().unwrap().iter().filter(|s| s["municipality"] == municipality).count()
}

/// Runs discover, expecting exit 2; returns stderr.
fn refused(p: &Project) -> String {
    let out = p.samla(&["discover", "-q"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    err
}

#[test]
fn control_characters_in_values_are_refused_at_discover_naming_every_place_dn_and_attribute() {
    let p = estate_project();
    p.samla(&["discover", "-q"]).assert().success();
    let before = p.snapshot("bjuv");
    let ldif = p.path().join("estate/bjuv.ldif");
    // A NUL, written as ldifde writes a value it cannot write as text: base64.
    let nul = record(&ldif, "department: Ekonomi", 0);
    edit(&ldif, &nul, "department: Ekonomi", &format!("department:: {}", STANDARD.encode("Eko\0nomi")));
    // A raw control character (ESC) in a text line, and a line break where it is text.
    let esc = record(&ldif, "department: HR", 0);
    edit(&ldif, &esc, "department: HR", "department: H\x1bR");
    // (The first record with this department has a NUL in it now.)
    let multi_line = record(&ldif, "department: Ekonomi", 0);
    let description = format!("description:: {}", STANDARD.encode("Rad ett\r\nRad två"));
    edit(&ldif, &multi_line, "company: Bjuvs kommun", &description);

    let err = refused(&p);
    assert!(err.contains("samla: bjuv: ") && err.contains("2 value(s) hold control characters"), "{err}");
    for (rec, what, value) in
        [(&nul, "U+0000 (NUL) at character 4", "Eko\\0nomi"), (&esc, "U+001B (ESC) at character 2", "H\\u{1b}R")]
    {
        let expected = format!(
            "bjuv.ldif:{}: {}: department: holds the control character {what} of \"{value}\"",
            rec.line, rec.dn
        );
        assert!(err.contains(&expected), "{expected:?} not in {err}");
    }
    assert!(!err.contains(&multi_line.dn), "a line break in a description is text: {err}");
    assert_eq!(snapshots_of(&p, "bjuv"), 1, "no new snapshot of bjuv");
    assert_eq!(p.snapshot("bjuv"), before);
}

#[test]
fn a_second_record_of_an_object_already_read_is_refused_with_the_lines_of_both() {
    let p = estate_project();
    let ldif = p.path().join("estate/bjuv.ldif");
    let original = std::fs::read_to_string(&ldif).unwrap();
    let first = record(&ldif, "department: Ekonomi", 0);
    let appended_at = original.trim_end().matches('\n').count() + 3;
    let guid = first.text.lines().find(|l| l.starts_with("objectGUID::")).unwrap();
    let new_guid = format!("objectGUID:: {}", STANDARD.encode([7u8; 16]));
    let other_dn = first.text.replacen(&format!("dn: {}", first.dn), "dn: CN=Någon annan,DC=bjuv,DC=test", 1);
    for (second, what) in
        [(first.text.replacen(guid, &new_guid, 1), "DN"), (first.text.clone(), "DN"), (other_dn, "objectGUID")]
    {
        std::fs::write(&ldif, format!("{}\n\n{second}\n", original.trim_end())).unwrap();
        let err = refused(&p);
        assert!(err.contains(&format!("bjuv.ldif:{appended_at}: ")), "{err}");
        assert!(err.contains(&format!("a second record with the {what} of the record at ")), "{err}");
        assert!(err.contains(&format!("bjuv.ldif:{}; an export holds each object once", first.line)), "{err}");
        assert!(!err.contains("samla.db") && !err.contains("UNIQUE"), "the LDIF is at fault, not the state: {err}");
        assert_eq!(snapshots_of(&p, "bjuv"), 0);
    }
}

#[test]
fn an_ldif_in_utf16_is_refused_naming_the_encoding() {
    let p = Project::new("[[source]]\nname = \"bjuv\"\nldif = \"bjuv.ldif\"\n");
    let text = "version: 1\r\n\r\ndn: OU=IT,DC=bjuv,DC=test\r\nobjectClass: organizationalUnit\r\n";
    let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    for (bytes, encoding) in [
        (le, "UTF-16LE without a byte order mark"),
        ([&[0xFE, 0xFF][..], &be].concat(), "UTF-16BE"),
        (be, "UTF-16BE without a byte order mark"),
    ] {
        std::fs::write(p.path().join("bjuv.ldif"), bytes).unwrap();
        let err = refused(&p);
        assert!(err.contains("bjuv.ldif:1: "), "{err}");
        assert!(err.contains(&format!("the file is {encoding}; save it as UTF-8")), "{err}");
        assert!(!err.contains("invalid attribute name"), "{err}");
    }
}

#[test]
fn a_password_that_cannot_be_read_is_configuration_said_before_anything_is_read() {
    let ldif = "version: 1\n\ndn: OU=IT,DC=bjuv,DC=test\nobjectClass: organizationalUnit\nobjectGUID:: ESIzRFVmd4iZqrvM3e7/AA==\n";
    for (password, needle) in [
        (
            "password_env = \"SAMLA_IT_NO_SUCH_PASSWORD\"",
            "klippan: environment variable SAMLA_IT_NO_SUCH_PASSWORD is not set",
        ),
        ("password_file = \"no-such.pw\"", "klippan: secret file "),
    ] {
        let p = Project::new(&format!(
            "[[source]]\nname = \"bjuv\"\nldif = \"bjuv.ldif\"\n\n[[source]]\nname = \"klippan\"\n[source.ldap]\n\
             url = \"ldap://127.0.0.1:9\"\ntls = \"plain\"\nbase_dn = \"DC=klippan,DC=test\"\nbind_dn = \"CN=x\"\n{password}\n"
        ));
        std::fs::write(p.path().join("bjuv.ldif"), ldif).unwrap();
        let out = p.samla(&["discover"]).env_remove("SAMLA_IT_NO_SUCH_PASSWORD").output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.starts_with("samla: ") && err.contains(needle), "{needle:?} not in {err}");
        assert!(out.stdout.is_empty(), "nothing printed before the error: {}", String::from_utf8_lossy(&out.stdout));
        assert!(!p.path().join("state/samla.db").exists() || snapshots_of(&p, "bjuv") == 0, "nothing read");
    }
}

#[test]
fn a_samla_toml_that_is_not_utf8_is_refused_at_its_first_bad_byte() {
    let p = Project::new("[[source]]\nname = \"bjuv\"\nldif = \"bjuv.ldif\"\n");
    let mut text = std::fs::read(p.config()).unwrap();
    text.extend_from_slice(b"# Kommunens kontakt: Bj\xF6rn\n");
    std::fs::write(p.config(), &text).unwrap();
    let line = text.iter().filter(|&&b| b == b'\n').count();
    for command in [&["discover"][..], &["snapshots"]] {
        let out = p.samla(command).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("samla.toml:{line}:24: not UTF-8 text (byte 0xF6)")), "{err}");
    }
}
