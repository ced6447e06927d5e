//! Names valid in both targets: the cloud user's `userPrincipalName` and `mailNickname`, and
//! the shared AD's `sAMAccountName`.
//!
//! Every name samla assigns must be accepted by Microsoft Graph and by Active Directory the
//! first time: a rejected create costs a write from Graph's tight budget, and a name that only
//! one target accepts splits a person in two. The rules, from Graph's documentation
//! (`../shared/graph/README.md`) and AD's:
//!
//! - userPrincipalName is `alias@domain`. The alias may hold only `A-Z a-z 0-9 ' . - _ ! # ^ ~`,
//!   at most 64 characters, and no `.` right before the `@`; the domain at most 48 characters
//!   and one of the tenant's verified domains; 113 characters in all. No å, ä or ö.
//! - mailNickname: ASCII only, at most 64 characters, none of `@ ( ) \ [ ] " ; : < > ,` or space.
//! - sAMAccountName (the pre-Windows 2000 logon name): at most 20 characters, none of
//!   `" / \ [ ] : ; | = , + * ? < >` (nor `@`, which would make it look like a UPN), no control
//!   characters, not ending with `.` and not only dots and spaces.
//!
//! - cn and ou, the shared AD's RDN values (a person's or group's CN, a unit's OU): at most 64
//!   characters (AD's `rangeUpper` for both), not empty, no leading or trailing space (AD keeps
//!   them only escaped, and a copied name with a stray space makes a second object), no control
//!   characters. Every other character (`, + " \ < > ; = #`) is allowed and escaped in the DN.
//!
//! A name too long for its target is cut at a separator (space, hyphen, dot, underscore),
//! never inside a word: `...-von Essen af Wachtmeister` becomes `...-von`, not `...-von E`
//! (see [`cut_at_separator`]); only a single word longer than the limit is cut inside it.
//!
//! Generated names are stricter than the targets require, so one cleaned name works
//! everywhere: the same character set for all three (so a sAMAccountName can always be an
//! alias too, and never ends in `$` like a computer account), lower case (UPNs compare
//! case-insensitively; two spellings of one name must not become two names), no leading,
//! trailing or doubled dots (a UPN usually doubles as a mail address, whose local part forbids
//! them). The validators check the targets' rules, plus those mail-address dot rules for
//! UPNs, and are what the tests and the dry-run hold generated names to.
//!
//! Names come from people, so they come in every script: Swedish (Åsa Öberg becomes
//! `asa.oberg`), other European languages, Vietnamese. [`transliterate`] renders Latin letters
//! as ASCII with a fixed table (no Unicode normalisation, no new crates: the same input gives
//! the same name on every machine and every version). A name with no Latin rendering at all
//! (李小龙) yields nothing, and [`fallback_alias`] gives a stable replacement.

use sha2::{Digest, Sha256};

/// Longest UPN alias (the part before `@`) and longest mailNickname.
pub const MAX_ALIAS: usize = 64;
/// Longest UPN domain (the part after `@`).
pub const MAX_DOMAIN: usize = 48;
/// Longest UPN in all.
pub const MAX_UPN: usize = 113;
/// Longest sAMAccountName.
pub const MAX_SAM: usize = 20;
/// Longest cn or ou value in AD (an RDN's value).
pub const MAX_RDN: usize = 64;

/// Why a name is not valid for its target. Every message names the value and the rule broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{kind} `{value}` is empty")]
    Empty { kind: NameKind, value: String },
    #[error("{kind} `{value}` is {len} characters long; at most {max} are allowed")]
    TooLong { kind: NameKind, value: String, len: usize, max: usize },
    #[error("userPrincipalName `{value}` has no `@`: it must be alias@domain")]
    MissingAt { value: String },
    #[error("userPrincipalName `{value}` has more than one `@`")]
    SeveralAt { value: String },
    #[error("{kind} `{value}` contains {ch:?}; only A-Z a-z 0-9 ' . - _ ! # ^ ~ are allowed")]
    AliasCharacter { kind: NameKind, value: String, ch: char },
    #[error("userPrincipalName `{value}` has a `.` right before the `@`")]
    DotBeforeAt { value: String },
    #[error("{kind} `{value}` starts with a `.`")]
    LeadingDot { kind: NameKind, value: String },
    #[error("{kind} `{value}` has two dots in a row")]
    ConsecutiveDots { kind: NameKind, value: String },
    #[error("userPrincipalName `{value}`: `{domain}` is not one of the tenant's verified domains")]
    UnverifiedDomain { value: String, domain: String },
    #[error("userPrincipalName `{value}`: `{domain}` is not a domain name")]
    BadDomain { value: String, domain: String },
    #[error("mailNickname `{value}` contains {ch:?}; it must be ASCII without @ ( ) \\ [ ] \" ; : < > , or space")]
    NicknameCharacter { value: String, ch: char },
    #[error(
        "sAMAccountName `{value}` contains {ch:?}; \" / \\ [ ] : ; | = , + * ? < > @ and control characters are not allowed"
    )]
    SamCharacter { value: String, ch: char },
    #[error("sAMAccountName `{value}` ends with a `.`")]
    SamTrailingDot { value: String },
    #[error("sAMAccountName `{value}` is only dots and spaces")]
    SamOnlyDotsAndSpaces { value: String },
    #[error("{kind} `{value}` starts or ends with a space")]
    RdnSpace { kind: NameKind, value: String },
    #[error("{kind} `{value}` contains the control character U+{code:04X}")]
    RdnControl { kind: NameKind, value: String, code: u32 },
}

