//! The shared AD's half of a cutover ([`super::cutover`]): the accounts samla created for the
//! wave there are enabled, each with a random initial password that must be changed at first
//! sign-in (`unicodePwd` over LDAPS or StartTLS, `pwdLastSet` 0, `userAccountControl` 512, one
//! modify), and [`undo`] disables them again.
//!
//! - Journaled like the tenant's enables (kind `cutover`, system `shared_ad`, action
//!   `enable_user`, the `userAccountControl` before it as the before-image), the intent before
//!   the write. The password is in the intent as a placeholder only: it goes to the handout
//!   alone, its row written and synced before the journal records the enable.
//! - Resumable: an account this cutover enabled whose password the handout lacks (a kill after
//!   the write, before the row) gets a new one; one whose password the handout holds is left.
//! - An account enabled already when the run created it (`new_accounts = "random-password"`
//!   with the source account enabled) is left as it is: counted as `ad_already_enabled`.

use super::error::WaveError;
use crate::client::ldap::{LdapClientError, SharedAdClient, UAC_NORMAL_ENABLED};
use crate::config::secret::random_password;
use crate::journal::{Action, Completion, Entry, Intent, OpState, RunKind, System};
use crate::model::dn::Dn;
use crate::render::ldap::{Change, ModKind, Value};
use crate::report::handout;
use crate::state::State;
use serde_json::json;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

/// An account the wave created (a cloud user, or a shared-AD account: `id` is its DN), as the
/// handout names its person.
pub(super) struct User {
    pub(super) anchor: String,
    pub(super) id: String,
    pub(super) upn: String,
    pub(super) name: String,
    pub(super) unit: String,
    pub(super) municipality: String,
    pub(super) old_dn: String,
}

/// ACCOUNTDISABLE in `userAccountControl`.
const DISABLED: i64 = 2;

/// What one shared-AD account needs.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AdStep {
    /// Enable it with a new initial password; `before` is its `userAccountControl` before the
    /// cutover (the rollback's value).
    Enable { before: i64 },
    /// Enabled by a cutover whose password the handout holds: nothing.
    Done,
    /// Enabled when the run created it: left alone.
    AlreadyEnabled,
    /// Not there any more.
    Gone,
}

/// The `userAccountControl` before-images the cutovers of the wave journaled, per anchor (the
/// oldest, the account's state before any cutover).
pub(super) fn journaled(state: &State, target: &str, wave: u32) -> Result<HashMap<String, i64>, WaveError> {
    let mut out = HashMap::new();
    for e in state.kind_entries(target, wave, RunKind::Cutover)? {
        if e.system != System::SharedAd || e.action != Action::EnableUser || !e.may_have_happened() {
            continue;
        }
        if let (Some(anchor), Some(before)) = (e.anchor.clone(), before_uac(&e)) {
            out.entry(anchor).or_insert(before);
        }
    }
    Ok(out)
}

fn before_uac(e: &Entry) -> Option<i64> {
    let before: serde_json::Value = serde_json::from_str(e.before.as_deref()?).ok()?;
    before["userAccountControl"].as_i64()
}

fn dn_of(u: &User) -> Result<Dn, WaveError> {
    Dn::parse(&u.id).map_err(|e| WaveError::shared_ad(format!("{}: {e}", u.id)))
}

/// What each account needs: read from the shared AD, the journal and the handout's passwords
/// (`with_password`: the UPNs of the municipality's handout that hold one).
pub(super) async fn look(
    client: &mut SharedAdClient,
    accounts: &[User],
    journaled: &HashMap<String, i64>,
    with_password: &dyn Fn(&User) -> Result<bool, WaveError>,
) -> Result<Vec<AdStep>, WaveError> {
    let mut out = Vec::with_capacity(accounts.len());
    for u in accounts {
        let found = client.read(&dn_of(u)?, &["userAccountControl"]).await.map_err(WaveError::shared_ad)?;
        let Some(found) = found else {
            out.push(AdStep::Gone);
            continue;
        };
        let uac = found.text("useraccountcontrol").and_then(|t| t.parse::<i64>().ok()).unwrap_or(DISABLED);
        let journaled = journaled.get(&u.anchor).copied();
        let handed = journaled.is_some() && with_password(u)?;
        out.push(step(uac, journaled, handed));
    }
    Ok(out)
}

/// What an account whose `userAccountControl` is `uac` needs, given the before-image an
/// earlier cutover journaled for it (if one did) and whether the handout holds its password.
fn step(uac: i64, journaled: Option<i64>, handed: bool) -> AdStep {
    match journaled {
        _ if uac & DISABLED != 0 => AdStep::Enable { before: journaled.unwrap_or(uac) },
        // Enabled by a cutover killed before the password's row was written: a new one.
        Some(before) if !handed => AdStep::Enable { before },
        Some(_) => AdStep::Done,
        None => AdStep::AlreadyEnabled,
    }
}

/// How a shared-AD write that failed ended: refused (nothing changed), or in doubt.
fn failed(row: i64, e: &LdapClientError) -> Completion {
    let state = if e.code().is_some() { OpState::Failed } else { OpState::InDoubt };
    Completion {
        row,
        state,
        status: e.code().and_then(|c| u16::try_from(c).ok()),
        result: e.to_string(),
        object_id: None,
    }
}

/// The journal's intent for a change of `account` (its DN) in the shared AD; `before` is its
/// `userAccountControl` before the change.
fn intent(account: &Account<'_>, action: Action, key: &str, request: serde_json::Value, before: i64) -> Intent {
    Intent {
        system: System::SharedAd,
        pass: 1,
        op_key: format!("{key}:shared_ad:{action}:{}", account.anchor),
        action,
        municipality: account.municipality.to_string(),
        anchor: Some(account.anchor.to_string()),
        object: account.dn.to_string(),
        intent: request.to_string(),
        before: Some(json!({"userAccountControl": before}).to_string()),
    }
}

