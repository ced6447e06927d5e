//! `[[target]]` and `[thresholds]` in samla.toml: where a wave is executed, and how much one
//! run may change per municipality before samla stops and asks a person.
//!
//! A target is one environment a wave runs against: a lab (a Samba AD DC shared domain and
//! the local test tenant) or production (the shared AD and the joint tenant). Each has an
//! optional shared AD (validated like a source's `ldap`, with the same TLS rules) and an
//! optional tenant. Graph's real endpoints are the defaults, so production names only its
//! tenant and application; a lab points `graph_url` and `login_url` at the test tenant. The
//! client secret, like every password, comes from an environment variable or a file.
//!
//! Thresholds guard against a runaway change (a wrong mapping that would touch every
//! account): they are counted per municipality, absolute and as a share of the
//! municipality's people, with defaults that let an ordinary wave through and stop a mass
//! update or delete.

use super::error::ConfigError;
use super::ldap::{LdapSource, RawLdap, is_loopback, validate_ldap, yes};
use super::secret::SecretSource;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// Graph's v1.0 root.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";
/// Entra's login host; the token endpoint is `<login_url>/<tenant>/oauth2/v2.0/token`.
pub const DEFAULT_LOGIN_URL: &str = "https://login.microsoftonline.com";

/// One named place a wave can run against.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    pub name: String,
    pub tenant: Option<TenantTarget>,
    pub shared_ad: Option<LdapSource>,
}

/// How the application logs in: a client secret, or a certificate whose private key signs
/// a client assertion.
#[derive(Debug, Clone)]
pub enum ClientCredential {
    Secret(SecretSource),
    Certificate { certificate: PathBuf, private_key: SecretSource },
}

/// The joint tenant, reached over Graph.
#[derive(Debug, Clone)]
pub struct TenantTarget {
    pub tenant_id: String,
    pub client_id: String,
    pub credential: ClientCredential,
    /// The v1.0 root, without a trailing slash.
    pub graph_url: String,
    /// The login host, without a trailing slash.
    pub login_url: String,
    /// Writes the app may make per `budget_window` (Graph: 3,000 per 150 s). A time-scaled
    /// test tenant gets the window divided by its scale.
    pub write_budget: u32,
    pub budget_window: Duration,
    /// The most `$batch` requests in flight at once (concurrency adapts below this).
    pub max_concurrency: usize,
    pub timeout: Duration,
    /// A CA bundle to verify the endpoints against (the system store otherwise).
    pub ca_file: Option<PathBuf>,
    pub verify_certificates: bool,
}

/// The most one run may do to one municipality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub max_creates: u64,
    pub max_creates_share: f64,
    pub max_updates: u64,
    pub max_updates_share: f64,
    pub max_deletes: u64,
    pub max_deletes_share: f64,
}

impl Default for Limits {
    /// A wave of a few thousand new accounts passes; rewriting or deleting more than a small
    /// part of a municipality's existing accounts does not.
    fn default() -> Limits {
        Limits {
            max_creates: 5_000,
            max_creates_share: 1.0,
            max_updates: 200,
            max_updates_share: 0.10,
            max_deletes: 200,
            max_deletes_share: 0.10,
        }
    }
}

/// Thresholds: the defaults, and each municipality's own where given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Thresholds {
    pub default: Limits,
    pub municipality: BTreeMap<String, Limits>,
}