/// Which name a [`NameError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Upn,
    UpnAlias,
    UpnDomain,
    MailNickname,
    SamAccountName,
    /// A person's or group's cn in the shared AD.
    Cn,
    /// An organizational unit's name (ou) in the shared AD.
    Ou,
}

impl std::fmt::Display for NameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameKind::Upn => "userPrincipalName",
            NameKind::UpnAlias => "userPrincipalName alias",
            NameKind::UpnDomain => "userPrincipalName domain",
            NameKind::MailNickname => "mailNickname",
            NameKind::SamAccountName => "sAMAccountName",
            NameKind::Cn => "cn",
            NameKind::Ou => "ou",
        })
    }
}

/// Latin letters to ASCII, case kept: å ä → a, ö → o, é è ê ë → e, ü → u, ß → ss, æ → ae,
/// ø → o, ł → l, ñ → n, ç → c, ş → s, ğ → g, ı → i, ż ź → z, ć → c, ń → n, ś → s, đ → d,
/// Vietnamese letters without their marks (Nguyễn → Nguyen); typographic apostrophes become
/// `'`, dashes `-`, any white space a space. ASCII is kept as it is. Anything else (Greek,
/// Cyrillic, CJK, emoji, combining marks of a decomposed name) is dropped.
///
/// A fixed table over Latin-1 Supplement, Latin Extended-A, the Latin Extended-B letters of
/// Romanian, Vietnamese and Pinyin, and Vietnamese in Latin Extended Additional: no Unicode
/// normalisation, so the result never depends on a library's Unicode version.
pub fn transliterate(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else if let Some(r) = latin(c) {
            out.push_str(r);
        } else if c.is_whitespace() {
            out.push(' ');
        }
    }
    out
}

/// The ASCII rendering of one non-ASCII character, if it has one.
fn latin(c: char) -> Option<&'static str> {
    let u = u32::from(c);
    // Vietnamese in Latin Extended Additional: pairs, upper case at the even code point.
    if (0x1EA0..=0x1EF9).contains(&u) {
        let upper = u % 2 == 0;
        let base = match u {
            0x1EA0..=0x1EB7 => ("A", "a"),
            0x1EB8..=0x1EC7 => ("E", "e"),
            0x1EC8..=0x1ECB => ("I", "i"),
            0x1ECC..=0x1EE3 => ("O", "o"),
            0x1EE4..=0x1EF1 => ("U", "u"),
            _ => ("Y", "y"),
        };
        return Some(if upper { base.0 } else { base.1 });
    }
    Some(match c {
        // Latin-1 Supplement.
        '\u{a0}' => " ",
        '\u{b4}' => "'",
        'ª' => "a",
        'º' => "o",
        '¹' => "1",
        '²' => "2",
        '³' => "3",
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "A",
        'Æ' => "AE",
        'Ç' => "C",
        'È' | 'É' | 'Ê' | 'Ë' => "E",
        'Ì' | 'Í' | 'Î' | 'Ï' => "I",
        'Ð' => "D",
        'Ñ' => "N",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "O",
        'Ù' | 'Ú' | 'Û' | 'Ü' => "U",
        'Ý' => "Y",
        'Þ' => "TH",
        'ß' => "ss",
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
        'æ' => "ae",
        'ç' => "c",
        'è' | 'é' | 'ê' | 'ë' => "e",
        'ì' | 'í' | 'î' | 'ï' => "i",
        'ð' => "d",
        'ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => "o",
        'ù' | 'ú' | 'û' | 'ü' => "u",
        'ý' | 'ÿ' => "y",
        'þ' => "th",
        // Latin Extended-A.
        'Ā' | 'Ă' | 'Ą' => "A",
        'ā' | 'ă' | 'ą' => "a",
        'Ć' | 'Ĉ' | 'Ċ' | 'Č' => "C",
        'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'Ď' | 'Đ' => "D",
        'ď' | 'đ' => "d",
        'Ē' | 'Ĕ' | 'Ė' | 'Ę' | 'Ě' => "E",
        'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'Ĝ' | 'Ğ' | 'Ġ' | 'Ģ' => "G",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'Ĥ' | 'Ħ' => "H",
        'ĥ' | 'ħ' => "h",
        'Ĩ' | 'Ī' | 'Ĭ' | 'Į' | 'İ' => "I",
        'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'Ĳ' => "IJ",
        'ĳ' => "ij",
        'Ĵ' => "J",
        'ĵ' => "j",
        'Ķ' => "K",
        'ķ' | 'ĸ' => "k",
        'Ĺ' | 'Ļ' | 'Ľ' | 'Ŀ' | 'Ł' => "L",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'Ń' | 'Ņ' | 'Ň' | 'Ŋ' => "N",
        'ń' | 'ņ' | 'ň' | 'ŋ' => "n",
        'ŉ' => "'n",
        'Ō' | 'Ŏ' | 'Ő' => "O",
        'ō' | 'ŏ' | 'ő' => "o",
        'Œ' => "OE",
        'œ' => "oe",
        'Ŕ' | 'Ŗ' | 'Ř' => "R",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'Ś' | 'Ŝ' | 'Ş' | 'Š' => "S",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ſ' => "s",
        'Ţ' | 'Ť' | 'Ŧ' => "T",
        'ţ' | 'ť' | 'ŧ' => "t",
        'Ũ' | 'Ū' | 'Ŭ' | 'Ů' | 'Ű' | 'Ų' => "U",
        'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'Ŵ' => "W",
        'ŵ' => "w",
        'Ŷ' | 'Ÿ' => "Y",
        'ŷ' => "y",
        'Ź' | 'Ż' | 'Ž' => "Z",
        'ź' | 'ż' | 'ž' => "z",
        // Latin Extended-B: Vietnamese horn letters, Pinyin tones, Romanian comma letters, schwa.
        'Ơ' | 'Ǒ' => "O",
        'ơ' | 'ǒ' => "o",
        'Ư' | 'Ǔ' | 'Ǖ' | 'Ǘ' | 'Ǚ' | 'Ǜ' => "U",
        'ư' | 'ǔ' | 'ǖ' | 'ǘ' | 'ǚ' | 'ǜ' => "u",
        'Ǎ' => "A",
        'ǎ' => "a",
        'Ǐ' => "I",
        'ǐ' => "i",
        'Ș' => "S",
        'ș' => "s",
        'Ț' => "T",
        'ț' => "t",
        'Ə' => "E",
        'ə' => "e",
        'ẞ' => "SS",
        // Typographic apostrophes and dashes, as people type them in names (O’Brien).
        '\u{2bc}' | '\u{2018}' | '\u{2019}' | '\u{201b}' | '\u{2032}' => "'",
        '\u{2010}'..='\u{2015}' | '\u{2212}' => "-",
        _ => return None,
    })
}

