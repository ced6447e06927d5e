//! A wave as the exact Microsoft Graph v1.0 requests the joint tenant needs, packed into
//! `$batch` requests.
//!
//! Why a pure rendering: the dry-run prints these requests (one JSON line each, ready to
//! replay) and the executor sends the very same ones, so what the team reviews is what the
//! tenant gets. Nothing here does I/O; values only known while executing are placeholders:
//!
//! - `{id:<anchor>}`: the Graph object id of the object with that anchor, created by this wave
//!   or an earlier one (the create response's `id`, or the journal);
//! - `{id:licence-group:<class>}`: the id of the licence group of that licence class (licence
//!   groups are cloud-only and have no anchor);
//! - `{sku:<PARTNUMBER>}`: the skuId, resolved from `GET /subscribedSkus` by skuPartNumber
//!   (graph/README.md: never hard-code SKU GUIDs);
//! - `{password}`: a fresh random password the executor makes for each new user. It is never
//!   rendered, logged or stored: requests carry only the placeholder, and [`GraphRequest`]'s
//!   `Debug` hides a substituted password.
//!
//! Placeholders are recognised only in the URL and in the body values that never carry
//! directory data (`password`, `skuId`, `@odata.id`, `members@odata.bind`,
//! `owners@odata.bind`), so a display name that happens to read `{password}` stays text.
//!
//! Graph's rules shape the rendering (graph/README.md): every write costs one unit of the
//! 3,000-writes-per-150-s budget whatever it carries, so a user is created with everything in
//! one POST, a group is created with up to 20 members bound, and the rest of its members go 20
//! per PATCH. A `$batch` passes no values between its requests (`dependsOn` only orders), so a
//! request that needs the id of an object this wave creates goes into a later batch than the
//! create ([`batches`] works this out from the placeholders). Graph also refuses a batch that
//! mixes dependent and independent requests ("Batch should be either fully sequential or fully
//! parallel", in the words of Microsoft's Q&A; the test tenant is looser here), so a batch is
//! either parallel (no `dependsOn`) or one sequential chain.
//!
//! A group is created by an upsert on its alternate key (Microsoft Learn, "Upsert group"):
//! `PATCH /groups(uniqueName='samla-<anchor>')` with `Prefer: create-if-missing` and the
//! create's body, uniqueName included ([`unique_name`]; a licence group's is
//! [`licence_group_unique_name`]). A create sent again after its response was lost then meets
//! the group the first sending made instead of making a second one: Graph keeps no
//! security group's mailNickname unique, but a uniqueName is unique and never changes. Users
//! stay `POST /users`: their userPrincipalName is unique.
//!
//! Microsoft 365 groups take users only and are never members themselves: such memberships are
//! left out and reported ([`Skipped`]). An application creating a Microsoft 365 group should
//! name an owner (the test tenant requires one); the rendering makes the group's first user
//! member of the wave its owner.
//!
//! An account of a kind that does not go to the tenant (`[cloud]` in target.toml: admin and
//! service accounts by default) is created in the shared AD only: it gets no request here, no
//! licence, no membership of a cloud group and no manager link, and a cloud user's link to such
//! a manager is left out. This is the one place that decides it: comparing, the preflight,
//! running and rolling back all work from these requests. Each such account and left-out
//! manager link is reported ([`SkipReason::SharedAdOnly`], [`SkipReason::ManagerNotInCloud`]).

use super::{RefKind, WaveContent};

use crate::model::ObjectGuid;
use crate::model::names;
use crate::model::settings::TargetSettings;
use crate::model::unified::{Anchor, Group, Member, Person};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// The root that `@odata.bind` and `@odata.id` references name.
pub const GRAPH_ROOT: &str = "https://graph.microsoft.com/v1.0";
/// The most references one create or PATCH binds (members and owners together).
pub const MAX_BINDS: usize = 20;
/// The most requests in one `$batch`.
pub const MAX_BATCH: usize = 20;
/// Graph's write budget per app and tenant: this many writes ...
pub const WRITE_BUDGET: u32 = 3_000;
/// ... per this many seconds.
pub const BUDGET_WINDOW_SECS: f64 = 150.0;

/// The text of the password placeholder.
const PASSWORD: &str = "{password}";
/// The `Prefer` header that makes a PATCH by alternate key an upsert.
pub const CREATE_IF_MISSING: &str = "create-if-missing";
/// How every uniqueName samla gives a group begins.
pub const UNIQUE_NAME_PREFIX: &str = "samla-";

/// Body keys whose values may hold placeholders; no directory data is ever under them.
const PLACEHOLDER_KEYS: [&str; 5] = ["password", "skuId", "@odata.id", "members@odata.bind", "owners@odata.bind"];

/// The user properties taken from `Person::cloud` (the privacy-checked allow-list), by their
/// Graph names; `extensionAttribute1..15` go into `onPremisesExtensionAttributes`.
const USER_PROPERTIES: [&str; 8] =
    ["givenName", "surname", "jobTitle", "department", "companyName", "employeeId", "employeeType", "officeLocation"];

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    CreateUser,
    AssignUserLicence,
    CreateGroup,
    AddMembers,
    SetManager,
    CreateLicenceGroup,
    AssignGroupLicence,
    /// Executor only: a PATCH of an existing user's properties that differ from the wave's.
    UpdateUser,
    /// Executor only: `POST /directory/deletedItems/{id}/restore` of samla's own user (or
    /// group) that a rollback soft-deleted, in place of creating it again.
    RestoreDeletedUser,
    RestoreDeletedGroup,
    /// Rollback only: the inverses ([`crate::rollback`]).
    RemoveMember,
    RestoreManager,
    RemoveLicence,
    RestoreUser,
    DeleteGroup,
    DeleteUser,
}

/// One Graph request of a wave. Serialized as one JSON line by the dry-run.
#[derive(Clone, PartialEq, Serialize)]
pub struct GraphRequest {
    /// Unique within the wave (and so within any batch): `user-<anchor>`, `members-<anchor>-2`.
    pub id: String,
    /// `POST`, `PATCH` or `PUT`.
    pub method: String,
    /// Relative to the v1.0 root: `/users`, `/groups/{id:<anchor>}`.
    pub url: String,
    pub body: Option<Value>,
    /// Ids of requests that must have run before this one. From [`render`]: a per-user
    /// licence after its user's create, each PATCH of a group after the previous one. In a
    /// [`Batch`]: the batch's own `dependsOn` (earlier requests of the same batch only).
    pub depends_on: Vec<String>,
    pub action: Action,
    /// The municipality of the object ("" for licence groups and groups shared by several).
    pub municipality: String,
    /// The object the request is about: the user, the group, the person whose manager is set.
    /// None for licence groups, which are not in the unified directory.
    pub anchor: Option<Anchor>,
    /// The licence class, for licence requests and requests on a licence group.
    pub licence_class: Option<String>,
}

impl fmt::Debug for GraphRequest {
    /// Like a derived Debug, but a substituted password shows as `<redacted>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = self.body.as_ref().map(redacted);
        f.debug_struct("GraphRequest")
            .field("id", &self.id)
            .field("method", &self.method)
            .field("url", &self.url)
            .field("body", &body)
            .field("depends_on", &self.depends_on)
            .field("action", &self.action)
            .field("municipality", &self.municipality)
            .field("anchor", &self.anchor)
            .field("licence_class", &self.licence_class)
            .finish()
    }
}

/// A copy of a body whose `passwordProfile.password`, unless still the placeholder, is hidden.
fn redacted(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(p) = body.get_mut("passwordProfile").and_then(|p| p.get_mut("password"))
        && p.as_str() != Some(PASSWORD)
    {
        *p = json!("<redacted>");
    }
    body
}

impl GraphRequest {
    /// The placeholder whose value this request's response gives (its `id`): creates only.
    pub fn creates(&self) -> Option<Placeholder> {
        match self.action {
            Action::CreateUser | Action::CreateGroup | Action::RestoreDeletedUser => self.anchor.map(Placeholder::Id),
            Action::CreateLicenceGroup => self.licence_class.clone().map(Placeholder::LicenceGroup),
            Action::RestoreDeletedGroup => {
                self.anchor.map(Placeholder::Id).or_else(|| self.licence_class.clone().map(Placeholder::LicenceGroup))
            }
            _ => None,
        }
    }

    /// The members it binds (`members@odata.bind`), owners not counted.
    pub fn members(&self) -> usize {
        self.body.as_ref().and_then(|b| b.get("members@odata.bind")).and_then(Value::as_array).map_or(0, Vec::len)
    }

    /// The `Prefer` header the request is sent with: group creates are upserts.
    pub fn prefer(&self) -> Option<&'static str> {
        let upsert = matches!(self.action, Action::CreateGroup | Action::CreateLicenceGroup) && self.method == "PATCH";
        upsert.then_some(CREATE_IF_MISSING)
    }

    /// The number of references the body binds (members and owners).
    pub fn binds(&self) -> usize {
        let count =
            |key: &str| self.body.as_ref().and_then(|b| b.get(key)).and_then(Value::as_array).map_or(0, Vec::len);
        count("members@odata.bind") + count("owners@odata.bind")
    }
}

