//! The one pure step from a raw entry (bytes as read) to a typed [`DirectoryObject`].
//!
//! LDAP and LDIF sources both end here, so a live AD, Samba, slapd and an `ldifde` export
//! are read the same way. Every failure names the entry's DN and the attribute, so an
//! administrator can find the object in ADUC; nothing is guessed or silently dropped.

use super::object::{DirectoryObject, ObjectKind};
use super::time::{AdTime, TimeError};
use super::uac::{GroupType, UserAccountControl};
use super::{Dn, ObjectGuid, RawEntry, Sid};
use std::cell::Cell;

/// The attributes samla asks a directory for: everything later stages need.
pub const ATTRIBUTES: &[&str] = &[
    "objectClass",
    "objectGUID",
    "objectSid",
    "sAMAccountName",
    "userPrincipalName",
    "cn",
    "givenName",
    "sn",
    "displayName",
    "mail",
    "proxyAddresses",
    "department",
    "company",
    "title",
    "description",
    "employeeID",
    "employeeNumber",
    "manager",
    "memberOf",
    "member",
    "userAccountControl",
    "accountExpires",
    "lastLogonTimestamp",
    "whenCreated",
    "whenChanged",
    "pwdLastSet",
    "groupType",
    "isCriticalSystemObject",
    "extensionAttribute1",
    "extensionAttribute2",
    "extensionAttribute3",
    "extensionAttribute4",
    "extensionAttribute5",
    "extensionAttribute6",
    "extensionAttribute7",
    "extensionAttribute8",
    "extensionAttribute9",
    "extensionAttribute10",
    "extensionAttribute11",
    "extensionAttribute12",
    "extensionAttribute13",
    "extensionAttribute14",
    "extensionAttribute15",
];

/// The attributes of [`ATTRIBUTES`] whose values are bytes, not text: the rule on control
/// characters ([`refused_text`]) does not apply to them. (Other binary attributes an export
/// holds, such as `thumbnailPhoto` or `mS-DS-ConsistencyGuid`, are not read at all.)
pub const BINARY: &[&str] = &["objectGUID", "objectSid"];

/// Text attributes that may hold several lines: in them, and only in them, a tab, a line
/// feed and a carriage return are text. Of these samla reads `description`; the others are
/// listed so the rule stays the same when it reads them.
pub const MULTI_LINE: &[&str] = &["description", "info", "streetAddress", "postalAddress", "homePostalAddress"];

/// The LDAP filter that selects what [`convert`] accepts (computers are `user`s too in AD).
pub const FILTER: &str = "(|(&(objectClass=user)(!(objectClass=computer)))(objectClass=group)(objectClass=contact)(objectClass=organizationalUnit))";

/// Why an entry could not be read, naming the entry and the attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{dn}: {attribute}: {reason}")]
pub struct ConvertError {
    pub dn: String,
    pub attribute: String,
    pub reason: String,
}

