//! One pass of sending a wave's remaining Graph requests: `$batch` after `$batch`, several in
//! flight, each batch's intents journaled before it leaves.
//!
//! Requests name objects by placeholder (`{id:<anchor>}`); a batch is sent only once every id
//! it names is known, either from the tenant, the journal or a create that finished earlier in
//! this pass. A request whose object failed to be created is not sent at all in this pass (it
//! is *deferred*, journaled nowhere, and tried in the next pass). A user's password is made
//! here, put into the request that creates the user and nowhere else: the journal keeps the
//! `{password}` placeholder.

use super::journal::Journal;
use super::progress::Progress;
use crate::client::graph::{GraphClient, Outcome};
use crate::config::secret::random_password;
use crate::journal::{Completion, Intent, OpState, System, TargetKind};
use crate::render::graph::{self, Batch, GraphRequest, Placeholder};
use crate::state::StateError;
use std::collections::{HashMap, HashSet};
use tokio::task::JoinSet;

/// A request that did not succeed in a pass.
#[derive(Debug, Clone)]
pub struct Failed {
    pub origin: usize,
    pub request: GraphRequest,
    pub reason: String,
    /// Graph's status (0: not sent or never answered).
    pub status: u16,
    /// Whether a later pass, after a fresh look at the tenant, may succeed.
    pub retry: bool,
    /// How many times the client sent it (0: not sent).
    pub attempts: u32,
}

impl Failed {
    /// A create the tenant refused at its first sending because the object is there already
    /// ("already exists"): no earlier attempt of this run can have made it, so someone else
    /// did (another run, another state file, a person). A later look may find the object and
    /// carry on with it, but this run did not create it: the run is not complete.
    pub fn taken_by_another_writer(&self) -> bool {
        self.attempts == 1 && refused_as_existing(self.request.action, self.status, &self.reason)
    }
}

/// A create refused because its object is there already ("already exists").
fn refused_as_existing(action: graph::Action, status: u16, reason: &str) -> bool {
    use graph::Action;
    matches!(action, Action::CreateUser | Action::CreateGroup | Action::CreateLicenceGroup)
        && status == 400
        && reason.contains("already exist")
}

/// How a request that did not succeed is journaled. A create refused as "already exists" on
/// a resend (the client sent it again after its first sending went unanswered) met the object
/// its first sending made: samla's own create, whose response was lost. It is in doubt, not
/// failed: an object found later by its anchor is samla's (`created_by_run`), and a rollback
/// deletes it. At its first sending the same refusal means someone else made the object
/// ([`Failed::taken_by_another_writer`]).
///
/// Likewise a restore answered "not found" on a resend: its first sending restored the object
/// (it is live again under the same id), the next look sees it.
fn unsuccessful(action: graph::Action, outcome: &Outcome, reason: &str) -> OpState {
    let restored_before = matches!(action, graph::Action::RestoreDeletedUser | graph::Action::RestoreDeletedGroup)
        && outcome.status == 404;
    if outcome.attempts > 1 && (refused_as_existing(action, outcome.status, reason) || restored_before) {
        OpState::InDoubt
    } else {
        OpState::Failed
    }
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct PassResult {
    pub done: Vec<(usize, GraphRequest, Outcome)>,
    pub failed: Vec<Failed>,
}

fn reason(o: &Outcome) -> String {
    format!(
        "{} {}: {}",
        o.status,
        o.error_code().unwrap_or("error"),
        o.error_message().unwrap_or("no message from Graph")
    )
}

/// The ids a batch's requests name that are not known yet.
fn unresolved(batch: &Batch, ids: &HashMap<Placeholder, String>) -> HashSet<Placeholder> {
    batch
        .requests
        .iter()
        .flat_map(graph::placeholders)
        .filter(|p| matches!(p, Placeholder::Id(_) | Placeholder::LicenceGroup(_)) && !ids.contains_key(p))
        .collect()
}

struct Sent {
    rows: Vec<i64>,
    requests: Vec<GraphRequest>,
    outcomes: Vec<Outcome>,
}

/// What a pass sends with: the client, how to name and resolve things, how to show progress.
pub struct Sender<'a> {
    pub client: &'a GraphClient,
    pub names: &'a super::graph::Names,
    /// skuPartNumber -> skuId.
    pub skus: &'a HashMap<String, String>,
    pub progress: &'a Progress,
    pub max_in_flight: usize,
    /// Before-images by request id, journaled with the intents.
    pub before: &'a HashMap<String, String>,
}