/// A value only known at execution time (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Placeholder {
    /// `{id:<anchor>}`.
    Id(Anchor),
    /// `{id:licence-group:<class>}`.
    LicenceGroup(String),
    /// `{sku:<PARTNUMBER>}`.
    Sku(String),
    /// `{password}`.
    Password,
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Placeholder::Id(a) => write!(f, "{{id:{}}}", a.0),
            Placeholder::LicenceGroup(class) => write!(f, "{{id:licence-group:{class}}}"),
            Placeholder::Sku(part) => write!(f, "{{sku:{part}}}"),
            Placeholder::Password => f.write_str(PASSWORD),
        }
    }
}

impl Serialize for Placeholder {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Placeholder {
    /// Parses one placeholder, braces included (`{sku:SPE_E3}`).
    pub fn parse(text: &str) -> Option<Placeholder> {
        let inner = text.strip_prefix('{')?.strip_suffix('}')?;
        if inner.contains(['{', '}']) {
            return None;
        }
        if inner == "password" {
            return Some(Placeholder::Password);
        }
        if let Some(part) = inner.strip_prefix("sku:") {
            return (!part.is_empty()).then(|| Placeholder::Sku(part.to_string()));
        }
        let id = inner.strip_prefix("id:")?;
        if let Some(class) = id.strip_prefix("licence-group:") {
            return (!class.is_empty()).then(|| Placeholder::LicenceGroup(class.to_string()));
        }
        ObjectGuid::parse(id).ok().map(|g| Placeholder::Id(Anchor(g)))
    }
}

/// The placeholders in one string, in order, with their byte ranges.
fn tokens(s: &str) -> Vec<(std::ops::Range<usize>, Placeholder)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = s[from..].find('{').map(|i| from + i) {
        let Some(close) = s[open..].find('}').map(|i| open + i) else { break };
        match Placeholder::parse(&s[open..=close]) {
            Some(p) => {
                out.push((open..close + 1, p));
                from = close + 1;
            }
            None => from = open + 1,
        }
    }
    out
}

/// The placeholders in one string, in order.
pub fn placeholders_in(s: &str) -> Vec<Placeholder> {
    tokens(s).into_iter().map(|(_, p)| p).collect()
}

/// The uniqueName of the group with `anchor`: from its source objectGUID, which never
/// changes, as uniqueName never may (`samla-` and the GUID, 42 characters of `[0-9a-f-]`).
pub fn unique_name(anchor: Anchor) -> String {
    format!("{UNIQUE_NAME_PREFIX}{}", anchor.0.to_string().to_ascii_lowercase())
}

/// The uniqueName of the licence group of a licence class (cloud-only, no anchor): from the
/// class's name, characters outside `[a-z0-9._-]` as `-`, at most 64 characters.
pub fn licence_group_unique_name(class: &str) -> String {
    let safe: String = class
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' })
        .collect();
    let mut name = format!("{UNIQUE_NAME_PREFIX}licence-{safe}");
    name.truncate(64);
    name
}

/// The URL of the group holding `unique_name`, by its alternate key.
pub fn by_unique_name(unique_name: &str) -> String {
    format!("/groups(uniqueName='{}')", unique_name.replace('\'', "''"))
}

/// The mailNickname of the licence group of a licence class (None when the class has no
/// licence group): how the executor finds a licence group an earlier wave created.
pub fn licence_group_nickname(settings: &TargetSettings, class: &str) -> Option<String> {
    let name = settings.licence_groups.get(class)?;
    Some(
        names::mail_nickname(name)
            .or_else(|| names::mail_nickname(&format!("licence {class}")))
            .unwrap_or_else(|| "licence.group".to_string()),
    )
}

/// `s` with each placeholder replaced; the first one `resolve` does not know is the error.
fn replace(s: &str, resolve: &dyn Fn(&Placeholder) -> Option<String>) -> Result<String, Placeholder> {
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for (range, p) in tokens(s) {
        let value = resolve(&p).ok_or_else(|| p.clone())?;
        out.push_str(&s[at..range.start]);
        out.push_str(&value);
        at = range.end;
    }
    out.push_str(&s[at..]);
    Ok(out)
}

/// The strings of a body where placeholders may be (values under [`PLACEHOLDER_KEYS`]).
fn placeholder_strings<'a>(v: &'a Value, scoped: bool, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) if scoped => out.push(s),
        Value::Array(items) => items.iter().for_each(|i| placeholder_strings(i, scoped, out)),
        Value::Object(map) => {
            for (k, x) in map {
                placeholder_strings(x, PLACEHOLDER_KEYS.contains(&k.as_str()), out);
            }
        }
        _ => {}
    }
}

