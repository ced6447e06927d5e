//! Mapping: the municipalities' snapshots become one unified directory.
//!
//! - [`spec`]: the mapping files (mappings/target.toml and one per municipality), validated
//!   with file, line and column.
//! - [`transform`], [`names`], [`privacy`]: the pure pieces (attribute transforms and
//!   templates, names valid for Graph and AD, the personnummer guard).
//! - [`attributes`]: a person's mapped attributes, compact for a million people.
//! - [`overrides`]: the team's decisions on uncertain matches.
//! - [`unify`]: the unified directory and its findings, deterministic and stable.
pub mod overrides;
pub mod privacy;
pub mod spec;
pub mod transform;
pub mod unify;
