//! Reading a directory over LDAP: TLS, bind, paged subtree search, ranged retrieval.
//!
//! What Active Directory asks of a reader, and how this module answers:
//! - **Paging.** AD answers at most MaxPageSize (1,000) entries per request; more needs the
//!   paged-results control (1.2.840.113556.1.4.319). The whole search is streamed page by
//!   page, so memory does not grow with the directory.
//! - **Ranged values.** AD splits big multi-valued attributes unasked (see [`super::range`]);
//!   every entry that arrives with `attr;range=a-b` is completed here with base-scope
//!   follow-ups before it is handed on, so later stages never see a partial member list.
//! - **TLS.** LDAPS or StartTLS with certificate verification against the configured CA file
//!   (or the system store); turning verification off must be written in the config.
//! - **Referrals** are not chased: AD hands out referrals to partitions (DomainDnsZones) the
//!   reader neither needs nor may be allowed to reach.
//! - **Errors** say what AD meant: a bind refused with `data 52e` is a wrong password, `533`
//!   a disabled account; a missing base DN, an unreachable server and a TLS failure each get
//!   their own one-line message.
//!
//! Entries are decoded from BER here without ldap3's `SearchEntry::construct`, which panics on
//! malformed input and guesses which values are binary; samla keeps every value as bytes.

use super::error::SourceError;
use super::range;
use crate::config::{LdapSource, TlsMode};
use crate::model::RawEntry;
use crate::model::convert::{ATTRIBUTES, FILTER};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::asn1::{PL, StructureTag};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, ResultEntry, Scope, SearchStream};
use std::sync::Arc;

type Stream = SearchStream<'static, String, Vec<String>>;

/// An open, bound connection streaming one municipality's objects.
pub struct LdapReader {
    ldap: Ldap,
    stream: Stream,
    url: String,
    base: String,
    timeout: std::time::Duration,
    finished: bool,
}

impl LdapReader {
    /// Connects, binds and starts the paged search. Every failure is a one-line [`SourceError`].
    pub async fn open(cfg: &LdapSource) -> Result<LdapReader, SourceError> {
        let mut ldap = connect_and_bind(cfg).await?;
        let attrs: Vec<String> = ATTRIBUTES.iter().map(|a| a.to_string()).collect();
        let adapters: Vec<Box<dyn Adapter<'static, String, Vec<String>>>> =
            vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(cfg.page_size as i32))];
        let base = cfg.base_dn.to_string();
        let stream = ldap
            .with_timeout(cfg.timeout)
            .streaming_search_with(adapters, &base, Scope::Subtree, FILTER, attrs)
            .await
            .map_err(|e| search_error(&cfg.url, &base, e))?;
        Ok(LdapReader { ldap, stream, url: cfg.url.clone(), base, timeout: cfg.timeout, finished: false })
    }

    /// The next entry with every ranged attribute completed, or `None` at the end.
    pub async fn next_entry(&mut self) -> Result<Option<RawEntry>, SourceError> {
        if self.finished {
            return Ok(None);
        }
        match self.stream.next().await.map_err(|e| search_error(&self.url, &self.base, e))? {
            Some(entry) => {
                let mut raw = decode_entry(entry).map_err(|e| self.protocol(e))?;
                self.complete_ranges(&mut raw).await?;
                Ok(Some(raw))
            }
            None => {
                self.finished = true;
                let res = self.stream.finish().await;
                if res.rc != 0 {
                    return Err(search_error(&self.url, &self.base, LdapError::LdapResult { result: res }));
                }
                let _ = self.ldap.unbind().await;
                Ok(None)
            }
        }
    }

    /// Replaces every `attr;range=a-b` in `raw` by the full `attr`, asking for the rest.
    async fn complete_ranges(&mut self, raw: &mut RawEntry) -> Result<(), SourceError> {
        let mut attrs = Vec::with_capacity(raw.attrs.len());
        let url = self.url.clone();
        for (name, mut values) in std::mem::take(&mut raw.attrs) {
            let protocol =
                |reason: String| SourceError::Protocol { url: url.clone(), reason: format!("{}: {reason}", raw.dn) };
            let Some(mut ranged) = range::parse(&name).map_err(|e| protocol(e.to_string()))? else {
                attrs.push((name, values));
                continue;
            };
            if ranged.low != 0 {
                return Err(protocol(format!("first reply for {} starts at {}, not 0", ranged.name, ranged.low)));
            }
            while let Some(request) = ranged.next_request() {
                let expected_low = ranged.high.map_or(0, |h| h + 1);
                let (next, more) = self.fetch_range(&raw.dn, &request).await?;
                match next {
                    Some(r) if r.low == expected_low && r.name.eq_ignore_ascii_case(&ranged.name) => {
                        values.extend(more);
                        ranged = r;
                    }
                    Some(r) => {
                        return Err(protocol(format!(
                            "asked for {request}, got {};range={}-{}",
                            r.name,
                            r.low,
                            r.high.map_or_else(|| "*".to_string(), |h| h.to_string())
                        )));
                    }
                    // A server may answer an exhausted range with no attribute at all.
                    None => break,
                }
            }
            attrs.push((ranged.name, values));
        }
        raw.attrs = attrs;
        Ok(())
    }

    /// One base-scope follow-up for `attr;range=low-*`.
    async fn fetch_range(
        &mut self,
        dn: &str,
        request: &str,
    ) -> Result<(Option<range::RangedAttr>, Vec<Vec<u8>>), SourceError> {
        let (entries, _res) = self
            .ldap
            .with_timeout(self.timeout)
            .search(dn, Scope::Base, "(objectClass=*)", vec![request])
            .await
            .and_then(|r| r.success())
            .map_err(|e| search_error(&self.url, dn, e))?;
        let Some(entry) = entries.into_iter().next() else {
            return Ok((None, Vec::new()));
        };
        let raw = decode_entry(entry).map_err(|e| self.protocol(e))?;
        for (name, values) in raw.attrs {
            let parsed = range::parse(&name).map_err(|e| self.protocol(e))?;
            if let Some(r) = parsed {
                return Ok((Some(r), values));
            }
        }
        Ok((None, Vec::new()))
    }

    /// The server sent something that is not what LDAP or AD promise.
    fn protocol(&self, reason: impl ToString) -> SourceError {
        SourceError::Protocol { url: self.url.clone(), reason: reason.to_string() }
    }
}

