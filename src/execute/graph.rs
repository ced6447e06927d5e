//! The joint tenant's side of a wave: look at what the tenant holds, work out what is left
//! to send, send it in `$batch` requests with each intent journaled first.
//!
//! The rendered requests ([`crate::render::graph`]) say what the wave needs from an empty
//! tenant. [`reconcile`] turns them into what this tenant still needs, from a [`TenantView`]
//! of the objects they touch: a user that exists is updated where its properties differ (or
//! left alone), a group that exists is not created again and only its missing members are
//! added, a licence or manager already in place is not sent. That one pure step is the
//! dry-run's comparison, the executor's idempotency and the resume after a crash: whatever
//! was done before is seen in the tenant and not repeated.
//!
//! Graph is eventually consistent, so a look can miss an object created a moment ago. The
//! ids the executor got from its own creates are therefore part of the view ([`TenantView::
//! known`]), and a create that conflicts is never retried blindly: the next pass looks the
//! object up by its anchor again (with growing waits) and takes it over when found.
//!
//! A wave run again after its rollback meets samla's own objects in the tenant's deleted items
//! (Entra keeps their names and anchors reserved for 30 days). [`observe_deleted`] finds them
//! by the id the journal recorded and their anchor; [`reconcile`] restores them instead of
//! creating them and leaves what names them for the look after the restore.

use crate::client::graph::{ClientError, GraphClient, Outcome};
use crate::model::unified::Anchor;
use crate::render::graph::{self, Action, GraphRequest, MAX_BINDS, Placeholder};
use crate::render::{RefKind, WaveContent};

use crate::model::settings::TargetSettings;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The user properties read when looking users up (compared with what the wave would set).
const USER_SELECT: &str = "id,userPrincipalName,displayName,givenName,surname,jobTitle,department,companyName,\
employeeId,employeeType,officeLocation,usageLocation,mailNickname,onPremisesImmutableId,\
onPremisesExtensionAttributes,assignedLicenses";
const GROUP_SELECT: &str = "id,displayName,mailNickname,uniqueName,assignedLicenses";
/// Properties of a create that are not compared with an existing user: how it logs in
/// (never overwritten on someone who exists) and the key it was found by.
const NOT_COMPARED: [&str; 3] = ["accountEnabled", "passwordProfile", "onPremisesImmutableId"];
/// Values per `in (...)` filter (Graph allows 15).
pub(crate) const IN_VALUES: usize = 15;

/// What the tenant holds of the objects a set of requests touches.
#[derive(Debug, Clone, Default)]
pub struct TenantView {
    /// Users found by anchor, as Graph returned them.
    pub users: HashMap<Anchor, Value>,
    /// Groups found by mailNickname holding samla's uniqueName for them (or none: an older
    /// run's, made before groups had one), by anchor.
    pub groups: HashMap<Anchor, Value>,
    /// Licence groups found, by licence class.
    pub licence_groups: HashMap<String, Value>,
    /// Member ids of existing groups the requests add members to, by group id. A group whose
    /// members could not be read (not visible yet) is absent: all its additions are kept.
    pub members: HashMap<String, HashSet<String>>,
    /// The current manager's id of existing users whose manager the requests set.
    pub managers: HashMap<Anchor, Option<String>>,
    /// skuPartNumber -> skuId.
    pub skus: HashMap<String, String>,
    /// skuPartNumber -> (enabled units, consumed units), for the preflight.
    pub sku_units: HashMap<String, (u64, u64)>,
    /// samla's own objects a rollback soft-deleted, as the tenant's deleted items show them,
    /// by placeholder: found by the id the journal recorded and kept only when their anchor is
    /// the wave's (a user's onPremisesImmutableId, a group's mailNickname). Restored instead of
    /// created again ([`observe_deleted`]).
    pub restorable: HashMap<Placeholder, Value>,
    /// Ids of what this run created, for objects a look may not show yet. Ids from earlier
    /// runs' journals are not used: the object may have been deleted since, or the target name
    /// may now reach another tenant; a look finds the rest.
    pub known: HashMap<Placeholder, String>,
}

impl TenantView {
    /// The object id for a placeholder, if the object exists.
    pub fn id(&self, p: &Placeholder) -> Option<String> {
        let found = match p {
            Placeholder::Id(a) => self.users.get(a).or_else(|| self.groups.get(a)),
            Placeholder::LicenceGroup(c) => self.licence_groups.get(c),
            _ => None,
        };
        found.and_then(|o| o["id"].as_str().map(str::to_string)).or_else(|| self.known.get(p).cloned())
    }

