//! The shared AD's side of a wave: look at what the directory holds, work out what is left,
//! apply it one operation at a time with each chunk of intents journaled first.
//!
//! As for the tenant, one pure step ([`reconcile`]) turns the rendered operations
//! ([`crate::render::ldap`]) into what this directory still needs, from an [`AdView`] read
//! by anchor (`mS-DS-ConsistencyGuid`): an OU that exists is not added, a user that exists is
//! modified where attributes differ (the before-image journaled), a group that exists gets
//! only its missing members, a manager already set is left. An object found by its anchor at
//! another DN was moved by someone: samla does not move it back or write around it; it
//! reports it and leaves it to a person.

use super::graph::Change;
use super::journal::Journal;
use super::progress::Progress;
use crate::client::ldap::{Found, LdapClientError, SharedAdClient};
use crate::config::secret::random_password;
use crate::journal::{Completion, Intent, OpState, System, TargetKind};
use crate::model::Dn;
use crate::model::unified::Anchor;
use crate::render::ldap::{Change as LdapChange, LdapOp, ModKind, OpKind, Value};
use crate::state::StateError;
use std::collections::{BTreeSet, HashMap, HashSet};

/// Attributes of an add that are not compared with an existing object: what makes it what it
/// is (class, name, the anchor it was found by) and what a person may have changed on
/// purpose since (enabling the account).
const NOT_COMPARED: [&str; 5] = ["objectclass", "cn", "useraccountcontrol", "ms-ds-consistencyguid", "member"];
/// Intents journaled per transaction.
const CHUNK: usize = 50;

/// What the shared AD holds of the objects a wave touches.
#[derive(Debug, Clone, Default)]
pub struct AdView {
    /// Users and groups found by anchor.
    pub objects: HashMap<Anchor, Found>,
    /// OUs (and other DNs) that exist, by DN key.
    pub existing_dns: HashSet<String>,
    /// The complete member lists of existing groups the wave adds to, by group DN key.
    pub members: HashMap<String, HashSet<String>>,
}

/// What is left to apply.
#[derive(Debug, Clone, Default)]
pub struct Reconciled {
    pub ops: Vec<(usize, LdapOp)>,
    pub changes: Vec<Change>,
    /// Objects found where samla would not write (moved elsewhere): reported, left alone.
    pub refused: Vec<(usize, LdapOp, String)>,
}

fn text(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| match v {
            Value::Text(t) => t.clone(),
            Value::Binary { bytes } => hex::encode(bytes),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::Text(t) => t.as_bytes().to_vec(),
        Value::Binary { bytes } => bytes.clone(),
    }
}

fn dn_key(v: &Value) -> String {
    match v {
        Value::Text(t) => Dn::parse(t).map(|d| d.key()).unwrap_or_else(|_| t.to_lowercase()),
        Value::Binary { .. } => String::new(),
    }
}

