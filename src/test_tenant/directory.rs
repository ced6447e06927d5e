//! The tenant's directory: users, groups, their relationships and licences, with the
//! directory's invariants (uniqueness, soft deletion, nesting, replication lag).
//!
//! No HTTP here: operations take already-validated writes ([`super::rules::Write`]) and
//! typed references, and return Graph errors. The HTTP layer ([`super::api`]) only parses,
//! calls, and renders.
//!
//! Decisions that follow Graph where it is documented, and are stricter where it is not:
//! - Uniqueness: userPrincipalName among live users (a soft-deleted user's UPN is shown as
//!   `{id without hyphens}{upn}` and does not block, as in Entra; restoring it fails if the
//!   UPN was taken meanwhile). mailNickname is unique across users and Microsoft 365 groups
//!   together (mail-enabled objects: their addresses derive from it), but not for security
//!   groups, where Graph documents no uniqueness: a client must not find its own lost
//!   creates by it. A group's `uniqueName` (its alternate key) is unique. mailNickname,
//!   uniqueName and onPremisesImmutableId stay reserved by soft-deleted objects.
//!   Comparison is case-insensitive.
//! - Deletion: users and Microsoft 365 groups are soft-deleted (restorable, memberships
//!   kept); security groups are deleted for good, as Entra does (graph/README.md says
//!   restorable; Microsoft's docs say only Microsoft 365 groups are: the stricter reading).
//! - Nesting: security groups nest; a group cannot contain itself or an ancestor (no
//!   cycles, stricter); Microsoft 365 groups have only users as members and are not members
//!   of other groups. Owners are users.
//! - Replication lag: a new object is invisible (404) to every read and reference until
//!   the lag passes; it still holds its unique values, so a retried create conflicts.

use super::auth_methods::{TapMethod, TapPolicy, TapRequest, new_pass};
use super::error::GraphError;
use super::ids::{IdStream, ObjectId, PlanId, SkuId};
use super::licences::{Assigned, Holder, LicensedGroup, Sku, Usage, conflicting};
use super::query::{Filter, Literal, matches};
use super::roles::{ROLES, Role};
use super::rules::{Kind, ObjectRef, RefCollection, Write, is_unified};
use super::schema::Schema;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// A stored directory object (user or group).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Object {
    pub id: ObjectId,
    pub kind: Kind,
    /// Creation order: group licences are handed out in this order.
    pub seq: u64,
    pub created: DateTime<Utc>,
    pub deleted: Option<DateTime<Utc>>,
    /// The written properties (Graph names, never the password).
    pub props: Map<String, Value>,
    #[serde(default)]
    pub manager: Option<ObjectId>,
    #[serde(default)]
    pub members: BTreeSet<ObjectId>,
    #[serde(default)]
    pub owners: BTreeSet<ObjectId>,
    /// Direct licences (users) or group-assigned licences (groups).
    #[serde(default)]
    pub licences: Assigned,
    /// The directory roles a user holds, by role template id ([`super::roles`]).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub roles: BTreeSet<String>,
    /// Until when the object is still replicating (not persisted: a restart has replicated).
    #[serde(skip)]
    pub visible_at: Option<Instant>,
    /// A user's Temporary Access Pass method (at most one; never the pass itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tap: Option<TapMethod>,
}

impl Object {
    fn str(&self, name: &str) -> Option<&str> {
        self.props.get(name).and_then(Value::as_str)
    }

    pub fn is_unified(&self) -> bool {
        self.kind == Kind::Group && is_unified(&self.props)
    }
}

/// Which relationship of a group a reference is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rel {
    Members,
    Owners,
}

impl Rel {
    pub fn name(self) -> &'static str {
        match self {
            Rel::Members => "members",
            Rel::Owners => "owners",
        }
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        match String::deserialize(d)?.as_str() {
            "user" => Ok(Kind::User),
            "group" => Ok(Kind::Group),
            other => Err(serde::de::Error::custom(format!("unknown object kind '{other}'"))),
        }
    }
}

/// The tenant's fixed settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Verified domains, lowercase; the first is the default (Microsoft 365 group mail).
    pub domains: Vec<String>,
    pub skus: Vec<Sku>,
    pub lag: Duration,
    /// `http://127.0.0.1:PORT`, accepted in references and used in `@odata.context`.
    pub own_base: String,
}