    /// Records a group found in the tenant for a group placeholder.
    fn found_group(&mut self, p: &Placeholder, g: Value) {
        match p {
            Placeholder::Id(a) => {
                self.groups.insert(*a, g);
            }
            Placeholder::LicenceGroup(c) => {
                self.licence_groups.insert(c.clone(), g);
            }
            Placeholder::Sku(_) | Placeholder::Password => {}
        }
    }

    fn has_sku(object: Option<&Value>, sku_id: Option<&String>) -> bool {
        let (Some(o), Some(sku)) = (object, sku_id) else { return false };
        o["assignedLicenses"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x["skuId"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(sku))))
    }
}

/// One change the wave makes to one object, for the dry-run's comparison and the reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub municipality: String,
    /// A UPN or a group's mailNickname.
    pub object: String,
    pub change: ChangeKind,
    pub attribute: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Create,
    Update,
    Unchanged,
    AddMembers,
    SetManager,
    AssignLicence,
    /// samla's own object restored from the tenant's deleted items (`after`: its id).
    Restore,
}

/// What is left to send, and what it changes.
#[derive(Debug, Clone, Default)]
pub struct Reconciled {
    /// The requests still needed, each with the index of the rendered request it came from.
    pub requests: Vec<(usize, GraphRequest)>,
    pub changes: Vec<Change>,
    /// Before-images (JSON) of what requests change, by request id: the properties an update
    /// overwrites, the manager a link replaces. Journaled with the intent; a rollback
    /// restores them.
    pub before: HashMap<String, String>,
    /// Requests that name an object being restored (its memberships, licences, manager, and
    /// the comparison of its values): left for the look after the restore, which sees what
    /// the restored object still lacks.
    pub after_restore: Vec<(usize, GraphRequest)>,
}