/// The rendered operations that this directory still needs. Pure.
pub fn reconcile(rendered: &[(usize, LdapOp)], view: &AdView) -> Reconciled {
    let mut out = Reconciled::default();
    let mut change = |op: &LdapOp, kind, attribute: &str, before: String, after: String| {
        out.changes.push(Change {
            municipality: op.municipality.clone(),
            object: op.dn().as_str().to_string(),
            change: kind,
            attribute: attribute.to_string(),
            before,
            after,
        })
    };
    use super::graph::ChangeKind as K;
    let members_of = |dn: &Dn| view.members.get(&dn.key());
    let mut ops = Vec::new();
    let mut refused = Vec::new();
    for (origin, op) in rendered {
        match (&op.change, op.kind) {
            (LdapChange::Add { dn, .. }, OpKind::CreateOu) => {
                if !view.existing_dns.contains(&dn.key()) {
                    change(op, K::Create, "ou", String::new(), dn.as_str().to_string());
                    ops.push((*origin, op.clone()));
                }
            }
            (LdapChange::Add { dn, attrs }, OpKind::CreateUser | OpKind::CreateGroup) => {
                let found = op.anchor.and_then(|a| view.objects.get(&a));
                let Some(found) = found else {
                    for (name, values) in attrs {
                        if name != "objectClass" && name != "member" {
                            change(op, K::Create, name, String::new(), text(values));
                        }
                    }
                    if let Some((_, m)) = attrs.iter().find(|(n, _)| n == "member") {
                        change(op, K::AddMembers, "member", String::new(), m.len().to_string());
                    }
                    ops.push((*origin, op.clone()));
                    continue;
                };
                if found.dn.key() != dn.key() {
                    refused.push((
                        *origin,
                        op.clone(),
                        format!("its anchor is on {} (moved by someone?): left alone", found.dn.as_str()),
                    ));
                    continue;
                }
                let mut mods = Vec::new();
                let mut missing_members = Vec::new();
                for (name, values) in attrs {
                    let lower = name.to_lowercase();
                    if lower == "member" {
                        let have = members_of(dn);
                        missing_members =
                            values.iter().filter(|v| !have.is_some_and(|h| h.contains(&dn_key(v)))).cloned().collect();
                        continue;
                    }
                    if NOT_COMPARED.contains(&lower.as_str()) {
                        continue;
                    }
                    let have: BTreeSet<Vec<u8>> = found.values(&lower).iter().cloned().collect();
                    let want: BTreeSet<Vec<u8>> = values.iter().map(bytes).collect();
                    if have != want {
                        let before = found.texts(&lower);
                        change(op, K::Update, name, before.join("; "), text(values));
                        mods.push((ModKind::Replace, name.clone(), values.clone(), before));
                    }
                }
                if mods.is_empty() && missing_members.is_empty() {
                    change(op, K::Unchanged, "", String::new(), String::new());
                }
                if !mods.is_empty() {
                    let note: serde_json::Map<String, serde_json::Value> =
                        mods.iter().map(|(_, n, _, b)| (n.clone(), serde_json::json!(b))).collect();
                    ops.push((
                        *origin,
                        LdapOp {
                            kind: op.kind,
                            municipality: op.municipality.clone(),
                            anchor: op.anchor,
                            note: Some(serde_json::Value::Object(note).to_string()),
                            enable: false,
                            change: LdapChange::Modify {
                                dn: dn.clone(),
                                changes: mods.into_iter().map(|(k, n, v, _)| (k, n, v)).collect(),
                            },
                        },
                    ));
                }
                if !missing_members.is_empty() {
                    change(op, K::AddMembers, "member", String::new(), missing_members.len().to_string());
                    let add = LdapOp::add_members(op.municipality.clone(), op.anchor, dn.clone(), missing_members);
                    ops.push((*origin, add));
                }
            }
            (LdapChange::Modify { dn, changes }, OpKind::AddMembers) => {
                let have = members_of(dn);
                let kept: Vec<(ModKind, String, Vec<Value>)> = changes
                    .iter()
                    .map(|(k, n, vs)| {
                        let left = vs.iter().filter(|v| !have.is_some_and(|h| h.contains(&dn_key(v)))).cloned();
                        (*k, n.clone(), left.collect::<Vec<_>>())
                    })
                    .filter(|(_, _, vs)| !vs.is_empty())
                    .collect();
                if kept.is_empty() {
                    continue;
                }
                let n: usize = kept.iter().map(|(_, _, v)| v.len()).sum();
                change(op, K::AddMembers, "member", String::new(), n.to_string());
                ops.push((
                    *origin,
                    LdapOp { change: LdapChange::Modify { dn: dn.clone(), changes: kept }, ..op.clone() },
                ));
            }
            (LdapChange::Modify { changes, .. }, OpKind::SetManager) => {
                let current = op.anchor.and_then(|a| view.objects.get(&a)).and_then(|f| f.text("manager"));
                let wanted = changes.first().and_then(|(_, _, v)| v.first()).map(dn_key);
                let current_key = current.as_deref().map(|c| Dn::parse(c).map(|d| d.key()).unwrap_or_default());
                if current_key.is_some() && current_key == wanted {
                    continue;
                }
                let after = changes.first().map(|(_, _, v)| text(v)).unwrap_or_default();
                let note = serde_json::json!({ "manager": current.iter().collect::<Vec<_>>() }).to_string();
                change(op, K::SetManager, "manager", current.unwrap_or_default(), after);
                ops.push((*origin, LdapOp { note: Some(note), ..op.clone() }));
            }
            _ => ops.push((*origin, op.clone())),
        }
    }
    out.ops = ops;
    out.refused = refused;
    out
}

