//! Why reading a source failed: one line that names the place.

use crate::config::secret::SecretError;
use crate::error::{Classified, ExitClass};
use crate::model::convert::ConvertError;
use crate::state::StateError;
use std::path::PathBuf;

/// Why reading a source failed. Each variant is one line that names the place.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot reach {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("TLS with {url} failed: {reason}")]
    Tls { url: String, reason: String },
    #[error("{url} refused the bind as {bind_dn:?}: {meaning} (LDAP result {code})")]
    Bind { url: String, bind_dn: String, code: u32, meaning: String },
    #[error("{url}: base DN {base:?} does not exist on the server ({detail})")]
    NoSuchBase { url: String, base: String, detail: String },
    #[error("{url}: search under {base:?} failed: {reason}")]
    Search { url: String, base: String, reason: String },
    #[error("{url}: {reason}")]
    Protocol { url: String, reason: String },
    #[error("{0}")]
    Secret(#[from] SecretError),
    /// A source's password cannot be read, found before any source is read.
    #[error("{municipality}: {error}")]
    SecretOf { municipality: String, error: SecretError },
    #[error("{}:{line}: {reason}", path.display())]
    Ldif { path: PathBuf, line: usize, reason: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{origin}: {error}")]
    Convert { origin: String, error: ConvertError },
    #[error(
        "{origin}: no users in what the source gave; an empty source is refused (the previous snapshot stays in use)"
    )]
    Empty { origin: String },
    /// Text values holding control characters ([`crate::model::convert::refused_text`]): every
    /// one up to [`LISTED`] is listed with its place, DN and attribute, then how many more.
    #[error(
        "{origin}: {total} value(s) hold control characters, which no target stores; fix them in the directory and discover again:\n  {}{}",
        listed.join("\n  "),
        more_of(*total, listed.len())
    )]
    ControlCharacters { origin: String, total: usize, listed: Vec<String> },
    /// A second record of an object already read: the same DN or the same objectGUID.
    #[error(
        "{second}: {dn}: a second record with the {what} of the record at {first}; an export holds each object once"
    )]
    Duplicate { what: &'static str, dn: String, first: String, second: String },
    #[error("{0}")]
    State(#[from] StateError),
    #[error("the reader stopped unexpectedly: {0}")]
    Internal(String),
}

/// How many refused values a [`SourceError::ControlCharacters`] lists.
pub const LISTED: usize = 20;

fn more_of(total: usize, listed: usize) -> String {
    match total.saturating_sub(listed) {
        0 => String::new(),
        more => format!("\n  ... and {more} more"),
    }
}

impl Classified for SourceError {
    /// What the source holds, or where samla.toml says it is, is wrong (a malformed or missing
    /// export, a value no target takes, an object twice, a password that cannot be read):
    /// exit 2, fixing the input fixes it. A source that could not be reached or read, or gave
    /// nobody (an export or a search that went wrong, not a wrong file): exit 1.
    fn exit_class(&self) -> ExitClass {
        match self {
            SourceError::Secret(e) | SourceError::SecretOf { error: e, .. } => e.exit_class(),
            SourceError::Ldif { .. }
            | SourceError::Convert { .. }
            | SourceError::ControlCharacters { .. }
            | SourceError::Duplicate { .. } => ExitClass::Usage,
            SourceError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => ExitClass::Usage,
            SourceError::State(e) => e.exit_class(),
            SourceError::Connect { .. }
            | SourceError::Tls { .. }
            | SourceError::Bind { .. }
            | SourceError::NoSuchBase { .. }
            | SourceError::Search { .. }
            | SourceError::Protocol { .. }
            | SourceError::Io { .. }
            | SourceError::Empty { .. }
            | SourceError::Internal(_) => ExitClass::Work,
        }
    }
}