/// The anchors bound in a request body's `members@odata.bind`.
fn bound(req: &GraphRequest) -> Vec<Anchor> {
    req.body
        .as_ref()
        .and_then(|b| b.get("members@odata.bind"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .flat_map(graph::placeholders_in)
        .filter_map(|p| match p {
            Placeholder::Id(a) => Some(a),
            _ => None,
        })
        .collect()
}

/// The placeholder naming the group a request is about.
fn group_of(req: &GraphRequest) -> Option<Placeholder> {
    match (&req.licence_class, req.anchor) {
        (Some(c), _) if matches!(req.action, Action::CreateLicenceGroup | Action::AssignGroupLicence) => {
            Some(Placeholder::LicenceGroup(c.clone()))
        }
        (Some(c), None) if req.action == Action::AddMembers => Some(Placeholder::LicenceGroup(c.clone())),
        (_, Some(a)) => Some(Placeholder::Id(a)),
        _ => None,
    }
}

pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The properties of a create body that differ from the existing user: (name, before, after)
/// with `onPremisesExtensionAttributes` compared one attribute at a time.
pub(crate) fn user_differences(body: &Map<String, Value>, existing: &Value) -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    for (key, wanted) in body {
        if NOT_COMPARED.contains(&key.as_str()) {
            continue;
        }
        if key == "onPremisesExtensionAttributes" {
            for (ext, v) in wanted.as_object().into_iter().flatten() {
                let have = existing[key.as_str()][ext.as_str()].clone();
                if text(&have) != text(v) {
                    out.push((format!("{key}/{ext}"), have, v.clone()));
                }
            }
            continue;
        }
        let have = existing[key.as_str()].clone();
        let same = match (&have, wanted) {
            (Value::String(a), Value::String(b)) if key == "userPrincipalName" || key == "mailNickname" => {
                a.eq_ignore_ascii_case(b)
            }
            (a, b) => a == b,
        };
        if !same {
            out.push((key.clone(), have, wanted.clone()));
        }
    }
    out
}

/// The PATCH body setting `differences` to their after values (`before`: their before values).
fn update_body(differences: &[(String, Value, Value)], before: bool) -> Value {
    let mut body = Map::new();
    for (key, old, new) in differences {
        let after = if before { old } else { new };
        match key.split_once('/') {
            Some((outer, inner)) => {
                let entry = body.entry(outer.to_string()).or_insert_with(|| json!({}));
                if let Some(m) = entry.as_object_mut() {
                    m.insert(inner.to_string(), after.clone());
                }
            }
            None => {
                body.insert(key.clone(), after.clone());
            }
        }
    }
    Value::Object(body)
}

/// The request restoring samla's own soft-deleted object `deleted` in place of `create`.
fn restore_request(create: &GraphRequest, deleted: &Value) -> Option<GraphRequest> {
    let id = deleted["id"].as_str()?;
    let action =
        if create.action == Action::CreateUser { Action::RestoreDeletedUser } else { Action::RestoreDeletedGroup };
    Some(GraphRequest {
        method: "POST".into(),
        url: format!("/directory/deletedItems/{id}/restore"),
        // $batch needs a body with every POST; Graph's restore takes an empty one.
        body: Some(json!({})),
        depends_on: Vec::new(),
        action,
        ..create.clone()
    })
}

/// What the requests still need from a tenant that holds `view` (see the module docs). Pure.
pub fn reconcile(rendered: &[(usize, GraphRequest)], view: &TenantView, names: &Names) -> Reconciled {
    let mut out = Reconciled::default();
    let mut dropped: HashSet<String> = HashSet::new();
    let exists = |p: &Placeholder| view.id(p).is_some();
    // samla's own deleted objects the wave needs and the tenant does not show live.
    let restoring = |p: &Placeholder| !exists(p) && view.restorable.contains_key(p);
    let is_member = |group: &Placeholder, member: Anchor| -> bool {
        let (Some(gid), Some(mid)) = (view.id(group), view.id(&Placeholder::Id(member))) else { return false };
        view.members.get(&gid).is_some_and(|m| m.contains(&mid))
    };
    let mut change = |m: &str, object: String, kind: ChangeKind, attribute: &str, before: String, after: String| {
        out.changes.push(Change {
            municipality: m.to_string(),
            object,
            change: kind,
            attribute: attribute.to_string(),
            before,
            after,
        })
    };
    let mut kept: Vec<(usize, GraphRequest)> = Vec::new();
    for (origin, req) in rendered {
        let m = req.municipality.as_str();
        let object = names.of(req);
        let own = req.creates().filter(|p| restoring(p));
        let deleted = own.and_then(|p| view.restorable.get(&p));
        if let Some((deleted, restore)) = deleted.and_then(|d| Some((d, restore_request(req, d)?))) {
            change(m, object, ChangeKind::Restore, "id", String::new(), text(&deleted["id"]));
            kept.push((*origin, restore));
            continue;
        }
        let mut named =
            req.anchor.map(Placeholder::Id).into_iter().chain(group_of(req)).chain(graph::placeholders(req));
        if named.any(|p| restoring(&p)) {
            dropped.insert(req.id.clone());
            out.after_restore.push((*origin, req.clone()));
            continue;
        }
        match req.action {
            Action::CreateUser => {
                let Some(a) = req.anchor else { continue };
                let body = req.body.as_ref().and_then(Value::as_object).cloned().unwrap_or_default();
                match view.users.get(&a) {
                    Some(existing) => {
                        dropped.insert(req.id.clone());
                        let diffs = user_differences(&body, existing);
                        if diffs.is_empty() {
                            change(m, object, ChangeKind::Unchanged, "", String::new(), String::new());
                            continue;
                        }
                        for (k, before, after) in &diffs {
                            change(m, object.clone(), ChangeKind::Update, k, text(before), text(after));
                        }
                        let id = format!("update-{}", a.0);
                        out.before.insert(id.clone(), update_body(&diffs, true).to_string());
                        kept.push((
                            *origin,
                            GraphRequest {
                                id,
                                method: "PATCH".into(),
                                url: format!("/users/{}", Placeholder::Id(a)),
                                body: Some(update_body(&diffs, false)),
                                depends_on: Vec::new(),
                                action: Action::UpdateUser,
                                ..req.clone()
                            },
                        ));
                    }
                    None if exists(&Placeholder::Id(a)) => {
                        // Created by samla a moment ago, not visible yet: never create twice.
                        dropped.insert(req.id.clone());
                        change(m, object, ChangeKind::Unchanged, "", String::new(), String::new());
                    }
                    None => {
                        for (k, v) in &body {
                            if k != "passwordProfile" {
                                change(m, object.clone(), ChangeKind::Create, k, String::new(), text(v));
                            }
                        }
                        kept.push((*origin, req.clone()));
                    }
                }
            }
            Action::CreateGroup | Action::CreateLicenceGroup => {
                let Some(g) = group_of(req) else { continue };
                if !exists(&g) {
                    let binds = bound(req);
                    change(m, object.clone(), ChangeKind::Create, "mailNickname", String::new(), object.clone());
                    if !binds.is_empty() {
                        change(m, object, ChangeKind::AddMembers, "members", String::new(), binds.len().to_string());
                    }
                    kept.push((*origin, req.clone()));
                    continue;
                }
                dropped.insert(req.id.clone());
                let missing: Vec<Anchor> = bound(req).into_iter().filter(|a| !is_member(&g, *a)).collect();
                if missing.is_empty() {
                    change(m, object, ChangeKind::Unchanged, "", String::new(), String::new());
                    continue;
                }
                change(m, object, ChangeKind::AddMembers, "members", String::new(), missing.len().to_string());
                for (i, chunk) in missing.chunks(MAX_BINDS).enumerate() {
                    kept.push((
                        *origin,
                        GraphRequest {
                            id: format!("{}-members-{}", req.id, i + 1),
                            method: "PATCH".into(),
                            url: format!("/groups/{g}"),
                            body: Some(json!({"members@odata.bind": chunk.iter().map(|a| graph::bind(*a)).collect::<Vec<_>>()})),
                            depends_on: Vec::new(),
                            action: Action::AddMembers,
                            ..req.clone()
                        },
                    ));
                }
            }
            Action::AddMembers => {
                let Some(g) = group_of(req) else { continue };
                let binds = bound(req);
                let missing: Vec<Anchor> = binds.iter().copied().filter(|a| !is_member(&g, *a)).collect();
                if missing.is_empty() {
                    dropped.insert(req.id.clone());
                    continue;
                }
                change(m, object, ChangeKind::AddMembers, "members", String::new(), missing.len().to_string());
                let mut r = req.clone();
                if missing.len() != binds.len() {
                    r.body = Some(
                        json!({"members@odata.bind": missing.iter().map(|a| graph::bind(*a)).collect::<Vec<_>>()}),
                    );
                }
                kept.push((*origin, r));
            }
            Action::AssignUserLicence => {
                let Some(a) = req.anchor else { continue };
                let sku = req.licence_class.as_ref().and_then(|c| names.skus.get(c)).and_then(|p| view.skus.get(p));
                if TenantView::has_sku(view.users.get(&a), sku) {
                    dropped.insert(req.id.clone());
                    continue;
                }
                let class = req.licence_class.clone().unwrap_or_default();
                change(m, object, ChangeKind::AssignLicence, "licence", String::new(), class);
                let mut r = req.clone();
                if exists(&Placeholder::Id(a)) {
                    r.url = format!("/users/{}/assignLicense", Placeholder::Id(a));
                }
                kept.push((*origin, r));
            }
            Action::AssignGroupLicence => {
                let Some(Placeholder::LicenceGroup(c)) = group_of(req) else { continue };
                let sku = names.skus.get(&c).and_then(|p| view.skus.get(p));
                if TenantView::has_sku(view.licence_groups.get(&c), sku) {
                    dropped.insert(req.id.clone());
                    continue;
                }
                change(m, object, ChangeKind::AssignLicence, "licence", String::new(), c.clone());
                kept.push((*origin, req.clone()));
            }
            Action::SetManager => {
                let Some(a) = req.anchor else { continue };
                let wanted = graph::placeholders(req).into_iter().find(|p| *p != Placeholder::Id(a));
                let wanted_id = wanted.as_ref().and_then(|p| view.id(p));
                let current = view.managers.get(&a).cloned().flatten();
                if wanted_id.is_some() && current == wanted_id {
                    dropped.insert(req.id.clone());
                    continue;
                }
                let manager = wanted.map(|p| names.of_placeholder(&p)).unwrap_or_default();
                out.before.insert(req.id.clone(), json!({ "manager": current }).to_string());
                change(m, object, ChangeKind::SetManager, "manager", current.unwrap_or_default(), manager);
                kept.push((*origin, req.clone()));
            }
            Action::UpdateUser
            | Action::RestoreDeletedUser
            | Action::RestoreDeletedGroup
            | Action::RemoveMember
            | Action::RestoreManager
            | Action::RemoveLicence
            | Action::RestoreUser
            | Action::DeleteGroup
            | Action::DeleteUser => kept.push((*origin, req.clone())),
        }
    }
    for (_, r) in &mut kept {
        r.depends_on.retain(|d| !dropped.contains(d));
    }
    out.requests = kept;
    out
}

/// How to name objects for people (UPNs and mail nicknames), and each licence class's SKU.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub by_anchor: HashMap<Anchor, String>,
    pub licence_groups: HashMap<String, String>,
    /// Licence class -> skuPartNumber.
    pub skus: BTreeMap<String, String>,
}