/// The directory.
#[derive(Debug)]
pub struct Directory {
    pub schema: &'static Schema,
    pub settings: Settings,
    objects: BTreeMap<ObjectId, Object>,
    unique: HashMap<(&'static str, String), ObjectId>,
    ids: IdStream,
    seq: u64,
    dirty: BTreeSet<ObjectId>,
    tap_policy: TapPolicy,
    /// Whether the policy changed since the last [`Directory::take_policy_change`].
    policy_dirty: bool,
}

fn visible(o: &Object, now: Instant) -> bool {
    o.deleted.is_none() && o.visible_at.is_none_or(|t| t <= now)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A stored object the directory cannot hold: it takes a unique value another object has.
#[derive(Debug, Clone, thiserror::Error)]
#[error("object {id}: {}", conflict.message)]
pub struct InvalidObject {
    pub id: ObjectId,
    /// The conflict Graph would answer a write of it with.
    pub conflict: GraphError,
}

impl Directory {
    /// A directory holding `objects` (loaded from a state file, or none).
    pub fn new(
        schema: &'static Schema,
        settings: Settings,
        objects: Vec<Object>,
        ids: IdStream,
    ) -> Result<Directory, InvalidObject> {
        let seq = objects.iter().map(|o| o.seq).max().unwrap_or(0);
        let mut dir = Directory {
            schema,
            settings,
            objects: BTreeMap::new(),
            unique: HashMap::new(),
            ids,
            seq,
            dirty: BTreeSet::new(),
            tap_policy: TapPolicy::default(),
            policy_dirty: false,
        };
        for o in objects {
            if let Err(conflict) = dir.check_unique(&o) {
                return Err(InvalidObject { id: o.id, conflict });
            }
            dir.index(None, Some(&o));
            dir.objects.insert(o.id, o);
        }
        Ok(dir)
    }

    /// How many ids were handed out (persisted with the state).
    pub fn id_counter(&self) -> u64 {
        self.ids.counter()
    }

    /// The Temporary Access Pass policy.
    pub fn tap_policy(&self) -> &TapPolicy {
        &self.tap_policy
    }

    /// Replaces the policy (loaded from a state file, or a PATCH).
    pub fn set_tap_policy(&mut self, policy: TapPolicy) {
        if policy != self.tap_policy {
            self.policy_dirty = true;
        }
        self.tap_policy = policy;
    }

    /// The policy, if it changed since the last call.
    pub fn take_policy_change(&mut self) -> Option<TapPolicy> {
        std::mem::take(&mut self.policy_dirty).then_some(self.tap_policy)
    }

    /// Issues a pass to a visible, enabled user, replacing the one it has (Graph keeps one
    /// per user): the method as kept, and the pass, which is not kept anywhere.
    pub fn create_tap(
        &mut self,
        user: ObjectId,
        request: TapRequest,
        now: Instant,
        at: DateTime<Utc>,
    ) -> Result<(TapMethod, String), GraphError> {
        let mut next = self
            .get(user, now)
            .filter(|o| o.kind == Kind::User)
            .ok_or_else(|| GraphError::not_found(&user.to_string()))?
            .clone();
        if next.props.get("accountEnabled") == Some(&Value::Bool(false)) {
            // Stricter than Graph, which documents nothing here: enable the account first.
            return Err(GraphError::new(
                400,
                "badRequest",
                "The user's account is disabled: enable it before issuing a Temporary Access Pass (the samla test tenant is stricter than Graph here).",
            ));
        }
        let pass = new_pass(self.tap_policy.default_length)?;
        let method = TapMethod::new(self.ids.next_guid(), request, at);
        next.tap = Some(method.clone());
        self.put(next);
        Ok((method, pass))
    }

    /// A visible user's pass method, if `method` names it (`None`: any).
    pub fn tap(&self, user: ObjectId, method: Option<&str>, now: Instant) -> Result<Option<&TapMethod>, GraphError> {
        let o = self.get(user, now).ok_or_else(|| GraphError::not_found(&user.to_string()))?;
        let found =
            o.tap.as_ref().filter(|m| method.is_none_or(|id| id.parse::<super::ids::Guid>().is_ok_and(|g| g == m.id)));
        match (method, found) {
            (Some(id), None) => Err(GraphError::not_found(id)),
            (_, found) => Ok(found),
        }
    }

    /// DELETE of a user's pass method: 404 unless it is the user's current one.
    pub fn delete_tap(&mut self, user: ObjectId, method: &str, now: Instant) -> Result<(), GraphError> {
        self.tap(user, Some(method), now)?;
        if let Some(o) = self.objects.get(&user) {
            let mut next = o.clone();
            next.tap = None;
            self.put(next);
        }
        Ok(())
    }

    /// Objects changed since the last call: the object, or `None` when it is gone for good.
    pub fn take_dirty(&mut self) -> Vec<(ObjectId, Option<&Object>)> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty.into_iter().map(|id| (id, self.objects.get(&id))).collect()
    }

    pub fn live_users(&self) -> usize {
        self.objects.values().filter(|o| o.kind == Kind::User && o.deleted.is_none()).count()
    }

    /// The unique values an object holds, as (property, lowercase value). userPrincipalName
    /// only while live; mailNickname (users and Microsoft 365 groups, not security groups),
    /// a group's uniqueName, onPremisesImmutableId and mail addresses (reported as
    /// proxyAddresses, as Entra does) also while soft-deleted.
    fn unique_keys(&self, o: &Object) -> Vec<(&'static str, String)> {
        let mut keys = Vec::new();
        if o.kind == Kind::User
            && o.deleted.is_none()
            && let Some(upn) = o.str("userPrincipalName")
        {
            keys.push(("userPrincipalName", upn.to_lowercase()));
        }
        if (o.kind == Kind::User || o.is_unified())
            && let Some(nick) = o.str("mailNickname")
        {
            keys.push(("mailNickname", nick.to_lowercase()));
        }
        if o.kind == Kind::Group
            && let Some(name) = o.str("uniqueName")
        {
            keys.push(("uniqueName", name.to_lowercase()));
        }
        if o.kind == Kind::User
            && let Some(anchor) = o.str("onPremisesImmutableId")
        {
            keys.push(("onPremisesImmutableId", anchor.to_lowercase()));
        }
        if let Some(mail) = self.mail(o) {
            keys.push(("proxyAddresses", mail.to_lowercase()));
        }
        keys
    }

    /// The primary mail address: a user's `mail`, a Microsoft 365 group's nickname@default domain.
    fn mail(&self, o: &Object) -> Option<String> {
        match o.kind {
            Kind::User => o.str("mail").map(str::to_string),
            Kind::Group if o.is_unified() => {
                Some(format!("{}@{}", o.str("mailNickname").unwrap_or_default(), self.default_domain()))
            }
            Kind::Group => None,
        }
    }

    fn check_unique(&self, o: &Object) -> Result<(), GraphError> {
        for key in self.unique_keys(o) {
            if self.unique.get(&key).is_some_and(|owner| *owner != o.id) {
                return Err(GraphError::conflict(key.0));
            }
        }
        Ok(())
    }

    /// Moves an object's unique values in the index from `old` to `new` (either may be absent).
    fn index(&mut self, old: Option<&Object>, new: Option<&Object>) {
        if let Some(old) = old {
            for key in self.unique_keys(old) {
                if self.unique.get(&key) == Some(&old.id) {
                    self.unique.remove(&key);
                }
            }
        }
        if let Some(new) = new {
            for key in self.unique_keys(new) {
                self.unique.insert(key, new.id);
            }
        }
    }

    /// Replaces an object (or inserts it), keeping the unique index and the dirty set.
    fn put(&mut self, o: Object) {
        let old = self.objects.remove(&o.id);
        self.index(old.as_ref(), Some(&o));
        self.dirty.insert(o.id);
        self.objects.insert(o.id, o);
    }

    /// An object addressed by id (or, for users, userPrincipalName) that is visible now.
    pub fn resolve(&self, kind: Kind, key: &str, now: Instant) -> Result<&Object, GraphError> {
        let found = match key.parse::<ObjectId>() {
            Ok(id) => self.objects.get(&id),
            Err(_) if kind == Kind::User => {
                self.unique.get(&("userPrincipalName", key.to_lowercase())).and_then(|id| self.objects.get(id))
            }
            Err(_) => None,
        };
        found.filter(|o| o.kind == kind && visible(o, now)).ok_or_else(|| GraphError::not_found(key))
    }

    /// The group holding `unique_name` (its alternate key), whatever its state: the caller
    /// tells a visible one from one still replicating or soft-deleted.
    pub fn by_unique_name(&self, unique_name: &str) -> Option<&Object> {
        self.unique
            .get(&("uniqueName", unique_name.to_lowercase()))
            .and_then(|id| self.objects.get(id))
            .filter(|o| o.kind == Kind::Group)
    }

    /// Any visible object by id.
    pub fn get(&self, id: ObjectId, now: Instant) -> Option<&Object> {
        self.objects.get(&id).filter(|o| visible(o, now))
    }

    /// An object by id whatever its state (deleted, replicating): for rendering what a request
    /// just wrote.
    pub fn object(&self, id: ObjectId) -> Option<&Object> {
        self.objects.get(&id)
    }

    /// A soft-deleted object by id.
    pub fn get_deleted(&self, key: &str) -> Result<&Object, GraphError> {
        key.parse::<ObjectId>()
            .ok()
            .and_then(|id| self.objects.get(&id))
            .filter(|o| o.deleted.is_some())
            .ok_or_else(|| GraphError::not_found(key))
    }

    /// The object a reference names, if visible and of the kind its URL says.
    fn resolve_ref(&self, r: ObjectRef, now: Instant) -> Result<&Object, GraphError> {
        let kind = match r.collection {
            RefCollection::Users => Some(Kind::User),
            RefCollection::Groups => Some(Kind::Group),
            RefCollection::DirectoryObjects => None,
        };
        self.get(r.id, now)
            .filter(|o| kind.is_none_or(|k| k == o.kind))
            .ok_or_else(|| GraphError::not_found(&r.id.to_string()))
    }

    /// Whether `target` is `start` or reachable from it through group membership.
    fn contains_transitively(&self, start: ObjectId, target: ObjectId) -> bool {
        let mut stack = vec![start];
        let mut seen = BTreeSet::new();
        while let Some(id) = stack.pop() {
            if id == target {
                return true;
            }
            if !seen.insert(id) {
                continue;
            }
            if let Some(o) = self.objects.get(&id).filter(|o| o.kind == Kind::Group) {
                stack.extend(o.members.iter().copied());
            }
        }
        false
    }

    /// Whether `member` may be added to `group` under `rel`.
    fn check_relation(&self, group: &Object, rel: Rel, member: &Object) -> Result<(), GraphError> {
        match (rel, member.kind) {
            (Rel::Owners, Kind::User) => Ok(()),
            (Rel::Owners, Kind::Group) => Err(GraphError::bad_request("Only users can be owners of a group.")),
            (Rel::Members, Kind::User) => Ok(()),
            (Rel::Members, Kind::Group) if group.is_unified() => Err(GraphError::bad_request(
                "Microsoft 365 groups (groupTypes 'Unified') can only have users as members.",
            )),
            (Rel::Members, Kind::Group) if member.is_unified() => Err(GraphError::bad_request(
                "A Microsoft 365 group (groupTypes 'Unified') cannot be a member of another group.",
            )),
            (Rel::Members, Kind::Group) if self.contains_transitively(member.id, group.id) => {
                Err(GraphError::bad_request(
                    "Adding this group as a member would make a group a member of itself (a nesting cycle).",
                ))
            }
            (Rel::Members, Kind::Group) => Ok(()),
        }
    }

    /// Resolves `@odata.bind` references for `rel` of `group`: all or nothing.
    fn resolve_binds(
        &self,
        group: &Object,
        rel: Rel,
        refs: &[ObjectRef],
        now: Instant,
    ) -> Result<Vec<ObjectId>, GraphError> {
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            let target = self.resolve_ref(*r, now)?;
            if relation(group, rel).contains(&target.id) {
                return Err(already_exist(rel));
            }
            self.check_relation(group, rel, target)?;
            out.push(target.id);
        }
        Ok(out)
    }

