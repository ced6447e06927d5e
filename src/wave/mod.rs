//! The application layer: every operation on a wave, one module each, with typed inputs and a
//! typed outcome. The command line parses flags, opens the state once, calls one entry
//! function and prints what it returns; the demo calls the same functions. Nothing here
//! prints: what a person must see before a write is shown through an [`operator::Operator`].
//!
//! Every operation starts from what [`crate::project::load`] reads. In the order a wave lives:
//! - [`prepare`]: the wave's content, after the checks that stop a wave (stale, blocking
//!   findings, names a target refuses).
//! - [`connect`]: a target's clients, connected once; the target's identity, checked against
//!   the one its earlier runs recorded.
//! - [`dependencies`]: which waves a wave refers to, and whether they are in a target.
//! - [`compare`]: the wave against what a target holds.
//! - [`dry_run`]: the exact requests and LDIF, written to files.
//! - [`run`]: the wave sent, journaled and resumable.
//! - [`report`]: the rollback reports per municipality.
//! - [`cutover`]: the wave's people moved: accounts enabled, first sign-ins issued, handouts;
//!   [`cutover_plan`]: what it will do and did, per municipality; [`cutover_ad`]: its shared-AD half.
//! - [`rollback_plan`]: what undoing the wave would do, from the journal and a live look.
//! - [`rollback`]: the wave undone, per municipality if asked.
//! - [`status`]: the journal's runs of a wave; [`listing`]: every wave and where it stands in each target.
//! - [`operator`]: who is shown and asked; [`error`]: why an operation stopped, with its exit class.

pub mod compare;
pub mod connect;
pub mod cutover;
pub mod cutover_ad;
pub mod cutover_plan;
pub mod dependencies;
pub mod dry_run;
pub mod error;
pub mod listing;
pub mod operator;
pub mod preflight;
pub mod prepare;
pub mod report;
pub mod rollback;
pub mod rollback_plan;
pub mod run;
pub mod status;

pub use error::WaveError;