impl Names {
    pub fn new(content: &WaveContent, settings: &TargetSettings) -> Names {
        Names {
            by_anchor: content.refs.iter().map(|(a, r)| (*a, r.cloud_name.clone())).collect(),
            licence_groups: settings
                .licence_groups
                .keys()
                .filter_map(|c| Some((c.clone(), graph::licence_group_nickname(settings, c)?)))
                .collect(),
            skus: settings.skus.clone(),
        }
    }

    pub fn of_placeholder(&self, p: &Placeholder) -> String {
        match p {
            Placeholder::Id(a) => self.by_anchor.get(a).cloned().unwrap_or_else(|| a.0.to_string()),
            Placeholder::LicenceGroup(c) => self.licence_groups.get(c).cloned().unwrap_or_else(|| c.clone()),
            other => other.to_string(),
        }
    }

    /// The object a request is about, as a person would name it.
    pub fn of(&self, req: &GraphRequest) -> String {
        group_of(req).or(req.anchor.map(Placeholder::Id)).map(|p| self.of_placeholder(&p)).unwrap_or_default()
    }
}

/// What must be read from the tenant for `requests`: users and groups by anchor, licence
/// groups by class, group members, managers.
#[derive(Debug, Default)]
struct Wanted {
    users: Vec<Anchor>,
    groups: Vec<Anchor>,
    licence_groups: Vec<String>,
    members_of: Vec<Placeholder>,
    managers_of: Vec<Anchor>,
}