    /// Creates a user or group from a checked write.
    pub fn create(
        &mut self,
        kind: Kind,
        write: Write,
        now: Instant,
        at: DateTime<Utc>,
    ) -> Result<ObjectId, GraphError> {
        let props: Map<String, Value> = write.set.into_iter().filter(|(_, v)| !v.is_null()).collect();
        let mut o = Object {
            id: ObjectId(self.ids.next_guid()),
            kind,
            seq: self.seq + 1,
            created: at,
            deleted: None,
            props,
            manager: None,
            members: BTreeSet::new(),
            owners: BTreeSet::new(),
            licences: Assigned::new(),
            roles: BTreeSet::new(),
            visible_at: None,
            tap: None,
        };
        self.check_unique(&o)?;
        if o.is_unified() && write.owners.is_empty() {
            // Stricter than Graph: an app creating a Microsoft 365 group names its owner.
            return Err(GraphError::bad_request(
                "A Microsoft 365 group created by an application needs at least one owner (owners@odata.bind).",
            ));
        }
        let members = self.resolve_binds(&o, Rel::Members, &write.members, now)?;
        let owners = self.resolve_binds(&o, Rel::Owners, &write.owners, now)?;
        o.members.extend(members);
        o.owners.extend(owners);
        if !self.settings.lag.is_zero() {
            o.visible_at = Some(now + self.settings.lag);
        }
        self.seq += 1;
        let id = o.id;
        self.put(o);
        Ok(id)
    }