/// Connects to `cfg.url` and binds as `cfg.bind_dn`, with the TLS rules above. Shared with the
/// shared-AD client ([`crate::client::ldap`]), so both speak to a directory the same way.
pub(crate) async fn connect_and_bind(cfg: &LdapSource) -> Result<Ldap, SourceError> {
    let mut settings = LdapConnSettings::new().set_conn_timeout(cfg.timeout).set_starttls(cfg.tls == TlsMode::Starttls);
    if cfg.tls != TlsMode::Plain {
        if !cfg.verify_certificates {
            tracing::warn!(url = %cfg.url, "TLS certificate verification is turned off for this source");
            settings = settings.set_no_tls_verify(true);
        } else if let Some(ca) = &cfg.ca_file {
            settings = settings.set_config(tls_config(ca)?);
        }
    }
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &cfg.url)
        .await
        .map_err(|e| connect_error(&cfg.url, cfg.ca_file.is_some(), e))?;
    ldap3::drive!(conn);
    let password = cfg.password.read()?;
    let res = ldap
        .with_timeout(cfg.timeout)
        .simple_bind(&cfg.bind_dn, password.expose())
        .await
        .map_err(|e| connect_error(&cfg.url, cfg.ca_file.is_some(), e))?;
    if res.rc != 0 {
        return Err(SourceError::Bind {
            url: cfg.url.clone(),
            bind_dn: cfg.bind_dn.clone(),
            code: res.rc,
            meaning: bind_meaning(res.rc, &res.text),
        });
    }
    Ok(ldap)
}

