//! Secrets: read from the environment or a file at the moment of use, never from argv, and
//! never printable. [`Secret`]'s `Debug` and `Display` both say `[redacted]`, so a secret that
//! ends up in a log line, an error or a derived `Debug` of a config leaks nothing.

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

/// Where a secret comes from: a named environment variable or a file (first line).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

/// A secret that could not be read; names the variable or file, never a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set (it should hold the password)")]
    EnvMissing(String),
    #[error("environment variable {0} is empty")]
    EnvEmpty(String),
    #[error("password file {path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    #[error("password file {0} is empty")]
    FileEmpty(PathBuf),
}

impl SecretSource {
    pub fn read(&self) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Env(var) => match std::env::var(var) {
                Ok(v) if v.is_empty() => Err(SecretError::EnvEmpty(var.clone())),
                Ok(v) => Ok(Secret(v)),
                Err(_) => Err(SecretError::EnvMissing(var.clone())),
            },
            SecretSource::File(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| SecretError::File { path: path.clone(), source })?;
                let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
                if first.is_empty() {
                    return Err(SecretError::FileEmpty(path.clone()));
                }
                Ok(Secret(first.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
