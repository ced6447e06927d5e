//! `samla.toml`: one file that says where each municipality's directory is read from and
//! where samla keeps its state.
//!
//! Parsing happens in two steps, as ripgrep does with flags: serde reads the raw shape
//! (unknown keys are refused with their line), then [`Config::load`] validates it into
//! settings later stages can trust: names unique, one source kind per municipality, TLS
//! rules applied (plain LDAP only to loopback unless `allow_plain = true`), paths resolved
//! against the config file's folder. Passwords are never in the file: it names an
//! environment variable or a file to read them from.

pub mod error;
pub mod ldap;
pub mod operator;
pub mod secret;
pub mod target;

pub use error::ConfigError;
pub use ldap::{LdapSource, MAX_PAGE_SIZE, TlsMode, is_loopback};

use ldap::{RawLdap, validate_ldap};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use target::{RawTarget, RawThresholds, TargetConfig, Thresholds};
use toml::Spanned;

/// The share a source's users, groups or memberships may shrink by against the previous
/// accepted snapshot before a new one is held (`max_shrink` of a `[[source]]`).
pub const DEFAULT_MAX_SHRINK: f64 = 0.10;

/// A municipality's short name (`bjuv`), used in commands, file names and the state.
pub type MunicipalityName = String;

/// Backups of the state kept when `[state] backups` does not say.
pub const DEFAULT_STATE_BACKUPS: usize = 10;

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file itself.
    pub file: PathBuf,
    pub state_path: PathBuf,
    /// Backups of the state kept in `state/backups` (`[state] backups`).
    pub state_backups: usize,
    pub sources: Vec<SourceConfig>,
    /// Where waves run (`[[target]]`).
    pub targets: Vec<TargetConfig>,
    /// How much one run may change per municipality (`[thresholds]`).
    pub thresholds: Thresholds,
    /// The first sign-in a cutover gives (`[cutover]`).
    pub cutover: CutoverSettings,
}

/// `[cutover]`: the Temporary Access Pass each cloud user of a wave gets on cutover day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutoverSettings {
    /// Minutes a pass is valid (`tap_lifetime_minutes`, default 480: a working day, Graph's
    /// default policy's maximum). Must also lie within the tenant's policy, checked live.
    pub tap_lifetime_minutes: u32,
    /// Whether a pass is usable once only (`tap_usable_once`, default false: a person may need
    /// a second sign-in on the first morning; Graph's default).
    pub tap_usable_once: bool,
}

/// Graph's own bounds of a pass's lifetime (minutes), whatever a tenant's policy says.
pub const TAP_LIFETIME_BOUNDS: std::ops::RangeInclusive<u32> = 10..=43_200;

