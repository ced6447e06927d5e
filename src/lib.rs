//! samla consolidates several municipalities' Active Directories into one shared
//! directory and one joint Microsoft 365 tenant, one safe wave at a time.
//!
//! Data flows one way through the stages, each a module folder:
//!
//! ```text
//! source (LDAP | LDIF) -> snapshot (state) -> map -> plan -> dry-run -> execute -> rollback
//! ```
//!
//! - [`model`]: the typed, pure domain (DNs, GUIDs, SIDs, AD flags and times, directory objects).
//! - [`source`]: reading a municipality's directory over LDAP or from an LDIF export. I/O only;
//!   every entry becomes a model object through one pure conversion.
//! - [`state`]: the one embedded SQLite file that holds snapshots (and, later, the journal).
//! - [`config`]: `samla.toml`, validated once at the edge.
//! - [`error`]: the exit class (usage or work) every error that reaches the command line has.
//! - [`estate`]: the deterministic sample estate of five municipalities, for demos, tests and benchmarks.
//! - [`cli`]: the thin command-line front end.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo, clippy::unimplemented)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod cli;
pub mod client;
pub mod config;
pub mod error;
pub mod estate;
pub mod execute;
pub mod journal;
pub mod mapping;
pub mod model;
pub mod plan;
pub mod render;
pub mod report;
pub mod rollback;
pub mod source;
pub mod state;
pub mod test_tenant;