/// The attributes read from existing users and groups: every attribute the wave writes.
fn attributes(rendered: &[(usize, LdapOp)]) -> Vec<String> {
    let mut names: BTreeSet<String> = ["manager".to_string()].into();
    for (_, op) in rendered {
        if let LdapChange::Add { attrs, .. } = &op.change {
            for (n, _) in attrs {
                if n.to_lowercase() != "member" {
                    names.insert(n.clone());
                }
            }
        }
    }
    names.into_iter().collect()
}

/// Reads what the shared AD holds of the objects `rendered` touches.
pub async fn observe(client: &mut SharedAdClient, rendered: &[(usize, LdapOp)]) -> Result<AdView, LdapClientError> {
    let mut view = AdView::default();
    let anchors: Vec<Anchor> =
        rendered.iter().filter_map(|(_, op)| op.anchor).collect::<BTreeSet<_>>().into_iter().collect();
    let attrs = attributes(rendered);
    let attr_refs: Vec<&str> = attrs.iter().map(String::as_str).collect();
    view.objects = client.find_by_anchor(&anchors, &attr_refs).await?;
    let mut groups: BTreeSet<Dn> = BTreeSet::new();
    for (_, op) in rendered {
        match op.kind {
            OpKind::CreateOu => {
                let exists = client.read(op.dn(), &["ou"]).await?.is_some();
                if exists {
                    view.existing_dns.insert(op.dn().key());
                }
            }
            OpKind::AddMembers | OpKind::CreateGroup => {
                groups.insert(op.dn().clone());
            }
            _ => {}
        }
    }
    for dn in groups {
        if let Some(found) = client.read(&dn, &["member"]).await? {
            let keys =
                found.texts("member").iter().map(|m| Dn::parse(m).map(|d| d.key()).unwrap_or_default()).collect();
            view.members.insert(dn.key(), keys);
        }
    }
    Ok(view)
}

/// An operation that did not succeed in a pass.
#[derive(Debug, Clone)]
pub struct Failed {
    pub origin: usize,
    pub op: LdapOp,
    pub reason: String,
    pub retry: bool,
    /// An add of a user or group refused because the entry exists (68): samla sends an add
    /// once and never resends it by itself, so someone else made the entry (see
    /// `Taken` in [`super`]).
    pub taken: bool,
}

/// Whether a refused operation may succeed after a fresh look: the entry exists already (an
/// earlier attempt got through), a value is there already, a parent or member is not there yet,
/// or the connection broke.
fn worth_retrying(e: &LdapClientError) -> bool {
    match e.code() {
        Some(code) => matches!(code, 68 | 20 | 32 | 51 | 52 | 80),
        None => true,
    }
}

/// A member an operation could not add, refused on its own.
#[derive(Debug, Clone)]
pub struct Lost {
    pub value: Value,
    pub reason: String,
    /// Whether a later pass may add it (see [`worth_retrying`]).
    pub retry: bool,
}