impl Default for CutoverSettings {
    fn default() -> CutoverSettings {
        CutoverSettings { tap_lifetime_minutes: 480, tap_usable_once: false }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCutover {
    tap_lifetime_minutes: Option<Spanned<u32>>,
    tap_usable_once: Option<bool>,
}

/// One municipality's source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: MunicipalityName,
    pub display_name: String,
    pub kind: SourceKind,
    /// The share its users, groups or memberships may shrink by against the previous accepted
    /// snapshot before a new one is held (`max_shrink`, default 0.10).
    pub max_shrink: f64,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    Ldap(LdapSource),
    Ldif(PathBuf),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    state: RawState,
    #[serde(default, rename = "source")]
    sources: Vec<Spanned<RawSource>>,
    #[serde(default, rename = "target")]
    targets: Vec<Spanned<RawTarget>>,
    thresholds: Option<Spanned<RawThresholds>>,
    cutover: Option<RawCutover>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawState {
    path: Option<PathBuf>,
    backups: Option<Spanned<usize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: Spanned<String>,
    display_name: Option<String>,
    ldap: Option<Spanned<RawLdap>>,
    ldif: Option<PathBuf>,
    max_shrink: Option<Spanned<f64>>,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(file).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ConfigError::NotFound { file: file.to_path_buf() },
            _ => ConfigError::Read { file: file.to_path_buf(), source },
        })?;
        let text = utf8_text(file, bytes)?;
        Config::parse(file, &text)
    }

    /// Validates config text; `file` names it in errors and anchors relative paths.
    pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
        let at = |span: std::ops::Range<usize>, message: String| {
            let (line, column) = line_col(text, span.start);
            ConfigError::At { file: file.to_path_buf(), line, column, message }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let message = e.message().to_string();
            at(e.span().unwrap_or(0..0), message)
        })?;
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let resolve = |p: PathBuf| if p.is_relative() { dir.join(p) } else { p };
        let state_path = resolve(raw.state.path.unwrap_or_else(|| PathBuf::from("state/samla.db")));
        let state_backups = match raw.state.backups {
            None => DEFAULT_STATE_BACKUPS,
            Some(n) if *n.get_ref() == 0 => {
                return Err(at(n.span(), "`backups` must be at least 1 (a wave run is backed up first)".into()));
            }
            Some(n) => n.into_inner(),
        };
        let mut sources: Vec<SourceConfig> = Vec::new();
        for spanned in raw.sources {
            let span = spanned.span();
            let src = spanned.into_inner();
            let name = src.name.get_ref().clone();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                return Err(at(
                    src.name.span(),
                    format!("source name {name:?} must be lower-case ASCII letters, digits and '-'"),
                ));
            }
            if sources.iter().any(|s| s.name == name) {
                return Err(at(src.name.span(), format!("source {name:?} is defined twice")));
            }
            let kind = match (src.ldap, src.ldif) {
                (Some(ldap), None) => SourceKind::Ldap(validate_ldap(ldap, &at, &resolve)?),
                (None, Some(path)) => SourceKind::Ldif(resolve(path)),
                (Some(_), Some(_)) => {
                    return Err(at(span, format!("source {name:?} has both `ldap` and `ldif`; give one")));
                }
                (None, None) => {
                    return Err(at(span, format!("source {name:?} needs an `ldap` table or an `ldif` file")));
                }
            };
            let max_shrink = match src.max_shrink {
                None => DEFAULT_MAX_SHRINK,
                Some(m) if (0.0..=1.0).contains(m.get_ref()) => *m.get_ref(),
                Some(m) => {
                    return Err(at(m.span(), format!("max_shrink = {} is not a share between 0 and 1", m.get_ref())));
                }
            };
            sources.push(SourceConfig {
                display_name: src.display_name.unwrap_or_else(|| name.clone()),
                name,
                kind,
                max_shrink,
            });
        }
        let mut targets: Vec<TargetConfig> = Vec::new();
        for spanned in raw.targets {
            let name_span = spanned.get_ref().name_span();
            let t = target::validate_target(spanned, &at, &resolve)?;
            if targets.iter().any(|x| x.name == t.name) {
                return Err(at(name_span, format!("target {:?} is defined twice", t.name)));
            }
            targets.push(t);
        }
        let thresholds = target::validate_thresholds(raw.thresholds, &at)?;
        let mut cutover = CutoverSettings::default();
        if let Some(raw) = raw.cutover {
            if let Some(m) = raw.tap_lifetime_minutes {
                if !TAP_LIFETIME_BOUNDS.contains(m.get_ref()) {
                    let message = format!(
                        "tap_lifetime_minutes = {} is outside Graph's bounds ({} to {} minutes)",
                        m.get_ref(),
                        TAP_LIFETIME_BOUNDS.start(),
                        TAP_LIFETIME_BOUNDS.end()
                    );
                    return Err(at(m.span(), message));
                }
                cutover.tap_lifetime_minutes = m.into_inner();
            }
            cutover.tap_usable_once = raw.tap_usable_once.unwrap_or(cutover.tap_usable_once);
        }
        Ok(Config { file: file.to_path_buf(), state_path, state_backups, sources, targets, thresholds, cutover })
    }

    /// The target of that name.
    pub fn target(&self, name: &str) -> Result<&TargetConfig, ConfigError> {
        self.targets.iter().find(|t| t.name == name).ok_or_else(|| ConfigError::UnknownTarget {
            name: name.to_string(),
            file: self.file.clone(),
            known: self.targets.iter().map(|t| t.name.clone()).collect(),
        })
    }

    /// The named sources, in config order; all of them when `names` is empty.
    pub fn select(&self, names: &[String]) -> Result<Vec<&SourceConfig>, ConfigError> {
        if let Some(unknown) = names.iter().find(|n| !self.sources.iter().any(|s| &s.name == *n)) {
            return Err(ConfigError::UnknownSource {
                name: unknown.clone(),
                file: self.file.clone(),
                known: self.sources.iter().map(|s| s.name.clone()).collect(),
            });
        }
        Ok(self.sources.iter().filter(|s| names.is_empty() || names.contains(&s.name)).collect())
    }
}

