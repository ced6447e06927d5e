//! What a cutover will do and did, per municipality ([`super::cutover`]): what the operator
//! is shown before it asks, and what `samla wave cutover --json` prints. It never holds a pass.

use super::error::WaveError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One municipality's part of a cutover: what was to be done, and what was done.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MunicipalityCutover {
    /// Cloud users the wave created for the municipality (and cut over).
    pub users: usize,
    /// Of the wave's users, those whose source account was disabled or expired when mapped:
    /// left disabled, no pass.
    pub left_disabled: usize,
    /// Accounts to enable (disabled when looked at).
    pub enable: usize,
    /// Passes to issue (users without a usable pass, or with one the handout lacks).
    pub issue: usize,
    /// Of them, passes found that the handout lacks: deleted first.
    pub replace: usize,
    /// Users whose pass (journaled, and in the handout) is kept.
    pub keep: usize,
    /// Old accounts the handout lists to close.
    pub close: usize,
    /// Shared-AD accounts to enable, each with a new initial password (or, enabled by an
    /// earlier cutover whose password the handout lacks, to give a new one).
    pub ad_enable: usize,
    /// Shared-AD accounts enabled when the run created them: left as they are.
    pub ad_already_enabled: usize,
    /// Shared-AD accounts enabled by this cutover.
    pub ad_enabled: usize,
    /// Accounts enabled and passes issued by this cutover.
    pub enabled: usize,
    pub issued: usize,
}

/// What `samla wave cutover --json` prints. It never holds a pass.
#[derive(Debug, Serialize)]
pub struct CutoverOutcome {
    pub run: Option<i64>,
    pub wave: u32,
    pub target: String,
    pub municipality: Option<String>,
    pub dry_run: bool,
    pub ok: bool,
    pub tap_lifetime_minutes: u32,
    pub tap_usable_once: bool,
    pub municipalities: BTreeMap<String, MunicipalityCutover>,
    /// The handouts written (CSV and HTML per municipality).
    pub handouts: Vec<PathBuf>,
    /// What did not go through, with the reason.
    pub failures: Vec<String>,
    /// What this cutover leaves to people.
    pub notes: Vec<String>,
}

impl CutoverOutcome {
    /// The outcome when every account is enabled and every user has a pass, else why not.
    pub fn completed(self) -> Result<CutoverOutcome, WaveError> {
        if self.ok { Ok(self) } else { Err(WaveError::CutoverIncomplete { wave: self.wave }) }
    }
}
