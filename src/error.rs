//! What kind of failure an error is, as the command line reports it: the exit code.
//!
//! Every error type of the library that can reach the command line says which class it
//! belongs to, next to its definition, so the front end can turn any of them into an exit
//! code with `?` instead of choosing one at each call:
//!
//! - [`ExitClass::Usage`] (exit 2): the command or the project's files are wrong (an unknown
//!   target, a mistake in samla.toml, a mapping file or a wave file). Fixing the input fixes it.
//! - [`ExitClass::Work`] (exit 1): the input was fine, the work failed (a source or a target
//!   could not be reached or refused, the state file could not be written). Running again
//!   may succeed.
//!
//! This module names no other module of samla, so every module may use it.

/// The class of a failure, which decides the process's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    /// Bad usage or configuration: exit code 2.
    Usage,
    /// The work failed: exit code 1.
    Work,
}

impl ExitClass {
    /// The process exit code of this class.
    pub fn code(self) -> u8 {
        match self {
            ExitClass::Usage => 2,
            ExitClass::Work => 1,
        }
    }
}

/// An error that knows its exit class.
pub trait Classified {
    fn exit_class(&self) -> ExitClass;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(ExitClass::Usage.code(), 2);
        assert_eq!(ExitClass::Work.code(), 1);
    }

    #[test]
    fn a_classified_error_becomes_a_failure_with_its_code_and_message() {
        use crate::cli::Failure;
        use std::path::PathBuf;
        let config = crate::config::ConfigError::At {
            file: PathBuf::from("samla.toml"),
            line: 3,
            column: 1,
            message: "unknown field `colour`".into(),
        };
        let f = Failure::from(config);
        assert_eq!((f.code, f.message.as_str()), (2, "samla.toml:3:1: unknown field `colour`"));
        let io = || std::io::Error::other("disk full");
        let written = crate::plan::files::WaveFileError::Write { path: PathBuf::from("waves/w.toml"), source: io() };
        assert_eq!(Failure::from(written).code, 1);
        let read = crate::plan::files::WaveFileError::Io { path: PathBuf::from("waves"), source: io() };
        assert_eq!(Failure::from(read).code, 2);
    }
}