/// True for the characters a generated name may hold (Graph's UPN alias set).
fn alias_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '\'' | '.' | '-' | '_' | '!' | '#' | '^' | '~')
}

/// The cleaning shared by every generated name: transliterate, lower-case, white space to
/// `.`, only alias characters, no doubled, leading or trailing dots, at most `max` characters.
/// None when no letter or digit is left (a name of only punctuation is no name).
fn clean(candidate: &str, max: usize) -> Option<String> {
    let mut out = String::with_capacity(candidate.len());
    for c in transliterate(candidate).chars() {
        let c = if c.is_whitespace() { '.' } else { c.to_ascii_lowercase() };
        if !alias_char(c) || (c == '.' && (out.is_empty() || out.ends_with('.'))) {
            continue;
        }
        out.push(c);
    }
    let mut out = cut_at_separator(&out, max);
    while out.ends_with('.') {
        out.pop();
    }
    out.bytes().any(|b| b.is_ascii_alphanumeric()).then_some(out)
}

/// A Graph-valid userPrincipalName alias (the part before `@`) from a candidate already
/// rendered from a template, such as `Åsa.Öberg-Ali`: transliterated, lower-cased, spaces as
/// `.`, only `a-z 0-9 ' . - _ ! # ^ ~`, no doubled, leading or trailing dots, at most 64
/// characters. None when no letter or digit is left; use [`fallback_alias`] then.
pub fn upn_alias(candidate: &str) -> Option<String> {
    clean(candidate, MAX_ALIAS)
}

/// A mailNickname from a candidate. Graph allows more than [`upn_alias`] produces (and none of
/// what it produces is forbidden), so the two are the same: a user's UPN alias and
/// mailNickname agree.
pub fn mail_nickname(candidate: &str) -> Option<String> {
    clean(candidate, MAX_ALIAS)
}

/// An sAMAccountName from a candidate: cleaned as [`upn_alias`], at most 20 characters. AD
/// allows more characters; the narrower set keeps it usable as an alias and never ends it in
/// `$`, the mark of a computer account.
pub fn sam_account_name(candidate: &str) -> Option<String> {
    clean(candidate, MAX_SAM)
}

/// A name with a collision suffix that still fits `max_len` characters: `anna.andersson` with
/// suffix `2` becomes `anna.andersson2`. When it does not fit, the base is shortened (never
/// the suffix), and dots left at the end of the shortened base are removed. A suffix longer
/// than `max_len` on its own is cut to its last `max_len` characters.
pub fn with_suffix(base: &str, suffix: &str, max_len: usize) -> String {
    let suffix_len = suffix.chars().count();
    if suffix_len > max_len {
        return suffix.chars().skip(suffix_len - max_len).collect();
    }
    let room = max_len - suffix_len;
    let mut out = cut_at_separator(base, room);
    if out.len() < base.len() {
        while out.ends_with('.') {
            out.pop();
        }
    }
    out.push_str(suffix);
    out
}