    /// Applies a checked PATCH: properties and (groups) `@odata.bind` additions, all or nothing.
    pub fn update(&mut self, id: ObjectId, write: Write, now: Instant) -> Result<(), GraphError> {
        let Some(current) = self.get(id, now) else {
            return Err(GraphError::not_found(&id.to_string()));
        };
        let mut next = current.clone();
        for (key, value) in write.set {
            if value.is_null() {
                next.props.remove(&key);
            } else {
                next.props.insert(key, value);
            }
        }
        self.check_unique(&next)?;
        if next.kind == Kind::User && next.str("usageLocation").is_none() && !next.licences.is_empty() {
            // Stricter than Graph: a licensed user keeps a usage location.
            return Err(GraphError::invalid_value("usageLocation", "User"));
        }
        let members = self.resolve_binds(&next, Rel::Members, &write.members, now)?;
        let owners = self.resolve_binds(&next, Rel::Owners, &write.owners, now)?;
        next.members.extend(members);
        next.owners.extend(owners);
        self.put(next);
        Ok(())
    }

    /// DELETE: users and Microsoft 365 groups are soft-deleted, security groups are gone.
    pub fn delete(&mut self, id: ObjectId, now: Instant, at: DateTime<Utc>) -> Result<(), GraphError> {
        let Some(current) = self.get(id, now) else {
            return Err(GraphError::not_found(&id.to_string()));
        };
        if current.kind == Kind::Group && !current.is_unified() {
            let old = current.clone();
            self.index(Some(&old), None);
            self.objects.remove(&id);
            self.dirty.insert(id);
            let holders: Vec<ObjectId> = self
                .objects
                .values()
                .filter(|g| g.kind == Kind::Group && (g.members.contains(&id) || g.owners.contains(&id)))
                .map(|g| g.id)
                .collect();
            for g in holders {
                if let Some(g) = self.objects.get_mut(&g) {
                    g.members.remove(&id);
                    g.owners.remove(&id);
                    self.dirty.insert(g.id);
                }
            }
            return Ok(());
        }
        let mut next = current.clone();
        next.deleted = Some(at);
        self.put(next);
        Ok(())
    }

    /// Restores a soft-deleted object; fails if its unique values were taken meanwhile, or
    /// if its direct licences no longer fit.
    pub fn restore(&mut self, key: &str) -> Result<ObjectId, GraphError> {
        let mut next = self.get_deleted(key)?.clone();
        next.deleted = None;
        self.check_unique(&next)?;
        if next.kind == Kind::User {
            let usage = self.usage();
            for sku in next.licences.keys() {
                let s = self.sku(*sku)?;
                if usage.consumed(*sku) + 1 > s.units {
                    return Err(no_available_licences(*sku));
                }
            }
        }
        let id = next.id;
        self.put(next);
        Ok(id)
    }

    /// POST .../members/$ref or owners/$ref.
    pub fn add_ref(&mut self, group: ObjectId, rel: Rel, r: ObjectRef, now: Instant) -> Result<(), GraphError> {
        let g = self
            .get(group, now)
            .filter(|g| g.kind == Kind::Group)
            .ok_or_else(|| GraphError::not_found(&group.to_string()))?;
        let ids = self.resolve_binds(g, rel, &[r], now)?;
        let mut next = g.clone();
        match rel {
            Rel::Members => next.members.extend(ids),
            Rel::Owners => next.owners.extend(ids),
        }
        self.put(next);
        Ok(())
    }

    /// The visible users holding a directory role, in id order.
    pub fn role_holders(&self, role: &Role, now: Instant) -> Vec<&Object> {
        self.objects.values().filter(|o| o.roles.contains(role.template) && visible(o, now)).collect()
    }

    /// POST /directoryRoles/{id}/members/$ref: a visible user (stricter than Graph: users only).
    pub fn add_role_holder(&mut self, role: &Role, r: ObjectRef, now: Instant) -> Result<(), GraphError> {
        let target = self.resolve_ref(r, now)?;
        if target.kind != Kind::User {
            return Err(GraphError::bad_request(
                "Only users can be added to a directory role in the samla test tenant.",
            ));
        }
        if target.roles.contains(role.template) {
            return Err(already_exist(Rel::Members));
        }
        let mut next = target.clone();
        next.roles.insert(role.template.to_string());
        self.put(next);
        Ok(())
    }

    /// Gives the user `upn` a role at start (`--role-holder`); a holder already is left as is.
    pub fn grant_role(&mut self, role: &Role, upn: &str) -> Result<(), GraphError> {
        let now = Instant::now();
        let user = self.resolve(Kind::User, upn, now)?;
        if user.roles.contains(role.template) {
            return Ok(());
        }
        let r = ObjectRef { collection: RefCollection::Users, id: user.id };
        self.add_role_holder(role, r, now)
    }