impl Thresholds {
    pub fn for_municipality(&self, name: &str) -> Limits {
        self.municipality.get(name).copied().unwrap_or(self.default)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    name: Spanned<String>,
    tenant: Option<Spanned<RawTenant>>,
    shared_ad: Option<Spanned<RawLdap>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    tenant_id: String,
    client_id: String,
    client_secret_env: Option<String>,
    client_secret_file: Option<PathBuf>,
    certificate_file: Option<PathBuf>,
    private_key_file: Option<PathBuf>,
    graph_url: Option<Spanned<String>>,
    login_url: Option<Spanned<String>>,
    write_budget: Option<u32>,
    budget_window_seconds: Option<f64>,
    max_concurrency: Option<usize>,
    timeout_seconds: Option<u64>,
    ca_file: Option<PathBuf>,
    #[serde(default = "yes")]
    verify_certificates: bool,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_creates: Option<u64>,
    max_creates_share: Option<f64>,
    max_updates: Option<u64>,
    max_updates_share: Option<f64>,
    max_deletes: Option<u64>,
    max_deletes_share: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawThresholds {
    max_creates: Option<u64>,
    max_creates_share: Option<f64>,
    max_updates: Option<u64>,
    max_updates_share: Option<f64>,
    max_deletes: Option<u64>,
    max_deletes_share: Option<f64>,
    #[serde(default)]
    municipality: BTreeMap<String, Spanned<RawLimits>>,
}

impl RawTarget {
    pub(super) fn name_span(&self) -> std::ops::Range<usize> {
        self.name.span()
    }
}

type At<'a> = &'a dyn Fn(std::ops::Range<usize>, String) -> ConfigError;

/// A `max_*_share` outside 0..=1; the caller adds the place.
#[derive(Debug, thiserror::Error)]
#[error("{name} = {value} is not a share between 0 and 1")]
struct NotAShare {
    name: &'static str,
    value: f64,
}

fn limits(raw: RawLimits, base: Limits) -> Result<Limits, NotAShare> {
    let share = |v: Option<f64>, d: f64, name: &'static str| match v {
        None => Ok(d),
        Some(s) if (0.0..=1.0).contains(&s) => Ok(s),
        Some(value) => Err(NotAShare { name, value }),
    };
    Ok(Limits {
        max_creates: raw.max_creates.unwrap_or(base.max_creates),
        max_creates_share: share(raw.max_creates_share, base.max_creates_share, "max_creates_share")?,
        max_updates: raw.max_updates.unwrap_or(base.max_updates),
        max_updates_share: share(raw.max_updates_share, base.max_updates_share, "max_updates_share")?,
        max_deletes: raw.max_deletes.unwrap_or(base.max_deletes),
        max_deletes_share: share(raw.max_deletes_share, base.max_deletes_share, "max_deletes_share")?,
    })
}

pub(super) fn validate_thresholds(raw: Option<Spanned<RawThresholds>>, at: At<'_>) -> Result<Thresholds, ConfigError> {
    let Some(raw) = raw else { return Ok(Thresholds::default()) };
    let span = raw.span();
    let raw = raw.into_inner();
    let own = RawLimits {
        max_creates: raw.max_creates,
        max_creates_share: raw.max_creates_share,
        max_updates: raw.max_updates,
        max_updates_share: raw.max_updates_share,
        max_deletes: raw.max_deletes,
        max_deletes_share: raw.max_deletes_share,
    };
    let default = limits(own, Limits::default()).map_err(|e| at(span.clone(), e.to_string()))?;
    let mut municipality = BTreeMap::new();
    for (name, l) in raw.municipality {
        let span = l.span();
        municipality.insert(name, limits(l.into_inner(), default).map_err(|e| at(span, e.to_string()))?);
    }
    Ok(Thresholds { default, municipality })
}

fn endpoint(raw: Option<Spanned<String>>, default: &str, at: At<'_>) -> Result<String, ConfigError> {
    let Some(raw) = raw else { return Ok(default.to_string()) };
    let text = raw.get_ref().trim_end_matches('/').to_string();
    let url = url::Url::parse(&text).map_err(|e| at(raw.span(), format!("{text:?}: {e}")))?;
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" => Ok(text),
        "http" if is_loopback(host) => Ok(text),
        "http" => Err(at(
            raw.span(),
            format!(
                "{text:?}: plain HTTP would send the token in clear text; only a loopback test tenant may use http"
            ),
        )),
        other => Err(at(raw.span(), format!("{text:?}: scheme {other:?} is not https"))),
    }
}