/// True for the characters a long name is cut at: space, hyphen, dot, underscore.
fn separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '.' | '_')
}

/// `name` in at most `max` characters, cut at a separator (space, hyphen, dot, underscore)
/// and without the separators the cut leaves at the end: `Lindqvist-Öhrström-von Essen` in
/// 25 gives `Lindqvist-Öhrström-von`, never a word cut in two. A name that fits is returned as
/// it is; one whose first word alone is longer than `max` is cut inside that word (there is
/// no separator to cut at).
pub fn cut_at_separator(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    let kept: String = name.chars().take(max).collect();
    // The cut falls between words when the first character left out is a separator.
    let next_is_separator = name.chars().nth(max).is_some_and(separator);
    let cut = if next_is_separator {
        kept.as_str()
    } else {
        match kept.rfind(separator) {
            Some(i) if kept[..i].chars().any(|c| !separator(c)) => &kept[..i],
            _ => kept.as_str(),
        }
    };
    let trimmed = cut.trim_end_matches(separator);
    if trimmed.is_empty() { kept } else { trimmed.to_string() }
}

/// A cn or ou value for the shared AD from a wanted name (a displayName, a group's or unit's
/// name): spaces around it removed, cut at a separator to at most [`MAX_RDN`] characters.
pub fn rdn_value(wanted: &str) -> String {
    cut_at_separator(wanted.trim(), MAX_RDN)
}

/// Checks a cn or ou value as AD does: not empty, at most [`MAX_RDN`] characters, no control
/// character, and (samla's own rule, see the module docs) no space at either end.
pub fn validate_rdn_value(kind: NameKind, value: &str) -> Result<(), NameError> {
    let v = || value.to_string();
    if value.is_empty() {
        return Err(NameError::Empty { kind, value: v() });
    }
    let len = value.chars().count();
    if len > MAX_RDN {
        return Err(NameError::TooLong { kind, value: v(), len, max: MAX_RDN });
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(NameError::RdnControl { kind, value: v(), code: c as u32 });
    }
    if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        return Err(NameError::RdnSpace { kind, value: v() });
    }
    Ok(())
}

/// A stable alias for a name that yields nothing after cleaning (a name in Chinese, say):
/// `user.` and the first 8 hex digits of `stable_id`, the object's anchor. An anchor written
/// as a GUID or in hex is used as it is (`3f2504e0-4f89-...` gives `user.3f2504e0`); any other
/// (base64, say) is hashed first, so the result is always 8 hex digits. Two people may still
/// share one: collisions are resolved like any other.
pub fn fallback_alias(stable_id: &str) -> String {
    let hexish = stable_id.trim().trim_start_matches('{');
    let hex: String = hexish.chars().filter(|c| *c != '-').take(8).collect();
    let hex = if hex.len() == 8 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        hex.to_ascii_lowercase()
    } else {
        let mut h = hex::encode(Sha256::digest(stable_id.as_bytes()));
        h.truncate(8);
        h
    };
    format!("user.{hex}")
}

/// Checks a userPrincipalName as Graph does: one `@`; the alias non-empty, at most 64
/// characters of `A-Z a-z 0-9 ' . - _ ! # ^ ~`, no `.` right before the `@` (and, since a UPN
/// is usually also a mail address, not starting with `.` and no `..`); the domain at most 48
/// characters and one of `verified` (case-insensitive); at most 113 characters in all.
pub fn validate_upn(upn: &str, verified: &[String]) -> Result<(), NameError> {
    let value = || upn.to_string();
    let mut parts = upn.split('@');
    let (Some(alias), Some(domain)) = (parts.next(), parts.next()) else {
        return Err(NameError::MissingAt { value: value() });
    };
    if parts.next().is_some() {
        return Err(NameError::SeveralAt { value: value() });
    }
    check_alias(alias, upn, NameKind::UpnAlias)?;
    if alias.ends_with('.') {
        return Err(NameError::DotBeforeAt { value: value() });
    }
    let domain_len = domain.chars().count();
    if domain.is_empty() {
        return Err(NameError::Empty { kind: NameKind::UpnDomain, value: value() });
    }
    if domain_len > MAX_DOMAIN {
        return Err(NameError::TooLong { kind: NameKind::UpnDomain, value: value(), len: domain_len, max: MAX_DOMAIN });
    }
    let label_ok = |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !domain.split('.').all(label_ok) {
        return Err(NameError::BadDomain { value: value(), domain: domain.to_string() });
    }
    if !verified.iter().any(|v| v.eq_ignore_ascii_case(domain)) {
        return Err(NameError::UnverifiedDomain { value: value(), domain: domain.to_string() });
    }
    let len = upn.chars().count();
    if len > MAX_UPN {
        return Err(NameError::TooLong { kind: NameKind::Upn, value: value(), len, max: MAX_UPN });
    }
    Ok(())
}

