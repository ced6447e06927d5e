//! How a failure ends the process: every error type below the command line says which class it
//! belongs to, so the command line maps it to an exit code without deciding anything itself.
//!
//! Two classes, as the README promises: the operator must fix the command or the configuration
//! (exit 2), or the work itself failed, a directory or the tenant could not be read or written
//! (exit 1).

/// The exit class of a failure.
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