/// What the journal names a shared-AD account by.
struct Account<'a> {
    anchor: &'a str,
    municipality: &'a str,
    dn: &'a str,
}

impl<'a> From<&'a User> for Account<'a> {
    fn from(u: &'a User) -> Account<'a> {
        Account { anchor: &u.anchor, municipality: &u.municipality, dn: &u.id }
    }
}

/// Enables `u` with a new initial password: journaled, written, the password's handout row
/// written and synced, then the journal records the enable. Returns whether it was enabled;
/// a failure is pushed to `failures`.
pub(super) async fn enable(
    client: &mut SharedAdClient,
    state: &mut State,
    run: i64,
    u: &User,
    before: i64,
    handout_path: &Path,
    failures: &mut Vec<String>,
) -> Result<bool, WaveError> {
    let request = json!({"dn": u.id, "replace": {"unicodePwd": "(a new random password: in the handout only)",
        "pwdLastSet": 0, "userAccountControl": UAC_NORMAL_ENABLED}});
    let row = state.record_intent(run, &intent(&u.into(), Action::EnableUser, "cutover", request, before))?;
    let password = random_password().map_err(WaveError::shared_ad)?;
    let c = match client.set_initial_password(&dn_of(u)?, &password, true).await {
        Ok(()) => {
            let row_of = handout::PasswordRow {
                name: &u.name,
                upn: &u.upn,
                unit: &u.unit,
                password: &password,
                old_dn: &u.old_dn,
            };
            handout::append_password(handout_path, &row_of)?;
            Completion {
                row,
                state: OpState::Done,
                status: Some(0),
                result: "enabled".into(),
                object_id: Some(u.id.clone()),
            }
        }
        Err(e) => {
            failures.push(format!("{}: enable in the shared AD: {e}", u.id));
            failed(row, &e)
        }
    };
    let ok = c.state == OpState::Done;
    state.record_completions(&[c])?;
    Ok(ok)
}

/// Undoes the shared-AD enables of the cutovers of `wave` in `target` (of `municipality` when
/// given), journaled in the rollback run `run`: each account's `userAccountControl` back to its
/// before-image (an account no longer there counts as undone). Returns the requests sent and
/// what failed.
pub async fn undo(
    state: &mut State,
    client: &mut SharedAdClient,
    run: i64,
    target: &str,
    wave: u32,
    municipality: Option<&str>,
) -> Result<(u64, Vec<String>), WaveError> {
    let entries: Vec<Entry> = state
        .kind_entries(target, wave, RunKind::Cutover)?
        .into_iter()
        .filter(|e| e.system == System::SharedAd && e.action == Action::EnableUser && e.may_have_happened())
        .filter(|e| municipality.is_none_or(|m| m == e.municipality))
        .collect();
    let (mut sent, mut failures, mut seen) = (0, Vec::new(), HashSet::new());
    for e in &entries {
        let (Some(before), true) = (before_uac(e), seen.insert(e.object.clone())) else { continue };
        let dn = Dn::parse(&e.object).map_err(|err| WaveError::shared_ad(format!("{}: {err}", e.object)))?;
        let request = json!({"dn": e.object, "replace": {"userAccountControl": before}});
        let account =
            Account { anchor: e.anchor.as_deref().unwrap_or_default(), municipality: &e.municipality, dn: &e.object };
        // Its before-image is the enabled state the cutover left.
        let row = state
            .record_intent(run, &intent(&account, Action::DisableUser, "uncutover", request, UAC_NORMAL_ENABLED))?;
        sent += 1;
        let change = Change::Modify {
            dn,
            changes: vec![(ModKind::Replace, "userAccountControl".into(), vec![Value::Text(before.to_string())])],
        };
        let c = match client.apply(&change).await {
            Ok(()) => Completion {
                row,
                state: OpState::Done,
                status: Some(0),
                result: "disabled".into(),
                object_id: Some(e.object.clone()),
            },
            Err(err) if err.is(NO_SUCH_OBJECT) => Completion {
                row,
                state: OpState::Done,
                status: Some(32),
                result: "not there".into(),
                object_id: Some(e.object.clone()),
            },
            Err(err) => {
                failures.push(format!("{}: disable the shared-AD account the cutover enabled: {err}", e.object));
                failed(row, &err)
            }
        };
        state.record_completions(&[c])?;
    }
    Ok((sent, failures))
}

/// noSuchObject.
const NO_SUCH_OBJECT: u32 = 32;

/// The UPNs of a handout that hold an initial password.
pub(super) fn passwords_in(path: &Path) -> Result<BTreeSet<String>, WaveError> {
    Ok(handout::with_password(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_accounts_are_enabled_and_a_password_the_handout_lacks_is_set_again() {
        // Created disabled (514): enabled, 514 the rollback's value.
        assert_eq!(step(514, None, false), AdStep::Enable { before: 514 });
        // Disabled again by hand after a cutover: enabled, the first before-image kept.
        assert_eq!(step(514, Some(546), true), AdStep::Enable { before: 546 });
        // Enabled by a cutover, its password in the handout: nothing.
        assert_eq!(step(512, Some(514), true), AdStep::Done);
        // Enabled by a cutover killed before the handout's row: a new password.
        assert_eq!(step(512, Some(514), false), AdStep::Enable { before: 514 });
        // Enabled when the run created it (random-password): left alone.
        assert_eq!(step(512, None, false), AdStep::AlreadyEnabled);
    }
}