/// The rules of a UPN's alias: non-empty, at most 64 characters, only alias characters, no
/// leading `.` and no `..`. Errors name `whole`, the full UPN.
fn check_alias(alias: &str, whole: &str, kind: NameKind) -> Result<(), NameError> {
    let value = || whole.to_string();
    if alias.is_empty() {
        return Err(NameError::Empty { kind, value: value() });
    }
    let len = alias.chars().count();
    if len > MAX_ALIAS {
        return Err(NameError::TooLong { kind, value: value(), len, max: MAX_ALIAS });
    }
    if let Some(ch) = alias.chars().find(|c| !alias_char(*c)) {
        return Err(NameError::AliasCharacter { kind, value: value(), ch });
    }
    if alias.starts_with('.') {
        return Err(NameError::LeadingDot { kind, value: value() });
    }
    if alias.contains("..") {
        return Err(NameError::ConsecutiveDots { kind, value: value() });
    }
    Ok(())
}

/// Checks a mailNickname as Graph does: non-empty, at most 64 characters, printable ASCII,
/// none of `@ ( ) \ [ ] " ; : < > ,` or space.
pub fn validate_mail_nickname(nick: &str) -> Result<(), NameError> {
    let kind = NameKind::MailNickname;
    if nick.is_empty() {
        return Err(NameError::Empty { kind, value: nick.to_string() });
    }
    let len = nick.chars().count();
    if len > MAX_ALIAS {
        return Err(NameError::TooLong { kind, value: nick.to_string(), len, max: MAX_ALIAS });
    }
    let bad = |c: &char| !c.is_ascii_graphic() || "@()\\[]\";:<>,".contains(*c);
    if let Some(ch) = nick.chars().find(bad) {
        return Err(NameError::NicknameCharacter { value: nick.to_string(), ch });
    }
    Ok(())
}

