//! Where an LDAP directory is and how to reach it: a source's `ldap` table and a target's
//! `shared_ad` table in samla.toml, read and checked the same way (TLS rules included).

use super::error::ConfigError;
use super::secret::SecretSource;
use crate::model::Dn;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// The largest page AD serves (MaxPageSize); asking for more only gets an error from slapd.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (`ldaps://`, port 636).
    Ldaps,
    /// Plain connection upgraded with the StartTLS extended operation before binding.
    Starttls,
    /// No TLS: only to loopback, or with `allow_plain = true`.
    Plain,
}

impl TlsMode {
    /// The mode as samla.toml writes it (`tls = "ldaps"`), for messages and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Ldaps => "ldaps",
            TlsMode::Starttls => "starttls",
            TlsMode::Plain => "plain",
        }
    }
}

impl std::fmt::Display for TlsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct LdapSource {
    pub url: String,
    pub host: String,
    pub base_dn: Dn,
    pub bind_dn: String,
    pub password: SecretSource,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    pub verify_certificates: bool,
    pub page_size: u32,
    pub timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLdap {
    url: Spanned<String>,
    base_dn: Spanned<String>,
    bind_dn: String,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    tls: Option<Spanned<TlsMode>>,
    #[serde(default)]
    allow_plain: bool,
    ca_file: Option<PathBuf>,
    #[serde(default = "yes")]
    verify_certificates: bool,
    page_size: Option<Spanned<u32>>,
    timeout_seconds: Option<u64>,
}

pub(crate) fn yes() -> bool {
    true
}

pub(crate) fn validate_ldap(
    spanned: Spanned<RawLdap>,
    at: &impl Fn(std::ops::Range<usize>, String) -> ConfigError,
    resolve: &impl Fn(PathBuf) -> PathBuf,
) -> Result<LdapSource, ConfigError> {
    let span = spanned.span();
    let raw = spanned.into_inner();
    let url_text = raw.url.get_ref().clone();
    let url = url::Url::parse(&url_text).map_err(|e| at(raw.url.span(), format!("url {url_text:?}: {e}")))?;
    let host = url.host_str().unwrap_or_default().to_string();
    if host.is_empty() {
        return Err(at(raw.url.span(), format!("url {url_text:?} has no host")));
    }
    let scheme_tls = match url.scheme() {
        "ldaps" => TlsMode::Ldaps,
        "ldap" => TlsMode::Starttls,
        other => return Err(at(raw.url.span(), format!("url scheme {other:?} is not ldap or ldaps"))),
    };
    let tls = match raw.tls {
        None => scheme_tls,
        Some(t) => {
            let mode = *t.get_ref();
            if (mode == TlsMode::Ldaps) != (scheme_tls == TlsMode::Ldaps) {
                return Err(at(
                    t.span(),
                    format!("tls = \"{mode}\" does not match the url scheme \"{}\"", url.scheme()),
                ));
            }
            mode
        }
    };
    if tls == TlsMode::Plain && !raw.allow_plain && !is_loopback(&host) {
        return Err(at(
            raw.url.span(),
            format!(
                "plain LDAP to {host} would send the password in clear text; use tls = \"ldaps\" or \"starttls\", or set allow_plain = true"
            ),
        ));
    }
    let base_dn = Dn::parse(raw.base_dn.get_ref()).map_err(|e| at(raw.base_dn.span(), format!("base_dn: {e}")))?;
    let password = match (raw.password_env, raw.password_file) {
        (Some(var), None) => SecretSource::Env(var),
        (None, Some(path)) => SecretSource::File(resolve(path)),
        _ => return Err(at(span, "give exactly one of password_env or password_file".to_string())),
    };
    let page_size = match raw.page_size {
        None => MAX_PAGE_SIZE,
        Some(p) if (1..=MAX_PAGE_SIZE).contains(p.get_ref()) => *p.get_ref(),
        Some(p) => return Err(at(p.span(), format!("page_size must be 1..={MAX_PAGE_SIZE} (AD's MaxPageSize)"))),
    };
    Ok(LdapSource {
        url: url_text,
        host,
        base_dn,
        bind_dn: raw.bind_dn,
        password,
        tls,
        ca_file: raw.ca_file.map(resolve),
        verify_certificates: raw.verify_certificates,
        page_size,
        timeout: Duration::from_secs(raw.timeout_seconds.unwrap_or(30)),
    })
}

/// Loopback hosts: 127.0.0.0/8, ::1 and `localhost`.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