fn substitute_value(
    v: &mut Value,
    scoped: bool,
    resolve: &dyn Fn(&Placeholder) -> Option<String>,
) -> Result<(), Placeholder> {
    match v {
        Value::String(s) if scoped => *s = replace(s, resolve)?,
        Value::Array(items) => {
            for i in items {
                substitute_value(i, scoped, resolve)?;
            }
        }
        Value::Object(map) => {
            for (k, x) in map.iter_mut() {
                substitute_value(x, PLACEHOLDER_KEYS.contains(&k.as_str()), resolve)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Every placeholder of a request (URL first, then body), each once, in order of appearance.
pub fn placeholders(req: &GraphRequest) -> Vec<Placeholder> {
    let mut strings = vec![req.url.as_str()];
    if let Some(body) = &req.body {
        placeholder_strings(body, false, &mut strings);
    }
    let mut out: Vec<Placeholder> = Vec::new();
    for s in strings {
        for (_, p) in tokens(s) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// The request with every placeholder replaced by `resolve`'s value; the first placeholder
/// `resolve` does not know is the error. Values are inserted as they are (ids and skuIds are
/// GUIDs; a password goes only into the body).
pub fn substitute(
    req: &GraphRequest,
    resolve: &dyn Fn(&Placeholder) -> Option<String>,
) -> Result<GraphRequest, Placeholder> {
    let mut out = req.clone();
    out.url = replace(&req.url, resolve)?;
    if let Some(body) = &mut out.body {
        substitute_value(body, false, resolve)?;
    }
    Ok(out)
}

/// Why something of the wave is not in the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// A group as member of a Microsoft 365 group (they take users only).
    NestedGroupInMicrosoft365Group,
    /// A Microsoft 365 group as member of another group (they never nest).
    Microsoft365GroupAsMember,
    /// A group membership that would make a group contain itself.
    NestingCycle,
    /// A Microsoft 365 group with no user member in this wave: created without an owner
    /// (Graph allows it from an application but the group is then unmanaged; the test tenant
    /// refuses it).
    Microsoft365GroupWithoutOwner,
    /// An allow-listed cloud attribute with no Graph user property here.
    UnmappedAttribute,
    /// A licence class without a SKU in the target settings.
    NoSku,
    /// A licence group this wave should create whose class has no group in the settings.
    NoLicenceGroup,
    /// An account of a kind that does not go to the tenant (`[cloud]`): created in the shared
    /// AD only; its memberships of cloud groups are left out with it.
    SharedAdOnly,
    /// A manager link to a manager who is not in the tenant (shared AD only): set in the
    /// shared AD only.
    ManagerNotInCloud,
}

/// One thing left out of (or weakened in) the rendering, for the dry-run report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub reason: SkipReason,
    pub municipality: String,
    /// The group or person concerned (None for licence groups).
    pub anchor: Option<Anchor>,
    /// What was left out: the member's anchor, the attribute's name, the licence class.
    pub detail: String,
}

/// The requests of a wave and what was left out of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendering {
    pub requests: Vec<GraphRequest>,
    pub skipped: Vec<Skipped>,
}

/// The Graph requests of one wave, in a fixed order: user creates (each followed by its
/// per-user licence), licence-group creates, group creates, member PATCHes, group licences,
/// manager links. See [`render_wave`] for what was left out.
pub fn render(content: &WaveContent, settings: &TargetSettings) -> Vec<GraphRequest> {
    render_wave(content, settings).requests
}

/// Who a membership goes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Group(Anchor),
    LicenceGroup(String),
}

impl Target {
    fn url(&self) -> String {
        match self {
            Target::Group(a) => format!("/groups/{}", Placeholder::Id(*a)),
            Target::LicenceGroup(c) => format!("/groups/{}", Placeholder::LicenceGroup(c.clone())),
        }
    }

    fn key(&self) -> String {
        match self {
            Target::Group(a) => a.0.to_string(),
            Target::LicenceGroup(c) => format!("licence-group-{c}"),
        }
    }
}

struct Renderer<'a> {
    content: &'a WaveContent,
    settings: &'a TargetSettings,
    created: BTreeMap<Anchor, &'a Group>,
    people: HashMap<Anchor, &'a Person>,
    out: Rendering,
}

/// The requests of a wave and what had to be left out of them (see [`render`]).
pub fn render_wave(content: &WaveContent, settings: &TargetSettings) -> Rendering {
    let created = content.groups.iter().map(|g| (g.anchor, g)).collect();
    let people = content.people.iter().map(|p| (p.anchor, p)).collect();
    let mut r = Renderer { content, settings, created, people, out: Rendering::default() };
    let (members, licence_members) = r.memberships();
    for person in &content.people {
        match settings.cloud.why_not(person.kind) {
            Some(why) => {
                let municipality = r.person_municipality(person);
                r.skip(SkipReason::SharedAdOnly, &municipality, Some(person.anchor), why);
            }
            None => r.user(person),
        }
    }
    let mut remaining: Vec<(Target, Vec<Anchor>)> = Vec::new();
    for class in &content.licence_groups_created {
        let people = licence_members.get(class).map(Vec::as_slice).unwrap_or_default();
        if let Some(rest) = r.licence_group(class, people) {
            remaining.push((Target::LicenceGroup(class.clone()), rest));
        }
    }
    for group in &content.groups {
        let list = members.get(&group.anchor).map(Vec::as_slice).unwrap_or_default();
        let rest = r.group(group, list);
        remaining.push((Target::Group(group.anchor), rest));
    }
    for (anchor, list) in &members {
        if !r.created.contains_key(anchor) {
            remaining.push((Target::Group(*anchor), list.iter().map(|m| member_anchor(*m)).collect()));
        }
    }
    for (class, people) in &licence_members {
        if !content.licence_groups_created.contains(class) && settings.licence_groups.contains_key(class) {
            remaining.push((Target::LicenceGroup(class.clone()), people.clone()));
        }
    }
    remaining.sort_by(|a, b| a.0.cmp(&b.0));
    for (target, rest) in &remaining {
        r.add_members(target, rest);
    }
    for class in &content.licence_groups_created {
        r.group_licence(class);
    }
    for (person, manager) in &content.manager_links {
        if r.shared_ad_only(*person) {
            continue;
        }
        if r.shared_ad_only(*manager) {
            let municipality = r.municipality(*person);
            r.skip(SkipReason::ManagerNotInCloud, &municipality, Some(*person), manager.0.to_string());
            continue;
        }
        r.manager(*person, *manager);
    }
    r.out
}

fn member_anchor(m: Member) -> Anchor {
    match m {
        Member::Person(a) | Member::Group(a) => a,
    }
}

/// A `members@odata.bind` reference to the object with that anchor.
pub fn bind(a: Anchor) -> Value {
    json!(format!("{GRAPH_ROOT}/directoryObjects/{}", Placeholder::Id(a)))
}

/// A path segment with everything but unreserved characters and `@` percent-encoded (a UPN
/// may hold `#`, `^` and `'`).
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn is_licence(class: &str) -> bool {
    !class.is_empty() && !class.eq_ignore_ascii_case("none")
}

impl Renderer<'_> {
    fn push(&mut self, req: GraphRequest) {
        self.out.requests.push(req);
    }

    fn skip(&mut self, reason: SkipReason, municipality: &str, anchor: Option<Anchor>, detail: String) {
        self.out.skipped.push(Skipped { reason, municipality: municipality.to_string(), anchor, detail });
    }

    fn person_municipality(&self, p: &Person) -> String {
        match self.content.refs.get(&p.anchor) {
            Some(r) => r.municipality.clone(),
            None => p.affiliations.first().map(|a| a.municipality.clone()).unwrap_or_default(),
        }
    }

    fn municipality(&self, anchor: Anchor) -> String {
        if let Some(r) = self.content.refs.get(&anchor) {
            return r.municipality.clone();
        }
        if let Some(p) = self.people.get(&anchor) {
            return self.person_municipality(p);
        }
        match self.created.get(&anchor).map(|g| g.sources.as_slice()) {
            Some([(m, _, _)]) => m.clone(),
            _ => String::new(),
        }
    }

    /// A group's unified name, if the anchor is a group this wave knows.
    fn group_name(&self, anchor: Anchor) -> Option<&str> {
        match self.created.get(&anchor) {
            Some(g) => Some(g.name.as_str()),
            None => self.content.refs.get(&anchor).filter(|r| r.kind == RefKind::Group).map(|r| r.cn.as_str()),
        }
    }

    /// Whether the object is a person of a kind that stays in the shared AD (`[cloud]`).
    fn shared_ad_only(&self, anchor: Anchor) -> bool {
        self.content.shared_ad_only(anchor, self.settings)
    }

    fn is_m365(&self, anchor: Anchor) -> bool {
        self.group_name(anchor).is_some_and(|n| self.settings.microsoft365_groups.contains(&n.to_lowercase()))
    }

    /// The memberships to write, per group (sorted, without duplicates, without what Graph
    /// cannot hold), and the people of each licence group.
    #[allow(clippy::type_complexity)]
    fn memberships(&mut self) -> (BTreeMap<Anchor, Vec<Member>>, BTreeMap<String, Vec<Anchor>>) {
        let mut out: BTreeMap<Anchor, Vec<Member>> = BTreeMap::new();
        let mut nested: BTreeMap<Anchor, Vec<Anchor>> = BTreeMap::new();
        let mut seen = BTreeSet::new();
        for (group, member) in &self.content.memberships {
            if !seen.insert((*group, *member)) || self.shared_ad_only(member_anchor(*member)) {
                continue;
            }
            if let Member::Group(inner) = member {
                let reason = if self.is_m365(*group) {
                    Some(SkipReason::NestedGroupInMicrosoft365Group)
                } else if self.is_m365(*inner) {
                    Some(SkipReason::Microsoft365GroupAsMember)
                } else if reaches(&nested, *inner, *group) {
                    Some(SkipReason::NestingCycle)
                } else {
                    None
                };
                if let Some(reason) = reason {
                    let municipality = self.municipality(*group);
                    self.skip(reason, &municipality, Some(*group), inner.0.to_string());
                    continue;
                }
                nested.entry(*group).or_default().push(*inner);
            }
            out.entry(*group).or_default().push(*member);
        }
        let mut licence: BTreeMap<String, Vec<Anchor>> = BTreeMap::new();
        for p in &self.content.people {
            if is_licence(&p.licence)
                && self.settings.licence_groups.contains_key(&p.licence)
                && self.settings.cloud.goes(p.kind)
            {
                licence.entry(p.licence.clone()).or_default().push(p.anchor);
            }
        }
        (out, licence)
    }

    fn user(&mut self, p: &Person) {
        let municipality = self.person_municipality(p);
        let usage =
            if self.settings.usage_location.is_empty() { &p.usage_location } else { &self.settings.usage_location };
        let mut body = Map::new();
        body.insert("accountEnabled".into(), json!(self.settings.account_state.enabled(p)));
        body.insert("displayName".into(), json!(p.display_name));
        body.insert("mailNickname".into(), json!(p.mail_nickname));
        body.insert("userPrincipalName".into(), json!(p.user_principal_name));
        body.insert("passwordProfile".into(), json!({"forceChangePasswordNextSignIn": true, "password": PASSWORD}));
        if !usage.is_empty() {
            body.insert("usageLocation".into(), json!(usage));
        }
        body.insert("onPremisesImmutableId".into(), json!(p.anchor.immutable_id()));
        let mut extension = Map::new();
        for (key, value) in &p.cloud {
            if value.trim().is_empty() || key.eq_ignore_ascii_case("displayName") {
                continue;
            }
            if let Some(name) = USER_PROPERTIES.iter().find(|n| n.eq_ignore_ascii_case(key)) {
                body.insert((*name).to_string(), json!(value));
            } else if let Some(n) = extension_number(key) {
                extension.insert(format!("extensionAttribute{n}"), json!(value));
            } else {
                self.skip(SkipReason::UnmappedAttribute, &municipality, Some(p.anchor), key.to_string());
            }
        }
        if !extension.is_empty() {
            body.insert("onPremisesExtensionAttributes".into(), Value::Object(extension));
        }
        let create = GraphRequest {
            id: format!("user-{}", p.anchor.0),
            method: "POST".into(),
            url: "/users".into(),
            body: Some(Value::Object(body)),
            depends_on: Vec::new(),
            action: Action::CreateUser,
            municipality: municipality.clone(),
            anchor: Some(p.anchor),
            licence_class: None,
        };
        let create_id = create.id.clone();
        self.push(create);
        if !is_licence(&p.licence) || self.settings.licence_groups.contains_key(&p.licence) {
            return;
        }
        let Some(part) = self.settings.skus.get(&p.licence) else {
            self.skip(SkipReason::NoSku, &municipality, Some(p.anchor), p.licence.clone());
            return;
        };
        self.push(GraphRequest {
            id: format!("licence-{}", p.anchor.0),
            method: "POST".into(),
            url: format!("/users/{}/assignLicense", segment(&p.user_principal_name)),
            body: Some(assign_body(part)),
            depends_on: vec![create_id],
            action: Action::AssignUserLicence,
            municipality,
            anchor: Some(p.anchor),
            licence_class: Some(p.licence.clone()),
        });
    }

    /// Creates the licence group with its first members bound; returns the rest.
    fn licence_group(&mut self, class: &str, people: &[Anchor]) -> Option<Vec<Anchor>> {
        let Some(name) = self.settings.licence_groups.get(class) else {
            self.skip(SkipReason::NoLicenceGroup, "", None, class.to_string());
            return None;
        };
        let nick = licence_group_nickname(self.settings, class).unwrap_or_default();
        let (bound, rest) = people.split_at(people.len().min(MAX_BINDS));
        let mut body = security_group(name, &nick);
        let unique = licence_group_unique_name(class);
        body.insert("uniqueName".into(), json!(unique));
        if !bound.is_empty() {
            body.insert("members@odata.bind".into(), bound.iter().map(|a| bind(*a)).collect());
        }
        self.push(GraphRequest {
            id: format!("licence-group-{class}"),
            method: "PATCH".into(),
            url: by_unique_name(&unique),
            body: Some(Value::Object(body)),
            depends_on: Vec::new(),
            action: Action::CreateLicenceGroup,
            municipality: String::new(),
            anchor: None,
            licence_class: Some(class.to_string()),
        });
        Some(rest.to_vec())
    }

    fn group_licence(&mut self, class: &str) {
        if !self.settings.licence_groups.contains_key(class) {
            return;
        }
        let Some(part) = self.settings.skus.get(class) else {
            self.skip(SkipReason::NoSku, "", None, class.to_string());
            return;
        };
        self.push(GraphRequest {
            id: format!("licence-group-{class}-licence"),
            method: "POST".into(),
            url: format!("/groups/{}/assignLicense", Placeholder::LicenceGroup(class.to_string())),
            body: Some(assign_body(part)),
            depends_on: Vec::new(),
            action: Action::AssignGroupLicence,
            municipality: String::new(),
            anchor: None,
            licence_class: Some(class.to_string()),
        });
    }

    /// Creates a group with its first members (and, for a Microsoft 365 group, its owner)
    /// bound; returns the members left for PATCHes.
    fn group(&mut self, g: &Group, members: &[Member]) -> Vec<Anchor> {
        let municipality = self.municipality(g.anchor);
        let m365 = self.settings.microsoft365_groups.contains(&g.name.to_lowercase());
        let mut body = if m365 {
            let mut b = Map::new();
            b.insert("displayName".into(), json!(g.name));
            b.insert("mailNickname".into(), json!(g.mail_nickname));
            b.insert("mailEnabled".into(), json!(true));
            b.insert("securityEnabled".into(), json!(false));
            b.insert("groupTypes".into(), json!(["Unified"]));
            b
        } else {
            security_group(&g.name, &g.mail_nickname)
        };
        let owner = if m365 {
            members.iter().find_map(|m| match m {
                Member::Person(a) => Some(*a),
                Member::Group(_) => None,
            })
        } else {
            None
        };
        if m365 {
            match owner {
                Some(o) => {
                    body.insert(
                        "owners@odata.bind".into(),
                        json!([format!("{GRAPH_ROOT}/users/{}", Placeholder::Id(o))]),
                    );
                }
                None => {
                    self.skip(SkipReason::Microsoft365GroupWithoutOwner, &municipality, Some(g.anchor), String::new())
                }
            }
        }
        let room = MAX_BINDS - usize::from(owner.is_some());
        let (bound, rest) = members.split_at(members.len().min(room));
        if !bound.is_empty() {
            body.insert("members@odata.bind".into(), bound.iter().map(|m| bind(member_anchor(*m))).collect());
        }
        let unique = unique_name(g.anchor);
        body.insert("uniqueName".into(), json!(unique));
        self.push(GraphRequest {
            id: format!("group-{}", g.anchor.0),
            method: "PATCH".into(),
            url: by_unique_name(&unique),
            body: Some(Value::Object(body)),
            depends_on: Vec::new(),
            action: Action::CreateGroup,
            municipality,
            anchor: Some(g.anchor),
            licence_class: None,
        });
        rest.iter().map(|m| member_anchor(*m)).collect()
    }

    /// PATCHes adding `members`, 20 per request, each after the previous one.
    fn add_members(&mut self, target: &Target, members: &[Anchor]) {
        let (municipality, anchor, class) = match target {
            Target::Group(a) => (self.municipality(*a), Some(*a), None),
            Target::LicenceGroup(c) => (String::new(), None, Some(c.clone())),
        };
        let mut previous: Option<String> = None;
        for (i, chunk) in members.chunks(MAX_BINDS).enumerate() {
            let id = format!("members-{}-{}", target.key(), i + 1);
            self.push(GraphRequest {
                id: id.clone(),
                method: "PATCH".into(),
                url: target.url(),
                body: Some(json!({"members@odata.bind": chunk.iter().map(|a| bind(*a)).collect::<Vec<_>>()})),
                depends_on: previous.take().into_iter().collect(),
                action: Action::AddMembers,
                municipality: municipality.clone(),
                anchor,
                licence_class: class.clone(),
            });
            previous = Some(id);
        }
    }

    fn manager(&mut self, person: Anchor, manager: Anchor) {
        let municipality = self.municipality(person);
        self.push(GraphRequest {
            id: format!("manager-{}", person.0),
            method: "PUT".into(),
            url: format!("/users/{}/manager/$ref", Placeholder::Id(person)),
            body: Some(json!({"@odata.id": format!("{GRAPH_ROOT}/users/{}", Placeholder::Id(manager))})),
            depends_on: Vec::new(),
            action: Action::SetManager,
            municipality,
            anchor: Some(person),
            licence_class: None,
        });
    }
}

