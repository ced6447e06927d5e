//! The shared AD over LDAP: finding what a wave already created, and writing what it still must.
//!
//! A wave's operations ([`crate::render::ldap::render`]) are decided elsewhere; this client
//! carries them, one request at a time, and says precisely what came back. Why it is built the
//! way it is:
//!
//! - **One way to connect.** TLS (LDAPS or StartTLS, verified against the configured CA), the
//!   bind and its AD-specific error messages (`data 52e`, `533`, ...) are the source reader's
//!   ([`crate::source::ldap`]); the shared AD is reached with the same rules and config type.
//! - **Refused versus in doubt.** An executor that resumes a wave must know whether a request
//!   took effect. A result code from the server is a definite answer ([`LdapClientError::Refused`],
//!   named: `entryAlreadyExists (68)`); a timeout or a broken connection is not
//!   ([`LdapClientError::Transport`]): the request may or may not have been applied, and only
//!   reading the directory again can tell.
//! - **Anchors, not names.** What a wave creates is found again by its anchor, the 16 bytes in
//!   `mS-DS-ConsistencyGuid`, not by DN or name, which people and reorganisations change. The
//!   bytes go into the filter escaped one by one (`\5a\4d...`), the only safe way to put binary
//!   values into an RFC 4515 filter; lookups go in chunks so a filter stays a few kilobytes.
//! - **Complete values.** AD hands out at most MaxValRange (1,500) values of one attribute per
//!   answer and marks the rest with `member;range=0-1499`; every entry read here is completed
//!   with follow-up requests ([`crate::source::range`]) before it is returned, so a caller that
//!   compares a group's members never sees a truncated list.
//! - **Secrets stay secret.** The initial password travels only inside the one modify request
//!   that sets it, only over TLS, and no error, log line or `Debug` output contains it.
//!
//! Referrals are not chased: the shared AD is one domain, and a referral means the DN is outside
//! it, which is reported as the refusal it is (`referral (10)`).
//!
//! What AD answers, as the tests see it from Samba (which answers like Windows here): an entry
//! that exists, and also a `member` value that is already there, is `entryAlreadyExists (68)`,
//! not `attributeOrValueExists (20)`; removing a member that is not there is
//! `unwillingToPerform (53)`; a missing parent is `noSuchObject (32)`; a password the policy
//! refuses is `constraintViolation (19)`; and after [`SharedAdClient::set_initial_password`] a
//! bind as the user gets `invalidCredentials (49)` with `data 773` (must change the password).

use crate::config::secret::Secret;
use crate::config::{LdapSource, TlsMode};
use crate::error::{Classified, ExitClass};
use crate::model::unified::Anchor;
use crate::model::{Dn, ObjectGuid, RawEntry};
use crate::render::ldap::{Change, ModKind, Value};
use crate::source::ldap::{connect_and_bind, decode_entry};
use crate::source::{SourceError, range};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapError, LdapResult, Mod, Scope};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

/// The attribute that carries an object's anchor in the shared AD.
pub const ANCHOR_ATTRIBUTE: &str = "mS-DS-ConsistencyGuid";

/// Anchors asked for in one search: 100 equality terms make a filter of about 7 KB, well
/// below what AD accepts, and one page of answers.
pub const ANCHOR_CHUNK: usize = 100;

/// `userAccountControl` of an enabled ordinary account (NORMAL_ACCOUNT).
pub const UAC_NORMAL_ENABLED: i64 = 512;

/// A bound connection to the shared AD, for looking objects up by anchor and applying a
/// wave's operations.
pub struct SharedAdClient {
    ldap: Ldap,
    url: String,
    base: Dn,
    tls: TlsMode,
    page_size: u32,
    timeout: Duration,
}