fn wanted(requests: &[(usize, GraphRequest)], content: &WaveContent) -> Wanted {
    let mut w = Wanted::default();
    let mut seen: HashSet<Placeholder> = HashSet::new();
    let mut add = |w: &mut Wanted, p: Placeholder| {
        if !seen.insert(p.clone()) {
            return;
        }
        match &p {
            Placeholder::Id(a) => match content.refs.get(a).map(|r| r.kind) {
                Some(RefKind::Group) => w.groups.push(*a),
                _ => w.users.push(*a),
            },
            Placeholder::LicenceGroup(c) => w.licence_groups.push(c.clone()),
            _ => {}
        }
    };
    for (_, r) in requests {
        if let Some(a) = r.anchor {
            add(&mut w, Placeholder::Id(a));
        }
        if let Some(g) = group_of(r) {
            add(&mut w, g.clone());
            if matches!(r.action, Action::AddMembers | Action::CreateGroup | Action::CreateLicenceGroup)
                && !w.members_of.contains(&g)
            {
                w.members_of.push(g);
            }
        }
        for p in graph::placeholders(r) {
            add(&mut w, p);
        }
        if r.action == Action::SetManager
            && let Some(a) = r.anchor
        {
            w.managers_of.push(a);
        }
    }
    w
}

/// Values quoted for an OData `in (...)` filter.
pub(crate) fn quoted(values: &[String]) -> String {
    values.iter().map(|v| format!("'{}'", v.replace('\'', "''"))).collect::<Vec<_>>().join(",")
}

/// Percent-encoded for a query string.
pub(crate) fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn not_found(e: &ClientError) -> bool {
    matches!(e, ClientError::Graph { status: 404, .. })
}

