//! samla consolidates several municipalities' Active Directories into one shared
//! directory and one joint Microsoft 365 tenant, one safe wave at a time.
//!
//! Data flows one way through the stages:
//!
//! ```text
//! source (LDAP | LDIF) -> snapshot (state) -> map -> plan -> render (dry-run) -> execute -> rollback
//! ```
//!
//! The map of the house, bottom up: each module depends only on those above it in this list
//! (`tests/it/layout.rs` checks that no file or folder imports one that imports it back).
//!
//! - [`error`]: the two exit classes every error below the command line carries.
//! - [`model`]: the vocabulary, pure: DNs, GUIDs, SIDs, AD flags and times, source objects, the
//!   unified directory (anchors, people, groups, findings, the name book), naming rules,
//!   target settings.
//! - [`config`]: `samla.toml` and secrets, validated once at the edge.
//! - [`state`]: the one SQLite file: snapshots, unified directories, the journal's tables.
//! - [`source`]: reading a municipality's directory over LDAP or from an LDIF export.
//! - [`estate`]: the deterministic sample estate of five municipalities.
//! - [`mapping`]: the mapping files and the unify algorithm (matching, naming, privacy).
//! - [`plan`]: impact scores, waves, and the reviewable wave files.
//! - [`render`]: what a wave becomes: Graph requests for the tenant, LDAP operations (LDIF)
//!   for the shared AD. Pure.
//! - [`client`]: the Graph and LDAP clients (login, throttling, paging, TLS).
//! - [`journal`]: who ran what against which target, every operation before it is sent.
//! - [`execute`]: converging a target to a wave, pass by pass, resumable.
//! - [`rollback`]: the rules for undoing a wave from its journal.
//! - [`report`]: what people read: CSV for Excel, HTML with charts.
//! - [`test_tenant`]: a local Microsoft Graph that behaves like the real one.
//! - [`project`]: the application layer before waves: loading a project, mapping, planning.
//! - [`wave`]: the application layer: every operation on a wave (prepare, compare, dry-run,
//!   run, rollback reports, rollback, status), typed inputs and outcomes.
//! - [`cli`]: the command line: parses, calls one application function, prints.
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
pub mod project;
pub mod render;
pub mod report;
pub mod rollback;
pub mod source;
pub mod state;
pub mod test_tenant;
pub mod wave;