/// What went wrong talking to the shared AD. Never contains a password.
#[derive(Debug, thiserror::Error)]
pub enum LdapClientError {
    /// Could not connect, bind or set up TLS (the source reader's messages).
    #[error(transparent)]
    Connect(#[from] SourceError),
    /// The server refused an operation: the DN, LDAP result code, its name
    /// (`entryAlreadyExists`, ...) and the server's text. Nothing was changed.
    #[error("{dn}: {name} ({code}): {text}")]
    Refused { dn: String, code: u32, name: &'static str, text: String },
    /// The connection broke, timed out or answered something unreadable mid-operation: a write
    /// is in doubt until the directory is read again.
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
}

impl Classified for LdapClientError {
    /// The shared AD could not be reached or refused a request: exit 1; its password could not
    /// be read (samla.toml's configuration): the class of that reason.
    fn exit_class(&self) -> ExitClass {
        match self {
            LdapClientError::Connect(e @ (SourceError::Secret(_) | SourceError::SecretOf { .. })) => e.exit_class(),
            _ => ExitClass::Work,
        }
    }
}

impl LdapClientError {
    /// The LDAP result code of a refusal.
    pub fn code(&self) -> Option<u32> {
        match self {
            LdapClientError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True when the server answered with result code `code`.
    pub fn is(&self, code: u32) -> bool {
        self.code() == Some(code)
    }
}

/// An object as the shared AD holds it: its DN and the requested attributes (names
/// lower-cased, values as bytes, ranged values completed).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub dn: Dn,
    pub attrs: BTreeMap<String, Vec<Vec<u8>>>,
}

impl Found {
    /// All values of `attr` (any case); empty when the entry has none.
    pub fn values(&self, attr: &str) -> &[Vec<u8>] {
        self.attrs.get(&attr.to_ascii_lowercase()).map_or(&[], Vec::as_slice)
    }

    /// The first value of `attr` as UTF-8 (invalid bytes replaced).
    pub fn text(&self, attr: &str) -> Option<String> {
        self.values(attr).first().map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// Every value of `attr` as UTF-8 (invalid bytes replaced).
    pub fn texts(&self, attr: &str) -> Vec<String> {
        self.values(attr).iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect()
    }

    /// The anchor the entry carries in `mS-DS-ConsistencyGuid`, when it has a 16-byte one.
    pub fn anchor(&self) -> Option<Anchor> {
        self.values(ANCHOR_ATTRIBUTE).first().and_then(|v| ObjectGuid::from_ad_bytes(v).ok()).map(Anchor)
    }
}

impl SharedAdClient {
    /// Connects and binds with the source rules (LDAPS/StartTLS with verification, plain only
    /// to loopback, as the config enforces). Referrals are not chased.
    pub async fn connect(cfg: &LdapSource) -> Result<SharedAdClient, LdapClientError> {
        let ldap = connect_and_bind(cfg).await?;
        Ok(SharedAdClient {
            ldap,
            url: cfg.url.clone(),
            base: cfg.base_dn.clone(),
            tls: cfg.tls,
            page_size: cfg.page_size,
            timeout: cfg.timeout,
        })
    }

    /// The users and groups under the base DN whose `mS-DS-ConsistencyGuid` is one of
    /// `anchors`, with `attrs` (and `mS-DS-ConsistencyGuid`) read, keyed by anchor. Anchors
    /// nobody carries are simply absent. Should two objects carry one anchor (which samla never
    /// writes), the first by DN is returned and a warning names both.
    pub async fn find_by_anchor(
        &mut self,
        anchors: &[Anchor],
        attrs: &[&str],
    ) -> Result<HashMap<Anchor, Found>, LdapClientError> {
        let wanted: BTreeSet<Anchor> = anchors.iter().copied().collect();
        let wanted: Vec<Anchor> = wanted.into_iter().collect();
        let mut request: Vec<String> = attrs.iter().map(|a| a.to_string()).collect();
        if !request.iter().any(|a| a.eq_ignore_ascii_case(ANCHOR_ATTRIBUTE)) {
            request.push(ANCHOR_ATTRIBUTE.to_string());
        }
        let base = self.base.to_string();
        let mut found: HashMap<Anchor, Found> = HashMap::with_capacity(wanted.len());
        for chunk in wanted.chunks(ANCHOR_CHUNK) {
            let entries = self.search_paged(&base, &anchor_filter(chunk), &request).await?;
            for raw in entries {
                let entry = self.complete(raw).await?;
                let Some(anchor) = entry.anchor().filter(|a| chunk.binary_search(a).is_ok()) else {
                    continue;
                };
                match found.get_mut(&anchor) {
                    None => {
                        found.insert(anchor, entry);
                    }
                    Some(first) => {
                        tracing::warn!(
                            anchor = %anchor.0, first = %first.dn, second = %entry.dn,
                            "two objects in the shared AD carry the same mS-DS-ConsistencyGuid"
                        );
                        if entry.dn < first.dn {
                            *first = entry;
                        }
                    }
                }
            }
        }
        Ok(found)
    }

    /// One object by DN (base scope) with `attrs` complete, or `None` when it does not exist
    /// (noSuchObject, also when its parent does not).
    pub async fn read(&mut self, dn: &Dn, attrs: &[&str]) -> Result<Option<Found>, LdapClientError> {
        match self.search_base(dn.as_str(), attrs).await {
            Ok(Some(raw)) => Ok(Some(self.complete(raw).await?)),
            Ok(None) => Ok(None),
            Err(e) if e.is(NO_SUCH_OBJECT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Applies one add or modify as given; binary values are sent as their bytes. Values of one
    /// attribute form a set (as LDAP defines them): a value given twice is sent once.
    pub async fn apply(&mut self, change: &Change) -> Result<(), LdapClientError> {
        match change {
            Change::Add { dn, attrs } => {
                let mut list = Vec::with_capacity(attrs.len());
                for (name, values) in attrs {
                    if values.is_empty() {
                        return Err(no_values(dn, name));
                    }
                    list.push((name.as_bytes().to_vec(), value_set(values)));
                }
                tracing::debug!(dn = %dn, attributes = list.len(), "LDAP add");
                let result = self.ldap.with_timeout(self.timeout).add(dn.as_str(), list).await;
                self.answer(dn.as_str(), result, true)
            }
            Change::Modify { dn, changes } => {
                let mut mods = Vec::with_capacity(changes.len());
                for (kind, name, values) in changes {
                    // An add without values is not a request LDAP has; a delete or replace
                    // without values means "the whole attribute".
                    if *kind == ModKind::Add && values.is_empty() {
                        return Err(no_values(dn, name));
                    }
                    let (name, set) = (name.as_bytes().to_vec(), value_set(values));
                    mods.push(match kind {
                        ModKind::Add => Mod::Add(name, set),
                        ModKind::Replace => Mod::Replace(name, set),
                        ModKind::Delete => Mod::Delete(name, set),
                    });
                }
                tracing::debug!(dn = %dn, modifications = mods.len(), "LDAP modify");
                let result = self.ldap.with_timeout(self.timeout).modify(dn.as_str(), mods).await;
                self.answer(dn.as_str(), result, true)
            }
        }
    }

    /// Deletes one entry, which must be a leaf (notAllowedOnNonLeaf otherwise).
    pub async fn delete(&mut self, dn: &Dn) -> Result<(), LdapClientError> {
        tracing::debug!(dn = %dn, "LDAP delete");
        let result = self.ldap.with_timeout(self.timeout).delete(dn.as_str()).await;
        self.answer(dn.as_str(), result, true)
    }

    /// Sets a user's password (`unicodePwd`: the password in double quotes, UTF-16LE), marks
    /// it to be changed at the next logon (`pwdLastSet` 0) and, with `enable`, enables the
    /// account (`userAccountControl` 512), in one modify request. Refused without sending anything
    /// when the connection is not encrypted (confidentialityRequired, 13).
    pub async fn set_initial_password(
        &mut self,
        dn: &Dn,
        password: &Secret,
        enable: bool,
    ) -> Result<(), LdapClientError> {
        if self.tls == TlsMode::Plain {
            return Err(LdapClientError::Refused {
                dn: dn.to_string(),
                code: CONFIDENTIALITY_REQUIRED,
                name: result_name(CONFIDENTIALITY_REQUIRED),
                text: "samla sends passwords only over LDAPS or StartTLS; this connection is plain (not sent)"
                    .to_string(),
            });
        }
        let mut mods = vec![
            Mod::Replace(b"unicodePwd".to_vec(), HashSet::from([unicode_pwd(password)])),
            Mod::Replace(b"pwdLastSet".to_vec(), HashSet::from([b"0".to_vec()])),
        ];
        if enable {
            mods.push(Mod::Replace(
                b"userAccountControl".to_vec(),
                HashSet::from([UAC_NORMAL_ENABLED.to_string().into_bytes()]),
            ));
        }
        tracing::debug!(dn = %dn, enable, "LDAP modify: initial password, must change");
        let result = self.ldap.with_timeout(self.timeout).modify(dn.as_str(), mods).await;
        self.answer(dn.as_str(), result, true)
    }

    /// Ends the session; errors on the way out do not matter.
    pub async fn unbind(mut self) {
        let _ = self.ldap.unbind().await;
    }

    /// The server's answer to a request on `dn`: success, a refusal, or a transport failure.
    fn answer(&self, dn: &str, result: Result<LdapResult, LdapError>, write: bool) -> Result<(), LdapClientError> {
        match result {
            Ok(res) if res.rc == 0 => Ok(()),
            Ok(res) | Err(LdapError::LdapResult { result: res }) => Err(refused(dn, &res)),
            Err(e) => Err(self.transport(e, write)),
        }
    }

    fn transport(&self, e: LdapError, write: bool) -> LdapClientError {
        let mut reason = match e {
            LdapError::Timeout { .. } => format!("no answer within {} s", self.timeout.as_secs_f32()),
            LdapError::Io { source } => format!("connection failed: {source}"),
            LdapError::OpSend { .. } | LdapError::ResultRecv { .. } | LdapError::IdScrubSend { .. } => {
                "the connection is closed".to_string()
            }
            other => other.to_string(),
        };
        if write {
            reason.push_str(" (the request may or may not have been applied)");
        }
        LdapClientError::Transport { url: self.url.clone(), reason }
    }

    fn malformed(&self, reason: impl std::fmt::Display) -> LdapClientError {
        LdapClientError::Transport { url: self.url.clone(), reason: format!("unreadable answer: {reason}") }
    }

    /// A paged subtree search under `base`; every entry decoded, ranges not yet completed.
    async fn search_paged(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[String],
    ) -> Result<Vec<RawEntry>, LdapClientError> {
        let adapters: Vec<Box<dyn Adapter<'static, String, Vec<String>>>> =
            vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(self.page_size as i32))];
        let mut stream = match self
            .ldap
            .with_timeout(self.timeout)
            .streaming_search_with(adapters, base, Scope::Subtree, filter, attrs.to_vec())
            .await
        {
            Ok(stream) => stream,
            Err(LdapError::LdapResult { result }) => return Err(refused(base, &result)),
            Err(e) => return Err(self.transport(e, false)),
        };
        let mut entries = Vec::new();
        loop {
            match stream.next().await {
                Ok(Some(entry)) => entries.push(decode_entry(entry).map_err(|r| self.malformed(r))?),
                Ok(None) => break,
                Err(LdapError::LdapResult { result }) => return Err(refused(base, &result)),
                Err(e) => return Err(self.transport(e, false)),
            }
        }
        let res = stream.finish().await;
        if res.rc != 0 {
            return Err(refused(base, &res));
        }
        Ok(entries)
    }

    /// One entry by DN with the given attribute descriptions, as the server sends it.
    async fn search_base<S: AsRef<str> + Send + Sync>(
        &mut self,
        dn: &str,
        attrs: &[S],
    ) -> Result<Option<RawEntry>, LdapClientError> {
        let attrs: Vec<&str> = attrs.iter().map(AsRef::as_ref).collect();
        let result = self.ldap.with_timeout(self.timeout).search(dn, Scope::Base, "(objectClass=*)", attrs).await;
        let (entries, res) = match result {
            Ok(r) => (r.0, r.1),
            Err(LdapError::LdapResult { result }) => return Err(refused(dn, &result)),
            Err(e) => return Err(self.transport(e, false)),
        };
        if res.rc != 0 {
            return Err(refused(dn, &res));
        }
        match entries.into_iter().next() {
            Some(entry) => Ok(Some(decode_entry(entry).map_err(|r| self.malformed(r))?)),
            None => Ok(None),
        }
    }

    /// Turns a raw entry into a [`Found`], replacing every `attr;range=a-b` by the complete
    /// `attr` with base-scope follow-ups for `attr;range=<next>-*`.
    async fn complete(&mut self, raw: RawEntry) -> Result<Found, LdapClientError> {
        let dn = Dn::parse(&raw.dn).map_err(|e| self.malformed(e.to_string()))?;
        let mut attrs: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
        for (name, mut values) in raw.attrs {
            let name = match range::parse(&name).map_err(|r| self.malformed(format!("{dn}: {r}")))? {
                None => name,
                Some(first) => {
                    if first.low != 0 {
                        return Err(self.malformed(format!("{dn}: {name} does not start at 0")));
                    }
                    self.fetch_rest(&dn, first, &mut values).await?
                }
            };
            attrs.entry(name.to_ascii_lowercase()).or_default().extend(values);
        }
        Ok(Found { dn, attrs })
    }

    /// Follows a ranged attribute to its end (`-*`), appending to `values`; returns the
    /// attribute's plain name.
    async fn fetch_rest(
        &mut self,
        dn: &Dn,
        mut ranged: range::RangedAttr,
        values: &mut Vec<Vec<u8>>,
    ) -> Result<String, LdapClientError> {
        while let (Some(request), Some(high)) = (ranged.next_request(), ranged.high) {
            let expected = high.checked_add(1).ok_or_else(|| self.malformed(format!("{dn}: range past 2^32")))?;
            let Some(entry) = self.search_base(dn.as_str(), &[request.as_str()]).await? else {
                return Err(self.malformed(format!("{dn}: no entry in the answer to {request}")));
            };
            let mut next = None;
            for (name, more) in entry.attrs {
                if let Some(r) = range::parse(&name).map_err(|r| self.malformed(format!("{dn}: {r}")))? {
                    next = Some((r, more));
                    break;
                }
            }
            match next {
                Some((r, more)) if r.low == expected && r.name.eq_ignore_ascii_case(&ranged.name) => {
                    values.extend(more);
                    ranged = r;
                }
                Some((r, _)) => {
                    return Err(self.malformed(format!(
                        "{dn}: asked for {request}, got {};range={}-{}",
                        r.name,
                        r.low,
                        r.high.map_or("*".to_string(), |h| h.to_string())
                    )));
                }
                // A server may answer an exhausted range with no attribute at all.
                None => break,
            }
        }
        Ok(ranged.name)
    }
}

const NO_SUCH_OBJECT: u32 = 32;
const CONFIDENTIALITY_REQUIRED: u32 = 13;
const PROTOCOL_ERROR: u32 = 2;

fn refused(dn: &str, res: &LdapResult) -> LdapClientError {
    let mut text = res.text.trim().to_string();
    if !res.refs.is_empty() {
        text = format!("{text} (referred to {})", res.refs.join(", ")).trim_start().to_string();
    }
    if !res.matched.is_empty() && res.rc == NO_SUCH_OBJECT {
        text = format!("{text} (nearest existing entry: {})", res.matched).trim_start().to_string();
    }
    LdapClientError::Refused { dn: dn.to_string(), code: res.rc, name: result_name(res.rc), text }
}

/// An add of an attribute without values: no such LDAP request exists, so nothing is sent.
fn no_values(dn: &Dn, attr: &str) -> LdapClientError {
    LdapClientError::Refused {
        dn: dn.to_string(),
        code: PROTOCOL_ERROR,
        name: result_name(PROTOCOL_ERROR),
        text: format!("attribute {attr} is added without values (refused by samla, not sent)"),
    }
}

fn value_set(values: &[Value]) -> HashSet<Vec<u8>> {
    values
        .iter()
        .map(|v| match v {
            Value::Text(t) => t.as_bytes().to_vec(),
            Value::Binary { bytes } => bytes.clone(),
        })
        .collect()
}

/// AD's `unicodePwd` value: the password in double quotes, UTF-16 little-endian.
fn unicode_pwd(password: &Secret) -> Vec<u8> {
    std::iter::once('"')
        .chain(password.expose().chars())
        .chain(std::iter::once('"'))
        .collect::<String>()
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// Escapes bytes for an RFC 4515 filter assertion value, every byte as `\xx`: binary values
/// (GUIDs) may hold `*`, `(`, `)`, `\` and NUL, and need not be UTF-8.
pub fn escape_filter_bytes(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 3);
    for b in bytes {
        let _ = write!(out, "\\{b:02x}");
    }
    out
}

/// The filter for users and groups carrying one of `anchors` in `mS-DS-ConsistencyGuid`.
pub fn anchor_filter(anchors: &[Anchor]) -> String {
    let mut filter = String::with_capacity(64 + anchors.len() * 73);
    filter.push_str("(&(|(objectClass=user)(objectClass=group))(|");
    for a in anchors {
        filter.push('(');
        filter.push_str(ANCHOR_ATTRIBUTE);
        filter.push('=');
        filter.push_str(&escape_filter_bytes(&a.0.to_ad_bytes()));
        filter.push(')');
    }
    filter.push_str("))");
    filter
}

/// The name of an LDAP result code (RFC 4511 and its extensions), `"unknown"` for others.
pub fn result_name(code: u32) -> &'static str {
    match code {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        5 => "compareFalse",
        6 => "compareTrue",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        14 => "saslBindInProgress",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        18 => "inappropriateMatching",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        33 => "aliasProblem",
        34 => "invalidDNSyntax",
        36 => "aliasDereferencingProblem",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        54 => "loopDetect",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        67 => "notAllowedOnRDN",
        68 => "entryAlreadyExists",
        69 => "objectClassModsProhibited",
        71 => "affectsMultipleDSAs",
        80 => "other",
        118 => "canceled",
        119 => "noSuchOperation",
        120 => "tooLate",
        121 => "cannotCancel",
        122 => "assertionFailed",
        123 => "authorizationDenied",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_values_are_escaped_byte_by_byte() {
        assert_eq!(escape_filter_bytes(&[]), "");
        assert_eq!(escape_filter_bytes(&[0x00, 0x2a, 0x28, 0x29, 0x5c, 0xff, b'a']), r"\00\2a\28\29\5c\ff\61");
        // Nothing but escapes: no byte of the value can end or widen the assertion.
        let all: Vec<u8> = (0..=255).collect();
        let escaped = escape_filter_bytes(&all);
        assert_eq!(escaped.len(), 256 * 3);
        assert!(escaped.as_bytes().chunks(3).all(|c| c[0] == b'\\' && c[1..].iter().all(u8::is_ascii_hexdigit)));
    }

    #[test]
    fn anchor_filters_use_ad_byte_order_and_parse() {
        let guid = ObjectGuid::parse("00112233-4455-6677-8899-aabbccddeeff").unwrap();
        let filter = anchor_filter(&[Anchor(guid)]);
        // The first three fields little-endian, as AD stores the bytes.
        assert_eq!(
            filter,
            r"(&(|(objectClass=user)(objectClass=group))(|(mS-DS-ConsistencyGuid=\33\22\11\00\55\44\77\66\88\99\aa\bb\cc\dd\ee\ff)))"
        );
        let many: Vec<Anchor> = (0..ANCHOR_CHUNK as u32)
            .map(|n| Anchor(ObjectGuid::parse(&format!("2a28295c-0000-0000-0000-{n:012x}")).unwrap()))
            .collect();
        let filter = anchor_filter(&many);
        assert!(filter.len() < 8 * 1024, "{}", filter.len());
        // Each assertion value decodes back to its anchor's bytes, although these GUIDs begin
        // with the bytes of `\)(*`.
        let values: Vec<Vec<u8>> = filter
            .split("(mS-DS-ConsistencyGuid=")
            .skip(1)
            .map(|term| {
                let hex = term.split(')').next().unwrap().replace('\\', "");
                hex::decode(hex).unwrap()
            })
            .collect();
        let want: Vec<Vec<u8>> = many.iter().map(|a| a.0.to_ad_bytes().to_vec()).collect();
        assert_eq!(values, want);
        assert!(!filter.contains('*'));
    }

    #[test]
    fn unicode_pwd_is_quoted_utf16le() {
        let v = unicode_pwd(&Secret::new("Å1"));
        assert_eq!(v, vec![b'"', 0, 0xc5, 0, b'1', 0, b'"', 0]);
    }

    #[test]
    fn refusals_name_their_code_and_never_look_in_doubt() {
        let res = LdapResult {
            rc: 68,
            matched: String::new(),
            text: "00002071: UpdErr: DSID-030502F1, problem 6005 (ENTRY_EXISTS), data 0\n".into(),
            refs: vec![],
            ctrls: vec![],
        };
        let e = refused("CN=a,DC=x", &res);
        assert_eq!(e.code(), Some(68));
        assert!(e.is(68));
        assert_eq!(
            e.to_string(),
            "CN=a,DC=x: entryAlreadyExists (68): 00002071: UpdErr: DSID-030502F1, problem 6005 (ENTRY_EXISTS), data 0"
        );
        let missing = LdapResult { rc: 32, matched: "DC=x".into(), text: String::new(), refs: vec![], ctrls: vec![] };
        assert_eq!(
            refused("CN=a,DC=x", &missing).to_string(),
            "CN=a,DC=x: noSuchObject (32): (nearest existing entry: DC=x)"
        );
        for (code, name) in
            [(20, "attributeOrValueExists"), (53, "unwillingToPerform"), (10, "referral"), (9, "unknown")]
        {
            assert_eq!(result_name(code), name);
        }
        let t = LdapClientError::Transport { url: "ldaps://x".into(), reason: "r".into() };
        assert_eq!(t.code(), None);
    }

    #[test]
    fn found_reads_attributes_in_any_case() {
        let anchor = Anchor(ObjectGuid::parse("00112233-4455-6677-8899-aabbccddeeff").unwrap());
        let found = Found {
            dn: Dn::parse("CN=a,DC=x").unwrap(),
            attrs: BTreeMap::from([
                ("ms-ds-consistencyguid".to_string(), vec![anchor.0.to_ad_bytes().to_vec()]),
                ("member".to_string(), vec![b"CN=b".to_vec(), vec![0xff]]),
            ]),
        };
        assert_eq!(found.anchor(), Some(anchor));
        assert_eq!(found.text("Member").as_deref(), Some("CN=b"));
        assert_eq!(found.texts("MEMBER"), ["CN=b", "\u{fffd}"]);
        assert_eq!(found.text("mail"), None);
        assert!(found.values("mail").is_empty());
    }
}
