//! The tenant's rollback plan: the journal's Graph requests against a live [`TenantView`].
//! Pure; see the module docs of [`crate::rollback`] for the rules.

use super::{Scope, Step, Undo, Verification, in_order, item};
use crate::execute::tenant::{TenantView, text, user_differences};
use crate::journal::Entry;
use crate::mapping::unify::Anchor;
use crate::model::ids::ObjectGuid;
use crate::target::graph::{Action, GRAPH_ROOT, GraphRequest};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What a rollback needs besides the journal and the view.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Anchor (as text) -> the municipality of its primary affiliation, for members.
    pub municipality_of: HashMap<String, String>,
}

/// The live tenant, keyed as the journal keys objects (anchor text, `licence-group:<class>`).
struct Live<'a> {
    view: &'a TenantView,
    objects: HashMap<String, &'a Value>,
    key_of_id: HashMap<String, String>,
}

impl<'a> Live<'a> {
    fn new(view: &'a TenantView) -> Live<'a> {
        let mut objects: HashMap<String, &Value> = HashMap::new();
        for (a, o) in view.users.iter().chain(view.groups.iter()) {
            objects.insert(a.0.to_string(), o);
        }
        for (c, o) in &view.licence_groups {
            objects.insert(format!("licence-group:{c}"), o);
        }
        let key_of_id =
            objects.iter().filter_map(|(k, o)| Some((o["id"].as_str()?.to_string(), k.clone()))).collect();
        Live { view, objects, key_of_id }
    }

    fn id(&self, key: &str) -> Option<&str> {
        self.objects.get(key).and_then(|o| o["id"].as_str())
    }

    fn members(&self, key: &str) -> HashSet<String> {
        self.id(key).and_then(|id| self.view.members.get(id)).cloned().unwrap_or_default()
    }

    fn manager(&self, key: &str) -> Option<Option<String>> {
        let a = Anchor(ObjectGuid::parse(key).ok()?);
        self.view.managers.get(&a).cloned()
    }

    fn has_sku(&self, key: &str, sku: &str) -> bool {
        self.objects.get(key).and_then(|o| o["assignedLicenses"].as_array()).is_some_and(|l| {
            l.iter().any(|x| x["skuId"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(sku)))
        })
    }
}

/// The last path segment of a Graph URL (an object's id).
fn last_segment(url: &str) -> String {
    url.trim_end_matches("/$ref").rsplit('/').next().unwrap_or_default().to_string()
}

/// The `n`th path segment of a request URL (`/users/{id}/manager/$ref`: 1 is the id).
fn segment(url: &str, n: usize) -> String {
    url.trim_start_matches('/').split('/').nth(n).unwrap_or_default().to_string()
}

/// A JSON body flattened one level into `outer/inner` keys, as updates are compared.
fn flatten(body: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (k, v) in body.as_object().into_iter().flatten() {
        match v.as_object() {
            Some(inner) if k == "onPremisesExtensionAttributes" => {
                for (i, iv) in inner {
                    out.insert(format!("{k}/{i}"), iv.clone());
                }
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// The inverse of `flatten`.
fn unflatten(values: &BTreeMap<String, Value>) -> Value {
    let mut body = Map::new();
    for (k, v) in values {
        match k.split_once('/') {
            Some((outer, inner)) => {
                if let Some(m) = body.entry(outer.to_string()).or_insert_with(|| json!({})).as_object_mut() {
                    m.insert(inner.to_string(), v.clone());
                }
            }
            None => {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(body)
}

fn value_of(object: &Value, key: &str) -> Value {
    match key.split_once('/') {
        Some((outer, inner)) => object[outer][inner].clone(),
        None => object[key].clone(),
    }
}

/// Values Graph treats as the same (a cleared string reads back as null).
fn same(a: &Value, b: &Value) -> bool {
    text(a) == text(b)
}

fn request(id: String, action: Action, method: &str, url: String, body: Option<Value>, key: &str) -> GraphRequest {
    GraphRequest {
        id,
        method: method.into(),
        url,
        body,
        depends_on: Vec::new(),
        action,
        municipality: String::new(),
        anchor: ObjectGuid::parse(key).ok().map(Anchor),
        licence_class: key.strip_prefix("licence-group:").map(str::to_string),
    }
}

fn parse(entry: &Entry) -> (String, String, Value) {
    let intent: Value = serde_json::from_str(&entry.intent).unwrap_or_default();
    (text(&intent["method"]), text(&intent["url"]), intent["body"].clone())
}

/// The member ids a create or PATCH binds.
fn binds(body: &Value) -> Vec<String> {
    body["members@odata.bind"].as_array().into_iter().flatten().filter_map(Value::as_str).map(last_segment).collect()
}

/// How one forward change is judged, before it becomes an [`Undo`].
struct Judged {
    verification: Verification,
    note: String,
}

fn judged(verification: Verification, note: impl Into<String>) -> Judged {
    Judged { verification, note: note.into() }
}

/// The tenant's rollback plan for the `entries` of a wave (tenant entries that may have
/// happened, in journal order), against `view` (None: not read, every change unverified).
pub fn plan(entries: &[Entry], view: Option<&TenantView>, context: &Context, scope: Scope<'_>) -> Vec<Undo<GraphRequest>> {
    let live = view.map(Live::new);
    let live = live.as_ref();
    let entries: Vec<&Entry> =
        entries.iter().filter(|e| e.system == "tenant" && e.may_have_happened()).collect();
    let key_of = |e: &Entry| e.anchor.clone().unwrap_or_default();
    let municipality_of_key = |key: &str, fallback: &str| {
        context.municipality_of.get(key).cloned().unwrap_or_else(|| fallback.to_string())
    };
    let mut out: Vec<Undo<GraphRequest>> = Vec::new();

    // What the wave set on users it created (create bodies, then its own later updates), and
    // the members it added to each group, by key.
    let mut created_bodies: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    let mut added: HashMap<String, HashSet<String>> = HashMap::new();
    for e in &entries {
        let (_, _, body) = parse(e);
        match e.action.as_str() {
            "create_user" => {
                created_bodies.entry(key_of(e)).or_insert_with(|| flatten(&body));
            }
            "update_user" => {
                if let Some(b) = created_bodies.get_mut(&key_of(e)) {
                    b.extend(flatten(&body));
                }
            }
            "create_group" | "create_licence_group" | "add_members" => {
                added.entry(key_of(e)).or_default().extend(binds(&body));
            }
            _ => {}
        }
    }

    // Deletions first: they decide which other inverses are covered.
    let mut deleted: HashSet<String> = HashSet::new();
    let mut seen: HashSet<String> = HashSet::new();
    for e in &entries {
        let kind = match e.action.as_str() {
            "create_user" => "user",
            "create_group" | "create_licence_group" => "group",
            _ => continue,
        };
        let key = key_of(e);
        if !seen.insert(key.clone()) || !scope.includes(&e.municipality) && !e.municipality.is_empty() {
            continue;
        }
        let journal_id = e.object_id.clone().unwrap_or_else(|| "(id unknown: in doubt)".into());
        let (step, path) = if kind == "user" { (Step::DeleteUsers, "users") } else { (Step::DeleteGroups, "groups") };
        let mut it = item(e, step, &e.object, "", String::new(), "created".into());
        let j = match live {
            None => judged(Verification::Unverified, ""),
            Some(l) => match l.objects.get(&key) {
                None => judged(Verification::Undone, "not in the tenant"),
                Some(o) if kind == "user" => {
                    let expected: Map<String, Value> =
                        unflatten(created_bodies.get(&key).unwrap_or(&BTreeMap::new())).as_object().cloned().unwrap_or_default();
                    let diffs = user_differences(&expected, o);
                    if diffs.is_empty() {
                        judged(Verification::Applied, "")
                    } else {
                        let what: Vec<String> = diffs
                            .iter()
                            .map(|(k, now, set)| format!("{k}: the wave set '{}', now '{}'", text(set), text(now)))
                            .collect();
                        judged(Verification::Drifted, what.join("; "))
                    }
                }
                Some(_) => {
                    let ours = added.get(&key).cloned().unwrap_or_default();
                    let extra = l.members(&key).into_iter().filter(|m| !ours.contains(m)).count();
                    if extra > 0 {
                        judged(Verification::Drifted, format!("{extra} member(s) the wave did not add"))
                    } else if e.municipality.is_empty() && !scope.whole_wave() {
                        judged(Verification::Kept, "shared by several municipalities: only this municipality's members are removed")
                    } else {
                        judged(Verification::Applied, "")
                    }
                }
            },
        };
        let id = live.and_then(|l| l.id(&key)).map(str::to_string).unwrap_or(journal_id);
        it.inverse = format!("DELETE /{path}/{id}");
        it.verification = j.verification;
        it.note = j.note;
        let op = (j.verification == Verification::Applied).then(|| {
            deleted.insert(key.clone());
            let action = if kind == "user" { Action::DeleteUser } else { Action::DeleteGroup };
            request(format!("undo-{}", e.id), action, "DELETE", format!("/{path}/{id}"), None, &key)
        });
        out.push(Undo { municipality: e.municipality.clone(), item: it, op });
    }

    // Everything else, in journal order.
    let mut updates: BTreeMap<String, (&Entry, BTreeMap<String, Value>, BTreeMap<String, Value>)> = BTreeMap::new();
    for e in &entries {
        let (_, url, body) = parse(e);
        let key = key_of(e);
        let covered = |k: &str| deleted.contains(k);
        match e.action.as_str() {
            "create_group" | "create_licence_group" | "add_members" => {
                for member in binds(&body) {
                    let member_key = live.and_then(|l| l.key_of_id.get(&member).cloned());
                    let m = member_key.as_deref().map_or(e.municipality.clone(), |k| municipality_of_key(k, &e.municipality));
                    if !scope.includes(&m) {
                        continue;
                    }
                    let group_id = live.and_then(|l| l.id(&key)).map(str::to_string).unwrap_or_else(|| segment(&url, 1));
                    let name = member_key.clone().unwrap_or_else(|| member.clone());
                    let mut it = item(e, Step::Links, &e.object, "member", String::new(), name);
                    it.change = "add_member".into();
                    it.inverse = format!("DELETE /groups/{group_id}/members/{member}/$ref");
                    let j = match (live, &member_key) {
                        (None, _) => judged(Verification::Unverified, ""),
                        (Some(_), _) if covered(&key) => judged(Verification::Covered, "the group is deleted"),
                        (Some(_), Some(k)) if covered(k) => judged(Verification::Covered, "the member is deleted"),
                        (Some(_), None) => judged(Verification::Undone, "the member is not in the tenant"),
                        (Some(l), Some(_)) if !l.members(&key).contains(&member) => {
                            judged(Verification::Undone, "not a member")
                        }
                        (Some(_), Some(_)) => judged(Verification::Applied, ""),
                    };
                    it.verification = j.verification;
                    it.note = j.note;
                    let op = (j.verification == Verification::Applied).then(|| {
                        request(
                            format!("undo-{}-{member}", e.id),
                            Action::RemoveMember,
                            "DELETE",
                            format!("/groups/{group_id}/members/{member}/$ref"),
                            None,
                            &key,
                        )
                    });
                    out.push(Undo { municipality: m, item: it, op });
                }
            }
            "set_manager" if scope.includes(&e.municipality) => {
                let before: Value = e.before.as_deref().and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default();
                let before = before["manager"].as_str().map(str::to_string);
                let after = body["@odata.id"].as_str().map(last_segment).unwrap_or_default();
                let user_id = live.and_then(|l| l.id(&key)).map(str::to_string).unwrap_or_else(|| segment(&url, 1));
                let mut it = item(e, Step::Links, &e.object, "manager", before.clone().unwrap_or_default(), after.clone());
                let (method, body) = match &before {
                    Some(b) => ("PUT", Some(json!({"@odata.id": format!("{GRAPH_ROOT}/users/{b}")}))),
                    None => ("DELETE", None),
                };
                it.inverse = format!("{method} /users/{user_id}/manager/$ref{}", before.as_ref().map(|b| format!(" -> {b}")).unwrap_or_default());
                let j = match live {
                    None => judged(Verification::Unverified, ""),
                    Some(_) if covered(&key) => judged(Verification::Covered, "the user is deleted"),
                    Some(l) if !l.objects.contains_key(&key) => judged(Verification::Undone, "the user is not in the tenant"),
                    Some(l) => match l.manager(&key).flatten() {
                        Some(now) if now == after => judged(Verification::Applied, ""),
                        now if now == before => judged(Verification::Undone, ""),
                        now => judged(Verification::Drifted, format!("the manager is now {}", now.unwrap_or_else(|| "none".into()))),
                    },
                };
                it.verification = j.verification;
                it.note = j.note;
                let op = (j.verification == Verification::Applied).then(|| {
                    request(format!("undo-{}", e.id), Action::RestoreManager, method, format!("/users/{user_id}/manager/$ref"), body, &key)
                });
                out.push(Undo { municipality: e.municipality.clone(), item: it, op });
            }
            "assign_user_licence" | "assign_group_licence" => {
                let shared = e.municipality.is_empty();
                if !scope.includes(&e.municipality) && !shared {
                    continue;
                }
                let sku = body["addLicenses"][0]["skuId"].as_str().unwrap_or_default().to_string();
                let path = if e.action == "assign_user_licence" { "users" } else { "groups" };
                let owner = live.and_then(|l| l.id(&key)).map(str::to_string).unwrap_or_else(|| segment(&url, 1));
                let mut it = item(e, Step::Licences, &e.object, "licence", String::new(), sku.clone());
                it.inverse = format!("POST /{path}/{owner}/assignLicense removeLicenses {sku}");
                let j = match live {
                    None => judged(Verification::Unverified, ""),
                    Some(_) if covered(&key) => judged(Verification::Covered, "its holder is deleted"),
                    Some(l) if !l.has_sku(&key, &sku) => judged(Verification::Undone, "not assigned"),
                    Some(_) if shared && !scope.whole_wave() => {
                        judged(Verification::Kept, "a licence group shared by several municipalities")
                    }
                    Some(_) => judged(Verification::Applied, ""),
                };
                it.verification = j.verification;
                it.note = j.note;
                let op = (j.verification == Verification::Applied).then(|| {
                    let body = json!({"addLicenses": [], "removeLicenses": [sku]});
                    request(format!("undo-{}", e.id), Action::RemoveLicence, "POST", format!("/{path}/{owner}/assignLicense"), Some(body), &key)
                });
                out.push(Undo { municipality: e.municipality.clone(), item: it, op });
            }
            "update_user" if scope.includes(&e.municipality) => {
                let before: Value = e.before.as_deref().and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default();
                let slot = updates.entry(key).or_insert_with(|| (e, BTreeMap::new(), BTreeMap::new()));
                for (k, v) in flatten(&before) {
                    slot.1.entry(k).or_insert(v);
                }
                slot.2.extend(flatten(&body));
            }
            _ => {}
        }
    }

    // Updates: one restore per user, judged as a whole (a drifted user is left as it is).
    for (key, (e, before, after)) in updates {
        let object = live.and_then(|l| l.objects.get(&key).copied());
        let drifted: Vec<String> = object
            .map(|o| {
                after
                    .iter()
                    .filter(|(k, v)| {
                        let now = value_of(o, k);
                        !same(&now, v) && !before.get(*k).is_some_and(|b| same(&now, b))
                    })
                    .map(|(k, v)| format!("{k}: the wave set '{}', now '{}'", text(v), text(&value_of(o, k))))
                    .collect()
            })
            .unwrap_or_default();
        let pending: BTreeMap<String, Value> = match object {
            Some(o) => before.iter().filter(|(k, _)| !same(&value_of(o, k), &before[*k])).map(|(k, v)| (k.clone(), v.clone())).collect(),
            None => BTreeMap::new(),
        };
        let j = match (live, object) {
            (None, _) => judged(Verification::Unverified, ""),
            (Some(_), _) if deleted.contains(&key) => judged(Verification::Covered, "the user is deleted"),
            (Some(_), None) => judged(Verification::Undone, "the user is not in the tenant"),
            (Some(_), Some(_)) if !drifted.is_empty() => judged(Verification::Drifted, drifted.join("; ")),
            (Some(_), Some(_)) if pending.is_empty() => judged(Verification::Undone, ""),
            _ => judged(Verification::Applied, ""),
        };
        let user_id = object.and_then(|o| o["id"].as_str()).map(str::to_string).unwrap_or_else(|| segment(&parse(e).1, 1));
        let restore = unflatten(&before);
        let mut first = true;
        for (k, b) in &before {
            let mut it = item(e, Step::Restore, &e.object, k, text(b), after.get(k).map(text).unwrap_or_default());
            it.change = "update".into();
            it.inverse = format!("PATCH /users/{user_id} {k} = '{}'", text(b));
            it.verification = j.verification;
            it.note = j.note.clone();
            let op = (first && j.verification == Verification::Applied).then(|| {
                request(format!("undo-{}", e.id), Action::RestoreUser, "PATCH", format!("/users/{user_id}"), Some(restore.clone()), &key)
            });
            first = false;
            out.push(Undo { municipality: e.municipality.clone(), item: it, op });
        }
    }
    for u in &mut out {
        if let Some(op) = &mut u.op {
            op.municipality = u.municipality.clone();
        }
    }
    in_order(out)
}