/// Sends `requests` (each with its origin index) and journals every step; `ids` learns the
/// ids of what is created.
pub async fn send(
    sender: &Sender<'_>,
    journal: &mut Journal<'_>,
    requests: Vec<(usize, GraphRequest)>,
    ids: &mut HashMap<Placeholder, String>,
) -> Result<PassResult, StateError> {
    let Sender { client, names, skus, progress, max_in_flight, before } = *sender;
    let origin: HashMap<String, usize> = requests.iter().map(|(o, r)| (r.id.clone(), *o)).collect();
    let plain: Vec<GraphRequest> = requests.into_iter().map(|(_, r)| r).collect();
    let batches = graph::batches(&plain);
    drop(plain);
    let mut result = PassResult::default();
    let mut in_flight: JoinSet<Sent> = JoinSet::new();
    let mut creating: HashSet<Placeholder> = HashSet::new();
    let origin_of = |r: &GraphRequest| origin.get(&r.id).copied().unwrap_or_default();

    for batch in batches {
        loop {
            let missing = unresolved(&batch, ids);
            let waits = missing.iter().any(|p| creating.contains(p));
            if !(waits || in_flight.len() >= max_in_flight) {
                break;
            }
            match in_flight.join_next().await {
                Some(Ok(sent)) => settle(sent, journal, ids, &mut creating, &mut result, &origin_of, progress)?,
                Some(Err(e)) => return Err(StateError::Invalid { path: journal.path(), message: e.to_string() }),
                None => break,
            }
        }
        // Requests naming an object that does not exist (its create failed) wait for a later pass.
        let missing = unresolved(&batch, ids);
        let (ready, deferred): (Vec<GraphRequest>, Vec<GraphRequest>) =
            batch.requests.into_iter().partition(|r| graph::placeholders(r).iter().all(|p| !missing.contains(p)));
        let deferred_ids: HashSet<&str> = deferred.iter().map(|r| r.id.as_str()).collect();
        for r in &deferred {
            let waits_for: Vec<String> = graph::placeholders(r)
                .into_iter()
                .filter(|p| missing.contains(p))
                .map(|p| names.of_placeholder(&p))
                .collect();
            result.failed.push(Failed {
                origin: origin_of(r),
                request: r.clone(),
                reason: format!("not sent: waits for {}", waits_for.join(", ")),
                status: 0,
                retry: true,
                attempts: 0,
            });
        }
        let mut ready = ready;
        for r in &mut ready {
            r.depends_on.retain(|d| !deferred_ids.contains(d.as_str()));
        }
        if ready.is_empty() {
            continue;
        }
        let resolve_journal = |p: &Placeholder| match p {
            Placeholder::Password => Some(p.to_string()),
            Placeholder::Sku(part) => skus.get(part).cloned(),
            other => ids.get(other).cloned(),
        };
        let mut journaled = Vec::with_capacity(ready.len());
        let mut wire = Vec::with_capacity(ready.len());
        for r in &ready {
            let for_journal = match graph::substitute(r, &resolve_journal) {
                Ok(x) => x,
                Err(p) => {
                    result.failed.push(Failed {
                        origin: origin_of(r),
                        request: r.clone(),
                        reason: format!("not sent: {p} is unknown in this tenant"),
                        status: 0,
                        retry: false,
                        attempts: 0,
                    });
                    continue;
                }
            };
            // The journal's copy keeps `{password}`; only the copy sent gets the password.
            let on_wire = if graph::placeholders(r).contains(&Placeholder::Password) {
                let password = random_password()
                    .map_err(|e| StateError::Invalid { path: journal.path(), message: e.to_string() })?;
                let fill = |p: &Placeholder| (*p == Placeholder::Password).then(|| password.expose().to_string());
                graph::substitute(&for_journal, &fill).map_err(|p| StateError::Invalid {
                    path: journal.path(),
                    message: format!("{p} left in a request"),
                })?
            } else {
                for_journal.clone()
            };
            journaled.push(for_journal);
            wire.push(on_wire);
        }
        if wire.is_empty() {
            continue;
        }
        let intents: Vec<Intent> = journaled
            .iter()
            .map(|r| Intent {
                system: System::Tenant,
                pass: journal.pass,
                op_key: r.id.clone(),
                action: r.action.into(),
                municipality: r.municipality.clone(),
                anchor: r
                    .anchor
                    .map(|a| a.0.to_string())
                    .or(r.licence_class.as_ref().map(|c| format!("licence-group:{c}"))),
                object: names.of(r),
                intent: serde_json::json!({"method": r.method, "url": r.url, "body": r.body}).to_string(),
                before: before.get(&r.id).cloned(),
            })
            .collect();
        let rows = journal.record_intents(&intents)?;
        creating.extend(journaled.iter().filter_map(GraphRequest::creates));
        let client = client.clone();
        let batch = Batch { requests: wire };
        in_flight.spawn(async move {
            let mut outcomes = client.send_batch(&batch).await;
            learn_upserted_ids(&client, &batch.requests, &mut outcomes).await;
            Sent { rows, requests: journaled, outcomes }
        });
    }
    while let Some(joined) = in_flight.join_next().await {
        match joined {
            Ok(sent) => settle(sent, journal, ids, &mut creating, &mut result, &origin_of, progress)?,
            Err(e) => return Err(StateError::Invalid { path: journal.path(), message: e.to_string() }),
        }
    }
    Ok(result)
}