/// Reads what the tenant holds of the objects `requests` touch (see [`TenantView`]).
pub async fn observe(
    client: &GraphClient,
    requests: &[(usize, GraphRequest)],
    content: &WaveContent,
    names: &Names,
    known: &HashMap<Placeholder, String>,
) -> Result<TenantView, ClientError> {
    let w = wanted(requests, content);
    let mut view = TenantView { known: known.clone(), ..TenantView::default() };
    for sku in client.get_all("/subscribedSkus").await? {
        if let (Some(part), Some(id)) = (sku["skuPartNumber"].as_str(), sku["skuId"].as_str()) {
            view.skus.insert(part.to_string(), id.to_string());
            let units = |v: &Value| v.as_u64().unwrap_or(0);
            view.sku_units
                .insert(part.to_string(), (units(&sku["prepaidUnits"]["enabled"]), units(&sku["consumedUnits"])));
        }
    }
    // Users by onPremisesImmutableId, 15 to a filter, the filters 20 to a $batch.
    let mut paths = Vec::new();
    for chunk in w.users.chunks(IN_VALUES) {
        let ids: Vec<String> = chunk.iter().map(|a| a.immutable_id()).collect();
        let filter = format!("onPremisesImmutableId in ({})", quoted(&ids));
        paths.push(format!("/users?$filter={}&$select={USER_SELECT}&$top=999", encode(&filter)));
    }
    let by_immutable: HashMap<String, Anchor> = w.users.iter().map(|a| (a.immutable_id(), *a)).collect();
    for page in client.get_many(&paths).await {
        for u in page?["value"].as_array().into_iter().flatten() {
            let key = u["onPremisesImmutableId"].as_str().unwrap_or_default();
            if let Some(a) = by_immutable.get(key) {
                view.users.insert(*a, u.clone());
            }
        }
    }
    // Groups and licence groups by mailNickname, 15 to a filter, with their uniqueName: one
    // samla made holds its own (`samla-<anchor>`), one an older run made before groups had
    // a uniqueName holds none. mailNickname is not unique among security groups, so a group
    // holding another uniqueName is someone else's, whatever its nickname. (A group of samla's
    // whose nickname was changed is not found here; its upsert then meets it by uniqueName.)
    let mut by_nick: HashMap<String, Vec<(String, Placeholder)>> = HashMap::new();
    for a in &w.groups {
        if let Some(n) = names.by_anchor.get(a) {
            by_nick.entry(n.to_lowercase()).or_default().push((graph::unique_name(*a), Placeholder::Id(*a)));
        }
    }
    for c in &w.licence_groups {
        if let Some(n) = names.licence_groups.get(c) {
            let key = graph::licence_group_unique_name(c);
            by_nick.entry(n.to_lowercase()).or_default().push((key, Placeholder::LicenceGroup(c.clone())));
        }
    }
    let nicks: Vec<String> = by_nick.keys().cloned().collect();
    let paths: Vec<String> = nicks
        .chunks(IN_VALUES)
        .map(|c| {
            let filter = format!("mailNickname in ({})", quoted(c));
            format!("/groups?$filter={}&$select={GROUP_SELECT}&$top=999", encode(&filter))
        })
        .collect();
    let mut older: Vec<(Placeholder, Value)> = Vec::new();
    for page in client.get_many(&paths).await {
        for g in page?["value"].as_array().into_iter().flatten() {
            let wanted = g["mailNickname"].as_str().and_then(|n| by_nick.get(&n.to_lowercase()));
            for (key, p) in wanted.into_iter().flatten() {
                match g.get("uniqueName").and_then(Value::as_str) {
                    Some(held) if held.eq_ignore_ascii_case(key) => view.found_group(p, g.clone()),
                    Some(_) => {}
                    None => older.push((p.clone(), g.clone())),
                }
            }
        }
    }
    for (p, g) in older {
        if view.id(&p).is_none() {
            view.found_group(&p, g);
        }
    }
    // Members of the groups that exist.
    for g in &w.members_of {
        let Some(id) = view.id(g) else { continue };
        match client.get_all(&format!("/groups/{id}/members?$select=id&$top=999")).await {
            Ok(items) => {
                let ids = items.iter().filter_map(|m| m["id"].as_str().map(str::to_string)).collect();
                view.members.insert(id, ids);
            }
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(e),
        }
    }
    // Managers of the users that exist.
    let existing: Vec<(Anchor, String)> = w
        .managers_of
        .iter()
        .filter_map(|a| view.users.get(a).and_then(|u| u["id"].as_str()).map(|id| (*a, id.to_string())))
        .collect();
    let paths: Vec<String> = existing.iter().map(|(_, id)| format!("/users/{id}/manager?$select=id")).collect();
    for ((a, _), r) in existing.iter().zip(client.get_many(&paths).await) {
        match r {
            Ok(m) => {
                view.managers.insert(*a, m["id"].as_str().map(str::to_string));
            }
            Err(e) if not_found(&e) => {
                view.managers.insert(*a, None);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(view)
}

/// Looks up samla's own soft-deleted objects (`own`: the ids its journal recorded, by
/// placeholder) that `requests` need and `view` does not show live: each by its id among the
/// tenant's deleted items (`GET /directory/deletedItems/{id}`, a read, at most 20 to a
/// `$batch`), kept in [`TenantView::restorable`] only when it still carries the wave's anchor
/// (a user's onPremisesImmutableId, a group's mailNickname). Someone else's deleted object,
/// or one whose id samla never recorded, is never restored: it stays a preflight finding.
/// Security groups are deleted for good in Entra, so only users and Microsoft 365 groups are
/// found.
pub async fn observe_deleted(
    client: &GraphClient,
    requests: &[(usize, GraphRequest)],
    content: &WaveContent,
    names: &Names,
    own: &HashMap<Placeholder, String>,
    view: &mut TenantView,
) -> Result<(), ClientError> {
    if own.is_empty() {
        return Ok(());
    }
    let w = wanted(requests, content);
    let users = w.users.iter().map(|a| (Placeholder::Id(*a), true));
    let groups = w.groups.iter().map(|a| (Placeholder::Id(*a), false));
    let licence_groups = w.licence_groups.iter().map(|c| (Placeholder::LicenceGroup(c.clone()), false));
    let candidates: Vec<(Placeholder, bool, &String)> = users
        .chain(groups)
        .chain(licence_groups)
        .filter(|(p, _)| view.id(p).is_none())
        .filter_map(|(p, user)| own.get(&p).map(|id| (p, user, id)))
        .collect();
    let paths: Vec<String> = candidates
        .iter()
        .map(|(_, user, id)| {
            format!("/directory/deletedItems/{id}?$select={}", if *user { USER_SELECT } else { GROUP_SELECT })
        })
        .collect();
    for ((p, user, _), found) in candidates.into_iter().zip(client.get_many(&paths).await) {
        let o = match found {
            Ok(o) => o,
            Err(e) if not_found(&e) => continue,
            Err(e) => return Err(e),
        };
        let ours = match &p {
            Placeholder::Id(a) if user => o["onPremisesImmutableId"].as_str() == Some(a.immutable_id().as_str()),
            _ => {
                let nick = match &p {
                    Placeholder::Id(a) => names.by_anchor.get(a),
                    Placeholder::LicenceGroup(c) => names.licence_groups.get(c),
                    _ => None,
                };
                o["mailNickname"].as_str().zip(nick).is_some_and(|(n, want)| n.eq_ignore_ascii_case(want))
            }
        };
        if ours {
            view.restorable.insert(p, o);
        }
    }
    Ok(())
}

/// Whether a failed request may succeed when tried again after a fresh look: a conflict
/// (the object may exist, not visible yet), an object not found (replication lag), a
/// reference that already exists (added by an earlier attempt), a throttle the client gave
/// up on. Anything else (a value Graph refuses, a permission) fails for good.
pub fn worth_retrying(o: &Outcome) -> bool {
    let message = o.error_message().unwrap_or_default();
    match o.status {
        // 0: never answered (the client's NOT_ANSWERED); it may have taken effect: look again.
        0 | 404 | 424 | 429 | 503 | 504 => true,
        400 => {
            message.contains("already exist")
                || message.contains("do not exist")
                || message.contains("does not exist")
                || o.error_code() == Some("Request_ResourceNotFound")
        }
        s => s >= 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ObjectGuid;

    fn anchor(n: u8) -> Anchor {
        Anchor(ObjectGuid::parse(&format!("00000000-0000-0000-0000-0000000000{n:02x}")).unwrap())
    }

    fn create_user(a: Anchor, dept: &str) -> GraphRequest {
        GraphRequest {
            id: format!("user-{}", a.0),
            method: "POST".into(),
            url: "/users".into(),
            body: Some(json!({
                "accountEnabled": true, "displayName": "Åsa Öberg", "userPrincipalName": "asa.oberg@bjuv.se",
                "mailNickname": "asa.oberg", "department": dept, "passwordProfile": {"password": "{password}"},
                "onPremisesImmutableId": a.immutable_id(),
                "onPremisesExtensionAttributes": {"extensionAttribute1": "x"}
            })),
            depends_on: vec![],
            action: Action::CreateUser,
            municipality: "bjuv".into(),
            anchor: Some(a),
            licence_class: None,
        }
    }

    fn add_members(g: Anchor, members: &[Anchor]) -> GraphRequest {
        GraphRequest {
            id: format!("members-{}-1", g.0),
            method: "PATCH".into(),
            url: format!("/groups/{}", Placeholder::Id(g)),
            body: Some(json!({"members@odata.bind": members.iter().map(|a| graph::bind(*a)).collect::<Vec<_>>()})),
            depends_on: vec![],
            action: Action::AddMembers,
            municipality: "bjuv".into(),
            anchor: Some(g),
            licence_class: None,
        }
    }

    fn user(id: &str, dept: &str) -> Value {
        json!({"id": id, "displayName": "Åsa Öberg", "userPrincipalName": "Asa.Oberg@bjuv.se",
               "mailNickname": "asa.oberg", "department": dept,
               "onPremisesExtensionAttributes": {"extensionAttribute1": "x", "extensionAttribute2": null}})
    }

    #[test]
    fn an_empty_tenant_needs_everything_and_a_finished_wave_nothing() {
        let (a, b, g) = (anchor(1), anchor(2), anchor(3));
        let rendered: Vec<(usize, GraphRequest)> =
            vec![create_user(a, "IT"), create_user(b, "IT"), add_members(g, &[a, b])].into_iter().enumerate().collect();
        let names = Names::default();
        let all = reconcile(&rendered, &TenantView::default(), &names);
        assert_eq!(all.requests.len(), 3);
        assert!(all.changes.iter().any(|c| c.change == ChangeKind::Create && c.attribute == "department"));
        assert!(!all.changes.iter().any(|c| c.attribute == "passwordProfile"), "no password in any report");

        let mut view = TenantView::default();
        view.users.insert(a, user("ida", "IT"));
        view.users.insert(b, user("idb", "IT"));
        view.groups.insert(g, json!({"id": "idg"}));
        view.members.insert("idg".into(), ["ida".to_string(), "idb".to_string()].into());
        let none = reconcile(&rendered, &view, &names);
        assert!(none.requests.is_empty(), "{:?}", none.requests);
        assert_eq!(none.changes.iter().filter(|c| c.change == ChangeKind::Unchanged).count(), 2);
    }

    #[test]
    fn differences_become_one_patch_with_before_and_after() {
        let a = anchor(1);
        let mut view = TenantView::default();
        view.users.insert(a, user("ida", "Ekonomi"));
        let r = reconcile(&[(0, create_user(a, "IT"))], &view, &Names::default());
        assert_eq!(r.requests.len(), 1);
        let (_, patch) = &r.requests[0];
        assert_eq!((patch.method.as_str(), patch.action), ("PATCH", Action::UpdateUser));
        assert_eq!(patch.body, Some(json!({"department": "IT"})), "UPN compared without case");
        let c = &r.changes[0];
        assert_eq!((c.before.as_str(), c.after.as_str()), ("Ekonomi", "IT"));
    }

    #[test]
    fn own_deleted_objects_are_restored_and_what_names_them_waits_for_the_look_after() {
        let (a, b, g) = (anchor(1), anchor(2), anchor(3));
        let mut view = TenantView::default();
        view.users.insert(b, user("idb", "IT"));
        view.restorable.insert(Placeholder::Id(a), json!({"id": "ida", "onPremisesImmutableId": a.immutable_id()}));
        let rendered = vec![(0, create_user(a, "IT")), (1, create_user(b, "IT")), (2, add_members(g, &[a, b]))];
        let r = reconcile(&rendered, &view, &Names::default());
        assert_eq!(r.requests.len(), 1, "{:?}", r.requests);
        let (origin, restore) = &r.requests[0];
        assert_eq!(
            (*origin, restore.method.as_str(), restore.url.as_str(), restore.action),
            (0, "POST", "/directory/deletedItems/ida/restore", Action::RestoreDeletedUser)
        );
        assert_eq!(restore.body, Some(json!({})));
        assert_eq!(restore.creates(), Some(Placeholder::Id(a)), "what names the user waits for the restore");
        assert_eq!(r.after_restore.iter().map(|(o, _)| *o).collect::<Vec<_>>(), vec![2], "the membership waits");
        let restored: Vec<&Change> = r.changes.iter().filter(|c| c.change == ChangeKind::Restore).collect();
        assert_eq!((restored.len(), restored[0].after.as_str()), (1, "ida"));
        assert!(!r.changes.iter().any(|c| c.change == ChangeKind::Create), "nothing is created again");

        // Live again: compared as any user, never restored twice.
        view.users.insert(a, user("ida", "Ekonomi"));
        let r = reconcile(&rendered, &view, &Names::default());
        let actions: Vec<Action> = r.requests.iter().map(|(_, q)| q.action).collect();
        assert_eq!(actions, vec![Action::UpdateUser, Action::AddMembers]);
        assert!(r.after_restore.is_empty());
    }

    #[test]
    fn an_own_deleted_group_is_restored_and_its_members_wait_for_the_look_after() {
        let (a, g) = (anchor(1), anchor(3));
        let mut view = TenantView::default();
        view.users.insert(a, user("ida", "IT"));
        view.restorable.insert(Placeholder::Id(g), json!({"id": "idg", "mailNickname": "team"}));
        let create = GraphRequest {
            id: format!("group-{}", g.0),
            method: "POST".into(),
            url: "/groups".into(),
            body: Some(json!({"displayName": "Team", "mailNickname": "team", "members@odata.bind": [graph::bind(a)]})),
            depends_on: vec![],
            action: Action::CreateGroup,
            municipality: "bjuv".into(),
            anchor: Some(g),
            licence_class: None,
        };
        let rendered = vec![(0, create), (1, add_members(g, &[a]))];
        let r = reconcile(&rendered, &view, &Names::default());
        let sent: Vec<(&str, Action)> = r.requests.iter().map(|(_, q)| (q.url.as_str(), q.action)).collect();
        assert_eq!(sent, vec![("/directory/deletedItems/idg/restore", Action::RestoreDeletedGroup)]);
        assert_eq!(r.after_restore.len(), 1, "the members are added after the restore, if it lacks them");
    }

    #[test]
    fn only_missing_members_are_added_and_a_known_id_is_never_created_again() {
        let (a, b, g) = (anchor(1), anchor(2), anchor(3));
        let mut view = TenantView::default();
        view.users.insert(a, user("ida", "IT"));
        view.groups.insert(g, json!({"id": "idg"}));
        view.members.insert("idg".into(), ["ida".to_string()].into());
        view.known.insert(Placeholder::Id(b), "idb".into());
        let rendered = vec![(0, create_user(b, "IT")), (1, add_members(g, &[a, b]))];
        let r = reconcile(&rendered, &view, &Names::default());
        assert_eq!(r.requests.len(), 1, "b is known (created, not visible yet): not created again");
        assert_eq!(bound(&r.requests[0].1), vec![b]);
    }
}