    /// DELETE .../members/{id}/$ref: 404 when the object is not a (visible) member.
    pub fn remove_ref(&mut self, group: ObjectId, rel: Rel, member: &str, now: Instant) -> Result<(), GraphError> {
        let g = self.get(group, now).ok_or_else(|| GraphError::not_found(&group.to_string()))?;
        let id = member
            .parse::<ObjectId>()
            .ok()
            .filter(|m| relation(g, rel).contains(m) && self.get(*m, now).is_some())
            .ok_or_else(|| GraphError::not_found(member))?;
        let mut next = g.clone();
        match rel {
            Rel::Members => next.members.remove(&id),
            Rel::Owners => next.owners.remove(&id),
        };
        self.put(next);
        Ok(())
    }

    /// PUT /users/{id}/manager/$ref: the manager must be another user, and (stricter than
    /// Graph) the chain of managers may not loop.
    pub fn set_manager(&mut self, user: ObjectId, r: ObjectRef, now: Instant) -> Result<(), GraphError> {
        let manager = self.resolve_ref(r, now)?;
        if manager.kind != Kind::User {
            return Err(GraphError::bad_request("The manager must be a user."));
        }
        let mut step = Some(manager.id);
        let mut hops = 0;
        while let Some(m) = step {
            if m == user {
                return Err(GraphError::bad_request(
                    "Setting this manager would make the user their own manager (a cycle).",
                ));
            }
            hops += 1;
            step = if hops > self.objects.len() { None } else { self.objects.get(&m).and_then(|o| o.manager) };
        }
        let manager = manager.id;
        let mut next = self.get(user, now).ok_or_else(|| GraphError::not_found(&user.to_string()))?.clone();
        next.manager = Some(manager);
        self.put(next);
        Ok(())
    }

    /// The user's manager, if set and visible.
    pub fn manager(&self, user: &Object, now: Instant) -> Result<&Object, GraphError> {
        user.manager.and_then(|m| self.get(m, now)).ok_or_else(|| GraphError::not_found("manager"))
    }

    pub fn remove_manager(&mut self, user: ObjectId, now: Instant) -> Result<(), GraphError> {
        let u = self.get(user, now).ok_or_else(|| GraphError::not_found(&user.to_string()))?;
        self.manager(u, now)?;
        let mut next = u.clone();
        next.manager = None;
        self.put(next);
        Ok(())
    }

    pub fn sku(&self, id: SkuId) -> Result<&Sku, GraphError> {
        self.settings.skus.iter().find(|s| s.id == id).ok_or_else(|| {
            GraphError::bad_request(format!("License {id} does not correspond to a valid company License."))
        })
    }

    /// Checks `disabledPlans` against the SKU's plans.
    fn check_plans(&self, sku: SkuId, disabled: &[PlanId]) -> Result<(), GraphError> {
        let s = self.sku(sku)?;
        match disabled.iter().find(|p| !s.plans.iter().any(|x| x.id == **p)) {
            Some(p) => Err(GraphError::bad_request(format!("Service plan {p} is not part of the license {sku}."))),
            None => Ok(()),
        }
    }

    /// POST /users/{id}/assignLicense or /groups/{id}/assignLicense.
    pub fn assign_licences(
        &mut self,
        id: ObjectId,
        add: Vec<(SkuId, Vec<PlanId>)>,
        remove: Vec<SkuId>,
        now: Instant,
    ) -> Result<(), GraphError> {
        let o = self.get(id, now).ok_or_else(|| GraphError::not_found(&id.to_string()))?;
        if add.iter().any(|(s, _)| remove.contains(s)) {
            return Err(GraphError::bad_request("The same license cannot be both added and removed in one request."));
        }
        for (sku, disabled) in &add {
            self.check_plans(*sku, disabled)?;
        }
        for sku in &remove {
            self.sku(*sku)?;
        }
        let mut next = o.clone();
        if o.kind == Kind::User {
            if o.str("usageLocation").is_none() {
                return Err(GraphError::bad_request(
                    "License assignment cannot be done for user with invalid usage location.",
                ));
            }
            let usage = self.usage();
            for sku in &remove {
                if !o.licences.contains_key(sku) {
                    let inherited = usage.states(id).iter().any(|s| s.sku == *sku && s.by_group.is_some());
                    return Err(GraphError::bad_request(if inherited {
                        "User license is inherited from a group membership and it cannot be removed directly from the user."
                    } else {
                        "User does not have a corresponding license."
                    }));
                }
                next.licences.remove(sku);
            }
            // The plans the user keeps, then each added SKU's plans in turn.
            let replaced: Vec<SkuId> = remove.iter().copied().chain(add.iter().map(|(s, _)| *s)).collect();
            let mut mine = usage.enabled_plans_except(&self.settings.skus, id, &replaced);
            for (sku, disabled) in add {
                let s = self.sku(sku)?;
                let held = usage.effective(id).iter().any(|(x, _)| *x == sku);
                if !held && usage.consumed(sku) + 1 > s.units {
                    return Err(no_available_licences(sku));
                }
                let plans = s.enabled_plans(&disabled);
                if let Some((a, b)) = conflicting(&plans, &mine) {
                    return Err(GraphError::bad_request(format!("Conflicting Service Plans: {a}, {b}")));
                }
                mine.extend(plans);
                next.licences.insert(sku, disabled);
            }
        } else {
            for sku in &remove {
                if next.licences.remove(sku).is_none() {
                    return Err(GraphError::bad_request("Group does not have a corresponding license."));
                }
            }
            next.licences.extend(add);
        }
        self.put(next);
        Ok(())
    }

