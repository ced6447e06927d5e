//! The shared AD's rollback plan: the journal's LDAP operations against a live [`AdView`].
//! Pure; see the module docs of [`crate::rollback`] for the rules.

use super::tenant::Context;
use super::{Scope, Step, Undo, Verification, in_order, item};
use crate::execute::shared_ad::AdView;
use crate::journal::Entry;
use crate::model::Dn;
use crate::target::ldap::{Change as LdapChange, ModKind, Value};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Attributes of an add not compared when judging drift: what the object is, its anchor,
/// its members (judged on their own) and what a person may change on purpose (enabling it).
const NOT_COMPARED: [&str; 6] = ["objectclass", "cn", "useraccountcontrol", "ms-ds-consistencyguid", "member", "unicodepwd"];

/// An inverse in the shared AD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdInverse {
    Delete(Dn),
    Modify(LdapChange),
}

impl AdInverse {
    pub fn dn(&self) -> &Dn {
        match self {
            AdInverse::Delete(dn) | AdInverse::Modify(LdapChange::Modify { dn, .. } | LdapChange::Add { dn, .. }) => dn,
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

fn parse(entry: &Entry) -> Parsed {
    let j: Json = serde_json::from_str(&entry.intent).unwrap_or_default();
    let add = j["changetype"] == "add";
    let dn = j["dn"].as_str().and_then(|d| Dn::parse(d).ok());
    let list = if add { &j["attrs"] } else { &j["changes"] };
    let values = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| {
            let x = x.as_array()?;
            let (kind, name, vals) = if add { ("", x.first()?, x.get(1)?) } else { (x.first()?.as_str()?, x.get(1)?, x.get(2)?) };
            let vals = vals.as_array()?.iter().map(bytes_of).collect();
            Some((kind.to_string(), name.as_str()?.to_string(), vals))
        })
        .collect();
    Parsed { add, dn, values }
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

/// The before-image of a modification: attribute -> values.
fn before_of(entry: &Entry) -> BTreeMap<String, Vec<Vec<u8>>> {
    let j: Json = entry.before.as_deref().and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default();
    j.as_object()
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
        .collect()
}

fn text_values(values: &[Vec<u8>]) -> Vec<Value> {
    values.iter().map(|v| Value::Text(String::from_utf8_lossy(v).into_owned())).collect()
}

fn judged(v: Verification, note: impl Into<String>) -> (Verification, String) {
    (v, note.into())
}

/// The shared AD's rollback plan for the `entries` of a wave against `view` (None: not read).
pub fn plan(entries: &[Entry], view: Option<&AdView>, context: &Context, scope: Scope<'_>) -> Vec<Undo<AdInverse>> {
    let entries: Vec<(&Entry, Parsed)> = entries
        .iter()
        .filter(|e| e.system == "shared_ad" && e.may_have_happened())
        .map(|e| (e, parse(e)))
        .collect();
    let found_by_key: HashMap<String, &crate::client::ldap::Found> =
        view.map(|v| v.objects.iter().map(|(a, f)| (a.0.to_string(), f)).collect()).unwrap_or_default();
    let anchor_of_dn: HashMap<String, String> =
        found_by_key.iter().map(|(k, f)| (f.dn.key(), k.clone())).collect();
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
                (written.get_mut(&dn.key()), kind.as_str(), e.action == "set_manager")
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
        let step = match e.action.as_str() {
            "create_ou" => Step::DeleteOus,
            "create_group" => Step::DeleteGroups,
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
                            judged(Verification::Kept, "shared by several municipalities: only this municipality's members are removed")
                        } else {
                            judged(Verification::Applied, "")
                        }
                    }
                    Some(f) => {
                        let drift: Vec<String> = written
                            .get(&dn.key())
                            .into_iter()
                            .flatten()
                            .filter(|(name, vals)| !NOT_COMPARED.contains(&name.as_str()) && set(f.values(name)) != set(vals))
                            .map(|(name, vals)| format!("{name}: the wave set '{}', now '{}'", texts(vals), texts(f.values(name))))
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
    let mut restores: BTreeMap<(String, bool), (&Entry, Dn, BTreeMap<String, Vec<Vec<u8>>>, BTreeMap<String, Vec<Vec<u8>>>)> =
        BTreeMap::new();
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
                        Some(_) if deleted.contains(&member_key) => judged(Verification::Covered, "the member is deleted"),
                        Some(_) if !members_of(dn).contains(&member_key) => judged(Verification::Undone, "not a member"),
                        Some(_) => judged(Verification::Applied, ""),
                    };
                    it.verification = verification;
                    it.note = note;
                    let op = (verification == Verification::Applied).then(|| {
                        AdInverse::Modify(LdapChange::Modify {
                            dn: dn.clone(),
                            changes: vec![(ModKind::Delete, "member".into(), vec![Value::Text(member.clone())])],
                        })
                    });
                    out.push(Undo { municipality: m, item: it, op });
                }
            } else if !p.add && kind == "replace" && scope.includes(&e.municipality) {
                let before = before_of(e);
                let slot = restores.entry((dn.key(), e.action == "set_manager")).or_insert_with(|| (e, dn.clone(), BTreeMap::new(), BTreeMap::new()));
                slot.2.entry(lower.clone()).or_insert_with(|| before.get(name).or(before.get(&lower)).cloned().unwrap_or_default());
                slot.3.insert(lower, vals.clone());
            }
        }
    }
    for ((key, is_manager), (e, dn, before, after)) in restores {
        let found = e.anchor.as_deref().and_then(|a| found_by_key.get(a)).filter(|f| f.dn.key() == key);
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
            (Some(_), None) => judged(Verification::Undone, "not in the directory at its DN"),
            (Some(_), Some(_)) if !drift.is_empty() => judged(Verification::Drifted, drift.join("; ")),
            (Some(_), Some(_)) if !pending => judged(Verification::Undone, ""),
            _ => judged(Verification::Applied, ""),
        };
        let changes: Vec<(ModKind, String, Vec<Value>)> = before
            .iter()
            .map(|(n, b)| if b.is_empty() { (ModKind::Delete, n.clone(), Vec::new()) } else { (ModKind::Replace, n.clone(), text_values(b)) })
            .collect();
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
                .then(|| AdInverse::Modify(LdapChange::Modify { dn: dn.clone(), changes: changes.clone() }));
            first = false;
            out.push(Undo { municipality: e.municipality.clone(), item: it, op });
        }
    }
    in_order(out)
}
