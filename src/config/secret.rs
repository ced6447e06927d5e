//! Secrets: read from the environment or a file at the moment of use, never from argv, and
//! never printable. [`Secret`]'s `Debug` and `Display` both say `[redacted]`, so a secret that
//! ends up in a log line, an error or a derived `Debug` of a config leaks nothing.

use crate::error::{Classified, ExitClass};
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;

/// A secret value held in memory only while it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one call that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where a secret comes from: a named environment variable or a file. [`SecretSource::read`]
/// takes a file's first line (a password); [`SecretSource::read_all`] takes the whole value
/// (a PEM private key).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

/// A secret that could not be read; names the variable or file, never a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set (it should hold the secret)")]
    EnvMissing(String),
    #[error("environment variable {0} is empty")]
    EnvEmpty(String),
    #[error("secret file {path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    #[error("secret file {0} is empty")]
    FileEmpty(PathBuf),
}

impl Classified for SecretError {
    /// The variable or file samla.toml names is missing, empty or unreadable: configuration
    /// (exit 2), as the README says. Discover reads every source's secret before it reads any
    /// source, so this is said before anything is read or printed.
    fn exit_class(&self) -> ExitClass {
        ExitClass::Usage
    }
}

impl SecretSource {
    /// A one-line secret (a password): the variable's value, or a file's first line.
    pub fn read(&self) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Env(var) => read_env(var),
            SecretSource::File(path) => {
                let text = read_file(path)?;
                let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
                if first.is_empty() {
                    return Err(SecretError::FileEmpty(path.clone()));
                }
                Ok(Secret(first.to_string()))
            }
        }
    }

    /// A secret of several lines (a PEM private key): the variable's whole value, or the
    /// file's whole text, unchanged. [`SecretSource::read`] would keep only the first line,
    /// which for a key is its `-----BEGIN` marker.
    pub fn read_all(&self) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Env(var) => read_env(var),
            SecretSource::File(path) => {
                let text = read_file(path)?;
                if text.trim().is_empty() {
                    return Err(SecretError::FileEmpty(path.clone()));
                }
                Ok(Secret(text))
            }
        }
    }

    /// Resolves a relative file path against the directory of the config file.
    pub fn relative_to(self, dir: &std::path::Path) -> SecretSource {
        match self {
            SecretSource::File(p) if p.is_relative() => SecretSource::File(dir.join(p)),
            other => other,
        }
    }
}

fn read_env(var: &str) -> Result<Secret, SecretError> {
    match std::env::var(var) {
        Ok(v) if v.is_empty() => Err(SecretError::EnvEmpty(var.to_string())),
        Ok(v) => Ok(Secret(v)),
        Err(_) => Err(SecretError::EnvMissing(var.to_string())),
    }
}

fn read_file(path: &std::path::Path) -> Result<String, SecretError> {
    std::fs::read_to_string(path).map_err(|source| SecretError::File { path: path.to_path_buf(), source })
}

/// The system gave no randomness for a password.
#[derive(Debug, thiserror::Error)]
#[error("no random source for passwords: {0}")]
pub struct NoRandomSource(getrandom::Error);

/// A password Entra accepts (upper, lower, digit, symbol; 24 characters) from the OS's
/// random source. It lives only in the request that creates the user.
pub fn random_password() -> Result<Secret, NoRandomSource> {
    const SETS: [&[u8]; 4] = [b"ABCDEFGHJKLMNPQRSTUVWXYZ", b"abcdefghijkmnopqrstuvwxyz", b"23456789", b"!#%+-.:=?@^_~"];
    let mut bytes = [0u8; 24];
    getrandom::getrandom(&mut bytes).map_err(NoRandomSource)?;
    let password: String =
        bytes.iter().enumerate().map(|(i, b)| SETS[i % 4][usize::from(*b) % SETS[i % 4].len()] as char).collect();
    Ok(Secret::new(password))
}

/// Writes a secret to `path` readable by its owner only (mode 0600 on Unix), also when the
/// file was there before with wider permissions.
pub fn write_secret_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(text.as_bytes())
    }
    #[cfg(not(unix))]
    {
        options.open(path)?.write_all(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_secret_file_is_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_secret_file(&path, "s3cret\n").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "s3cret\n");
        write_secret_file(&dir.path().join("new"), "x").unwrap();
        assert_eq!(std::fs::metadata(dir.path().join("new")).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?} {:?}", Some(&s)), "[redacted] [redacted] Some([redacted])");
    }

    #[test]
    fn file_first_line_and_errors_name_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\nignored\n").unwrap();
        assert_eq!(SecretSource::File(path.clone()).read().unwrap().expose(), "s3cret");
        let err = SecretSource::Env("SAMLA_TEST_SURELY_UNSET_VAR".into()).read().unwrap_err();
        assert!(err.to_string().contains("SAMLA_TEST_SURELY_UNSET_VAR"));
    }

    #[test]
    fn read_all_keeps_every_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\nBBBB\n-----END PRIVATE KEY-----\n";
        std::fs::write(&path, pem).unwrap();
        let source = SecretSource::File(path.clone());
        assert_eq!(source.read_all().unwrap().expose(), pem);
        assert_eq!(source.read().unwrap().expose(), "-----BEGIN PRIVATE KEY-----", "read keeps the first line only");
        std::fs::write(&path, "\n  \n").unwrap();
        let err = source.read_all().unwrap_err().to_string();
        assert!(err.contains("key.pem") && err.contains("empty"), "{err}");
        let missing = SecretSource::File(dir.path().join("nope.pem")).read_all().unwrap_err().to_string();
        assert!(missing.contains("nope.pem"), "{missing}");
    }
}
