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
    #[error("{0}")]
    State(#[from] StateError),
    #[error("the reader stopped unexpectedly: {0}")]
    Internal(String),
}

impl Classified for SourceError {
    /// A source could not be read.
    fn exit_class(&self) -> ExitClass {
        ExitClass::Work
    }
}