pub(super) fn validate_target(
    spanned: Spanned<RawTarget>,
    at: At<'_>,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<TargetConfig, ConfigError> {
    let span = spanned.span();
    let raw = spanned.into_inner();
    let name = raw.name.get_ref().clone();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(at(
            raw.name.span(),
            format!("target name {name:?} must be lower-case ASCII letters, digits and '-'"),
        ));
    }
    if raw.tenant.is_none() && raw.shared_ad.is_none() {
        return Err(at(span, format!("target {name:?} needs a `tenant` table, a `shared_ad` table, or both")));
    }
    let shared_ad = raw.shared_ad.map(|l| validate_ldap(l, &at, &resolve)).transpose()?;
    let tenant = match raw.tenant {
        None => None,
        Some(t) => {
            let span = t.span();
            let t = t.into_inner();
            let credential = match (t.client_secret_env, t.client_secret_file, t.certificate_file, t.private_key_file) {
                (Some(var), None, None, None) => ClientCredential::Secret(SecretSource::Env(var)),
                (None, Some(path), None, None) => ClientCredential::Secret(SecretSource::File(resolve(path))),
                (None, None, Some(cert), Some(key)) => ClientCredential::Certificate {
                    certificate: resolve(cert),
                    private_key: SecretSource::File(resolve(key)),
                },
                _ => {
                    return Err(at(
                        span,
                        "give exactly one of client_secret_env, client_secret_file, or certificate_file with private_key_file"
                            .to_string(),
                    ));
                }
            };
            let window = t.budget_window_seconds.unwrap_or(150.0);
            if !(window.is_finite() && window > 0.0) {
                return Err(at(span, "budget_window_seconds must be a positive number".to_string()));
            }
            Some(TenantTarget {
                tenant_id: t.tenant_id,
                client_id: t.client_id,
                credential,
                graph_url: endpoint(t.graph_url, DEFAULT_GRAPH_URL, at)?,
                login_url: endpoint(t.login_url, DEFAULT_LOGIN_URL, at)?,
                write_budget: t.write_budget.unwrap_or(3_000).max(1),
                budget_window: Duration::from_secs_f64(window),
                max_concurrency: t.max_concurrency.unwrap_or(8).clamp(1, 64),
                timeout: Duration::from_secs(t.timeout_seconds.unwrap_or(60)),
                ca_file: t.ca_file.map(resolve),
                verify_certificates: t.verify_certificates,
            })
        }
    };
    Ok(TargetConfig { name, tenant, shared_ad })
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/p/samla.toml"), text)
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    const LAB: &str = r#"
[[target]]
name = "lab"
[target.tenant]
tenant_id = "t"
client_id = "c"
client_secret_env = "LAB_SECRET"
graph_url = "http://127.0.0.1:8080/v1.0/"
login_url = "http://127.0.0.1:8080"
budget_window_seconds = 1.5
[target.shared_ad]
url = "ldap://127.0.0.7"
base_dn = "DC=samverkan,DC=test"
bind_dn = "CN=Administrator,CN=Users,DC=samverkan,DC=test"
password_file = "secrets/lab"

[thresholds]
max_updates = 10
[thresholds.municipality.bjuv]
max_creates = 3
"#;

    #[test]
    fn a_lab_target_and_thresholds() {
        let c = parse(LAB).unwrap();
        let t = &c.targets[0];
        assert_eq!(t.name, "lab");
        let tenant = t.tenant.as_ref().unwrap();
        assert_eq!(tenant.graph_url, "http://127.0.0.1:8080/v1.0");
        assert_eq!(tenant.write_budget, 3000);
        assert_eq!(tenant.budget_window.as_secs_f64(), 1.5);
        assert!(t.shared_ad.is_some());
        assert_eq!(c.thresholds.default.max_updates, 10);
        let bjuv = c.thresholds.for_municipality("bjuv");
        assert_eq!((bjuv.max_creates, bjuv.max_updates), (3, 10));
        assert_eq!(c.thresholds.for_municipality("klippan").max_creates, 5_000);
        assert!(c.target("lab").is_ok());
        assert!(c.target("prod").unwrap_err().to_string().contains("lab"));
    }

    #[test]
    fn production_defaults_and_refusals() {
        let c = parse("[[target]]\nname = \"prod\"\ntenant = { tenant_id = \"t\", client_id = \"c\", client_secret_file = \"s\" }\n")
            .unwrap();
        let t = c.targets[0].tenant.as_ref().unwrap();
        assert_eq!(t.graph_url, super::DEFAULT_GRAPH_URL);
        assert_eq!(t.login_url, super::DEFAULT_LOGIN_URL);
        let remote_http = "[[target]]\nname = \"x\"\ntenant = { tenant_id = \"t\", client_id = \"c\", client_secret_env = \"S\", graph_url = \"http://graph.example\" }\n";
        assert!(err(remote_http).contains(":3:"), "names the line");
        assert!(err(remote_http).contains("clear text"));
        let two = "[[target]]\nname = \"x\"\ntenant = { tenant_id = \"t\", client_id = \"c\", client_secret_env = \"S\", client_secret_file = \"f\" }\n";
        assert!(err(two).contains("exactly one"));
        assert!(err("[[target]]\nname = \"x\"\n").contains("needs a `tenant`"));
        assert!(err("[thresholds]\nmax_updates_share = 2.0\n").contains("share"));
        assert!(err("[thresholds]\nmax_update = 2\n").contains("unknown field"));
    }
}