/// The one rule on characters in text, for every source: a text value (and the DN) holds no
/// C0 control character (U+0000 to U+001F) and no DEL (U+007F), except a tab, a line feed or
/// a carriage return in a [`MULTI_LINE`] attribute. No target stores them faithfully (Graph
/// refuses a NUL, LDIF and CSV readers cut at one) and no person typed them on purpose.
/// Returns every value of `raw` that breaks it, each naming the DN and the attribute; nothing
/// for an entry samla does not read, for binary attributes ([`BINARY`]) and for attributes
/// outside [`ATTRIBUTES`]. Values that are not UTF-8 are left to [`convert`].
pub fn refused_text(raw: &RawEntry) -> Vec<ConvertError> {
    let mut refused = Vec::new();
    if kind_of(raw).is_none() {
        return refused;
    }
    let mut check = |attribute: &str, text: &str| {
        let multi_line = MULTI_LINE.iter().any(|m| m.eq_ignore_ascii_case(attribute));
        let bad = text
            .chars()
            .enumerate()
            .find(|(_, c)| (c.is_ascii_control()) && !(multi_line && matches!(c, '\t' | '\n' | '\r')));
        if let Some((at, c)) = bad {
            let reason = format!(
                "holds the control character U+{:04X} ({}) at character {} of \"{}\"; fix the value in the directory",
                u32::from(c),
                control_name(c),
                at + 1,
                shown(text, 80)
            );
            refused.push(ConvertError { dn: shown(&raw.dn, usize::MAX), attribute: attribute.to_string(), reason });
        }
    };
    // Most values hold no control byte at all: only those are looked at further.
    let has_control = |bytes: &[u8]| bytes.iter().any(u8::is_ascii_control);
    if has_control(raw.dn.as_bytes()) {
        check("distinguishedName", &raw.dn);
    }
    for (name, values) in &raw.attrs {
        let mut suspects = values.iter().filter(|v| has_control(v)).peekable();
        if suspects.peek().is_none() {
            continue;
        }
        let base = name.split(';').next().unwrap_or(name);
        let read = ATTRIBUTES.iter().any(|a| a.eq_ignore_ascii_case(base));
        if !read || BINARY.iter().any(|b| b.eq_ignore_ascii_case(base)) {
            continue;
        }
        for text in suspects.filter_map(|v| std::str::from_utf8(v).ok()) {
            check(name, text);
        }
    }
    refused
}

/// `text` for a message: control characters escaped (`\0`, `\u{1b}`), cut after `max` characters.
pub fn shown(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        match c.is_control() {
            true => out.extend(c.escape_debug()),
            false => out.push(c),
        }
    }
    out
}

/// The usual name of a control character, for a message.
fn control_name(c: char) -> &'static str {
    const C0: [&str; 32] = [
        "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "TAB", "LF", "VT", "FF", "CR", "SO", "SI", "DLE",
        "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US",
    ];
    C0.get(c as usize).copied().unwrap_or("DEL")
}

/// Converts one raw entry. Returns `Ok(None)` for entries samla does not read (computers,
/// containers, the domain head), which a subtree search or an export also contains.
pub fn convert(raw: &RawEntry) -> Result<Option<DirectoryObject>, ConvertError> {
    Ok(convert_counted(raw)?.map(|(obj, _)| obj))
}