    /// Who holds which licence now.
    pub fn usage(&self) -> Usage {
        let holders: Vec<Holder<'_>> = self
            .objects
            .values()
            .filter(|o| o.kind == Kind::User && o.deleted.is_none())
            .map(|o| Holder {
                id: o.id,
                seq: o.seq,
                has_usage_location: o.str("usageLocation").is_some(),
                direct: &o.licences,
            })
            .collect();
        let groups: Vec<LicensedGroup<'_>> = self
            .objects
            .values()
            .filter(|o| o.kind == Kind::Group && o.deleted.is_none() && !o.licences.is_empty())
            .map(|g| LicensedGroup {
                id: g.id,
                licences: &g.licences,
                members: g
                    .members
                    .iter()
                    .filter(|m| self.objects.get(m).is_some_and(|u| u.kind == Kind::User && u.deleted.is_none()))
                    .copied()
                    .collect(),
            })
            .collect();
        Usage::compute(&self.settings.skus, &holders, &groups)
    }

    /// Visible objects of a kind matching a filter, in id order, after `after`, at most `limit`
    /// (and whether more follow).
    pub fn list(
        &self,
        kind: Kind,
        filter: Option<&Filter>,
        after: Option<ObjectId>,
        limit: usize,
        now: Instant,
    ) -> (Vec<&Object>, bool) {
        // An `eq` on a unique property is an index lookup, not a scan (mailNickname is not
        // unique among security groups).
        if let Some(Filter::Eq(p, Literal::Str(v))) = filter
            && let Some(key) = ["userPrincipalName", "mailNickname", "onPremisesImmutableId"].iter().find(|k| *k == p)
            && (kind == Kind::User || *key != "mailNickname")
        {
            let hit = self.unique.get(&(*key, v.to_lowercase())).and_then(|id| self.get(*id, now));
            let hit: Vec<&Object> =
                hit.into_iter().filter(|o| o.kind == kind && after.is_none_or(|a| o.id > a)).collect();
            return (hit, false);
        }
        let start = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let mut it = self
            .objects
            .range((start, std::ops::Bound::Unbounded))
            .map(|(_, o)| o)
            .filter(|o| o.kind == kind && visible(o, now))
            .filter(|o| filter.is_none_or(|f| matches(f, &|p| Some(self.property(o, p, None)))));
        let page: Vec<&Object> = it.by_ref().take(limit).collect();
        let more = it.next().is_some();
        (page, more)
    }

    /// A group's visible members (or owners), in id order, paged like [`Directory::list`].
    pub fn related(
        &self,
        group: &Object,
        rel: Rel,
        after: Option<ObjectId>,
        limit: usize,
        now: Instant,
    ) -> (Vec<&Object>, bool) {
        let mut it =
            relation(group, rel).iter().filter(|id| after.is_none_or(|a| **id > a)).filter_map(|id| self.get(*id, now));
        let page: Vec<&Object> = it.by_ref().take(limit).collect();
        let more = it.next().is_some();
        (page, more)
    }

    /// The visible groups a user or group is a direct member of.
    pub fn member_of(&self, id: ObjectId, now: Instant) -> Vec<&Object> {
        self.objects.values().filter(|g| g.kind == Kind::Group && visible(g, now) && g.members.contains(&id)).collect()
    }

    /// Soft-deleted objects of a kind, in id order.
    pub fn deleted_items(&self, kind: Kind) -> Vec<&Object> {
        self.objects.values().filter(|o| o.kind == kind && o.deleted.is_some()).collect()
    }

    /// The default mail domain (for Microsoft 365 group addresses).
    fn default_domain(&self) -> &str {
        self.settings.domains.first().map(String::as_str).unwrap_or("samverkan.se")
    }

    /// One property of an object as Graph returns it (computed ones included). `usage` is
    /// needed only for licence properties; without it they are empty.
    pub fn property(&self, o: &Object, name: &str, usage: Option<&Usage>) -> Value {
        let licences = |list: Vec<(SkuId, Vec<PlanId>)>| {
            Value::Array(list.into_iter().map(|(s, d)| json!({"disabledPlans": d, "skuId": s})).collect())
        };
        let group_mail = || {
            o.is_unified().then(|| format!("{}@{}", o.str("mailNickname").unwrap_or_default(), self.default_domain()))
        };
        match (o.kind, name) {
            (_, "id") => json!(o.id),
            (_, "createdDateTime") => json!(rfc3339(o.created)),
            (_, "deletedDateTime") => json!(o.deleted.map(rfc3339)),
            (_, "securityIdentifier") => json!(o.id.0.sid()),
            (_, "passwordProfile") => Value::Null,
            (Kind::User, "userPrincipalName") if o.deleted.is_some() => {
                json!(format!("{}{}", o.id.0.simple(), o.str("userPrincipalName").unwrap_or_default()))
            }
            (Kind::User, "proxyAddresses") => {
                json!(o.str("mail").map(|m| vec![format!("SMTP:{m}")]).unwrap_or_default())
            }
            (Kind::User, "userType") => json!(o.str("userType").unwrap_or("Member")),
            (Kind::User, "assignedLicenses") => licences(usage.map(|u| u.effective(o.id)).unwrap_or_default()),
            (Kind::User, "licenseAssignmentStates") => Value::Array(
                usage
                    .map(|u| u.states(o.id))
                    .unwrap_or_default()
                    .iter()
                    .map(|s| {
                        json!({
                            "assignedByGroup": s.by_group,
                            "disabledPlans": s.disabled,
                            "error": s.error.unwrap_or("None"),
                            "skuId": s.sku,
                            "state": if s.error.is_some() { "Error" } else { "Active" },
                        })
                    })
                    .collect(),
            ),
            (Kind::Group, "mail") => json!(group_mail()),
            (Kind::Group, "proxyAddresses") => {
                json!(group_mail().map(|m| vec![format!("SMTP:{m}")]).unwrap_or_default())
            }
            (Kind::Group, "assignedLicenses") => licences(o.licences.iter().map(|(s, d)| (*s, d.clone())).collect()),
            (Kind::Group, "hasMembersWithLicenseErrors") => {
                json!(usage.is_some_and(|u| u.groups_with_errors.contains(&o.id)))
            }
            (Kind::Group, "renewedDateTime") if o.is_unified() => json!(rfc3339(o.created)),
            (Kind::Group, "visibility") if o.is_unified() => json!(o.str("visibility").unwrap_or("Public")),
            _ => match o.props.get(name) {
                Some(v) => v.clone(),
                None => {
                    let collection = self.schema.property(o.kind.type_name(), name).is_some_and(|p| p.ty.collection);
                    if collection { json!([]) } else { Value::Null }
                }
            },
        }
    }

