//! The shared AD's rollback plan: the journal's LDAP operations against a live [`AdView`].
//! Pure; see the module docs of [`crate::rollback`] for the rules.

use super::graph::Context;
use super::{Scope, Step, Undo, Verification, in_order, item};
use crate::execute::shared_ad::AdView;
use crate::journal::{Action, Entry, RowError, System};
use crate::model::Dn;
use crate::render::ldap::{Change as LdapChange, ModKind, Value};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Attributes of an add not compared when judging drift: what the object is, its anchor,
/// its members (judged on their own) and what a person may change on purpose (enabling it).
const NOT_COMPARED: [&str; 6] =
    ["objectclass", "cn", "useraccountcontrol", "ms-ds-consistencyguid", "member", "unicodepwd"];

/// Attribute -> values.
type Values = BTreeMap<String, Vec<Vec<u8>>>;

/// An inverse in the shared AD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdInverse {
    Delete(Dn),
    /// A modification putting back what the wave changed.
    Modify(Undoes, LdapChange),
}

/// What a modifying inverse undoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undoes {
    /// Members the wave added (they are removed).
    AddMember,
    /// Values the wave replaced (the before-image is put back).
    Update,
    /// A manager the wave set (the one before is put back, or none).
    SetManager,
}

impl AdInverse {
    pub fn dn(&self) -> &Dn {
        match self {
            AdInverse::Delete(dn)
            | AdInverse::Modify(_, LdapChange::Modify { dn, .. } | LdapChange::Add { dn, .. }) => dn,
        }
    }

    /// How the journal names the inverse.
    pub fn action(&self) -> Action {
        match self {
            AdInverse::Delete(_) => Action::Delete,
            AdInverse::Modify(Undoes::AddMember, _) => Action::UndoAddMember,
            AdInverse::Modify(Undoes::Update, _) => Action::UndoUpdate,
            AdInverse::Modify(Undoes::SetManager, _) => Action::UndoSetManager,
        }
    }
}

/// An intent as journaled: `changetype`, `dn`, and `attrs` or `changes`.
struct Parsed {
    add: bool,
    dn: Option<Dn>,
    /// (name, values) of an add; (kind, name, values) of a modify, kind "" for an add.
    values: Vec<(String, String, Vec<Vec<u8>>)>,
}

fn bytes_of(v: &Json) -> Vec<u8> {
    use base64::Engine;
    match v {
        Json::String(s) => s.as_bytes().to_vec(),
        other => other["base64"]
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .unwrap_or_default(),
    }
}

/// The intent of `entry`; an error naming the row when it is not JSON.
fn parse(entry: &Entry) -> Result<Parsed, RowError> {
    let j = entry.intent_json()?;
    let add = j["changetype"] == "add";
    let dn = j["dn"].as_str().and_then(|d| Dn::parse(d).ok());
    let list = if add { &j["attrs"] } else { &j["changes"] };
    let values = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| {
            let x = x.as_array()?;
            let (kind, name, vals) =
                if add { ("", x.first()?, x.get(1)?) } else { (x.first()?.as_str()?, x.get(1)?, x.get(2)?) };
            let vals = vals.as_array()?.iter().map(bytes_of).collect();
            Some((kind.to_string(), name.as_str()?.to_string(), vals))
        })
        .collect();
    Ok(Parsed { add, dn, values })
}

fn key_of_bytes(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(v);
    Dn::parse(&s).map(|d| d.key()).unwrap_or_else(|_| s.to_lowercase())
}

fn texts(values: &[Vec<u8>]) -> String {
    values.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect::<Vec<_>>().join("; ")
}

fn set(values: &[Vec<u8>]) -> BTreeSet<Vec<u8>> {
    values.iter().cloned().collect()
}

/// The before-image of a modification: attribute -> values; an error naming the row when it
/// is not JSON.
fn before_of(entry: &Entry) -> Result<BTreeMap<String, Vec<Vec<u8>>>, RowError> {
    let j = entry.before_json()?.unwrap_or_default();
    Ok(j.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let vals = match v {
                Json::Array(a) => a.iter().map(bytes_of).collect(),
                Json::String(s) if !s.is_empty() => vec![s.as_bytes().to_vec()],
                _ => Vec::new(),
            };
            (k.clone(), vals)
        })
        .collect())
}

fn text_values(values: &[Vec<u8>]) -> Vec<Value> {
    values.iter().map(|v| Value::Text(String::from_utf8_lossy(v).into_owned())).collect()
}

fn judged(v: Verification, note: impl Into<String>) -> (Verification, String) {
    (v, note.into())
}