/// [`convert`], with the number of text values (the DN included) that were not in NFC.
///
/// Every text value is normalised to NFC here, the one place both readers (LDAP, LDIF) decode
/// values: a name stored decomposed ("A\u{30a}sa", as Mac clients and some imports write it)
/// reads as "Åsa", so the targets get what Outlook and Teams search for, and collisions and
/// same-person matching compare one form of a name. DNs too, so that member and manager DNs
/// still find their entries.
pub fn convert_counted(raw: &RawEntry) -> Result<Option<(DirectoryObject, u32)>, ConvertError> {
    let changed = Cell::new(0u32);
    let fail =
        |attribute: &str, reason: String| ConvertError { dn: raw.dn.clone(), attribute: attribute.to_string(), reason };
    let Some(kind) = kind_of(raw) else { return Ok(None) };
    if let Some(refused) = refused_text(raw).into_iter().next() {
        return Err(refused);
    }
    let dn = Dn::parse(&nfc(&raw.dn, &changed))
        .map_err(|e| fail("distinguishedName", format!("offset {}: {}", e.offset, e.reason)))?;
    let guid_bytes = single(raw, "objectGUID")?;
    let guid = match guid_bytes {
        Some(b) => ObjectGuid::from_ad_bytes(b).map_err(|e| fail("objectGUID", e.to_string()))?,
        None => return Err(fail("objectGUID", "missing: every object needs one, it is the anchor".into())),
    };
    let mut obj = DirectoryObject::new(kind, dn, guid);
    for (name, values) in &raw.attrs {
        let lower = name.to_ascii_lowercase();
        let field = Field { name, values, fail: &fail, changed: &changed };
        match lower.as_str() {
            "objectsid" => {
                obj.sid = field.one_bytes()?.map(Sid::from_ad_bytes).transpose().map_err(|e| field.err(e))?
            }
            "samaccountname" => obj.sam_account_name = field.text()?,
            "userprincipalname" => obj.user_principal_name = field.text()?,
            "cn" => obj.cn = field.text()?,
            "givenname" => obj.given_name = field.text()?,
            "sn" => obj.surname = field.text()?,
            "displayname" => obj.display_name = field.text()?,
            "mail" => obj.mail = field.text()?,
            "proxyaddresses" => obj.proxy_addresses = field.texts()?,
            "department" => obj.department = field.text()?,
            "company" => obj.company = field.text()?,
            "title" => obj.title = field.text()?,
            "description" => obj.description = field.text()?,
            "employeeid" => obj.employee_id = field.text()?,
            "employeenumber" => obj.employee_number = field.text()?,
            "manager" => obj.manager = field.text()?.map(|t| field.dn(&t)).transpose()?,
            "memberof" => obj.member_of = field.dns()?,
            "member" => obj.members = field.dns()?,
            "useraccountcontrol" => obj.user_account_control = field.parsed::<u32>()?.map(UserAccountControl),
            "grouptype" => obj.group_type = field.parsed::<i32>()?.map(GroupType),
            "accountexpires" => obj.account_expires = field.time(AdTime::from_filetime_text)?,
            "lastlogontimestamp" => obj.last_logon_timestamp = field.time(AdTime::from_filetime_text)?,
            "pwdlastset" => obj.pwd_last_set = field.time(AdTime::from_filetime_text)?,
            "whencreated" => obj.when_created = field.time(AdTime::from_generalized)?,
            "whenchanged" => obj.when_changed = field.time(AdTime::from_generalized)?,
            "iscriticalsystemobject" => {
                obj.critical_system_object = field.text()?.is_some_and(|t| t.eq_ignore_ascii_case("TRUE"))
            }
            other if other.contains(";range=") => {
                return Err(field.err("a ranged value list was not completed by the reader"));
            }
            other => {
                if let Some(n) = extension_attribute_number(other)
                    && let Some(v) = field.text()?
                {
                    obj.extension_attributes.insert(n, v);
                }
            }
        }
    }
    // Multi-valued attributes are sets: the order a server returns them in carries no
    // meaning, so it must not change a snapshot's hash.
    obj.members.sort_by_cached_key(Dn::key);
    obj.member_of.sort_by_cached_key(Dn::key);
    obj.proxy_addresses.sort();
    Ok(Some((obj, changed.get())))
}

/// `text` in Unicode normalisation form C, counted in `changed` when that changed it.
fn nfc(text: &str, changed: &Cell<u32>) -> String {
    use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};
    if is_nfc_quick(text.chars()) == IsNormalized::Yes {
        return text.to_string();
    }
    let normal: String = text.nfc().collect();
    if normal != text {
        changed.set(changed.get() + 1);
    }
    normal
}

/// `extensionAttribute7` -> 7; `None` for anything else (numbers outside 1-15 included).
pub fn extension_attribute_number(name: &str) -> Option<u8> {
    let n = name
        .get(..18)
        .filter(|p| p.eq_ignore_ascii_case("extensionAttribute"))
        .and_then(|_| name[18..].parse::<u8>().ok());
    n.filter(|n| (1..=15).contains(n))
}

fn kind_of(raw: &RawEntry) -> Option<ObjectKind> {
    let has = |class: &str| raw.values("objectClass").any(|v| v.eq_ignore_ascii_case(class.as_bytes()));
    if has("computer") {
        None
    } else if has("user") {
        Some(ObjectKind::User)
    } else if has("group") {
        Some(ObjectKind::Group)
    } else if has("contact") {
        Some(ObjectKind::Contact)
    } else if has("organizationalUnit") {
        Some(ObjectKind::OrganizationalUnit)
    } else {
        None
    }
}