/// The 1-based line and column (in characters) of a byte offset, for `file:line:column`
/// messages. An offset inside a character counts as that character.
/// The text of a file that must be UTF-8; otherwise an error at the line and column of the
/// first byte that is not (what the bytes before it are, and the byte itself).
pub fn utf8_text(file: &Path, bytes: Vec<u8>) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let before = String::from_utf8_lossy(&bytes[..valid]);
        let (line, column) = line_col(&before, valid);
        let byte = bytes.get(valid).copied().unwrap_or_default();
        let message = format!("not UTF-8 text (byte 0x{byte:02X}); save the file as UTF-8");
        ConfigError::At { file: file.to_path_buf(), line, column, message }
    })
}

pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| before[nl + 1..].chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/p/samla.toml"), text)
    }

    const GOOD: &str = r#"
[state]
path = "state/x.db"

[[source]]
name = "bjuv"
display_name = "Bjuvs kommun"
ldap = { url = "ldaps://dc1.bjuv.local", base_dn = "DC=bjuv,DC=local", bind_dn = "CN=svc,DC=bjuv,DC=local", password_env = "BJUV_PW", ca_file = "ca.pem" }

[[source]]
name = "klippan"
ldif = "exports/klippan.ldf"
"#;

    #[test]
    fn a_good_config() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.state_path, Path::new("/p/state/x.db"));
        assert_eq!(c.sources.len(), 2);
        let SourceKind::Ldap(l) = &c.sources[0].kind else { panic!() };
        assert_eq!(l.tls, TlsMode::Ldaps);
        assert_eq!(l.page_size, 1000);
        assert_eq!(l.ca_file.as_deref(), Some(Path::new("/p/ca.pem")));
        assert!(matches!(&c.sources[1].kind, SourceKind::Ldif(p) if p == Path::new("/p/exports/klippan.ldf")));
        assert_eq!(c.sources[1].display_name, "klippan");
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = err("[state]\npath = \"x\"\ncolour = \"blue\"\n");
        assert!(e.starts_with("/p/samla.toml:3:1: unknown field `colour`"), "{e}");
    }

    #[test]
    fn plain_ldap_only_to_loopback() {
        let src = |url: &str, extra: &str| {
            format!(
                "[[source]]\nname = \"a\"\nldap = {{ url = \"{url}\", tls = \"plain\", base_dn = \"DC=a\", bind_dn = \"x\", password_env = \"P\"{extra} }}\n"
            )
        };
        let e = err(&src("ldap://dc.bjuv.se", ""));
        assert!(e.starts_with("/p/samla.toml:3:"), "{e}");
        assert!(e.contains("clear text"), "{e}");
        assert!(parse(&src("ldap://127.0.0.5:389", "")).is_ok());
        assert!(parse(&src("ldap://dc.bjuv.se", ", allow_plain = true")).is_ok());
        assert!(err(&src("ldaps://dc.bjuv.se", "")).contains("does not match"));
    }

    #[test]
    fn tls_is_named_as_the_file_writes_it() {
        let src = |url: &str, tls: &str| {
            format!(
                "[[source]]\nname = \"a\"\nldap = {{ url = \"{url}\", tls = \"{tls}\", base_dn = \"DC=a\", bind_dn = \"x\", password_env = \"P\" }}\n"
            )
        };
        let e = err(&src("ldap://dc.bjuv.se", "ldaps"));
        assert!(e.contains("tls = \"ldaps\" does not match the url scheme \"ldap\""), "{e}");
        let e = err(&src("ldaps://dc.bjuv.se", "starttls"));
        assert!(e.contains("tls = \"starttls\" does not match the url scheme \"ldaps\""), "{e}");
        for mode in [TlsMode::Ldaps, TlsMode::Starttls, TlsMode::Plain] {
            let written: TlsMode = toml::Value::String(mode.to_string()).try_into().unwrap();
            assert_eq!(written, mode, "{mode} reads back as itself");
        }
    }

    #[test]
    fn a_file_that_is_not_utf8_is_refused_at_the_first_bad_byte() {
        let e = utf8_text(Path::new("/p/samla.toml"), b"[state]\npath = \"caf\xE9.db\"\n".to_vec()).unwrap_err();
        assert_eq!(e.to_string(), "/p/samla.toml:2:12: not UTF-8 text (byte 0xE9); save the file as UTF-8");
        let e = utf8_text(Path::new("s.toml"), b"# \xC3\xA5\xC3\xA4\xFF".to_vec()).unwrap_err();
        assert!(e.to_string().starts_with("s.toml:1:5: "), "{e}");
        assert_eq!(utf8_text(Path::new("s.toml"), "å".as_bytes().to_vec()).unwrap(), "å");
    }

    #[test]
    fn other_mistakes() {
        assert!(err("[[source]]\nname = \"a\"\n").contains("needs an `ldap` table or an `ldif` file"));
        assert!(
            err("[[source]]\nname = \"a\"\nldif = \"x\"\n[[source]]\nname = \"a\"\nldif = \"y\"\n")
                .contains(":5:8: source \"a\" is defined twice")
        );
        assert!(err("[[source]]\nname = \"Bjuv\"\nldif = \"x\"\n").contains("lower-case"));
        let big_page = "[[source]]\nname = \"a\"\nldap = { url = \"ldaps://h\", base_dn = \"DC=a\", bind_dn = \"x\", password_env = \"P\", page_size = 5000 }\n";
        assert!(err(big_page).contains("page_size must be"));
        let bad_dn = "[[source]]\nname = \"a\"\nldap = { url = \"ldaps://h\", base_dn = \"DC=a,,\", bind_dn = \"x\", password_env = \"P\" }\n";
        assert!(err(bad_dn).contains("base_dn"));
        let shrink = "[[source]]\nname = \"a\"\nldif = \"x\"\nmax_shrink = 1.5\n";
        assert!(err(shrink).contains(":4:14: max_shrink = 1.5 is not a share"), "{}", err(shrink));
        assert_eq!(parse(&shrink.replace("1.5", "0.05")).unwrap().sources[0].max_shrink, 0.05);
        assert_eq!(parse(GOOD).unwrap().sources[0].max_shrink, 0.10);
    }

    #[test]
    fn the_cutover_section_has_defaults_within_graphs_bounds_and_refuses_the_rest() {
        assert_eq!(parse(GOOD).unwrap().cutover, CutoverSettings::default());
        let c = parse(&format!("[cutover]\ntap_lifetime_minutes = 120\ntap_usable_once = true\n{GOOD}")).unwrap();
        assert_eq!(c.cutover, CutoverSettings { tap_lifetime_minutes: 120, tap_usable_once: true });
        let long = err("[cutover]\ntap_lifetime_minutes = 50000\n");
        assert!(long.contains(":2:24: tap_lifetime_minutes = 50000 is outside Graph's bounds"), "{long}");
        assert!(err("[cutover]\ntap_lifetime_minutes = 5\n").contains("outside Graph's bounds"));
        let unknown = err("[cutover]\ntap_lifetime = 60\n");
        assert!(unknown.contains(":2:1: unknown field `tap_lifetime`"), "{unknown}");
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let c = parse(GOOD).unwrap();
        assert_eq!(
            c.target("lab").unwrap_err().to_string(),
            "no target named \"lab\" in /p/samla.toml (known: none; add a [[target]])"
        );
        let e = c.select(&["bjuv".into(), "perstorp".into()]).unwrap_err();
        assert_eq!(e.to_string(), "no source named \"perstorp\" in /p/samla.toml (known: bjuv, klippan)");
        assert_eq!(c.select(&["klippan".into()]).unwrap().len(), 1);
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.6"));
        assert!(is_loopback("[::1]"));
        assert!(is_loopback("LOCALHOST"));
        assert!(!is_loopback("10.0.0.1"));
    }
}