/// Checks an sAMAccountName as AD does: non-empty, at most 20 characters, none of
/// `" / \ [ ] : ; | = , + * ? < > @` and no control characters, not ending with `.`, not only
/// dots and spaces.
pub fn validate_sam_account_name(sam: &str) -> Result<(), NameError> {
    let kind = NameKind::SamAccountName;
    let value = || sam.to_string();
    if sam.is_empty() {
        return Err(NameError::Empty { kind, value: value() });
    }
    let len = sam.chars().count();
    if len > MAX_SAM {
        return Err(NameError::TooLong { kind, value: value(), len, max: MAX_SAM });
    }
    let bad = |c: &char| c.is_control() || "\"/\\[]:;|=,+*?<>@".contains(*c);
    if let Some(ch) = sam.chars().find(bad) {
        return Err(NameError::SamCharacter { value: value(), ch });
    }
    if sam.chars().all(|c| c == '.' || c == ' ') {
        return Err(NameError::SamOnlyDotsAndSpaces { value: value() });
    }
    if sam.ends_with('.') {
        return Err(NameError::SamTrailingDot { value: value() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn verified() -> Vec<String> {
        vec!["samla.se".to_string(), "Bjuv.samla.se".to_string()]
    }

    #[test]
    fn transliterates_european_letters() {
        assert_eq!(transliterate("Åsa Öberg"), "Asa Oberg");
        assert_eq!(transliterate("åäö ÅÄÖ"), "aao AAO");
        assert_eq!(transliterate("éèêë ü ß æ ø ł ñ ç ş ğ ı ż ź ć ń ś đ"), "eeee u ss ae o l n c s g i z z c n s d");
        assert_eq!(transliterate("Nguyễn Thị Minh Khai"), "Nguyen Thi Minh Khai");
        assert_eq!(transliterate("Trương Phạm Đặng Hồ Lê Vũ"), "Truong Pham Dang Ho Le Vu");
        assert_eq!(transliterate("Łukasz Żółć Ægir Straße"), "Lukasz Zolc AEgir Strasse");
        assert_eq!(transliterate("Ștefan Țurcan İlkay"), "Stefan Turcan Ilkay");
        assert_eq!(transliterate("Seán O’Brien"), "Sean O'Brien");
        assert_eq!(transliterate("Jean\u{2011}Luc\u{a0}Picard"), "Jean-Luc Picard");
    }

    #[test]
    fn drops_what_has_no_ascii_rendering() {
        assert_eq!(transliterate("李小龙"), "");
        assert_eq!(transliterate("Αλέξης Дмитрий 🙂"), "  ");
        assert_eq!(transliterate("Anna 🙂"), "Anna ");
        // A decomposed (NFD) name: the combining marks drop, the letters stay.
        assert_eq!(transliterate("A\u{30a}sa O\u{308}berg"), "Asa Oberg");
        assert_eq!(transliterate("Nguye\u{302}\u{303}n"), "Nguyen");
    }

    #[test]
    fn every_vietnamese_letter_has_a_rendering() {
        for u in 0x1EA0..=0x1EF9u32 {
            let c = char::from_u32(u).unwrap();
            let t = transliterate(&c.to_string());
            assert_eq!(t.len(), 1, "{c}");
            assert_eq!(t.chars().all(|t| t.is_ascii_uppercase()), c.is_uppercase(), "{c} -> {t}");
        }
    }

    #[test]
    fn every_latin_letter_in_the_tables_has_a_rendering() {
        let latin1 = (0xC0..=0xFFu32).filter(|u| *u != 0xD7 && *u != 0xF7);
        let ext_a = 0x100..=0x17Fu32;
        for u in latin1.chain(ext_a) {
            let c = char::from_u32(u).unwrap();
            let t = transliterate(&c.to_string());
            assert!(!t.is_empty() && t.is_ascii(), "U+{u:04X} {c} -> {t:?}");
            assert_eq!(t.chars().any(|t| t.is_ascii_uppercase()), c.is_uppercase(), "U+{u:04X} {c} -> {t}");
        }
        assert_eq!(transliterate("×÷"), "");
    }

    #[test]
    fn upn_aliases() {
        assert_eq!(upn_alias("Åsa Öberg").as_deref(), Some("asa.oberg"));
        assert_eq!(upn_alias("Åsa.Öberg-Ali").as_deref(), Some("asa.oberg-ali"));
        assert_eq!(upn_alias("Anna-Karin Sjöberg-Ali").as_deref(), Some("anna-karin.sjoberg-ali"));
        assert_eq!(upn_alias("Seán O'Brien").as_deref(), Some("sean.o'brien"));
        assert_eq!(upn_alias("Seán O’Brien").as_deref(), Some("sean.o'brien"));
        assert_eq!(upn_alias("Nguyễn Văn An").as_deref(), Some("nguyen.van.an"));
        assert_eq!(upn_alias("  .Anna..  Andersson. ").as_deref(), Some("anna.andersson"));
        assert_eq!(upn_alias("anna (vik) andersson").as_deref(), Some("anna.vik.andersson"));
        assert_eq!(upn_alias("Anna@Bjuv").as_deref(), Some("annabjuv"));
        assert_eq!(upn_alias("李小龙"), None);
        assert_eq!(upn_alias("李 - 小龙"), None, "punctuation alone is no name");
        assert_eq!(upn_alias(""), None);
        assert_eq!(upn_alias("李 Li"), Some("li".to_string()));
    }

    #[test]
    fn long_aliases_are_cut_without_a_trailing_dot() {
        let long = format!("{}.{}", "a".repeat(63), "b".repeat(10));
        assert_eq!(upn_alias(&long).unwrap(), "a".repeat(63));
        let long = "é".repeat(100);
        assert_eq!(upn_alias(&long).unwrap(), "e".repeat(64));
        // Cut at a separator, not inside a word (`sjoberg-a`).
        assert_eq!(sam_account_name("Anna-Karin Sjöberg-Ali").unwrap(), "anna-karin.sjoberg");
        assert_eq!(sam_account_name("Anna-Karin Sjöbergs Ali").unwrap(), "anna-karin.sjobergs");
    }

    #[test]
    fn mail_nickname_and_sam_agree_with_the_alias() {
        assert_eq!(mail_nickname("Seán O'Brien").as_deref(), Some("sean.o'brien"));
        assert_eq!(mail_nickname("Åsa Öberg (IT); Bjuv").as_deref(), Some("asa.oberg.it.bjuv"));
        assert_eq!(sam_account_name("Åsa Öberg").as_deref(), Some("asa.oberg"));
        assert_eq!(sam_account_name("svc$backup").as_deref(), Some("svcbackup"));
        assert_eq!(sam_account_name("李小龙"), None);
    }

    /// The hidden estate's name: 83 characters, refused by AD as a cn and cut mid-word as a UPN.
    const LONG: &str = "Anna-Karin Margareta Charlotta Eleonora Lindqvist-Öhrström-von Essen af Wachtmeister";

    #[test]
    fn long_names_are_cut_at_a_separator() {
        // The issue calls it 83 characters; it is 84, either way past AD's 64.
        assert_eq!(LONG.chars().count(), 84);
        let cn = rdn_value(LONG);
        assert_eq!(cn, "Anna-Karin Margareta Charlotta Eleonora Lindqvist-Öhrström-von");
        validate_rdn_value(NameKind::Cn, &cn).unwrap();
        assert!(validate_rdn_value(NameKind::Cn, LONG).is_err());
        // The cloud names too: never `...-von.e`.
        let alias = upn_alias(LONG).unwrap();
        assert_eq!(alias, "anna-karin.margareta.charlotta.eleonora.lindqvist-ohrstrom-von");
        assert_eq!(mail_nickname(LONG).unwrap(), alias);
        // A counter still fits, and the base is cut at a separator to make room.
        assert_eq!(with_suffix(&cn, " 2", MAX_RDN), "Anna-Karin Margareta Charlotta Eleonora Lindqvist-Öhrström-von 2");
        assert_eq!(with_suffix(&cn, " (bjuv)", MAX_RDN), "Anna-Karin Margareta Charlotta Eleonora Lindqvist (bjuv)");
        // A cut that falls between words keeps the whole last word; one word is cut inside.
        assert_eq!(cut_at_separator("abc def", 3), "abc");
        assert_eq!(cut_at_separator("abcdef", 3), "abc");
        assert_eq!(cut_at_separator("ab-cdef", 4), "ab");
        // An underscore separates too (service account names: `svc_backup_nightly`).
        assert_eq!(cut_at_separator("svc_backup_nightly", 12), "svc_backup");
        assert_eq!(upn_alias(&format!("{}_{}", "a".repeat(60), "b".repeat(10))).unwrap(), "a".repeat(60));
        assert_eq!(rdn_value("  Anna  "), "Anna");
    }

    #[test]
    fn rdn_rules() {
        let err = |v: &str| validate_rdn_value(NameKind::Ou, v).unwrap_err().to_string();
        assert!(err("").contains("empty"));
        assert!(err(&"x".repeat(65)).contains("65 characters"));
        assert!(err(" x").contains("space"));
        assert!(err("x ").contains("space"));
        assert!(err("a\nb").contains("U+000A"), "{}", err("a\nb"));
        validate_rdn_value(NameKind::Ou, &"ö".repeat(64)).unwrap();
        validate_rdn_value(NameKind::Cn, "Öberg, Åsa #1 <x>").unwrap();
    }

    #[test]
    fn with_suffix_shortens_the_base_only() {
        assert_eq!(with_suffix("anna.andersson", "2", 64), "anna.andersson2");
        assert_eq!(with_suffix("anna.andersson", "2", 10), "anna2", "cut at the dot, not inside a word");
        assert_eq!(with_suffix("anna.andersson", "2", 15), "anna.andersson2");
        assert_eq!(with_suffix("anna.andersson", "2", 6), "anna2", "no dot left before the suffix");
        assert_eq!(with_suffix("anna.andersson", "12", 2), "12");
        assert_eq!(with_suffix("anna", "123", 2), "23");
        assert_eq!(with_suffix("åsa.öberg", "2", 4), "åsa2", "counts characters");
    }

    #[test]
    fn fallback_aliases() {
        assert_eq!(fallback_alias("3F2504E0-4F89-11D3-9A0C-0305E82C3301"), "user.3f2504e0");
        assert_eq!(fallback_alias("{3f2504e0-4f89-11d3-9a0c-0305e82c3301}"), "user.3f2504e0");
        let b64 = fallback_alias("4AQlP4lP0xGaDAMF6CwzAQ==");
        assert_eq!(b64, fallback_alias("4AQlP4lP0xGaDAMF6CwzAQ=="));
        assert_eq!(b64.len(), 13);
        assert!(b64[5..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(fallback_alias(""), fallback_alias(""));
        for id in ["3f2504e0-4f89", "", "x", "4AQlP4lP0xGaDAMF6CwzAQ=="] {
            let a = fallback_alias(id);
            validate_upn(&format!("{a}@samla.se"), &verified()).unwrap();
            validate_mail_nickname(&a).unwrap();
            validate_sam_account_name(&a).unwrap();
        }
    }

    #[test]
    fn validate_upn_rules() {
        let v = verified();
        let ok = |u: &str| validate_upn(u, &v);
        ok("asa.oberg@samla.se").unwrap();
        ok("Asa.Oberg@SAMLA.SE").unwrap();
        ok("o'brien_#!^~-1@bjuv.samla.se").unwrap();
        ok(&format!("{}@samla.se", "a".repeat(64))).unwrap();
        assert!(matches!(ok("asa.oberg"), Err(NameError::MissingAt { .. })));
        assert!(matches!(ok("a@b@samla.se"), Err(NameError::SeveralAt { .. })));
        assert!(matches!(ok("@samla.se"), Err(NameError::Empty { kind: NameKind::UpnAlias, .. })));
        assert!(matches!(ok("asa@"), Err(NameError::Empty { kind: NameKind::UpnDomain, .. })));
        assert!(matches!(ok("åsa@samla.se"), Err(NameError::AliasCharacter { ch: 'å', .. })));
        assert!(matches!(ok("asa oberg@samla.se"), Err(NameError::AliasCharacter { ch: ' ', .. })));
        assert!(matches!(ok("asa.@samla.se"), Err(NameError::DotBeforeAt { .. })));
        assert!(matches!(ok(".asa@samla.se"), Err(NameError::LeadingDot { .. })));
        assert!(matches!(ok("asa..oberg@samla.se"), Err(NameError::ConsecutiveDots { .. })));
        assert!(matches!(ok("asa@klippan.se"), Err(NameError::UnverifiedDomain { .. })));
        assert!(matches!(ok("asa@samla..se"), Err(NameError::BadDomain { .. })));
        let long_alias = format!("{}@samla.se", "a".repeat(65));
        assert!(matches!(ok(&long_alias), Err(NameError::TooLong { kind: NameKind::UpnAlias, len: 65, .. })));
        let long_domain = format!("a@{}.se", "d".repeat(46));
        assert!(matches!(ok(&long_domain), Err(NameError::TooLong { kind: NameKind::UpnDomain, .. })));
        // 64 + 1 + 48 = 113 is fine; the total limit is reached only with both at their maximum.
        let d48 = format!("{}.se", "d".repeat(45));
        let v48 = vec![d48.clone()];
        validate_upn(&format!("{}@{d48}", "a".repeat(64)), &v48).unwrap();
        let msg = ok("asa@klippan.se").unwrap_err().to_string();
        assert!(msg.contains("asa@klippan.se") && msg.contains("verified"), "{msg}");
    }

    #[test]
    fn validate_nickname_and_sam_rules() {
        validate_mail_nickname("sean.o'brien").unwrap();
        validate_mail_nickname("a$b%c&").unwrap();
        assert!(matches!(validate_mail_nickname(""), Err(NameError::Empty { .. })));
        assert!(matches!(validate_mail_nickname("a b"), Err(NameError::NicknameCharacter { ch: ' ', .. })));
        assert!(matches!(validate_mail_nickname("åsa"), Err(NameError::NicknameCharacter { ch: 'å', .. })));
        for c in "@()\\[]\";:<>,".chars() {
            assert!(validate_mail_nickname(&format!("a{c}b")).is_err(), "{c}");
        }
        assert!(matches!(validate_mail_nickname(&"a".repeat(65)), Err(NameError::TooLong { .. })));

        validate_sam_account_name("asa.oberg").unwrap();
        validate_sam_account_name("Åsa Öberg").unwrap();
        validate_sam_account_name(&"a".repeat(20)).unwrap();
        assert!(matches!(validate_sam_account_name(&"a".repeat(21)), Err(NameError::TooLong { len: 21, .. })));
        assert!(matches!(validate_sam_account_name("asa."), Err(NameError::SamTrailingDot { .. })));
        assert!(matches!(validate_sam_account_name(". ."), Err(NameError::SamOnlyDotsAndSpaces { .. })));
        assert!(matches!(validate_sam_account_name("a\u{7}b"), Err(NameError::SamCharacter { .. })));
        for c in "\"/\\[]:;|=,+*?<>@".chars() {
            assert!(validate_sam_account_name(&format!("a{c}b")).is_err(), "{c}");
        }
        let msg = validate_sam_account_name(&"x".repeat(21)).unwrap_err().to_string();
        assert!(msg.contains(&"x".repeat(21)) && msg.contains("20"), "{msg}");
    }

    /// Names as they come: mostly Latin with diacritics, some punctuation, sometimes anything.
    fn name_like() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[A-Za-zÅÄÖåäöéüßøłñçşğıżćńśđễư李 .'’\\-_@()\\[\\]\"<>,;:/\\\\|=+*?!#^~$%&{}\t\n\u{0}]{0,90}",
        ]
    }

    proptest! {
        #[test]
        fn generated_upns_are_valid(s in name_like()) {
            if let Some(a) = upn_alias(&s) {
                let upn = format!("{a}@bjuv.samla.se");
                prop_assert!(validate_upn(&upn, &verified()).is_ok(), "{:?} -> {:?}: {:?}", s, a, validate_upn(&upn, &verified()));
            }
        }

        #[test]
        fn generated_nicknames_are_valid(s in name_like()) {
            if let Some(n) = mail_nickname(&s) {
                prop_assert!(validate_mail_nickname(&n).is_ok(), "{:?} -> {:?}", s, n);
            }
        }

        #[test]
        fn generated_sams_are_valid(s in name_like()) {
            if let Some(n) = sam_account_name(&s) {
                prop_assert!(validate_sam_account_name(&n).is_ok(), "{:?} -> {:?}", s, n);
            }
        }

        #[test]
        fn with_suffix_fits_and_ends_with_the_suffix(base in any::<String>(), suffix in any::<String>(), max in 0usize..80) {
            prop_assume!(suffix.chars().count() <= max);
            let r = with_suffix(&base, &suffix, max);
            prop_assert!(r.chars().count() <= max);
            prop_assert!(r.ends_with(&suffix));
        }

        #[test]
        fn suffixed_aliases_stay_valid(s in name_like(), n in 2u32..100_000, max in prop_oneof![Just(MAX_ALIAS), Just(MAX_SAM)]) {
            if let Some(a) = upn_alias(&s) {
                let r = with_suffix(&a, &n.to_string(), max);
                prop_assert!(r.len() <= max);
                prop_assert!(validate_upn(&format!("{r}@samla.se"), &verified()).is_ok(), "{:?}", r);
                prop_assert!(validate_mail_nickname(&r).is_ok(), "{:?}", r);
                prop_assert!(validate_sam_account_name(&r).is_ok() || max != MAX_SAM, "{:?}", r);
            }
        }

        #[test]
        fn transliterate_gives_ascii(s in any::<String>()) {
            prop_assert!(transliterate(&s).is_ascii());
        }
    }
}