/// The one value of a single-valued attribute, if present.
fn single<'a>(raw: &'a RawEntry, name: &str) -> Result<Option<&'a [u8]>, ConvertError> {
    let mut values = raw.values(name);
    let first = values.next();
    match values.count() {
        0 => Ok(first),
        n => Err(ConvertError {
            dn: raw.dn.clone(),
            attribute: name.to_string(),
            reason: format!("expected one value, got {}", n + 1),
        }),
    }
}

/// One attribute of the entry being converted, with its error context.
struct Field<'a, F: Fn(&str, String) -> ConvertError> {
    name: &'a str,
    values: &'a [Vec<u8>],
    fail: &'a F,
    /// Text values that were not in NFC (see [`nfc`]).
    changed: &'a Cell<u32>,
}

impl<F: Fn(&str, String) -> ConvertError> Field<'_, F> {
    fn err(&self, reason: impl ToString) -> ConvertError {
        (self.fail)(self.name, reason.to_string())
    }

    fn one_bytes(&self) -> Result<Option<&[u8]>, ConvertError> {
        match self.values {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            more => Err(self.err(format!("expected one value, got {}", more.len()))),
        }
    }

    /// The value as text, in NFC.
    fn utf8(&self, bytes: &[u8]) -> Result<String, ConvertError> {
        let text =
            std::str::from_utf8(bytes).map_err(|e| self.err(format!("not UTF-8 text (byte {})", e.valid_up_to())))?;
        Ok(nfc(text, self.changed))
    }

    fn text(&self) -> Result<Option<String>, ConvertError> {
        self.one_bytes()?.map(|b| self.utf8(b)).transpose()
    }

    fn texts(&self) -> Result<Vec<String>, ConvertError> {
        self.values.iter().map(|b| self.utf8(b)).collect()
    }

    fn dn(&self, text: &str) -> Result<Dn, ConvertError> {
        Dn::parse(text).map_err(|e| self.err(format!("{text:?} is not a DN (offset {}: {})", e.offset, e.reason)))
    }

    fn dns(&self) -> Result<Vec<Dn>, ConvertError> {
        self.values.iter().map(|b| self.dn(&self.utf8(b)?)).collect()
    }

    fn parsed<T: std::str::FromStr>(&self) -> Result<Option<T>, ConvertError> {
        match self.text()? {
            None => Ok(None),
            Some(t) => t.trim().parse().map(Some).map_err(|_| self.err(format!("{t:?} is not a number"))),
        }
    }

    fn time(&self, parse: fn(&str) -> Result<AdTime, TimeError>) -> Result<Option<AdTime>, ConvertError> {
        self.text()?.map(|t| parse(&t)).transpose().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dn: &str, attrs: &[(&str, &[u8])]) -> RawEntry {
        let mut raw = RawEntry::new(dn);
        for (n, v) in attrs {
            raw.push(n, v.to_vec());
        }
        raw
    }

    const GUID: &[u8] =
        &[0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];

    /// Every text read (the DN, names, member and manager DNs) is NFC: "A\u{30a}sa" as a Mac
    /// client or an import wrote it reads as "Åsa", and each value that changed is counted.
    #[test]
    fn text_is_normalised_to_nfc_on_read_and_each_changed_value_counted() {
        let nfd = "A\u{30a}sa";
        let raw = entry(
            &format!("CN={nfd} Berg,OU=Hemtja\u{308}nst,DC=x"),
            &[
                ("objectClass", b"user"),
                ("objectGUID", GUID),
                ("givenName", nfd.as_bytes()),
                ("sn", b"Berg"),
                ("displayName", format!("{nfd} Berg").as_bytes()),
                ("manager", "CN=O\u{308}la,DC=x".as_bytes()),
                ("department", "Hemtjänst".as_bytes()),
            ],
        );
        let (obj, changed) = convert_counted(&raw).unwrap().unwrap();
        assert_eq!(obj.dn.as_str(), "CN=Åsa Berg,OU=Hemtjänst,DC=x");
        assert_eq!(obj.given_name.as_deref(), Some("Åsa"));
        assert_eq!(obj.display_name.as_deref(), Some("Åsa Berg"));
        assert_eq!(obj.manager.as_ref().map(Dn::as_str), Some("CN=Öla,DC=x"));
        assert_eq!(obj.department.as_deref(), Some("Hemtjänst"));
        assert_eq!(changed, 4, "the DN, givenName, displayName and manager; sn and department were NFC");
        assert_eq!(convert(&raw).unwrap().unwrap(), obj);
    }

    #[test]
    fn a_user_with_swedish_name_and_escaped_dn() {
        let raw = entry(
            r"CN=Öberg\, Åsa,OU=Hemtjänst,OU=Socialförvaltningen,DC=bjuv,DC=test",
            &[
                ("objectClass", b"top"),
                ("objectClass", b"user"),
                ("objectGUID", GUID),
                ("sAMAccountName", b"asaobe"),
                ("givenName", "Åsa".as_bytes()),
                ("userAccountControl", b"514"),
                ("whenCreated", b"20240101000000.0Z"),
                ("accountExpires", b"9223372036854775807"),
                ("memberOf", b"CN=Alla\\, medarbetare,OU=Grupper,DC=bjuv,DC=test"),
                ("extensionAttribute3", b"KST-4711"),
                ("proxyAddresses", b"SMTP:asa.oberg@bjuv.se"),
                ("proxyAddresses", b"smtp:aoberg@bjuv.se"),
            ],
        );
        let obj = convert(&raw).unwrap().unwrap();
        assert_eq!(obj.kind, ObjectKind::User);
        assert_eq!(obj.guid.to_string(), "00112233-4455-6677-8899-aabbccddeeff");
        assert_eq!(obj.dn.ou_path(), ["Socialförvaltningen", "Hemtjänst"]);
        assert!(obj.user_account_control.unwrap().is_disabled());
        assert_eq!(obj.account_expires, Some(AdTime::NEVER));
        assert_eq!(obj.member_of[0].leaf_value().as_deref(), Some("Alla, medarbetare"));
        assert_eq!(obj.extension_attributes.get(&3).map(String::as_str), Some("KST-4711"));
        assert_eq!(obj.proxy_addresses.len(), 2);
        let json = serde_json::to_string(&obj).unwrap();
        let back: DirectoryObject = serde_json::from_str(&json).unwrap();
        assert_eq!(back, obj);
    }

    #[test]
    fn value_order_does_not_matter() {
        let group = |members: [&[u8]; 3]| {
            let mut attrs: Vec<(&str, &[u8])> = vec![("objectClass", b"group"), ("objectGUID", GUID)];
            attrs.extend(members.iter().map(|m| ("member", *m)));
            convert(&entry("CN=G,DC=x", &attrs)).unwrap().unwrap()
        };
        assert_eq!(
            group([b"CN=b,DC=x", b"CN=A,DC=x", b"CN=c,DC=x"]),
            group([b"CN=c,DC=x", b"CN=b,DC=x", b"CN=A,DC=x"])
        );
    }

    #[test]
    fn computers_and_containers_are_not_read() {
        let pc = entry("CN=PC1,DC=x", &[("objectClass", b"user"), ("objectClass", b"computer"), ("objectGUID", GUID)]);
        assert_eq!(convert(&pc).unwrap(), None);
        let container = entry("CN=Users,DC=x", &[("objectClass", b"container")]);
        assert_eq!(convert(&container).unwrap(), None);
    }

    #[test]
    fn control_characters_are_refused_in_text_but_not_in_binary_values() {
        let user = |attrs: &[(&str, &[u8])]| {
            let mut all: Vec<(&str, &[u8])> = vec![("objectClass", b"user"), ("objectGUID", &[0; 16])];
            all.extend_from_slice(attrs);
            entry("CN=A,DC=x", &all)
        };
        let nul = user(&[("department", b"Eko\0nomi"), ("title", b"Chef\x1b"), ("sn", b"ok")]);
        let refused = refused_text(&nul);
        assert_eq!(
            refused.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "CN=A,DC=x: department: holds the control character U+0000 (NUL) at character 4 of \"Eko\\0nomi\"; fix the value in the directory",
                "CN=A,DC=x: title: holds the control character U+001B (ESC) at character 5 of \"Chef\\u{1b}\"; fix the value in the directory",
            ]
        );
        assert_eq!(convert(&nul).unwrap_err(), refused[0]);
        for c in (0u8..0x20).chain([0x7F]) {
            let value = [b'a', c, b'b'];
            assert_eq!(refused_text(&user(&[("displayName", &value)])).len(), 1, "{c:#x} in displayName");
            let multi_line = matches!(c, b'\t' | b'\n' | b'\r');
            assert_eq!(refused_text(&user(&[("description", &value)])).is_empty(), multi_line, "{c:#x} in description");
        }
        // Binary values, attributes samla does not read, entries it does not read: not its business.
        let binary = user(&[("objectSid", &[1, 0, 0, 0, 0, 0, 0, 0]), ("thumbnailPhoto", b"\0\x01"), ("info", b"a\0")]);
        assert!(refused_text(&binary).is_empty());
        assert!(refused_text(&entry("CN=PC,DC=x", &[("objectClass", b"computer"), ("cn", b"\0")])).is_empty());
        // Every value of a multi-valued attribute, and the DN itself.
        let group = entry(
            "CN=G\x07,DC=x",
            &[
                ("objectClass", b"group"),
                ("objectGUID", GUID),
                ("member", b"CN=a\x01,DC=x"),
                ("member", b"CN=b\x02,DC=x"),
            ],
        );
        let refused: Vec<_> = refused_text(&group).into_iter().map(|e| e.attribute).collect();
        assert_eq!(refused, ["distinguishedName", "member", "member"]);
        assert_eq!(refused_text(&group)[0].dn, "CN=G\\u{7},DC=x");
    }

    #[test]
    fn errors_name_dn_and_attribute() {
        let no_guid = entry("CN=Ghost,DC=x", &[("objectClass", b"user")]);
        let err = convert(&no_guid).unwrap_err();
        assert_eq!(err.dn, "CN=Ghost,DC=x");
        assert_eq!(err.attribute, "objectGUID");
        let bad_uac =
            entry("CN=A,DC=x", &[("objectClass", b"user"), ("objectGUID", GUID), ("userAccountControl", b"lots")]);
        assert_eq!(
            convert(&bad_uac).unwrap_err().to_string(),
            "CN=A,DC=x: userAccountControl: \"lots\" is not a number"
        );
        let short_guid = entry("CN=A,DC=x", &[("objectClass", b"group"), ("objectGUID", b"abc")]);
        assert!(convert(&short_guid).unwrap_err().reason.contains("16 bytes"));
        let bad_member = entry("CN=G,DC=x", &[("objectClass", b"group"), ("objectGUID", GUID), ("member", b"CN=a,,")]);
        assert_eq!(convert(&bad_member).unwrap_err().attribute, "member");
        let unfinished =
            entry("CN=G,DC=x", &[("objectClass", b"group"), ("objectGUID", GUID), ("member;range=0-1499", b"CN=a")]);
        assert!(convert(&unfinished).unwrap_err().reason.contains("ranged"));
        let two_guids = entry("CN=G,DC=x", &[("objectClass", b"group"), ("objectGUID", GUID), ("objectGUID", GUID)]);
        assert_eq!(convert(&two_guids).unwrap_err().to_string(), "CN=G,DC=x: objectGUID: expected one value, got 2");
    }
}