    /// An object as Graph returns it: the selected (or default) properties.
    pub fn render(&self, o: &Object, select: Option<&[String]>, usage: Option<&Usage>, with_type: bool) -> Value {
        let mut out = Map::new();
        if with_type {
            out.insert("@odata.type".into(), json!(format!("#{}", o.kind.type_name())));
        }
        match select {
            Some(names) => {
                for name in names {
                    out.insert(name.clone(), self.property(o, name, usage));
                }
            }
            None => {
                for name in o.kind.default_select() {
                    out.insert((*name).to_string(), self.property(o, name, usage));
                }
            }
        }
        Value::Object(out)
    }

    /// The whole directory as canonical JSON (sorted keys and lists, no timestamps, no
    /// secrets), for tests and before/after comparisons.
    pub fn dump(&self) -> Value {
        let usage = self.usage();
        let entry = |o: &Object| {
            let mut props = o.props.clone();
            props.remove("passwordProfile");
            let mut v = json!({
                "id": o.id,
                "properties": props,
            });
            match o.kind {
                Kind::User => {
                    v["manager"] = json!(o.manager);
                    v["licences"] = json!(o.licences);
                    v["effectiveLicences"] =
                        json!(usage.effective(o.id).into_iter().map(|(s, _)| s).collect::<Vec<_>>());
                    if let Some(tap) = &o.tap {
                        v["temporaryAccessPassMethods"] = json!([tap.dump()]);
                    }
                }
                Kind::Group => {
                    v["members"] = json!(o.members);
                    v["owners"] = json!(o.owners);
                    v["licences"] = json!(o.licences);
                }
            }
            v
        };
        let pick = |kind: Kind, deleted: bool| -> Vec<Value> {
            self.objects.values().filter(|o| o.kind == kind && o.deleted.is_some() == deleted).map(entry).collect()
        };
        let mut skus: Vec<Value> = self
            .settings
            .skus
            .iter()
            .map(|s| json!({"skuPartNumber": s.part, "skuId": s.id, "enabled": s.units, "consumed": usage.consumed(s.id)}))
            .collect();
        skus.sort_by(|a, b| a["skuPartNumber"].as_str().cmp(&b["skuPartNumber"].as_str()));
        let mut domains = self.settings.domains.clone();
        domains.sort();
        let roles: Vec<Value> = ROLES
            .iter()
            .map(|r| {
                let holders: Vec<ObjectId> = self
                    .objects
                    .values()
                    .filter(|o| o.deleted.is_none() && o.roles.contains(r.template))
                    .map(|o| o.id)
                    .collect();
                json!({"displayName": r.name, "roleTemplateId": r.template, "members": holders})
            })
            .filter(|r| r["members"].as_array().is_some_and(|m| !m.is_empty()))
            .collect();
        canonical(json!({
            "domains": domains,
            "subscribedSkus": skus,
            "directoryRoles": roles,
            "users": pick(Kind::User, false),
            "groups": pick(Kind::Group, false),
            "deletedItems": {"users": pick(Kind::User, true), "groups": pick(Kind::Group, true)},
            "authenticationMethodsPolicy": {"temporaryAccessPass": self.tap_policy.render()},
        }))
    }
}

/// A group's members or owners.
fn relation(group: &Object, rel: Rel) -> &BTreeSet<ObjectId> {
    match rel {
        Rel::Members => &group.members,
        Rel::Owners => &group.owners,
    }
}

/// The "already a member" error, worded as Graph words it.
fn already_exist(rel: Rel) -> GraphError {
    GraphError::bad_request(format!(
        "One or more added object references already exist for the following modified properties: '{}'.",
        rel.name()
    ))
}

fn no_available_licences(sku: SkuId) -> GraphError {
    GraphError::bad_request(format!("Subscription {sku} does not have any available licenses."))
}