fn security_group(name: &str, nick: &str) -> Map<String, Value> {
    let mut b = Map::new();
    b.insert("displayName".into(), json!(name));
    b.insert("mailNickname".into(), json!(nick));
    b.insert("mailEnabled".into(), json!(false));
    b.insert("securityEnabled".into(), json!(true));
    b.insert("groupTypes".into(), json!([]));
    b
}

fn assign_body(part: &str) -> Value {
    json!({
        "addLicenses": [{"skuId": Placeholder::Sku(part.to_string()).to_string(), "disabledPlans": []}],
        "removeLicenses": [],
    })
}

/// `extensionAttributeN` (any case) with N in 1..=15.
fn extension_number(key: &str) -> Option<u8> {
    let digits = key.get(..18).filter(|p| p.eq_ignore_ascii_case("extensionAttribute")).and_then(|_| key.get(18..))?;
    if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u8>().ok().filter(|n| (1..=15).contains(n))
}

/// Whether `to` is reachable from `from` through `edges` (or is `from`).
fn reaches(edges: &BTreeMap<Anchor, Vec<Anchor>>, from: Anchor, to: Anchor) -> bool {
    let mut stack = vec![from];
    let mut seen = BTreeSet::new();
    while let Some(a) = stack.pop() {
        if a == to {
            return true;
        }
        if seen.insert(a) {
            stack.extend(edges.get(&a).into_iter().flatten().copied());
        }
    }
    false
}

/// One `$batch` request: at most 20 requests with unique ids, whose `depends_on` is the
/// batch's own `dependsOn` (a batch is either parallel, with none, or one sequential chain).
/// Serializes to the exact body of `POST /v1.0/$batch`.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub requests: Vec<GraphRequest>,
}

/// One request as it is written into a `$batch` body (a body gets its Content-Type header).
/// The executor's client writes resends with it too, so both say the same on the wire.
#[derive(Debug, Serialize)]
pub struct BatchItem<'a> {
    pub id: &'a str,
    pub method: &'a str,
    pub url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<&'static str, &'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<&'a Value>,
    #[serde(rename = "dependsOn", skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<&'a str>,
}

impl<'a> BatchItem<'a> {
    /// The request as a batch member; `prefer` is its `Prefer` header ([`GraphRequest::prefer`]).
    pub fn new(
        id: &'a str,
        method: &'a str,
        url: &'a str,
        body: Option<&'a Value>,
        prefer: Option<&'static str>,
        depends_on: Vec<&'a str>,
    ) -> Self {
        let mut headers: BTreeMap<&'static str, &'static str> = BTreeMap::new();
        if body.is_some() {
            headers.insert("Content-Type", "application/json");
        }
        if let Some(p) = prefer {
            headers.insert("Prefer", p);
        }
        let headers = (!headers.is_empty()).then_some(headers);
        BatchItem { id, method, url, headers, body, depends_on }
    }
}

/// The body of `POST /v1.0/$batch`.
#[derive(Debug, Serialize)]
pub struct BatchBody<'a> {
    pub requests: Vec<BatchItem<'a>>,
}

impl Serialize for Batch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let requests = self
            .requests
            .iter()
            .map(|r| {
                let depends_on = r.depends_on.iter().map(String::as_str).collect();
                BatchItem::new(&r.id, &r.method, &r.url, r.body.as_ref(), r.prefer(), depends_on)
            })
            .collect();
        BatchBody { requests }.serialize(s)
    }
}

impl Batch {
    /// The batch with every request's placeholders replaced (see [`substitute`]).
    pub fn substitute(&self, resolve: &dyn Fn(&Placeholder) -> Option<String>) -> Result<Batch, Placeholder> {
        let requests = self.requests.iter().map(|r| substitute(r, resolve)).collect::<Result<_, _>>()?;
        Ok(Batch { requests })
    }

    /// Whether the batch is one sequential chain (each request after the previous one).
    pub fn is_sequential(&self) -> bool {
        self.requests.iter().any(|r| !r.depends_on.is_empty())
    }
}