fn tls_config(ca_file: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, SourceError> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let tls_err = |reason: String| SourceError::Tls { url: ca_file.display().to_string(), reason };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file).map_err(|e| tls_err(format!("CA file: {e}")))?;
    for cert in certs {
        let cert = cert.map_err(|e| tls_err(format!("CA file: {e}")))?;
        roots.add(cert).map_err(|e| tls_err(format!("CA file: {e}")))?;
    }
    if roots.is_empty() {
        return Err(tls_err("CA file holds no PEM certificate".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// What AD's `data NNN` sub-code in a bind error means (from the diagnostic message).
pub fn bind_meaning(rc: u32, text: &str) -> String {
    let data = text.split("data ").nth(1).map(|s| s.chars().take_while(|c| c.is_ascii_hexdigit()).collect::<String>());
    let ad = match data.as_deref() {
        Some("525") => Some("user not found"),
        Some("52e") => Some("wrong password or unknown user (AD data 52e: invalid credentials)"),
        Some("530") => Some("not permitted to log on at this time (AD data 530)"),
        Some("531") => Some("not permitted to log on at this workstation (AD data 531)"),
        Some("532") => Some("password expired (AD data 532)"),
        Some("533") => Some("account disabled (AD data 533)"),
        Some("701") => Some("account expired (AD data 701)"),
        Some("773") => Some("password must be changed before first logon (AD data 773)"),
        Some("775") => Some("account locked out (AD data 775)"),
        _ => None,
    };
    match (ad, rc) {
        (Some(m), _) => m.to_string(),
        (None, 49) => "invalid credentials".to_string(),
        (None, 8) => "the server requires a stronger authentication (sign/seal or TLS)".to_string(),
        (None, _) if text.trim().is_empty() => format!("result code {rc}"),
        (None, _) => format!("result code {rc}: {}", text.trim()),
    }
}

fn connect_error(url: &str, has_ca: bool, e: LdapError) -> SourceError {
    let tls = |reason: String| {
        let hint = if has_ca { "" } else { " (set ca_file to the CA that signed the server's certificate)" };
        SourceError::Tls { url: url.to_string(), reason: format!("{reason}{hint}") }
    };
    match e {
        // rustls reports a refused certificate as an I/O error wrapping its own error.
        LdapError::Io { source } if source.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            tls(source.to_string())
        }
        LdapError::Io { source } => SourceError::Connect { url: url.to_string(), reason: source.to_string() },
        LdapError::Timeout { .. } => SourceError::Connect { url: url.to_string(), reason: "timed out".into() },
        LdapError::Rustls { source } => tls(source.to_string()),
        LdapError::LdapResult { result } if result.rc == 52 || result.rc == 2 => {
            SourceError::Tls { url: url.to_string(), reason: format!("StartTLS refused: {}", result.text.trim()) }
        }
        other => SourceError::Connect { url: url.to_string(), reason: other.to_string() },
    }
}

fn search_error(url: &str, base: &str, e: LdapError) -> SourceError {
    match e {
        LdapError::LdapResult { result } if result.rc == 32 => SourceError::NoSuchBase {
            url: url.to_string(),
            base: base.to_string(),
            detail: result.text.trim().to_string(),
        },
        LdapError::LdapResult { result } => SourceError::Search {
            url: url.to_string(),
            base: base.to_string(),
            reason: format!("result code {}: {}", result.rc, result.text.trim()),
        },
        LdapError::Io { source } => SourceError::Connect { url: url.to_string(), reason: source.to_string() },
        other => SourceError::Search { url: url.to_string(), base: base.to_string(), reason: other.to_string() },
    }
}

/// A search result entry whose BER is not what RFC 4511 says: what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed search result entry: {0}")]
pub struct MalformedEntry(pub &'static str);

/// Decodes a SearchResultEntry (`[APPLICATION 4] { objectName, attributes }`) keeping every
/// value as bytes. Malformed BER is an error, never a panic.
pub fn decode_entry(entry: ResultEntry) -> Result<RawEntry, MalformedEntry> {
    let tag = entry.0;
    let bad = MalformedEntry;
    let mut parts = constructed(tag).ok_or_else(|| bad("not constructed"))?.into_iter();
    let dn = parts.next().and_then(primitive).ok_or_else(|| bad("no DN"))?;
    let dn = String::from_utf8(dn).map_err(|_| bad("DN is not UTF-8"))?;
    let mut raw = RawEntry::new(dn);
    let attrs = parts.next().and_then(constructed).ok_or_else(|| bad("no attribute list"))?;
    for attr in attrs {
        let mut pair = constructed(attr).ok_or_else(|| bad("attribute is not a sequence"))?.into_iter();
        let name = pair.next().and_then(primitive).ok_or_else(|| bad("attribute without a type"))?;
        let name = String::from_utf8(name).map_err(|_| bad("attribute type is not UTF-8"))?;
        let values = pair.next().and_then(constructed).ok_or_else(|| bad("attribute without a value set"))?;
        let values = values
            .into_iter()
            .map(primitive)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("value is not an octet string"))?;
        raw.attrs.push((name, values));
    }
    Ok(raw)
}

fn constructed(tag: StructureTag) -> Option<Vec<StructureTag>> {
    match tag.payload {
        PL::C(children) => Some(children),
        PL::P(_) => None,
    }
}

fn primitive(tag: StructureTag) -> Option<Vec<u8>> {
    match tag.payload {
        PL::P(bytes) => Some(bytes),
        PL::C(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ad_bind_sub_codes() {
        let text = "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563";
        assert!(bind_meaning(49, text).contains("wrong password"));
        assert!(bind_meaning(49, "... data 533, v4563").contains("disabled"));
        assert_eq!(bind_meaning(49, ""), "invalid credentials");
        assert_eq!(bind_meaning(53, "unwilling"), "result code 53: unwilling");
    }

    #[test]
    fn malformed_entries_are_errors() {
        use ldap3::asn1::TagClass;
        let prim = |b: &[u8]| StructureTag { class: TagClass::Universal, id: 4, payload: PL::P(b.to_vec()) };
        let cons = |c: Vec<StructureTag>| StructureTag { class: TagClass::Universal, id: 16, payload: PL::C(c) };
        let good =
            cons(vec![prim(b"CN=a"), cons(vec![cons(vec![prim(b"cn"), cons(vec![prim(b"a"), prim(&[0xff])])])])]);
        let raw = decode_entry(ResultEntry::new(good)).unwrap();
        assert_eq!(raw.attrs, vec![("cn".to_string(), vec![b"a".to_vec(), vec![0xff]])]);
        for bad in
            [prim(b"x"), cons(vec![]), cons(vec![prim(b"CN=a"), prim(b"x")]), cons(vec![prim(&[0xff]), cons(vec![])])]
        {
            assert!(decode_entry(ResultEntry::new(bad)).is_err());
        }
    }
}