/// A JSON value with every object's keys in sorted order (whatever serde_json's map is).
pub fn canonical(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, canonical(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_tenant::licences::SkuSpec;
    use crate::test_tenant::rules::{Context, validate_write};
    use crate::test_tenant::schema::graph_schema;

    fn dir(lag_ms: u64) -> Directory {
        let settings = Settings {
            domains: vec!["bjuv.se".into()],
            skus: vec![Sku::from_spec(&SkuSpec { part: "SPE_E3".into(), units: 1 })],
            lag: Duration::from_millis(lag_ms),
            own_base: "http://127.0.0.1:1".into(),
        };
        Directory::new(graph_schema().unwrap(), settings, Vec::new(), IdStream::new(1, "objects", 0)).unwrap()
    }

    fn write(d: &Directory, kind: Kind, body: Value, existing: Option<&Map<String, Value>>) -> Write {
        let ctx = Context { schema: d.schema, domains: &d.settings.domains, own_base: &d.settings.own_base };
        validate_write(kind, &body, existing, &ctx).unwrap()
    }

    fn user(d: &mut Directory, nick: &str) -> ObjectId {
        let w = write(
            d,
            Kind::User,
            json!({"accountEnabled": true, "displayName": nick, "mailNickname": nick,
                   "userPrincipalName": format!("{nick}@bjuv.se"), "usageLocation": "SE",
                   "passwordProfile": {"password": "Sommar!2024x"}}),
            None,
        );
        d.create(Kind::User, w, Instant::now(), Utc::now()).unwrap()
    }

    fn group(d: &mut Directory, nick: &str, unified: bool) -> ObjectId {
        let body = if unified {
            let owner = user(d, &format!("{nick}-owner"));
            json!({"displayName": nick, "mailNickname": nick, "mailEnabled": true, "securityEnabled": false, "groupTypes": ["Unified"],
                   "owners@odata.bind": [format!("https://graph.microsoft.com/v1.0/users/{owner}")]})
        } else {
            json!({"displayName": nick, "mailNickname": nick, "mailEnabled": false, "securityEnabled": true})
        };
        let w = write(d, Kind::Group, body, None);
        d.create(Kind::Group, w, Instant::now(), Utc::now()).unwrap()
    }

    fn member(id: ObjectId) -> ObjectRef {
        ObjectRef { collection: RefCollection::DirectoryObjects, id }
    }

    #[test]
    fn soft_deleted_upn_is_free_but_nickname_is_not_and_restore_conflicts() {
        let mut d = dir(0);
        let now = Instant::now();
        let a = user(&mut d, "asa");
        d.delete(a, now, Utc::now()).unwrap();
        let deleted = d.get_deleted(&a.to_string()).unwrap();
        let shown = d.property(deleted, "userPrincipalName", None);
        assert_eq!(shown, json!(format!("{}asa@bjuv.se", a.0.simple())));
        // A new user may take the UPN, not the mailNickname.
        let w = write(
            &d,
            Kind::User,
            json!({"accountEnabled": true, "displayName": "x", "mailNickname": "asa2", "userPrincipalName": "asa@bjuv.se",
                   "passwordProfile": {"password": "Sommar!2024x"}}),
            None,
        );
        d.create(Kind::User, w, now, Utc::now()).unwrap();
        let e = d.restore(&a.to_string()).unwrap_err();
        assert_eq!(e.details[0].target, "userPrincipalName");
        let w = write(
            &d,
            Kind::User,
            json!({"accountEnabled": true, "displayName": "x", "mailNickname": "ASA", "userPrincipalName": "asa3@bjuv.se",
                   "passwordProfile": {"password": "Sommar!2024x"}}),
            None,
        );
        assert_eq!(d.create(Kind::User, w, now, Utc::now()).unwrap_err().details[0].target, "mailNickname");
    }

    #[test]
    fn nesting_rules_and_security_groups_are_deleted_for_good() {
        let mut d = dir(0);
        let now = Instant::now();
        let (a, b, m365) = (group(&mut d, "a", false), group(&mut d, "b", false), group(&mut d, "m", true));
        let u = user(&mut d, "u");
        d.add_ref(a, Rel::Members, member(b), now).unwrap();
        assert!(d.add_ref(b, Rel::Members, member(a), now).unwrap_err().message.contains("cycle"));
        assert!(d.add_ref(a, Rel::Members, member(a), now).is_err());
        assert!(d.add_ref(m365, Rel::Members, member(a), now).is_err());
        assert!(d.add_ref(a, Rel::Members, member(m365), now).is_err());
        d.add_ref(m365, Rel::Members, member(u), now).unwrap();
        assert!(d.add_ref(m365, Rel::Members, member(u), now).unwrap_err().message.contains("already exist"));
        assert!(d.add_ref(a, Rel::Owners, member(b), now).is_err());
        d.delete(b, now, Utc::now()).unwrap();
        assert!(d.get_deleted(&b.to_string()).is_err(), "not restorable");
        assert!(d.get(a, now).unwrap().members.is_empty(), "its memberships are gone");
        d.delete(m365, now, Utc::now()).unwrap();
        d.restore(&m365.to_string()).unwrap();
        assert!(d.get(m365, now).unwrap().members.contains(&u), "memberships come back");
    }

    #[test]
    fn replication_lag_hides_new_objects_from_reads_and_references() {
        let mut d = dir(60_000);
        let now = Instant::now();
        let g = group(&mut d, "g", false);
        let u = user(&mut d, "u");
        assert!(d.resolve(Kind::User, &u.to_string(), now).is_err());
        assert!(d.resolve(Kind::User, "u@bjuv.se", now).is_err());
        assert_eq!(d.list(Kind::User, None, None, 10, now).0.len(), 0);
        let later = now + Duration::from_secs(61);
        assert_eq!(d.add_ref(g, Rel::Members, member(u), now).unwrap_err().status, 404);
        d.add_ref(g, Rel::Members, member(u), later).unwrap();
        assert!(d.resolve(Kind::User, "U@BJUV.SE", later).is_ok());
    }

    #[test]
    fn licence_counts_are_enforced() {
        let mut d = dir(0);
        let now = Instant::now();
        let sku = d.settings.skus[0].id;
        let (a, b) = (user(&mut d, "a"), user(&mut d, "b"));
        d.assign_licences(a, vec![(sku, vec![])], vec![], now).unwrap();
        let e = d.assign_licences(b, vec![(sku, vec![])], vec![], now).unwrap_err();
        assert!(e.message.contains("does not have any available licenses"));
        assert!(d.assign_licences(b, vec![], vec![sku], now).unwrap_err().message.contains("corresponding"));
        d.assign_licences(a, vec![], vec![sku], now).unwrap();
        d.assign_licences(b, vec![(sku, vec![])], vec![], now).unwrap();
        assert_eq!(d.usage().consumed(sku), 1);
        let dump = d.dump();
        assert_eq!(dump["subscribedSkus"][0]["consumed"], 1);
    }
}