/// A group create is an upsert (`PATCH /groups(uniqueName=...)`, `Prefer: create-if-missing`):
/// 201 with the new group, or 204 without a body when the group was there, as when a resend
/// met the group its first sending made and whose response was lost. That is samla's own
/// create and a success; its id is read by the same key (a group not visible yet keeps its id
/// unknown until the next pass's look finds it).
async fn learn_upserted_ids(client: &GraphClient, requests: &[GraphRequest], outcomes: &mut [Outcome]) {
    let unknown: Vec<usize> = (0..requests.len().min(outcomes.len()))
        .filter(|&i| requests[i].prefer().is_some() && outcomes[i].is_success() && outcomes[i].id().is_none())
        .collect();
    if unknown.is_empty() {
        return;
    }
    let paths: Vec<String> = unknown.iter().map(|&i| format!("{}?$select=id", requests[i].url)).collect();
    for (i, read) in unknown.into_iter().zip(client.get_many(&paths).await) {
        if let Some(id) = read.ok().as_ref().and_then(|g| g["id"].as_str()) {
            outcomes[i].body = Some(serde_json::json!({ "id": id }));
        }
    }
}

/// Journals a batch's outcomes and learns the ids of what it created.
fn settle(
    sent: Sent,
    journal: &mut Journal<'_>,
    ids: &mut HashMap<Placeholder, String>,
    creating: &mut HashSet<Placeholder>,
    result: &mut PassResult,
    origin_of: &dyn Fn(&GraphRequest) -> usize,
    progress: &Progress,
) -> Result<(), StateError> {
    let mut completions = Vec::with_capacity(sent.rows.len());
    for ((row, req), outcome) in sent.rows.iter().zip(sent.requests).zip(sent.outcomes) {
        if let Some(p) = req.creates() {
            creating.remove(&p);
        }
        progress.tick(&req.municipality);
        if outcome.is_success() {
            let id = outcome.id().map(str::to_string);
            if let (Some(p), Some(id)) = (req.creates(), &id) {
                ids.insert(p.clone(), id.clone());
                let created = match &p {
                    Placeholder::Id(a) => Some((
                        a.0.to_string(),
                        if matches!(req.action, graph::Action::CreateUser | graph::Action::RestoreDeletedUser) {
                            TargetKind::User
                        } else {
                            TargetKind::Group
                        },
                    )),
                    Placeholder::LicenceGroup(c) => Some((format!("licence-group:{c}"), TargetKind::LicenceGroup)),
                    // A create names its object by id or licence group only.
                    _ => None,
                };
                // An upsert answered 204 at its first sending met a group already there (a
                // look missed it): this run did not make it. On a resend it met its own.
                let made = req.prefer().is_none() || outcome.status == 201 || outcome.attempts > 1;
                if let Some((key, kind)) = created {
                    journal.remember(System::Tenant, &key, id, kind, made)?;
                }
            }
            completions.push(Completion {
                row: *row,
                state: OpState::Done,
                status: Some(outcome.status),
                result: "ok".into(),
                object_id: id,
            });
            result.done.push((origin_of(&req), req, outcome));
        } else {
            let mut why = reason(&outcome);
            let state = unsuccessful(req.action, &outcome, &why);
            if state == OpState::InDoubt {
                why = format!("{why} (on a resend: the first sending's response was lost, the object is samla's)");
            }
            completions.push(Completion {
                row: *row,
                state,
                status: Some(outcome.status),
                result: why.clone(),
                object_id: None,
            });
            let retry = super::graph::worth_retrying(&outcome);
            result.failed.push(Failed {
                origin: origin_of(&req),
                request: req,
                reason: why,
                status: outcome.status,
                retry,
                attempts: outcome.attempts,
            });
        }
    }
    journal.record_completions(&completions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use graph::Action;

    fn outcome(status: u16, attempts: u32) -> Outcome {
        Outcome { status, body: None, attempts }
    }

    #[test]
    fn a_restore_not_found_on_its_resend_is_in_doubt_and_at_its_first_sending_failed() {
        let restore = Action::RestoreDeletedUser;
        assert_eq!(unsuccessful(restore, &outcome(404, 2), "404 Request_ResourceNotFound"), OpState::InDoubt);
        assert_eq!(unsuccessful(Action::RestoreDeletedGroup, &outcome(404, 3), ""), OpState::InDoubt);
        assert_eq!(unsuccessful(restore, &outcome(404, 1), "404 Request_ResourceNotFound"), OpState::Failed);
        let taken =
            "400 Request_BadRequest: Another object with the same value for property userPrincipalName already exists.";
        assert_eq!(unsuccessful(restore, &outcome(400, 2), taken), OpState::Failed, "a name taken meanwhile");
        assert_eq!(unsuccessful(Action::CreateUser, &outcome(400, 2), taken), OpState::InDoubt);
    }
}