/// The member values of a group add or of a member batch (a modify adding only `member`).
fn member_values(change: &LdapChange) -> Option<&[Value]> {
    let is_member = |name: &str| name.eq_ignore_ascii_case("member");
    match change {
        LdapChange::Add { attrs, .. } => attrs.iter().find(|(n, _)| is_member(n)).map(|(_, v)| v.as_slice()),
        LdapChange::Modify { changes, .. } => match changes.as_slice() {
            [(ModKind::Add, n, v)] if is_member(n) => Some(v.as_slice()),
            _ => None,
        },
    }
}

/// Applies `op`; when the directory refuses it and it names members, one refused member does
/// not take the others down: a group is created without its members and they are added
/// after, a member batch is split in halves until each refused member is alone. Returns the
/// result, the operation as applied (the members that went in) and the members lost.
pub async fn apply_sparing(
    client: &mut SharedAdClient,
    op: &LdapOp,
) -> (Result<(), LdapClientError>, LdapOp, Vec<Lost>) {
    let first = client.apply(&op.change).await;
    let members = match (&first, member_values(&op.change)) {
        // A broken connection, or a group that exists (68 on an add), says nothing about the
        // members; on a modify, 68 is a member the group holds already (as AD answers).
        (Err(e), Some(m))
            if !m.is_empty() && e.code().is_some_and(|c| c != 68 || matches!(op.change, LdapChange::Modify { .. })) =>
        {
            m.to_vec()
        }
        _ => return (first, op.clone(), Vec::new()),
    };
    let dn = op.dn().clone();
    if let LdapChange::Add { attrs, .. } = &op.change {
        let bare: Vec<_> = attrs.iter().filter(|(n, _)| !n.eq_ignore_ascii_case("member")).cloned().collect();
        if client.apply(&LdapChange::Add { dn: dn.clone(), attrs: bare }).await.is_err() {
            return (first, op.clone(), Vec::new());
        }
    } else if members.len() == 1 {
        return (first, op.clone(), Vec::new());
    }
    let (added, lost) = add_members_split(client, &dn, members).await;
    if added.is_empty() && matches!(op.change, LdapChange::Modify { .. }) {
        return (first, op.clone(), Vec::new());
    }
    let mut applied = op.clone();
    match &mut applied.change {
        LdapChange::Add { attrs, .. } => {
            for (n, v) in attrs.iter_mut() {
                if n.eq_ignore_ascii_case("member") {
                    *v = added.clone();
                }
            }
            attrs.retain(|(_, v)| !v.is_empty());
        }
        LdapChange::Modify { changes, .. } => {
            for (_, _, v) in changes.iter_mut() {
                *v = added.clone();
            }
        }
    }
    (Ok(()), applied, lost)
}

/// Adds `members` to the group at `dn`, a batch split in halves when refused until each
/// refused member is alone (a handful of requests for one bad member in hundreds). A member
/// the group holds already counts as added. Returns the members added and those lost.
pub async fn add_members_split(client: &mut SharedAdClient, dn: &Dn, members: Vec<Value>) -> (Vec<Value>, Vec<Lost>) {
    let mut added = Vec::new();
    let mut lost = Vec::new();
    let mut parts = vec![members];
    while let Some(mut part) = parts.pop() {
        let change =
            LdapChange::Modify { dn: dn.clone(), changes: vec![(ModKind::Add, "member".into(), part.clone())] };
        match client.apply(&change).await {
            Ok(()) => added.extend(part),
            // Already a member: AD and Samba answer entryAlreadyExists (68), others 20.
            Err(e) if part.len() == 1 && matches!(e.code(), Some(20 | 68)) => added.extend(part),
            Err(e) if part.len() > 1 && e.code().is_some() => {
                let second = part.split_off(part.len() / 2);
                parts.push(second);
                parts.push(part);
            }
            Err(e) => {
                let (reason, retry) = (e.to_string(), worth_retrying(&e));
                lost.extend(part.into_iter().map(|value| Lost { value, reason: reason.clone(), retry }));
            }
        }
    }
    (added, lost)
}