/// The shared AD's rollback plan for the `entries` of a wave against `view` (None: not read).
/// An entry whose intent or before-image is not JSON is an error naming its row.
pub fn plan(
    entries: &[Entry],
    view: Option<&AdView>,
    context: &Context,
    scope: Scope<'_>,
) -> Result<Vec<Undo<AdInverse>>, RowError> {
    let entries: Vec<(&Entry, Parsed)> = entries
        .iter()
        .filter(|e| e.system == System::SharedAd && e.may_have_happened())
        .map(|e| Ok((e, parse(e)?)))
        .collect::<Result<_, RowError>>()?;
    let found_by_key: HashMap<String, &crate::client::ldap::Found> =
        view.map(|v| v.objects.iter().map(|(a, f)| (a.0.to_string(), f)).collect()).unwrap_or_default();
    let anchor_of_dn: HashMap<String, String> = found_by_key.iter().map(|(k, f)| (f.dn.key(), k.clone())).collect();
    let members_of = |dn: &Dn| view.and_then(|v| v.members.get(&dn.key()).cloned()).unwrap_or_default();
    let mut out: Vec<Undo<AdInverse>> = Vec::new();

    // What the wave wrote on the objects it created, and the members it added, by DN key.
    let mut written: HashMap<String, BTreeMap<String, Vec<Vec<u8>>>> = HashMap::new();
    let mut added: HashMap<String, HashSet<String>> = HashMap::new();
    for (e, p) in &entries {
        let Some(dn) = &p.dn else { continue };
        for (kind, name, vals) in &p.values {
            let lower = name.to_lowercase();
            if lower == "member" {
                added.entry(dn.key()).or_default().extend(vals.iter().map(|v| key_of_bytes(v)));
            } else if p.add {
                written.entry(dn.key()).or_default().insert(lower, vals.clone());
            } else if let (Some(w), "replace", false) =
                (written.get_mut(&dn.key()), kind.as_str(), e.action == Action::SetManager)
            {
                w.insert(lower, vals.clone());
            }
        }
    }

    // Deletions: users and groups by anchor, OUs by DN.
    let mut deleted: HashSet<String> = HashSet::new();
    let mut seen: HashSet<String> = HashSet::new();
    for (e, p) in &entries {
        let (Some(dn), true) = (&p.dn, p.add) else { continue };
        if !seen.insert(dn.key()) || (!scope.includes(&e.municipality) && !e.municipality.is_empty()) {
            continue;
        }
        let step = match e.action {
            Action::CreateOu => Step::DeleteOus,
            Action::CreateGroup => Step::DeleteGroups,
            _ => Step::DeleteUsers,
        };
        let mut it = item(e, step, dn.as_str(), "", String::new(), "created".into());
        let shared_kept = e.municipality.is_empty() && !scope.whole_wave();
        let (verification, note, target) = match (view, step) {
            (None, _) => (Verification::Unverified, String::new(), dn.clone()),
            (Some(v), Step::DeleteOus) => {
                let (v, n) = if !v.existing_dns.contains(&dn.key()) {
                    judged(Verification::Undone, "not in the directory")
                } else if shared_kept {
                    judged(Verification::Kept, "a container shared by several municipalities")
                } else {
                    judged(Verification::Applied, "deleted only if empty")
                };
                (v, n, dn.clone())
            }
            (Some(_), _) => {
                let found = e.anchor.as_deref().and_then(|a| found_by_key.get(a));
                let (v, n) = match found {
                    None => judged(Verification::Undone, "not in the directory"),
                    Some(f) if f.dn.key() != dn.key() => {
                        judged(Verification::Drifted, format!("moved to {}", f.dn.as_str()))
                    }
                    Some(_) if step == Step::DeleteGroups => {
                        let ours = added.get(&dn.key()).cloned().unwrap_or_default();
                        let extra = members_of(dn).into_iter().filter(|m| !ours.contains(m)).count();
                        if extra > 0 {
                            judged(Verification::Drifted, format!("{extra} member(s) the wave did not add"))
                        } else if shared_kept {
                            judged(
                                Verification::Kept,
                                "shared by several municipalities: only this municipality's members are removed",
                            )
                        } else {
                            judged(Verification::Applied, "")
                        }
                    }
                    Some(f) => {
                        let drift: Vec<String> = written
                            .get(&dn.key())
                            .into_iter()
                            .flatten()
                            .filter(|(name, vals)| {
                                !NOT_COMPARED.contains(&name.as_str()) && set(f.values(name)) != set(vals)
                            })
                            .map(|(name, vals)| {
                                format!("{name}: the wave set '{}', now '{}'", texts(vals), texts(f.values(name)))
                            })
                            .collect();
                        if drift.is_empty() {
                            judged(Verification::Applied, "")
                        } else {
                            judged(Verification::Drifted, drift.join("; "))
                        }
                    }
                };
                (v, n, found.map_or(dn.clone(), |f| f.dn.clone()))
            }
        };
        it.inverse = format!("delete {}", target.as_str());
        it.verification = verification;
        it.note = note;
        let op = (verification == Verification::Applied).then(|| {
            deleted.insert(target.key());
            AdInverse::Delete(target.clone())
        });
        out.push(Undo { municipality: e.municipality.clone(), item: it, op });
    }
    // OUs go deepest first.
    out.sort_by_key(|u| std::cmp::Reverse(u.op.as_ref().map_or(0, |o| o.dn().as_str().matches(',').count())));

    // Links and restores.
    let mut restores: BTreeMap<(String, bool), (&Entry, Dn, Values, Values)> = BTreeMap::new();
    for (e, p) in &entries {
        let Some(dn) = &p.dn else { continue };
        for (kind, name, vals) in &p.values {
            let lower = name.to_lowercase();
            if lower == "member" {
                for v in vals {
                    let member_key = key_of_bytes(v);
                    let anchor = anchor_of_dn.get(&member_key);
                    let m = anchor
                        .and_then(|a| context.municipality_of.get(a))
                        .cloned()
                        .unwrap_or_else(|| e.municipality.clone());
                    if !scope.includes(&m) {
                        continue;
                    }
                    let member = String::from_utf8_lossy(v).into_owned();
                    let mut it = item(e, Step::Links, dn.as_str(), "member", String::new(), member.clone());
                    it.change = "add_member".into();
                    it.inverse = format!("remove member {member} from {}", dn.as_str());
                    let (verification, note) = match view {
                        None => judged(Verification::Unverified, ""),
                        Some(_) if deleted.contains(&dn.key()) => judged(Verification::Covered, "the group is deleted"),
                        Some(_) if deleted.contains(&member_key) => {
                            judged(Verification::Covered, "the member is deleted")
                        }
                        Some(_) if !members_of(dn).contains(&member_key) => {
                            judged(Verification::Undone, "not a member")
                        }
                        Some(_) => judged(Verification::Applied, ""),
                    };
                    it.verification = verification;
                    it.note = note;
                    let op = (verification == Verification::Applied).then(|| {
                        AdInverse::Modify(
                            Undoes::AddMember,
                            LdapChange::Modify {
                                dn: dn.clone(),
                                changes: vec![(ModKind::Delete, "member".into(), vec![Value::Text(member.clone())])],
                            },
                        )
                    });
                    out.push(Undo { municipality: m, item: it, op });
                }
            } else if !p.add && kind == "replace" && scope.includes(&e.municipality) {
                let before = before_of(e)?;
                let slot = restores
                    .entry((dn.key(), e.action == Action::SetManager))
                    .or_insert_with(|| (e, dn.clone(), BTreeMap::new(), BTreeMap::new()));
                slot.2
                    .entry(lower.clone())
                    .or_insert_with(|| before.get(name).or(before.get(&lower)).cloned().unwrap_or_default());
                slot.3.insert(lower, vals.clone());
            }
        }
    }
    for ((key, is_manager), (e, dn, before, after)) in restores {
        let found = e.anchor.as_deref().and_then(|a| found_by_key.get(a));
        let moved = found.filter(|f| f.dn.key() != key).map(|f| f.dn.as_str().to_string());
        let found = found.filter(|f| f.dn.key() == key);
        let drift: Vec<String> = found
            .map(|f| {
                after
                    .iter()
                    .filter(|(n, v)| {
                        let now = set(f.values(n));
                        now != set(v) && before.get(*n).is_none_or(|b| now != set(b))
                    })
                    .map(|(n, v)| format!("{n}: the wave set '{}', now '{}'", texts(v), texts(f.values(n))))
                    .collect()
            })
            .unwrap_or_default();
        let pending = found.is_some_and(|f| before.iter().any(|(n, b)| set(f.values(n)) != set(b)));
        let (verification, note) = match (view, found) {
            (None, _) => judged(Verification::Unverified, ""),
            (Some(_), _) if deleted.contains(&key) => judged(Verification::Covered, "the object is deleted"),
            (Some(_), None) if moved.is_some() => {
                judged(Verification::Drifted, format!("moved to {}", moved.as_deref().unwrap_or_default()))
            }
            (Some(_), None) => judged(Verification::Undone, "not in the directory"),
            (Some(_), Some(_)) if !drift.is_empty() => judged(Verification::Drifted, drift.join("; ")),
            (Some(_), Some(_)) if !pending => judged(Verification::Undone, ""),
            _ => judged(Verification::Applied, ""),
        };
        let changes: Vec<(ModKind, String, Vec<Value>)> = before
            .iter()
            .map(|(n, b)| {
                if b.is_empty() {
                    (ModKind::Delete, n.clone(), Vec::new())
                } else {
                    (ModKind::Replace, n.clone(), text_values(b))
                }
            })
            .collect();
        let undoes = if is_manager { Undoes::SetManager } else { Undoes::Update };
        let mut first = true;
        for (n, b) in &before {
            let step = if is_manager { Step::Links } else { Step::Restore };
            let mut it = item(e, step, dn.as_str(), n, texts(b), after.get(n).map(|v| texts(v)).unwrap_or_default());
            if !is_manager {
                it.change = "update".into();
            }
            it.inverse = if b.is_empty() { format!("clear {n}") } else { format!("set {n} = '{}'", texts(b)) };
            it.verification = verification;
            it.note = note.clone();
            let op = (first && verification == Verification::Applied)
                .then(|| AdInverse::Modify(undoes, LdapChange::Modify { dn: dn.clone(), changes: changes.clone() }));
            first = false;
            out.push(Undo { municipality: e.municipality.clone(), item: it, op });
        }
    }
    Ok(in_order(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ldap::Found;
    use crate::journal::OpState;
    use crate::model::ObjectGuid;
    use crate::model::unified::Anchor;
    use crate::rollback::find;

    const BJUV: &str = "bjuv";
    const KLIPPAN: &str = "klippan";

    /// The plan of entries that are all as samla writes them.
    fn plan(entries: &[Entry], view: Option<&AdView>, context: &Context, scope: Scope<'_>) -> Vec<Undo<AdInverse>> {
        super::plan(entries, view, context, scope).unwrap()
    }
    const BASE: &str = "OU=Kommuner,DC=samverkan,DC=test";

    fn anchor(n: u8) -> Anchor {
        Anchor(ObjectGuid::parse(&format!("00000000-0000-0000-0000-0000000000{n:02x}")).unwrap())
    }

    fn key(n: u8) -> String {
        anchor(n).0.to_string()
    }

    fn dn(s: &str) -> Dn {
        Dn::parse(s).unwrap()
    }

    /// User `n`'s DN in `municipality`'s OU (`bjuv` -> `OU=Bjuv`).
    fn user_dn(n: u8, municipality: &str) -> String {
        let mut ou = municipality.chars();
        let ou: String = ou.next().map(|c| c.to_uppercase().chain(ou).collect()).unwrap_or_default();
        format!("CN=User {n},OU=IT,OU={ou},{BASE}")
    }

    fn group_dn(n: u8) -> String {
        format!("CN=Group {n},OU=Grupper,{BASE}")
    }

    fn entry(id: i64, action: &str, municipality: &str, anchor: Option<u8>, change: &LdapChange) -> Entry {
        let object = match change {
            LdapChange::Add { dn, .. } | LdapChange::Modify { dn, .. } => dn.as_str().to_string(),
        };
        Entry {
            id,
            run_id: 3,
            system: System::SharedAd,
            action: Action::parse(action).unwrap(),
            municipality: municipality.into(),
            anchor: anchor.map(key),
            object: object.clone(),
            intent: serde_json::to_string(change).unwrap(),
            before: None,
            state: OpState::Done,
            status: Some(0),
            result: None,
            object_id: Some(object),
            sent_at: "2025-03-01T08:00:00.000Z".into(),
            operator: "anna".into(),
            wave_hash: "abc123".into(),
        }
    }

    fn text(values: &[&str]) -> Vec<Value> {
        values.iter().map(|v| Value::Text(v.to_string())).collect()
    }

    fn add(at: &str, attrs: &[(&str, &[&str])]) -> LdapChange {
        LdapChange::Add { dn: dn(at), attrs: attrs.iter().map(|(n, v)| (n.to_string(), text(v))).collect() }
    }

    fn modify(at: &str, changes: &[(ModKind, &str, &[&str])]) -> LdapChange {
        LdapChange::Modify {
            dn: dn(at),
            changes: changes.iter().map(|(k, n, v)| (*k, n.to_string(), text(v))).collect(),
        }
    }

    /// User `n` as the wave adds it (with its binary anchor and a password never read back).
    fn create_user(id: i64, municipality: &str, n: u8) -> Entry {
        let LdapChange::Add { dn, mut attrs } = add(
            &user_dn(n, municipality),
            &[
                ("objectClass", &["top", "person", "organizationalPerson", "user"]),
                ("cn", &[&format!("User {n}")]),
                ("sAMAccountName", &[&format!("user{n}")]),
                ("department", &["IT"]),
                ("proxyAddresses", &["SMTP:a@example.se", "smtp:b@example.se"]),
                ("userAccountControl", &["514"]),
                ("unicodePwd", &["{password}"]),
            ],
        ) else {
            unreachable!()
        };
        attrs.push(("mS-DS-ConsistencyGuid".into(), vec![Value::Binary { bytes: anchor(n).0.to_ad_bytes().to_vec() }]));
        entry(id, "create_user", municipality, Some(n), &LdapChange::Add { dn, attrs })
    }

    /// User `n` as the directory shows it: what the wave wrote, enabled since.
    fn found_user(at: &str, n: u8, department: &str) -> Found {
        found(
            at,
            &[
                ("samaccountname", &[&format!("user{n}")]),
                ("department", &[department]),
                ("proxyaddresses", &["smtp:b@example.se", "SMTP:a@example.se"]),
                ("useraccountcontrol", &["512"]),
            ],
        )
    }

    fn found(at: &str, attrs: &[(&str, &[&str])]) -> Found {
        Found {
            dn: dn(at),
            attrs: attrs
                .iter()
                .map(|(n, v)| (n.to_string(), v.iter().map(|x| x.as_bytes().to_vec()).collect()))
                .collect(),
        }
    }

    fn create_group(id: i64, municipality: &str, n: u8, members: &[&str]) -> Entry {
        let change = add(
            &group_dn(n),
            &[("objectClass", &["top", "group"]), ("sAMAccountName", &[&format!("group{n}")]), ("member", members)],
        );
        entry(id, "create_group", municipality, Some(n), &change)
    }

    fn add_members(id: i64, municipality: &str, group: &str, members: &[&str]) -> Entry {
        entry(id, "add_members", municipality, None, &modify(group, &[(ModKind::Add, "member", members)]))
    }

    fn create_ou(id: i64, municipality: &str, at: &str) -> Entry {
        entry(id, "create_ou", municipality, None, &add(at, &[("objectClass", &["top", "organizationalUnit"])]))
    }

    fn member_keys(members: &[&str]) -> HashSet<String> {
        members.iter().map(|m| dn(m).key()).collect()
    }

    fn context(of: &[(u8, &str)]) -> Context {
        Context { municipality_of: of.iter().map(|(n, m)| (key(*n), m.to_string())).collect(), ..Context::default() }
    }

    #[test]
    fn a_created_user_is_deleted_unless_moved_or_changed() {
        let at = user_dn(1, BJUV);
        let entries = vec![create_user(1, BJUV, 1)];
        let judge = |f: Option<Found>| {
            let mut view = AdView::default();
            if let Some(f) = f {
                view.objects.insert(anchor(1), f);
            }
            let plan = plan(&entries, Some(&view), &Context::default(), Scope(None));
            assert_eq!(plan.len(), 1);
            plan.into_iter().next().unwrap()
        };

        let same = judge(Some(found_user(&at, 1, "IT")));
        assert_eq!(same.item.verification, Verification::Applied, "{}", same.item.note);
        assert_eq!(same.op, Some(AdInverse::Delete(dn(&at))));
        assert_eq!((same.item.step, same.item.object.as_str()), (Step::DeleteUsers as u32, at.as_str()));
        assert_eq!(same.item.inverse, format!("delete {at}"));

        let other_case = judge(Some(found_user(&at.to_lowercase(), 1, "IT")));
        assert_eq!(other_case.item.verification, Verification::Applied, "DNs compare without case");

        let elsewhere = "CN=User 1,OU=Ekonomi,OU=Bjuv,OU=Kommuner,DC=samverkan,DC=test";
        let moved = judge(Some(found_user(elsewhere, 1, "IT")));
        assert_eq!(moved.item.verification, Verification::Drifted);
        assert!(moved.item.note.contains("moved") && moved.item.note.contains(elsewhere), "{}", moved.item.note);
        assert!(moved.op.is_none());

        let changed = judge(Some(found_user(&at, 1, "Ekonomi")));
        assert_eq!(changed.item.verification, Verification::Drifted);
        assert!(changed.item.note.contains("department"), "{}", changed.item.note);
        assert!(!changed.item.note.contains("useraccountcontrol"), "enabling the account is not drift");
        assert!(changed.op.is_none());

        let gone = judge(None);
        assert_eq!((gone.item.verification, gone.op), (Verification::Undone, None));
    }

    #[test]
    fn a_refused_add_is_ignored_and_an_in_doubt_one_judged() {
        let mut refused = create_user(1, BJUV, 1);
        (refused.state, refused.status) = (OpState::Failed, Some(68));
        let mut in_doubt = create_user(2, BJUV, 2);
        (in_doubt.state, in_doubt.status) = (OpState::InDoubt, None);
        let mut view = AdView::default();
        view.objects.insert(anchor(1), found_user(&user_dn(1, BJUV), 1, "IT"));
        view.objects.insert(anchor(2), found_user(&user_dn(2, BJUV), 2, "IT"));
        let plan = plan(&[refused, in_doubt], Some(&view), &Context::default(), Scope(None));
        assert_eq!(plan.len(), 1, "{plan:#?}");
        assert_eq!(plan[0].op, Some(AdInverse::Delete(dn(&user_dn(2, BJUV)))));
    }

    #[test]
    fn groups_with_foreign_members_drift_and_added_members_are_removed_unless_covered() {
        let (u1, u2, stranger) = (user_dn(1, BJUV), user_dn(2, BJUV), user_dn(9, BJUV));
        let existing = group_dn(20);
        let entries = vec![
            create_user(1, BJUV, 1),
            create_group(2, BJUV, 10, &[&u1]),
            create_group(3, BJUV, 11, &[&u2]),
            add_members(4, BJUV, &existing, &[&u1, &u2]),
        ];
        let mut view = AdView::default();
        view.objects.insert(anchor(1), found_user(&u1, 1, "IT"));
        view.objects.insert(anchor(2), found_user(&u2, 2, "IT"));
        view.objects.insert(anchor(10), found(&group_dn(10), &[("samaccountname", &["group10"])]));
        view.objects.insert(anchor(11), found(&group_dn(11), &[("samaccountname", &["group11"])]));
        view.members.insert(dn(&group_dn(10)).key(), member_keys(&[&u1, &stranger]));
        view.members.insert(dn(&group_dn(11)).key(), member_keys(&[&u2.to_uppercase()]));
        view.members.insert(dn(&existing).key(), member_keys(&[&u1, &u2]));
        let plan = plan(&entries, Some(&view), &context(&[(1, BJUV), (2, BJUV)]), Scope(None));

        let drifted = find(&plan, "create_group", &group_dn(10));
        assert_eq!(drifted.item.verification, Verification::Drifted);
        assert!(drifted.item.note.contains("1 member(s)"), "{}", drifted.item.note);
        assert!(drifted.op.is_none());
        let deleted = find(&plan, "create_group", &group_dn(11));
        assert_eq!(deleted.item.verification, Verification::Applied);
        assert_eq!(deleted.op, Some(AdInverse::Delete(dn(&group_dn(11)))));

        let links: Vec<(&str, &str, Verification, &str)> = plan
            .iter()
            .filter(|u| u.item.change == "add_member")
            .map(|u| (u.item.object.as_str(), u.item.after.as_str(), u.item.verification, u.item.note.as_str()))
            .collect();
        assert_eq!(
            links,
            [
                (group_dn(10).as_str(), u1.as_str(), Verification::Covered, "the member is deleted"),
                (group_dn(11).as_str(), u2.as_str(), Verification::Covered, "the group is deleted"),
                (existing.as_str(), u1.as_str(), Verification::Covered, "the member is deleted"),
                (existing.as_str(), u2.as_str(), Verification::Applied, ""),
            ]
        );
        let removal = plan.iter().find(|u| u.item.change == "add_member" && u.op.is_some()).unwrap();
        assert_eq!(
            removal.op,
            Some(AdInverse::Modify(
                Undoes::AddMember,
                LdapChange::Modify {
                    dn: dn(&existing),
                    changes: vec![(ModKind::Delete, "member".into(), text(&[&u2]))],
                }
            ))
        );
        assert_eq!((removal.item.step, removal.municipality.as_str()), (Step::Links as u32, BJUV));
        assert_eq!(removal.item.inverse, format!("remove member {u2} from {existing}"));
    }

    #[test]
    fn a_member_no_longer_in_the_group_is_undone() {
        let existing = group_dn(20);
        let u2 = user_dn(2, BJUV);
        let entries = vec![add_members(1, BJUV, &existing, &[&u2])];
        let mut view = AdView::default();
        view.members.insert(dn(&existing).key(), HashSet::new());
        let plan = plan(&entries, Some(&view), &Context::default(), Scope(None));
        assert_eq!((plan[0].item.verification, plan[0].op.is_none()), (Verification::Undone, true));
    }

    #[test]
    fn a_municipality_rollback_touches_only_its_members_of_shared_groups() {
        let (u2, k3) = (user_dn(2, BJUV), user_dn(3, KLIPPAN));
        let shared = group_dn(20);
        let entries = vec![create_group(1, "", 20, &[&u2, &k3]), create_user(2, KLIPPAN, 3)];
        let mut view = AdView::default();
        view.objects.insert(anchor(2), found_user(&u2, 2, "IT"));
        view.objects.insert(anchor(3), found_user(&k3, 3, "IT"));
        view.objects.insert(anchor(20), found(&group_dn(20), &[("samaccountname", &["group20"])]));
        view.members.insert(dn(&shared).key(), member_keys(&[&u2, &k3]));
        let plan = plan(&entries, Some(&view), &context(&[(2, BJUV), (3, KLIPPAN)]), Scope(Some(BJUV)));

        let g = find(&plan, "create_group", &shared);
        assert_eq!(g.item.verification, Verification::Kept);
        assert!(g.op.is_none());
        let m = find(&plan, "add_member", &u2);
        assert_eq!(m.item.verification, Verification::Applied);
        assert_eq!(m.municipality, BJUV);
        assert_eq!(plan.len(), 2, "klippan's user and membership are not in bjuv's rollback: {plan:#?}");
    }

    #[test]
    fn created_ous_go_deepest_first_after_users_and_shared_ones_stay_in_a_municipality_rollback() {
        let (kommuner, bjuv, it) = (BASE.to_string(), format!("OU=Bjuv,{BASE}"), format!("OU=IT,OU=Bjuv,{BASE}"));
        let klippan = format!("OU=Klippan,{BASE}");
        let never = format!("OU=Ekonomi,OU=Bjuv,{BASE}");
        let entries = vec![
            create_ou(1, "", &kommuner),
            create_ou(2, BJUV, &bjuv),
            create_ou(3, BJUV, &it),
            create_ou(4, KLIPPAN, &klippan),
            create_ou(5, BJUV, &never),
            create_user(6, BJUV, 1),
        ];
        let existing_dns = [&kommuner, &bjuv, &it, &klippan].iter().map(|d| dn(d).key()).collect();
        let mut view = AdView { existing_dns, ..AdView::default() };
        view.objects.insert(anchor(1), found_user(&user_dn(1, BJUV), 1, "IT"));

        let whole = plan(&entries, Some(&view), &Context::default(), Scope(None));
        let deletes: Vec<&str> = whole.iter().filter_map(|u| u.op.as_ref()).map(|o| o.dn().as_str()).collect();
        assert_eq!(
            deletes,
            [user_dn(1, BJUV).as_str(), it.as_str(), bjuv.as_str(), klippan.as_str(), kommuner.as_str()]
        );
        assert!(whole.iter().filter(|u| u.item.change == "create_ou").all(|u| u.item.step == Step::DeleteOus as u32));
        let not_there = find(&whole, "create_ou", &never);
        assert_eq!((not_there.item.verification, not_there.op.is_none()), (Verification::Undone, true));
        assert_eq!(find(&whole, "create_ou", &it).item.note, "deleted only if empty");

        let scoped = plan(&entries, Some(&view), &Context::default(), Scope(Some(BJUV)));
        let deletes: Vec<&str> = scoped.iter().filter_map(|u| u.op.as_ref()).map(|o| o.dn().as_str()).collect();
        assert_eq!(deletes, [user_dn(1, BJUV).as_str(), it.as_str(), bjuv.as_str()]);
        let kept = find(&scoped, "create_ou", &kommuner);
        assert_eq!((kept.item.verification, kept.op.is_none()), (Verification::Kept, true));
        assert!(scoped.iter().all(|u| u.item.object != klippan), "another municipality's OU");
    }

    /// An update of user 1 (there before the wave) at its DN: department and title replaced.
    fn update(before: serde_json::Value) -> Entry {
        let change = modify(
            &user_dn(1, BJUV),
            &[(ModKind::Replace, "department", &["IT"]), (ModKind::Replace, "title", &["Chef"])],
        );
        let mut e = entry(1, "create_user", BJUV, Some(1), &change);
        e.before = Some(before.to_string());
        e
    }

    #[test]
    fn an_update_is_put_back_to_its_before_image() {
        let at = user_dn(1, BJUV);
        let entries = vec![update(serde_json::json!({"department": ["Ekonomi"], "title": []}))];
        let judge = |attrs: &[(&str, &[&str])]| {
            let mut view = AdView::default();
            view.objects.insert(anchor(1), found(&at, attrs));
            plan(&entries, Some(&view), &Context::default(), Scope(None))
        };

        let applied = judge(&[("department", &["IT"]), ("title", &["Chef"])]);
        assert_eq!(applied.len(), 2, "one row per attribute");
        assert!(applied.iter().all(|u| u.item.verification == Verification::Applied && u.item.change == "update"));
        assert!(applied.iter().all(|u| u.item.step == Step::Restore as u32));
        let rows: Vec<(&str, &str, &str, &str)> = applied
            .iter()
            .map(|u| {
                (u.item.attribute.as_str(), u.item.before.as_str(), u.item.after.as_str(), u.item.inverse.as_str())
            })
            .collect();
        assert_eq!(
            rows,
            [("department", "Ekonomi", "IT", "set department = 'Ekonomi'"), ("title", "", "Chef", "clear title")]
        );
        let ops: Vec<&AdInverse> = applied.iter().filter_map(|u| u.op.as_ref()).collect();
        assert_eq!(
            ops,
            [&AdInverse::Modify(
                Undoes::Update,
                LdapChange::Modify {
                    dn: dn(&at),
                    changes: vec![
                        (ModKind::Replace, "department".into(), text(&["Ekonomi"])),
                        (ModKind::Delete, "title".into(), Vec::new()),
                    ],
                }
            )],
            "one modify per object"
        );

        let undone = judge(&[("department", &["Ekonomi"])]);
        assert!(undone.iter().all(|u| u.item.verification == Verification::Undone && u.op.is_none()), "{undone:#?}");
        let drifted = judge(&[("department", &["HR"]), ("title", &["Chef"])]);
        assert!(drifted.iter().all(|u| u.item.verification == Verification::Drifted && u.op.is_none()));
        assert!(drifted[0].item.note.contains("department") && drifted[0].item.note.contains("HR"));
        let gone = plan(&entries, Some(&AdView::default()), &Context::default(), Scope(None));
        assert!(gone.iter().all(|u| u.item.verification == Verification::Undone));
        let out_of_scope = plan(&entries, Some(&AdView::default()), &Context::default(), Scope(Some(KLIPPAN)));
        assert!(out_of_scope.is_empty());
    }

    #[test]
    fn an_updated_object_moved_since_is_drifted_not_undone() {
        let entries = vec![update(serde_json::json!({"department": ["Ekonomi"], "title": []}))];
        let elsewhere = "CN=User 1,OU=Ekonomi,OU=Bjuv,OU=Kommuner,DC=samverkan,DC=test";
        let mut view = AdView::default();
        // Still the wave's values, but someone moved the user.
        view.objects.insert(anchor(1), found(elsewhere, &[("department", &["IT"]), ("title", &["Chef"])]));
        let plan = plan(&entries, Some(&view), &Context::default(), Scope(None));
        assert!(plan.iter().all(|u| u.op.is_none()));
        assert!(plan.iter().all(|u| u.item.verification == Verification::Drifted), "{plan:#?}");
    }

    #[test]
    fn a_manager_is_put_back_or_cleared() {
        let at = user_dn(1, BJUV);
        let (m0, m1) = (user_dn(7, BJUV), user_dn(8, BJUV));
        let judge = |before: &[&str], now: &[&str]| {
            let mut e = entry(1, "set_manager", BJUV, Some(1), &modify(&at, &[(ModKind::Replace, "manager", &[&m1])]));
            e.before = Some(serde_json::json!({ "manager": before }).to_string());
            let mut view = AdView::default();
            view.objects.insert(anchor(1), found(&at, &[("manager", now)]));
            let plan = plan(&[e], Some(&view), &Context::default(), Scope(None));
            assert_eq!(plan.len(), 1);
            plan.into_iter().next().unwrap()
        };

        let restored = judge(&[&m0], &[&m1]);
        assert_eq!((restored.item.verification, restored.item.change.as_str()), (Verification::Applied, "set_manager"));
        assert_eq!(restored.item.step, Step::Links as u32);
        assert_eq!(
            restored.op,
            Some(AdInverse::Modify(
                Undoes::SetManager,
                LdapChange::Modify { dn: dn(&at), changes: vec![(ModKind::Replace, "manager".into(), text(&[&m0]))] }
            ))
        );
        let cleared = judge(&[], &[&m1]);
        assert_eq!(
            cleared.op,
            Some(AdInverse::Modify(
                Undoes::SetManager,
                LdapChange::Modify { dn: dn(&at), changes: vec![(ModKind::Delete, "manager".into(), Vec::new())] }
            ))
        );
        assert_eq!(judge(&[&m0], &[&m0]).item.verification, Verification::Undone);
        assert_eq!(judge(&[], &[]).item.verification, Verification::Undone);
        assert_eq!(judge(&[&m0], &[&user_dn(9, BJUV)]).item.verification, Verification::Drifted);
    }

    #[test]
    fn updates_and_managers_of_a_created_user_are_covered_by_its_delete() {
        let at = user_dn(1, BJUV);
        let mut later =
            entry(2, "create_user", BJUV, Some(1), &modify(&at, &[(ModKind::Replace, "department", &["HR"])]));
        later.before = Some(serde_json::json!({"department": ["IT"]}).to_string());
        let mut manager =
            entry(3, "set_manager", BJUV, Some(1), &modify(&at, &[(ModKind::Replace, "manager", &["CN=M,DC=x"])]));
        manager.before = Some(serde_json::json!({"manager": []}).to_string());
        let mut view = AdView::default();
        view.objects.insert(anchor(1), found_user(&at, 1, "HR"));
        let plan = plan(&[create_user(1, BJUV, 1), later, manager], Some(&view), &Context::default(), Scope(None));
        let user = find(&plan, "create_user", &at);
        assert_eq!(
            user.item.verification,
            Verification::Applied,
            "compared with the wave's later value: {}",
            user.item.note
        );
        assert_eq!(find(&plan, "update", &at).item.verification, Verification::Covered);
        assert_eq!(find(&plan, "set_manager", &at).item.verification, Verification::Covered);
        assert_eq!(plan.iter().filter(|u| u.op.is_some()).count(), 1);
    }

    #[test]
    fn nothing_is_sent_when_the_directory_was_not_read() {
        let entries = vec![
            create_ou(1, BJUV, &format!("OU=Bjuv,{BASE}")),
            create_user(2, BJUV, 1),
            create_group(3, BJUV, 10, &[&user_dn(1, BJUV)]),
            update(serde_json::json!({"department": ["Ekonomi"], "title": []})),
        ];
        let plan = plan(&entries, None, &Context::default(), Scope(None));
        assert_eq!(plan.len(), 6, "{plan:#?}");
        assert!(plan.iter().all(|u| u.item.verification == Verification::Unverified && u.op.is_none()));
        let steps: Vec<u32> = plan.iter().map(|u| u.item.step).collect();
        assert_eq!(steps, [1, 3, 3, 4, 5, 6]);
    }

    #[test]
    fn a_corrupt_intent_or_before_image_is_an_error_naming_the_row() {
        let mut corrupt = create_user(2, BJUV, 2);
        corrupt.intent = "{\"changetype\": ".into();
        let e = super::plan(&[create_user(1, BJUV, 1), corrupt], None, &Context::default(), Scope(None))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("journal row 2 (run 3), column intent: not JSON: "), "{e}");

        let mut manager = entry(
            4,
            "set_manager",
            BJUV,
            Some(1),
            &modify(&user_dn(1, BJUV), &[(ModKind::Replace, "manager", &["CN=M"])]),
        );
        manager.before = Some("[".into());
        let e = super::plan(&[manager], None, &Context::default(), Scope(None)).unwrap_err().to_string();
        assert!(e.starts_with("journal row 4 (run 3), column before: not JSON: "), "{e}");
    }

    #[test]
    fn inverses_are_journaled_with_the_actions_they_always_had() {
        let (at, existing, u2) = (user_dn(1, BJUV), group_dn(20), user_dn(2, BJUV));
        let mut manager =
            entry(2, "set_manager", BJUV, Some(1), &modify(&at, &[(ModKind::Replace, "manager", &["CN=M,DC=x"])]));
        manager.before = Some(serde_json::json!({"manager": []}).to_string());
        let entries = vec![
            update(serde_json::json!({"department": ["Ekonomi"], "title": []})),
            manager,
            add_members(3, BJUV, &existing, &[&u2]),
            create_user(4, BJUV, 3),
        ];
        let mut view = AdView::default();
        let attrs: &[(&str, &[&str])] = &[("department", &["IT"]), ("title", &["Chef"]), ("manager", &["CN=M,DC=x"])];
        view.objects.insert(anchor(1), found(&at, attrs));
        view.objects.insert(anchor(3), found_user(&user_dn(3, BJUV), 3, "IT"));
        view.members.insert(dn(&existing).key(), member_keys(&[&u2]));
        let plan = plan(&entries, Some(&view), &Context::default(), Scope(None));
        let mut actions = Vec::new();
        for u in &plan {
            let Some(op) = &u.op else { continue };
            // What the rollback journaled before the actions were an enum.
            let before = match op {
                AdInverse::Delete(_) => "delete".to_string(),
                AdInverse::Modify(..) => format!("undo_{}", u.item.change),
            };
            assert_eq!(op.action().as_str(), before);
            actions.push(op.action());
        }
        actions.sort();
        assert_eq!(actions, [Action::Delete, Action::UndoAddMember, Action::UndoUpdate, Action::UndoSetManager]);
    }
}