/// Packs requests into `$batch` requests, to be sent one after the other.
///
/// A request that names (`{id:..}`) an object created by a request of the list goes into a
/// later batch than that create; a request that depends on another goes into the same batch
/// (chained) or a later one. Within each such stage, independent requests fill parallel
/// batches and dependent ones sequential batches (each request `dependsOn` the one before),
/// because Graph refuses batches that mix the two. Deterministic: same requests, same batches.
pub fn batches(requests: &[GraphRequest]) -> Vec<Batch> {
    let n = requests.len();
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(n);
    let mut creator: HashMap<Placeholder, usize> = HashMap::new();
    for (i, r) in requests.iter().enumerate() {
        index.entry(r.id.as_str()).or_insert(i);
        if let Some(p) = r.creates() {
            creator.entry(p).or_insert(i);
        }
    }
    let needs: Vec<Vec<usize>> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| placeholders(r).iter().filter_map(|p| creator.get(p).copied()).filter(|&c| c != i).collect())
        .collect();
    let deps: Vec<Vec<usize>> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| r.depends_on.iter().filter_map(|d| index.get(d.as_str()).copied()).filter(|&d| d != i).collect())
        .collect();
    // Stages: the longest path over "needs" edges (+1) and "depends" edges (+0). Render order
    // puts every dependency first, so this settles in two passes; the cap guards a cycle.
    let mut stage = vec![0usize; n];
    for _ in 0..=n {
        let mut changed = false;
        for i in 0..n {
            let from_needs = needs[i].iter().map(|&c| stage[c] + 1).max().unwrap_or(0);
            let from_deps = deps[i].iter().map(|&d| stage[d]).max().unwrap_or(0);
            let s = from_needs.max(from_deps).min(n);
            if s > stage[i] {
                stage[i] = s;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut by_stage: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, s) in stage.iter().enumerate() {
        by_stage.entry(*s).or_default().push(i);
    }
    let mut out = Vec::new();
    for members in by_stage.values() {
        let here: BTreeSet<usize> = members.iter().copied().collect();
        let mut chained = vec![false; n];
        for &i in members {
            for &d in deps[i].iter().filter(|d| here.contains(d)) {
                chained[i] = true;
                chained[d] = true;
            }
        }
        let free: Vec<usize> = members.iter().copied().filter(|&i| !chained[i]).collect();
        let chain = dependency_order(members.iter().copied().filter(|&i| chained[i]).collect(), &deps);
        for group in pack(&free, requests) {
            out.push(Batch { requests: group.iter().map(|&i| batch_copy(&requests[i], None)).collect() });
        }
        for group in pack(&chain, requests) {
            let mut previous: Option<&str> = None;
            let mut batch = Vec::with_capacity(group.len());
            for &i in &group {
                batch.push(batch_copy(&requests[i], previous));
                previous = Some(requests[i].id.as_str());
            }
            out.push(Batch { requests: batch });
        }
    }
    out
}

/// The request as a batch member: `dependsOn` the previous request of a sequential batch.
fn batch_copy(r: &GraphRequest, previous: Option<&str>) -> GraphRequest {
    GraphRequest { depends_on: previous.map(str::to_string).into_iter().collect(), ..r.clone() }
}

/// `items` (in list order) reordered so every request comes after those it depends on;
/// stable, and a dependency cycle keeps list order.
fn dependency_order(items: Vec<usize>, deps: &[Vec<usize>]) -> Vec<usize> {
    let wanted: BTreeSet<usize> = items.iter().copied().collect();
    let mut placed: BTreeSet<usize> = BTreeSet::new();
    let mut out = Vec::with_capacity(items.len());
    let mut pending = items;
    while !pending.is_empty() {
        let before = out.len();
        let mut later = Vec::new();
        for i in pending {
            if deps[i].iter().all(|d| !wanted.contains(d) || placed.contains(d)) {
                placed.insert(i);
                out.push(i);
            } else {
                later.push(i);
            }
        }
        if out.len() == before {
            out.extend(later);
            break;
        }
        pending = later;
    }
    out
}

/// Consecutive groups of at most [`MAX_BATCH`] with unique request ids.
fn pack(items: &[usize], requests: &[GraphRequest]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut ids: BTreeSet<&str> = BTreeSet::new();
    for &i in items {
        let id = requests[i].id.as_str();
        if current.len() == MAX_BATCH || ids.contains(id) {
            out.push(std::mem::take(&mut current));
            ids.clear();
        }
        ids.insert(id);
        current.push(i);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// What a wave costs against Graph's write budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WriteCount {
    /// Writes as rendered: one per request (a POST, PATCH or PUT costs one write whatever it
    /// carries).
    pub writes: usize,
    /// Writes with one request per change: one per create, one POST `$ref` per member or owner
    /// bound, one per licence, one PUT per manager link.
    pub naive: usize,
    /// `$batch` requests.
    pub batches: usize,
    /// Seconds the writes take at the budget (3,000 writes per 150 s).
    pub seconds_at_budget: f64,
}

/// The write count of a wave's requests.
pub fn count(requests: &[GraphRequest]) -> WriteCount {
    count_batched(requests, &batches(requests))
}

/// [`count`] for requests already packed into `batches` (packing is the costly part).
pub fn count_batched(requests: &[GraphRequest], batches: &[Batch]) -> WriteCount {
    let writes = requests.iter().filter(|r| matches!(r.method.as_str(), "POST" | "PATCH" | "PUT" | "DELETE")).count();
    let naive = requests
        .iter()
        .map(|r| match r.action {
            Action::AddMembers => r.binds(),
            Action::CreateGroup | Action::CreateLicenceGroup => 1 + r.binds(),
            _ => 1,
        })
        .sum();
    WriteCount {
        writes,
        naive,
        batches: batches.len(),
        seconds_at_budget: writes as f64 * BUDGET_WINDOW_SECS / f64::from(WRITE_BUDGET),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AccountKind;
    use crate::model::Dn;
    use crate::model::attributes::Attributes;
    use crate::model::settings::CloudKinds;
    use crate::render::ObjectRef;

    fn anchor(n: u32) -> Anchor {
        Anchor(ObjectGuid::parse(&format!("00000000-0000-4000-8000-{n:012}")).unwrap())
    }

    fn person(n: u32, name: &str, licence: &str) -> Person {
        let nick = names::mail_nickname(name).unwrap();
        Person {
            anchor: anchor(n),
            immutable_id: anchor(n).immutable_id(),
            user_principal_name: format!("{nick}@samverkan.se"),
            mail_nickname: nick.clone(),
            sam_account_name: nick.chars().take(20).collect(),
            cn: name.to_string(),
            display_name: name.to_string(),
            kind: AccountKind::Person,
            licence: licence.to_string(),
            usage_location: "SE".to_string(),
            cloud: Attributes::new(),
            on_premises: Attributes::new(),
            affiliations: Vec::new(),
            manager: None,
            source_state: Default::default(),
        }
    }

    /// `accountEnabled` is true only where the rule for the person's kind says "as in the
    /// source" and the source account is enabled; a disabled or expired one is created disabled
    /// whatever the rule, and by default (disabled until cutover) nobody is enabled.
    #[test]
    fn account_enabled_follows_the_rule_and_never_enables_a_disabled_or_expired_source_account() {
        use crate::model::settings::{AccountStateRule, AccountStates};
        use crate::model::unified::SourceState;
        let enabled = person(1, "Anna Andersson", "none");
        let mut disabled = person(2, "Bo Berg", "none");
        disabled.source_state = SourceState::Disabled;
        let mut expired = person(3, "Cia Ek", "none");
        expired.source_state = SourceState::Expired(chrono::NaiveDate::from_ymd_opt(2026, 1, 31).unwrap());
        let mut student = person(4, "Dan Ek", "none");
        student.kind = AccountKind::Student;
        let w = wave(vec![enabled, disabled, expired, student], vec![]);
        let states = |s: &TargetSettings| -> Vec<Value> {
            let out = render_wave(&w, s);
            out.requests
                .iter()
                .filter(|r| r.action == Action::CreateUser)
                .map(|r| r.body.as_ref().unwrap()["accountEnabled"].clone())
                .collect()
        };
        let mut s = settings();
        s.account_state = AccountStates([(AccountKind::Person, AccountStateRule::AsInSource)].into());
        assert_eq!(states(&s), [json!(true), json!(false), json!(false), json!(false)]);
        assert_eq!(states(&settings()), vec![json!(false); 4], "by default disabled until cutover");
    }

    /// Admin and service accounts stay in the shared AD by default (`[cloud]`): no create, no
    /// licence, no membership and no manager link of theirs reaches Graph, even for an admin
    /// of an earlier wave; a manager link to one is left out and reported, and so is each
    /// account itself ("shared AD only"). `[cloud] admin = true, service = true` brings them back.
    #[test]
    fn accounts_of_kinds_that_stay_on_premises_get_no_graph_request() {
        let anna = person(1, "Anna Andersson", "E3");
        let mut adm = person(2, "adm-anan", "F3");
        adm.kind = AccountKind::Admin;
        let mut svc = person(3, "svc-backup", "none");
        svc.kind = AccountKind::Service;
        let bo = person(4, "Bo Berg", "none");
        let mut content = wave(vec![anna, adm, svc, bo], vec![group(100, "Alla")]);
        let boss = anchor(9);
        let mut boss_ref = object_ref(RefKind::Person, "adm-chef@samverkan.se", "adm-chef", 1);
        boss_ref.account_kind = Some(AccountKind::Admin);
        content.refs.insert(boss, boss_ref);
        content.refs.insert(anchor(200), object_ref(RefKind::Group, "it", "IT", 1));
        content.memberships = vec![
            (anchor(100), Member::Person(anchor(1))),
            (anchor(100), Member::Person(anchor(2))),
            (anchor(100), Member::Person(anchor(3))),
            (anchor(200), Member::Person(anchor(2))),
        ];
        content.manager_links = vec![(anchor(1), anchor(2)), (anchor(3), anchor(1)), (anchor(4), boss)];
        content.licence_groups_created = BTreeSet::from(["E3".to_string()]);
        let out = render_wave(&content, &settings());
        let users: Vec<Anchor> =
            out.requests.iter().filter(|r| r.action == Action::CreateUser).filter_map(|r| r.anchor).collect();
        assert_eq!(users, [anchor(1), anchor(4)]);
        let text = serde_json::to_string(&out.requests).unwrap();
        for gone in [anchor(2), anchor(3), boss, anchor(200)] {
            assert!(!text.contains(&gone.0.to_string()), "{gone:?} in {text}");
        }
        assert!(out.requests.iter().all(|r| r.action != Action::SetManager && r.action != Action::AssignUserLicence));
        let group = find(&out.requests, &format!("group-{}", anchor(100).0));
        assert_eq!(group.members(), 1);
        let skipped: Vec<(SkipReason, Option<Anchor>)> = out.skipped.iter().map(|s| (s.reason, s.anchor)).collect();
        assert_eq!(
            skipped,
            [
                (SkipReason::SharedAdOnly, Some(anchor(2))),
                (SkipReason::SharedAdOnly, Some(anchor(3))),
                (SkipReason::ManagerNotInCloud, Some(anchor(1))),
                (SkipReason::ManagerNotInCloud, Some(anchor(4))),
            ]
        );
        assert_eq!(out.skipped[0].detail, "admin (cloud.admin = false)");
        // In the cloud after all: everything is back.
        let mut s = settings();
        s.cloud = CloudKinds([(AccountKind::Admin, true), (AccountKind::Service, true)].into());
        let out = render_wave(&content, &s);
        assert_eq!(out.requests.iter().filter(|r| r.action == Action::CreateUser).count(), 4);
        assert_eq!(out.requests.iter().filter(|r| r.action == Action::SetManager).count(), 3);
        assert_eq!(out.requests.iter().filter(|r| r.action == Action::AssignUserLicence).count(), 1);
        assert_eq!(find(&out.requests, &format!("group-{}", anchor(100).0)).members(), 3);
        assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    }

    fn group(n: u32, name: &str) -> Group {
        Group {
            anchor: anchor(n),
            name: name.to_string(),
            mail_nickname: names::mail_nickname(name).unwrap(),
            security: true,
            sources: vec![(
                "bjuv".to_string(),
                anchor(n).0,
                Dn::parse(&format!("CN={name},OU=Grupper,DC=bjuv,DC=local")).unwrap(),
            )],
            members: Vec::new(),
        }
    }

    fn settings() -> TargetSettings {
        TargetSettings {
            usage_location: "SE".into(),
            skus: BTreeMap::from([("E3".into(), "SPE_E3".into()), ("F3".into(), "SPE_F1".into())]),
            licence_groups: BTreeMap::from([("E3".into(), "Licens Microsoft 365 E3".into())]),
            microsoft365_groups: BTreeSet::from(["projekt samla".to_string()]),
            ..TargetSettings::default()
        }
    }

    /// A wave of the given people and groups, with refs for all of them (wave 2).
    fn wave(people: Vec<Person>, groups: Vec<Group>) -> WaveContent {
        let mut refs = BTreeMap::new();
        for p in &people {
            let mut r = object_ref(RefKind::Person, &p.user_principal_name, &p.cn, 2);
            r.account_kind = Some(p.kind);
            refs.insert(p.anchor, r);
        }
        for g in &groups {
            refs.insert(g.anchor, object_ref(RefKind::Group, &g.mail_nickname, &g.name, 2));
        }
        WaveContent { number: 2, name: "Bjuv".into(), people, groups, refs, ..WaveContent::default() }
    }

    fn object_ref(kind: RefKind, cloud: &str, cn: &str, wave: u32) -> ObjectRef {
        ObjectRef {
            kind,
            wave,
            cloud_name: cloud.to_string(),
            cn: cn.to_string(),
            sam_account_name: cloud.chars().take(20).collect(),
            municipality: "bjuv".into(),
            unit: String::new(),
            account_kind: (kind == RefKind::Person).then_some(AccountKind::Person),
        }
    }

    fn people(from: u32, count: u32, licence: &str) -> Vec<Person> {
        (from..from + count).map(|n| person(n, &format!("Person {n}"), licence)).collect()
    }

    fn find<'a>(reqs: &'a [GraphRequest], id: &str) -> &'a GraphRequest {
        reqs.iter().find(|r| r.id == id).unwrap_or_else(|| panic!("no request {id}"))
    }

    /// The batch index of every request id.
    fn batch_of(batches: &[Batch]) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (i, b) in batches.iter().enumerate() {
            for r in &b.requests {
                assert!(out.insert(r.id.clone(), i).is_none(), "{} is in two batches", r.id);
            }
        }
        out
    }

    /// Graph's batch rules and the stage rule, for any wave.
    fn check_batches(reqs: &[GraphRequest], batches: &[Batch]) {
        let at = batch_of(batches);
        assert_eq!(at.len(), reqs.len(), "every request is in exactly one batch");
        for b in batches {
            assert!(!b.requests.is_empty() && b.requests.len() <= MAX_BATCH);
            let ids: BTreeSet<&str> = b.requests.iter().map(|r| r.id.as_str()).collect();
            assert_eq!(ids.len(), b.requests.len(), "ids unique within a batch");
            // Fully parallel or fully sequential.
            if b.is_sequential() {
                for (k, r) in b.requests.iter().enumerate() {
                    let expected: Vec<String> = if k == 0 { vec![] } else { vec![b.requests[k - 1].id.clone()] };
                    assert_eq!(r.depends_on, expected);
                }
            }
        }
        let creators: BTreeMap<Placeholder, &str> =
            reqs.iter().filter_map(|r| r.creates().map(|p| (p, r.id.as_str()))).collect();
        for r in reqs {
            for p in placeholders(r) {
                if let Some(c) = creators.get(&p).filter(|c| **c != r.id) {
                    assert!(at[*c] < at[&r.id], "{} uses {p} created by {c} in the same or a later batch", r.id);
                }
            }
            for d in &r.depends_on {
                assert!(at[d] <= at[&r.id], "{} runs before its dependency {d}", r.id);
                if at[d] == at[&r.id] {
                    let b = &batches[at[d]];
                    let pos = |id: &str| b.requests.iter().position(|x| x.id == id).unwrap();
                    assert!(pos(d) < pos(&r.id) && b.is_sequential());
                }
            }
        }
    }

    #[test]
    fn a_user_is_created_in_one_request_with_only_allow_listed_attributes() {
        let mut p = person(1, "Åsa Öberg", "none");
        p.cloud = Attributes::from([
            ("givenName", "Åsa".into()),
            ("surname", "Öberg".into()),
            ("displayName", "Åsa Öberg".into()),
            ("jobTitle", "Undersköterska".into()),
            ("department", "Hemtjänst".into()),
            ("companyName", "Bjuvs kommun".into()),
            ("employeeId", "H12345".into()),
            ("extensionAttribute1", "4711".into()),
            ("faxNumber", "042-123".into()),
        ]);
        p.on_premises = Attributes::from([
            ("employeeNumber", "19800101-1234".into()),
            ("homeDirectory", "\\\\fil01\\hem\\asaobe".into()),
        ]);
        let out = render_wave(&wave(vec![p.clone()], vec![]), &settings());
        assert_eq!(out.requests.len(), 1, "licence class none: no licence request");
        let r = &out.requests[0];
        assert_eq!((r.method.as_str(), r.url.as_str(), r.action), ("POST", "/users", Action::CreateUser));
        assert_eq!(r.municipality, "bjuv");
        assert_eq!(
            r.body,
            Some(json!({
                "accountEnabled": false,
                "displayName": "Åsa Öberg",
                "mailNickname": "asa.oberg",
                "userPrincipalName": "asa.oberg@samverkan.se",
                "passwordProfile": {"forceChangePasswordNextSignIn": true, "password": "{password}"},
                "usageLocation": "SE",
                "onPremisesImmutableId": p.anchor.immutable_id(),
                "givenName": "Åsa",
                "surname": "Öberg",
                "jobTitle": "Undersköterska",
                "department": "Hemtjänst",
                "companyName": "Bjuvs kommun",
                "employeeId": "H12345",
                "onPremisesExtensionAttributes": {"extensionAttribute1": "4711"},
            }))
        );
        assert_eq!(
            out.skipped,
            vec![Skipped {
                reason: SkipReason::UnmappedAttribute,
                municipality: "bjuv".into(),
                anchor: Some(p.anchor),
                detail: "faxNumber".into()
            }]
        );
        let text = serde_json::to_string(&out.requests).unwrap();
        for leak in ["19800101", "fil01", "employeeNumber", "homeDirectory", "042-123"] {
            assert!(!text.contains(leak), "{leak} left the premises: {text}");
        }
    }

    #[test]
    fn no_password_is_ever_rendered_and_a_substituted_one_is_hidden_in_debug() {
        let mut p = person(1, "Anna Andersson", "F3");
        // Directory data that looks like a placeholder is text, never substituted.
        p.cloud.insert("jobTitle", "{password}".into());
        let content = wave(vec![p], vec![]);
        let reqs = render(&content, &settings());
        let text = serde_json::to_string(&reqs).unwrap() + &serde_json::to_string(&batches(&reqs)).unwrap();
        assert_eq!(text.matches("\"password\"").count(), 2, "the placeholder, in the request and its batch");
        assert!(!text.contains("Hemligt"));
        let secret = "Hemligt!2026x";
        let resolve = |p: &Placeholder| match p {
            Placeholder::Password => Some(secret.to_string()),
            Placeholder::Sku(_) => Some("05e9a617-0261-4cee-bb44-138d3ef5d965".to_string()),
            _ => None,
        };
        let sent = substitute(&reqs[0], &resolve).unwrap();
        let body = sent.body.as_ref().unwrap();
        assert_eq!(body["passwordProfile"]["password"], secret);
        assert_eq!(body["jobTitle"], "{password}", "only placeholder positions are substituted");
        let debug = format!("{sent:?} {:?}", Batch { requests: vec![sent.clone()] });
        assert!(!debug.contains(secret), "{debug}");
        assert!(debug.contains("<redacted>"));
        assert!(format!("{:?}", reqs[0]).contains("{password}"), "the placeholder itself is shown");
    }

    #[test]
    fn placeholders_parse_print_and_substitute() {
        let a = anchor(7);
        for p in [
            Placeholder::Id(a),
            Placeholder::LicenceGroup("E3".into()),
            Placeholder::Sku("SPE_E3".into()),
            Placeholder::Password,
        ] {
            assert_eq!(Placeholder::parse(&p.to_string()), Some(p.clone()), "{p}");
        }
        assert_eq!(Placeholder::Id(a).to_string(), "{id:00000000-0000-4000-8000-000000000007}");
        for bad in ["{id:nope}", "{sku:}", "{id:licence-group:}", "{pass}", "id:x", "{{password}}"] {
            assert_eq!(Placeholder::parse(bad), None, "{bad}");
        }
        let mut content = wave(people(1, 2, "none"), vec![group(100, "Alla")]);
        content.memberships = vec![(anchor(100), Member::Person(anchor(1))), (anchor(100), Member::Person(anchor(2)))];
        content.manager_links = vec![(anchor(1), anchor(2))];
        let reqs = render(&content, &settings());
        let manager = find(&reqs, &format!("manager-{}", anchor(1).0));
        assert_eq!(placeholders(manager), vec![Placeholder::Id(anchor(1)), Placeholder::Id(anchor(2))]);
        let ids = |p: &Placeholder| match p {
            Placeholder::Id(a) if *a == anchor(1) => Some("11111111-1111-1111-1111-111111111111".to_string()),
            Placeholder::Id(a) if *a == anchor(2) => Some("22222222-2222-2222-2222-222222222222".to_string()),
            _ => None,
        };
        let done = substitute(manager, &ids).unwrap();
        assert_eq!(done.url, "/users/11111111-1111-1111-1111-111111111111/manager/$ref");
        assert_eq!(
            done.body,
            Some(json!({"@odata.id": "https://graph.microsoft.com/v1.0/users/22222222-2222-2222-2222-222222222222"}))
        );
        assert!(placeholders(&done).is_empty());
        let only_first = |p: &Placeholder| if *p == Placeholder::Id(anchor(1)) { ids(p) } else { None };
        assert_eq!(substitute(manager, &only_first), Err(Placeholder::Id(anchor(2))));
        let create = find(&reqs, &format!("group-{}", anchor(100).0));
        assert_eq!(placeholders(create), vec![Placeholder::Id(anchor(1)), Placeholder::Id(anchor(2))]);
        let user = find(&reqs, &format!("user-{}", anchor(1).0));
        assert_eq!(placeholders(user), vec![Placeholder::Password]);
    }

    #[test]
    fn forty_five_members_are_a_create_with_twenty_and_two_chained_patches() {
        let g = group(100, "Alla medarbetare");
        let mut content = wave(people(1, 45, "none"), vec![g]);
        content.memberships = (1..=45).map(|n| (anchor(100), Member::Person(anchor(n)))).collect();
        let reqs = render(&content, &settings());
        assert_eq!(reqs.len(), 45 + 1 + 2);
        let create = find(&reqs, &format!("group-{}", anchor(100).0));
        let body = create.body.as_ref().unwrap();
        // An upsert on the group's alternate key, from its anchor: a resend cannot make two.
        assert_eq!(
            (create.method.as_str(), create.url.as_str(), create.prefer()),
            ("PATCH", "/groups(uniqueName='samla-00000000-0000-4000-8000-000000000100')", Some("create-if-missing"))
        );
        assert_eq!(body["uniqueName"], "samla-00000000-0000-4000-8000-000000000100");
        assert_eq!(body["members@odata.bind"].as_array().unwrap().len(), 20);
        assert_eq!(
            body["members@odata.bind"][0],
            "https://graph.microsoft.com/v1.0/directoryObjects/{id:00000000-0000-4000-8000-000000000001}"
        );
        assert_eq!(
            (body["securityEnabled"].clone(), body["mailEnabled"].clone(), body["groupTypes"].clone()),
            (json!(true), json!(false), json!([]))
        );
        let p1 = find(&reqs, &format!("members-{}-1", anchor(100).0));
        let p2 = find(&reqs, &format!("members-{}-2", anchor(100).0));
        assert_eq!(
            (p1.method.as_str(), p1.url.as_str()),
            ("PATCH", "/groups/{id:00000000-0000-4000-8000-000000000100}")
        );
        assert_eq!(p1.body.as_ref().unwrap()["members@odata.bind"].as_array().unwrap().len(), 20);
        assert_eq!(p2.body.as_ref().unwrap()["members@odata.bind"].as_array().unwrap().len(), 5);
        assert!(p1.depends_on.is_empty());
        assert_eq!(p2.depends_on, vec![p1.id.clone()]);
        let b = batches(&reqs);
        check_batches(&reqs, &b);
        // 45 user creates (3 batches), the group create, then the PATCH chain.
        assert_eq!(b.iter().map(|b| b.requests.len()).collect::<Vec<_>>(), [20, 20, 5, 1, 2]);
        assert_eq!(b[4].requests[1].depends_on, vec![p1.id.clone()]);
        let wc = count(&reqs);
        assert_eq!(wc.writes, 48);
        assert_eq!(wc.naive, 45 + 1 + 45, "one create per user and group, one $ref POST per member");
        assert_eq!(wc.batches, 5);
        assert!((wc.seconds_at_budget - 48.0 * 0.05).abs() < 1e-9);
    }

    #[test]
    fn the_write_count_is_creates_plus_member_requests_plus_licences_and_managers() {
        // 60 people: 30 E3 (group-licensed, group created here), 20 F3 (per user), 10 none.
        let mut all = people(1, 30, "E3");
        all.extend(people(31, 20, "F3"));
        all.extend(people(51, 10, "none"));
        let groups = vec![group(100, "Alla"), group(101, "Ekonomi"), group(102, "Tom")];
        let mut content = wave(all, groups);
        let earlier = anchor(200);
        content.refs.insert(earlier, object_ref(RefKind::Group, "it", "IT", 1));
        let mut memberships: Vec<(Anchor, Member)> =
            (1..=60).map(|n| (anchor(100), Member::Person(anchor(n)))).collect();
        memberships.extend((1..=7).map(|n| (anchor(101), Member::Person(anchor(n)))));
        memberships.push((anchor(101), Member::Group(anchor(100))));
        memberships.extend((40..=62).map(|n| (earlier, Member::Person(anchor(n)))));
        memberships.sort();
        content.memberships = memberships;
        content.manager_links = (2..=11).map(|n| (anchor(n), anchor(1))).collect();
        content.licence_groups_created = BTreeSet::from(["E3".to_string()]);
        let out = render_wave(&content, &settings());
        assert!(out.skipped.is_empty(), "{:?}", out.skipped);
        let reqs = &out.requests;
        let members_of = |n: usize| n.div_ceil(20);
        let creates = 60 + 3 + 1;
        // Per group: ceil(members / 20), the first 20 bound at creation (the empty group: 0).
        let member_writes = (members_of(60) - 1) + (members_of(8) - 1) + members_of(23) + (members_of(30) - 1);
        let expected = creates + member_writes + 1 /* group licence */ + 10 /* managers */ + 20 /* F3 */;
        let wc = count(reqs);
        assert_eq!(wc.writes, expected);
        assert_eq!(wc.writes, reqs.len());
        let naive = 60 + 20 + 3 + 60 + 8 + 23 + 1 + 30 + 1 + 10;
        assert_eq!(wc.naive, naive);
        assert!(wc.naive > 2 * wc.writes);
        let b = batches(reqs);
        check_batches(reqs, &b);
        assert_eq!(wc.batches, b.len());
        // The F3 users go with their licences into sequential batches of ten pairs.
        let licence = find(reqs, &format!("licence-{}", anchor(31).0));
        assert_eq!(licence.depends_on, vec![format!("user-{}", anchor(31).0)]);
        assert_eq!(licence.url, "/users/person.31@samverkan.se/assignLicense");
        assert_eq!(
            licence.body,
            Some(json!({"addLicenses": [{"skuId": "{sku:SPE_F1}", "disabledPlans": []}], "removeLicenses": []}))
        );
        let at = batch_of(&b);
        assert_eq!(at[&licence.id], at[&format!("user-{}", anchor(31).0)], "licence in its user's batch");
        // The licence group: created with 20 bound, then one PATCH, and its licence.
        let lg = find(reqs, "licence-group-E3");
        assert_eq!(lg.creates(), Some(Placeholder::LicenceGroup("E3".into())));
        assert_eq!((lg.method.as_str(), lg.url.as_str()), ("PATCH", "/groups(uniqueName='samla-licence-e3')"));
        assert_eq!(licence_group_unique_name("Elev A3+"), "samla-licence-elev-a3-");
        let body = lg.body.as_ref().unwrap();
        assert_eq!(body["displayName"], "Licens Microsoft 365 E3");
        assert_eq!(body["mailNickname"], "licens.microsoft.365.e3");
        assert_eq!(body["members@odata.bind"].as_array().unwrap().len(), 20);
        let assign = find(reqs, "licence-group-E3-licence");
        assert_eq!(assign.url, "/groups/{id:licence-group:E3}/assignLicense");
        assert!(at[&assign.id] > at[&lg.id]);
        assert_eq!(find(reqs, "members-licence-group-E3-1").url, "/groups/{id:licence-group:E3}");
        // The nested group is bound when its parent is created, one batch after it.
        let nested = find(reqs, &format!("group-{}", anchor(101).0));
        assert_eq!(nested.body.as_ref().unwrap()["members@odata.bind"].as_array().unwrap().len(), 8);
        assert!(at[&nested.id] > at[&format!("group-{}", anchor(100).0)]);
        // The empty group binds nothing; the earlier wave's group gets PATCHes only.
        assert!(
            find(reqs, &format!("group-{}", anchor(102).0)).body.as_ref().unwrap().get("members@odata.bind").is_none()
        );
        let earlier_patch = find(reqs, &format!("members-{}-2", earlier.0));
        assert_eq!(earlier_patch.municipality, "bjuv");
        assert!(reqs.iter().all(|r| !r.id.starts_with(&format!("group-{}", earlier.0))));
        // Render is deterministic.
        assert_eq!(render(&content, &settings()), *reqs);
        assert_eq!(batches(reqs), b);
    }

    #[test]
    fn microsoft_365_groups_take_users_only_and_get_an_owner() {
        let m365 = group(100, "Projekt Samla");
        let security = group(101, "Ekonomi");
        let mut content = wave(people(1, 25, "none"), vec![m365, security]);
        let mut memberships: Vec<(Anchor, Member)> =
            (1..=25).map(|n| (anchor(100), Member::Person(anchor(n)))).collect();
        memberships.push((anchor(100), Member::Group(anchor(101))));
        memberships.push((anchor(101), Member::Group(anchor(100))));
        memberships.push((anchor(101), Member::Person(anchor(1))));
        memberships.sort();
        content.memberships = memberships;
        let out = render_wave(&content, &settings());
        let create = find(&out.requests, &format!("group-{}", anchor(100).0));
        let body = create.body.as_ref().unwrap();
        assert_eq!(body["groupTypes"], json!(["Unified"]));
        assert_eq!(body["mailEnabled"], json!(true));
        assert_eq!(body["securityEnabled"], json!(false));
        assert_eq!(
            body["owners@odata.bind"],
            json!(["https://graph.microsoft.com/v1.0/users/{id:00000000-0000-4000-8000-000000000001}"])
        );
        assert_eq!(body["members@odata.bind"].as_array().unwrap().len(), 19, "owner and members: 20 in all");
        assert_eq!(create.binds(), 20);
        let patch = find(&out.requests, &format!("members-{}-1", anchor(100).0));
        assert_eq!(patch.body.as_ref().unwrap()["members@odata.bind"].as_array().unwrap().len(), 6);
        let text = serde_json::to_string(&out.requests).unwrap();
        let security_bind = format!("directoryObjects/{{id:{}}}", anchor(101).0);
        let m365_bind = format!("directoryObjects/{{id:{}}}", anchor(100).0);
        assert!(
            !text.contains(&security_bind) && !text.contains(&m365_bind),
            "no group is bound in or as an M365 group"
        );
        let reasons: Vec<_> = out.skipped.iter().map(|s| (s.reason, s.anchor, s.detail.clone())).collect();
        assert_eq!(
            reasons,
            [
                (SkipReason::NestedGroupInMicrosoft365Group, Some(anchor(100)), anchor(101).0.to_string()),
                (SkipReason::Microsoft365GroupAsMember, Some(anchor(101)), anchor(100).0.to_string()),
            ]
        );
        // Without any user member in the wave the group has no owner, and that is reported.
        let mut alone = wave(vec![], vec![group(100, "Projekt Samla")]);
        alone.memberships = vec![];
        let out = render_wave(&alone, &settings());
        assert!(out.requests[0].body.as_ref().unwrap().get("owners@odata.bind").is_none());
        assert_eq!(out.skipped[0].reason, SkipReason::Microsoft365GroupWithoutOwner);
    }

    #[test]
    fn nesting_cycles_and_duplicates_are_left_out() {
        let mut content = wave(vec![], vec![group(100, "A"), group(101, "B"), group(102, "C")]);
        content.memberships = vec![
            (anchor(100), Member::Group(anchor(101))),
            (anchor(100), Member::Group(anchor(101))),
            (anchor(101), Member::Group(anchor(102))),
            (anchor(102), Member::Group(anchor(100))),
            (anchor(102), Member::Group(anchor(102))),
        ];
        let out = render_wave(&content, &settings());
        let reasons: Vec<_> = out.skipped.iter().map(|s| (s.reason, s.anchor)).collect();
        assert_eq!(
            reasons,
            [(SkipReason::NestingCycle, Some(anchor(102))), (SkipReason::NestingCycle, Some(anchor(102)))]
        );
        let b = batches(&out.requests);
        check_batches(&out.requests, &b);
        // C first, then B (binds C), then A (binds B): three stages.
        let order: Vec<String> = b.iter().flat_map(|b| b.requests.iter().map(|r| r.id.clone())).collect();
        assert_eq!(order, [102, 101, 100].map(|n| format!("group-{}", anchor(n).0)));
    }

    #[test]
    fn references_to_earlier_waves_need_no_earlier_batch() {
        let mut content = wave(people(1, 2, "E3"), vec![]);
        let boss = anchor(300);
        let it = anchor(301);
        content.refs.insert(boss, object_ref(RefKind::Person, "chef@samverkan.se", "Chef", 1));
        content.refs.insert(it, object_ref(RefKind::Group, "it", "IT", 1));
        content.memberships = vec![(it, Member::Person(anchor(1)))];
        content.manager_links = vec![(anchor(1), boss), (anchor(2), boss)];
        // E3's licence group exists from wave 1: members join it, nothing is created.
        let reqs = render(&content, &settings());
        let ids: Vec<&str> = reqs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                format!("user-{}", anchor(1).0),
                format!("user-{}", anchor(2).0),
                format!("members-{}-1", it.0),
                "members-licence-group-E3-1".to_string(),
                format!("manager-{}", anchor(1).0),
                format!("manager-{}", anchor(2).0),
            ]
        );
        let b = batches(&reqs);
        check_batches(&reqs, &b);
        assert_eq!(b.len(), 2, "creates, then everything that names them");
        let body = serde_json::to_value(&b[1]).unwrap();
        assert_eq!(body["requests"][0]["headers"], json!({"Content-Type": "application/json"}));
        assert!(body["requests"][0].get("dependsOn").is_none());
        assert_eq!(body["requests"][0]["method"], "PATCH");
    }

    #[test]
    fn batches_keep_graphs_rules_for_long_chains() {
        // 1,000 E3 people joining an existing licence group: 50 chained PATCHes.
        let mut content = wave(people(1, 1000, "E3"), vec![]);
        content.licence_groups_created.clear();
        let reqs = render(&content, &settings());
        assert_eq!(reqs.len(), 1050);
        let b = batches(&reqs);
        check_batches(&reqs, &b);
        assert_eq!(b.len(), 50 + 3);
        assert!(b[50..].iter().all(Batch::is_sequential));
        assert!(b[..50].iter().all(|b| !b.is_sequential()));
        // Cross-batch dependencies are not repeated in the batch body.
        assert!(b[51].requests[0].depends_on.is_empty());
        assert_eq!(count(&reqs).naive, 2000);
    }

    #[test]
    fn upns_are_percent_encoded_in_urls_and_missing_skus_reported() {
        let mut p = person(1, "Conor O'Brien", "F3");
        p.user_principal_name = "conor.o'brien#2@samverkan.se".into();
        let mut q = person(2, "Per Persson", "A3");
        q.cloud.insert("extensionAttribute07", "x".into());
        let out = render_wave(&wave(vec![p, q], vec![]), &settings());
        assert_eq!(out.requests[1].url, "/users/conor.o%27brien%232@samverkan.se/assignLicense");
        let reasons: Vec<_> = out.skipped.iter().map(|s| (s.reason, s.detail.as_str())).collect();
        assert_eq!(reasons, [(SkipReason::UnmappedAttribute, "extensionAttribute07"), (SkipReason::NoSku, "A3")]);
        assert_eq!(extension_number("ExtensionAttribute15"), Some(15));
        assert_eq!(extension_number("extensionAttribute16"), None);
        assert_eq!(extension_number("extensionAttribute+1"), None);
    }

    #[test]
    fn requests_serialize_as_one_json_line_each() {
        let mut content = wave(people(1, 1, "E3"), vec![]);
        content.licence_groups_created = BTreeSet::from(["E3".to_string()]);
        for r in render(&content, &settings()) {
            let line = serde_json::to_string(&r).unwrap();
            assert!(!line.contains('\n'));
            let v: Value = serde_json::from_str(&line).unwrap();
            for key in
                ["id", "method", "url", "body", "depends_on", "action", "municipality", "anchor", "licence_class"]
            {
                assert!(v.get(key).is_some(), "{key} in {line}");
            }
        }
    }
}