/// Applies `ops` in order, journaling each chunk of intents before it is applied.
pub async fn apply(
    client: &mut SharedAdClient,
    journal: &mut Journal<'_>,
    ops: Vec<(usize, LdapOp)>,
    random_passwords: bool,
    progress: &Progress,
) -> Result<(Vec<(usize, LdapOp)>, Vec<Failed>), StateError> {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    let mut ops = ops.into_iter().peekable();
    while ops.peek().is_some() {
        let chunk: Vec<(usize, LdapOp)> = ops.by_ref().take(CHUNK).collect();
        let intents: Vec<Intent> = chunk
            .iter()
            .map(|(_, op)| -> Result<Intent, StateError> {
                Ok(Intent {
                    system: System::SharedAd,
                    pass: journal.pass,
                    op_key: op.dn().key(),
                    action: op.kind.into(),
                    municipality: op.municipality.clone(),
                    anchor: op.anchor.map(|a| a.0.to_string()),
                    object: op.dn().as_str().to_string(),
                    intent: serde_json::to_string(&op.change)?,
                    before: match (&op.change, &op.note) {
                        (LdapChange::Modify { .. }, Some(note)) => Some(note.clone()),
                        _ => None,
                    },
                })
            })
            .collect::<Result<_, _>>()?;
        let rows = journal.record_intents(&intents)?;
        let mut completions = Vec::with_capacity(rows.len());
        for (row, (origin, op)) in rows.into_iter().zip(chunk) {
            progress.tick(&op.municipality);
            let (mut result, applied, lost) = apply_sparing(client, &op).await;
            let created_user = op.kind == OpKind::CreateUser && matches!(op.change, LdapChange::Add { .. });
            if result.is_ok() && created_user && random_passwords {
                result = match random_password() {
                    Ok(pw) => client.set_initial_password(op.dn(), &pw, op.enable).await,
                    Err(e) => return Err(StateError::Invalid { path: journal.path(), message: e.to_string() }),
                };
            }
            match result {
                Ok(()) => {
                    if let (LdapChange::Add { dn, .. }, Some(a)) = (&op.change, op.anchor) {
                        let kind = if op.kind == OpKind::CreateUser { TargetKind::User } else { TargetKind::Group };
                        journal.remember(System::SharedAd, &a.0.to_string(), dn.as_str(), kind, true)?;
                    } else if let (LdapChange::Add { dn, .. }, OpKind::CreateOu) = (&op.change, op.kind) {
                        journal.remember(
                            System::SharedAd,
                            &format!("ou:{}", dn.key()),
                            dn.as_str(),
                            TargetKind::Ou,
                            true,
                        )?;
                    }
                    let outcome = match lost.len() {
                        0 => "ok".to_string(),
                        n => format!("ok; {n} member(s) refused, added without them"),
                    };
                    completions.push(Completion {
                        row,
                        state: OpState::Done,
                        status: Some(0),
                        result: outcome,
                        object_id: Some(op.dn().as_str().to_string()),
                    });
                    for l in lost {
                        let one = LdapOp::add_members(
                            op.municipality.clone(),
                            op.anchor,
                            op.dn().clone(),
                            vec![l.value.clone()],
                        );
                        let member = match &l.value {
                            Value::Text(t) => t.clone(),
                            Value::Binary { bytes } => hex::encode(bytes),
                        };
                        let reason = format!("member {member} refused: {}", l.reason);
                        failed.push(Failed { origin, op: one, reason, retry: l.retry, taken: false });
                    }
                    done.push((origin, applied));
                }
                Err(e) => {
                    let reason = e.to_string();
                    completions.push(Completion {
                        row,
                        state: OpState::Failed,
                        status: e.code().map(|c| c as u16),
                        result: reason.clone(),
                        object_id: None,
                    });
                    let retry = worth_retrying(&e);
                    let taken = e.code() == Some(68)
                        && matches!(op.change, LdapChange::Add { .. })
                        && matches!(op.kind, OpKind::CreateUser | OpKind::CreateGroup);
                    failed.push(Failed { origin, op, reason, retry, taken });
                }
            }
        }
        journal.record_completions(&completions)?;
    }
    Ok((done, failed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ObjectGuid;

    fn anchor() -> Anchor {
        Anchor(ObjectGuid::parse("00000000-0000-0000-0000-000000000001").unwrap())
    }

    fn dn(s: &str) -> Dn {
        Dn::parse(s).unwrap()
    }

    fn user_op() -> LdapOp {
        LdapOp {
            kind: OpKind::CreateUser,
            municipality: "bjuv".into(),
            anchor: Some(anchor()),
            note: None,
            enable: false,
            change: LdapChange::Add {
                dn: dn("CN=Öberg\\, Åsa,OU=IT,OU=Bjuv,OU=Kommuner,DC=samverkan,DC=test"),
                attrs: vec![
                    ("objectClass".into(), vec![Value::Text("user".into())]),
                    ("department".into(), vec![Value::Text("IT".into())]),
                    ("proxyAddresses".into(), vec![Value::Text("SMTP:asa@bjuv.se".into())]),
                ],
            },
        }
    }

    fn found(dn_text: &str, department: &str) -> Found {
        Found {
            dn: dn(dn_text),
            attrs: [
                ("department".to_string(), vec![department.as_bytes().to_vec()]),
                ("proxyaddresses".to_string(), vec![b"SMTP:asa@bjuv.se".to_vec()]),
            ]
            .into(),
        }
    }

    #[test]
    fn create_update_unchanged_and_moved() {
        let rendered = vec![(0, user_op())];
        let r = reconcile(&rendered, &AdView::default());
        assert_eq!(r.ops.len(), 1);

        let mut view = AdView::default();
        let at = "cn=Öberg\\, Åsa,ou=IT,ou=Bjuv,ou=Kommuner,dc=samverkan,dc=test";
        view.objects.insert(anchor(), found(at, "IT"));
        let r = reconcile(&rendered, &view);
        assert!(r.ops.is_empty(), "{:?}", r.ops);
        assert_eq!(r.changes[0].change, super::super::graph::ChangeKind::Unchanged);

        view.objects.insert(anchor(), found(at, "Ekonomi"));
        let r = reconcile(&rendered, &view);
        let LdapChange::Modify { changes, .. } = &r.ops[0].1.change else { panic!() };
        assert_eq!(changes[0].1, "department");
        assert_eq!((r.changes[0].before.as_str(), r.changes[0].after.as_str()), ("Ekonomi", "IT"));
        assert!(r.ops[0].1.note.as_deref().unwrap().contains("Ekonomi"), "before-image kept for the journal");

        view.objects.insert(anchor(), found("CN=Åsa,OU=Elsewhere,DC=samverkan,DC=test", "IT"));
        let r = reconcile(&rendered, &view);
        assert!(r.ops.is_empty());
        assert_eq!(r.refused.len(), 1);
    }

    #[test]
    fn only_missing_members() {
        let group = dn("CN=G,OU=Grupper,DC=samverkan,DC=test");
        let op = LdapOp {
            kind: OpKind::AddMembers,
            municipality: "bjuv".into(),
            anchor: None,
            note: None,
            enable: false,
            change: LdapChange::Modify {
                dn: group.clone(),
                changes: vec![(
                    ModKind::Add,
                    "member".into(),
                    vec![
                        Value::Text("CN=A,DC=samverkan,DC=test".into()),
                        Value::Text("CN=B,DC=samverkan,DC=test".into()),
                    ],
                )],
            },
        };
        let mut view = AdView::default();
        view.members.insert(group.key(), [dn("cn=a,dc=SAMVERKAN,dc=test").key()].into());
        let r = reconcile(&[(0, op)], &view);
        let LdapChange::Modify { changes, .. } = &r.ops[0].1.change else { panic!() };
        assert_eq!(changes[0].2, vec![Value::Text("CN=B,DC=samverkan,DC=test".into())]);
    }
}
