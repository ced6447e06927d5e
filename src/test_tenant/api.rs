//! The Graph surface: one request in, one response out, independent of the HTTP server.
//!
//! [`Shared::execute`] is the single path every Graph request takes, whether it arrived on
//! its own or inside a `$batch`: fault injection, then throttling (each request on its own
//! budget), then routing to the directory, then persisting what changed. Because a batch's
//! requests go through the same function, they are throttled, faulted and validated exactly
//! as standalone requests are.

use super::auth::{Credentials, verify_bearer};
use super::auth_methods::POLICY_ID;
use super::directory::{Directory, Object, Rel};
use super::error::{ErrorContext, GraphError};
use super::faults::{Fault, Faults};
use super::ids::{IdStream, ObjectId, PlanId, SkuId, fnv, hash_words};
use super::persist::Store;
use super::query::{self, Query, check_filter, check_select};
use super::roles::{ROLES, Role};
use super::rules::{Context, Kind, parse_ref, validate_write};
use super::schema::{CSDL, USER};
use super::throttle::{Budgets, Clock, Cost};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// The most requests one `$batch` may carry.
pub const MAX_BATCH: usize = 20;

/// One Graph request (path relative to `/v1.0`, still percent-encoded).
#[derive(Debug, Clone)]
pub struct ApiRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub content_type: Option<&'a str>,
    /// The `Prefer` header (`create-if-missing` makes a PATCH by alternate key an upsert).
    pub prefer: Option<&'a str>,
    pub body: &'a [u8],
    pub client_request_id: &'a str,
}

/// A response body: JSON, or raw text with its content type ($metadata).
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    None,
    Json(Value),
    Text(&'static str, &'static str),
}

/// One Graph response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub request_id: String,
}

/// A response, or the instruction to drop the connection without one.
#[derive(Debug, Clone)]
pub enum Outcome {
    Respond(ApiResponse),
    Drop,
}

/// The mutable tenant: directory, budgets, fault state, the state file.
#[derive(Debug)]
pub struct State {
    pub dir: Directory,
    pub budgets: Budgets,
    pub faults: Faults,
    pub store: Option<Store>,
    pub request_ids: IdStream,
}

/// Everything a request needs: fixed settings and the locked state.
#[derive(Debug)]
pub struct Shared {
    pub creds: Credentials,
    pub clock: Clock,
    pub seed: u64,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub state: Mutex<State>,
}

fn date_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string()
}

impl ApiResponse {
    fn json(status: u16, body: Value) -> ApiResponse {
        ApiResponse { status, headers: Vec::new(), body: Body::Json(body), request_id: String::new() }
    }

    fn empty(status: u16) -> ApiResponse {
        ApiResponse { status, headers: Vec::new(), body: Body::None, request_id: String::new() }
    }

    /// The response for an error, with Graph's body and Retry-After.
    pub fn error(e: &GraphError, request_id: &str, client_request_id: &str) -> ApiResponse {
        let ctx = ErrorContext { request_id, client_request_id, date: date_now() };
        let mut headers = Vec::new();
        if let Some(s) = e.retry_after {
            headers.push(("Retry-After".to_string(), s.to_string()));
        }
        ApiResponse { status: e.status, headers, body: Body::Json(e.body(&ctx)), request_id: request_id.to_string() }
    }
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks the bearer token; the app it was issued to.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<super::ids::ClientId, GraphError> {
        let now = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
        verify_bearer(&self.creds, authorization, now)
    }

    pub fn next_request_id(&self) -> String {
        self.lock().request_ids.next_guid().to_string()
    }

    /// Runs one Graph request (top-level, or one of a batch with `in_batch`).
    pub fn execute(
        &self,
        app: super::ids::ClientId,
        req: &ApiRequest<'_>,
        in_batch: bool,
        request_id: String,
    ) -> Outcome {
        let fault = {
            let url = format!("{}?{}", req.path, req.query);
            self.lock().faults.decide(req.method, &url, req.body, !in_batch)
        };
        let fail = |e: GraphError| Outcome::Respond(ApiResponse::error(&e, &request_id, req.client_request_id));
        match fault {
            Fault::Throttle { retry_after } => return fail(GraphError::throttled(retry_after)),
            Fault::Unavailable { retry_after } => return fail(GraphError::unavailable(retry_after)),
            Fault::Drop { after: false } => return Outcome::Drop,
            Fault::Drop { after: true } | Fault::None => {}
        }
        let segments = match segments(req.path) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
        if !in_batch && req.method == "POST" && seg == ["$batch"] {
            let mut resp = match self.batch(app, req) {
                Ok(r) => r,
                Err(e) => ApiResponse::error(&e, &request_id, req.client_request_id),
            };
            resp.request_id = request_id;
            return if fault == (Fault::Drop { after: true }) { Outcome::Drop } else { Outcome::Respond(resp) };
        }
        let mut resp = {
            let mut st = self.lock();
            let users = if req.method == "GET" { st.dir.live_users() } else { 0 };
            let admitted = st.budgets.admit(app, cost(req.method, &seg), self.clock.now(), users);
            let result = match admitted {
                Err(wait) => Err(GraphError::throttled(self.clock.retry_after(wait))),
                Ok(()) => self.route(&mut st, req, &seg),
            };
            let saved = self.persist(&mut st);
            match result.and_then(|r| saved.map(|()| r)) {
                Ok(r) => r,
                Err(e) => ApiResponse::error(&e, &request_id, req.client_request_id),
            }
        };
        resp.request_id = request_id;
        if fault == (Fault::Drop { after: true }) { Outcome::Drop } else { Outcome::Respond(resp) }
    }

    /// Writes what the last request changed to the state file, if there is one.
    fn persist(&self, st: &mut State) -> Result<(), GraphError> {
        let State { dir, store, .. } = st;
        let counter = dir.id_counter();
        let policy = dir.take_policy_change();
        let changed = dir.take_dirty();
        let Some(store) = store else { return Ok(()) };
        let failed = |e: super::persist::PersistError| {
            tracing::error!("{e}");
            GraphError::new(500, "generalException", "The tenant could not save its state.")
        };
        if let Some(policy) = policy {
            store.record_tap_policy(&policy).map_err(failed)?;
        }
        if changed.is_empty() { Ok(()) } else { store.save(&changed, counter).map_err(failed) }
    }

    fn context<'a>(&'a self, dir: &'a Directory) -> Context<'a> {
        Context { schema: dir.schema, domains: &dir.settings.domains, own_base: &self.base }
    }

    fn route(&self, st: &mut State, req: &ApiRequest<'_>, seg: &[&str]) -> Result<ApiResponse, GraphError> {
        let now = Instant::now();
        let at = chrono::Utc::now();
        let q = Query::parse(req.query)?;
        let dir = &mut st.dir;
        let m = req.method;
        let not_allowed = || Err(GraphError::method_not_allowed(m));
        if let Some((first, rest)) = seg.split_first()
            && let Some(key) = unique_name_key(first)
        {
            return match rest {
                [] => self.by_unique_name(dir, req, &q, &key, now, at),
                _ => Err(GraphError::not_supported_here("a path below a group addressed by uniqueName")),
            };
        }
        match seg {
            ["$metadata"] if m == "GET" => Ok(ApiResponse {
                status: 200,
                headers: Vec::new(),
                body: Body::Text("application/xml", CSDL),
                request_id: String::new(),
            }),
            ["domains"] if m == "GET" => Ok(self.collection("domains", self.domains(dir), None)),
            ["domains", name] if m == "GET" => self
                .domains(dir)
                .into_iter()
                .find(|d| d["id"].as_str().is_some_and(|id| id.eq_ignore_ascii_case(name)))
                .map(|d| ApiResponse::json(200, d))
                .ok_or_else(|| GraphError::not_found(name)),
            ["subscribedSkus"] if m == "GET" => Ok(self.collection("subscribedSkus", self.skus(dir), None)),
            [coll @ ("users" | "groups")] => {
                let kind = kind_of(coll);
                match m {
                    "GET" => self.list(dir, kind, &q, req, now),
                    "POST" => {
                        let body = json_body(req)?;
                        let write = validate_write(kind, &body, None, &self.context(dir))?;
                        let id = dir.create(kind, write, now, at)?;
                        let o = dir.objects_get(id)?;
                        Ok(ApiResponse::json(201, self.entity(dir, o, &format!("{coll}/$entity"), None, None)))
                    }
                    _ => not_allowed(),
                }
            }
            [coll @ ("users" | "groups"), key] => {
                let kind = kind_of(coll);
                let id = dir.resolve(kind, key, now)?.id;
                match m {
                    "GET" => {
                        if let Some(names) = &q.select {
                            check_select(dir.schema, kind, names)?;
                        }
                        let o = dir.objects_get(id)?;
                        let usage = needs_usage(q.select.as_deref()).then(|| dir.usage());
                        Ok(ApiResponse::json(
                            200,
                            self.entity(dir, o, &format!("{coll}/$entity"), q.select.as_deref(), usage.as_ref()),
                        ))
                    }
                    "PATCH" => {
                        let body = json_body(req)?;
                        let existing = dir.objects_get(id)?.props.clone();
                        let write = validate_write(kind, &body, Some(&existing), &self.context(dir))?;
                        dir.update(id, write, now)?;
                        Ok(ApiResponse::empty(204))
                    }
                    "DELETE" => {
                        dir.delete(id, now, at)?;
                        Ok(ApiResponse::empty(204))
                    }
                    _ => not_allowed(),
                }
            }
            ["users", key, "manager"] if m == "GET" => {
                let user = dir.resolve(Kind::User, key, now)?;
                let manager = dir.manager(user, now)?;
                Ok(ApiResponse::json(
                    200,
                    self.entity(dir, manager, "directoryObjects/$entity", q.select.as_deref(), None),
                ))
            }
            ["users", key, "manager", "$ref"] => {
                let id = dir.resolve(Kind::User, key, now)?.id;
                match m {
                    "PUT" => {
                        let r = self.reference(&json_body(req)?)?;
                        dir.set_manager(id, r, now)?;
                        Ok(ApiResponse::empty(204))
                    }
                    "DELETE" => {
                        dir.remove_manager(id, now)?;
                        Ok(ApiResponse::empty(204))
                    }
                    _ => not_allowed(),
                }
            }
            [coll @ ("users" | "groups"), key, "memberOf"] if m == "GET" => {
                let id = dir.resolve(kind_of(coll), key, now)?.id;
                let groups: Vec<&Object> = dir.member_of(id, now);
                let items = groups.iter().map(|g| dir.render(g, q.select.as_deref(), None, true)).collect();
                Ok(self.collection("directoryObjects", items, None))
            }
            [coll @ ("users" | "groups"), key, "assignLicense"] => {
                if m != "POST" {
                    return not_allowed();
                }
                let kind = kind_of(coll);
                let id = dir.resolve(kind, key, now)?.id;
                let (add, remove) = parse_assign(dir, &json_body(req)?)?;
                dir.assign_licences(id, add, remove, now)?;
                let o = dir.objects_get(id)?;
                let status = if kind == Kind::User { 200 } else { 202 };
                Ok(ApiResponse::json(status, self.entity(dir, o, &format!("{coll}/$entity"), None, None)))
            }
            ["groups", key, rel @ ("members" | "owners")] if m == "GET" => {
                let rel = rel_of(rel);
                let group = dir.resolve(Kind::Group, key, now)?;
                if q.filter.is_some() {
                    return Err(GraphError::not_supported_here("$filter on a group's members"));
                }
                if let Some(names) = &q.select {
                    let known = |n: &String| {
                        check_select(dir.schema, Kind::User, std::slice::from_ref(n)).is_ok()
                            || check_select(dir.schema, Kind::Group, std::slice::from_ref(n)).is_ok()
                    };
                    if let Some(bad) = names.iter().find(|n| !known(n)) {
                        return Err(GraphError::odata(format!(
                            "Could not find a property named '{bad}' on type 'microsoft.graph.directoryObject'."
                        )));
                    }
                }
                let after = skiptoken(&q)?;
                let (page, more) = dir.related(group, rel, after, q.page_size(), now);
                let items = page.iter().map(|o| render_related(dir, o, q.select.as_deref())).collect();
                let next = more.then(|| page.last().map(|o| self.next_link(req, o.id))).flatten();
                Ok(self.collection("directoryObjects", items, next))
            }
            ["groups", key, rel @ ("members" | "owners"), "$ref"] => {
                if m != "POST" {
                    return not_allowed();
                }
                let id = dir.resolve(Kind::Group, key, now)?.id;
                let r = self.reference(&json_body(req)?)?;
                dir.add_ref(id, rel_of(rel), r, now)?;
                Ok(ApiResponse::empty(204))
            }
            ["groups", key, rel @ ("members" | "owners"), member, "$ref"] => {
                if m != "DELETE" {
                    return not_allowed();
                }
                let id = dir.resolve(Kind::Group, key, now)?.id;
                dir.remove_ref(id, rel_of(rel), member, now)?;
                Ok(ApiResponse::empty(204))
            }
            // Without /$ref, Graph deletes the member object itself (not the membership): a
            // classic mistake the rehearsal must show, so the tenant does the same.
            ["groups", key, "members", member] if m == "DELETE" => {
                let id = dir.resolve(Kind::Group, key, now)?.id;
                let member = member
                    .parse::<ObjectId>()
                    .ok()
                    .filter(|mid| dir.object(id).is_some_and(|g| g.members.contains(mid)))
                    .ok_or_else(|| GraphError::not_found(member))?;
                dir.delete(member, now, at)?;
                Ok(ApiResponse::empty(204))
            }
            ["directory", "deletedItems", cast @ ("microsoft.graph.user" | "microsoft.graph.group")] if m == "GET" => {
                let kind = if *cast == "microsoft.graph.user" { Kind::User } else { Kind::Group };
                if let Some(f) = &q.filter {
                    check_filter(kind, f)?;
                }
                if let Some(names) = &q.select {
                    check_select(dir.schema, kind, names)?;
                }
                let after = skiptoken(&q)?;
                let wanted = |o: &&Object| {
                    q.filter.as_ref().is_none_or(|f| query::matches(f, &|p| Some(dir.property(o, p, None))))
                };
                let all: Vec<&Object> = dir
                    .deleted_items(kind)
                    .into_iter()
                    .filter(|o| after.is_none_or(|a| o.id > a))
                    .filter(wanted)
                    .collect();
                let page = &all[..all.len().min(q.page_size())];
                let items = page.iter().map(|o| render_deleted(dir, o, q.select.as_deref())).collect();
                let next = (all.len() > page.len()).then(|| page.last().map(|o| self.next_link(req, o.id))).flatten();
                Ok(self.collection(&format!("directory/deletedItems/{cast}"), items, next))
            }
            ["directory", "deletedItems", key] => match m {
                "GET" => {
                    let o = dir.get_deleted(key)?;
                    if let Some(names) = &q.select {
                        check_select(dir.schema, o.kind, names)?;
                    }
                    let v = render_deleted(dir, o, q.select.as_deref());
                    Ok(ApiResponse::json(200, with_context(&self.base, "directoryObjects/$entity", v)))
                }
                // Purging needs a permission no application is documented to hold.
                "DELETE" => {
                    dir.get_deleted(key)?;
                    Err(GraphError::forbidden())
                }
                _ => not_allowed(),
            },
            ["directory", "deletedItems", key, "restore"] => {
                if m != "POST" {
                    return not_allowed();
                }
                if !req.body.is_empty() {
                    let body = json_body(req)?;
                    let extra = body.as_object().and_then(|o| o.keys().find(|k| *k != "autoReconcileProxyConflict"));
                    if let Some(k) = extra {
                        return Err(GraphError::unknown_property(k));
                    }
                }
                let id = dir.restore(key)?;
                let o = dir.objects_get(id)?;
                let mut v = dir.render(o, None, None, true);
                v = with_context(&self.base, "directoryObjects/$entity", v);
                Ok(ApiResponse::json(200, v))
            }
            ["policies", "authenticationMethodsPolicy", "authenticationMethodConfigurations", id] => {
                if !id.eq_ignore_ascii_case(POLICY_ID) {
                    return Err(GraphError::not_found(id));
                }
                match m {
                    "GET" => {
                        let context = "policies/authenticationMethodsPolicy/authenticationMethodConfigurations/$entity";
                        Ok(ApiResponse::json(200, with_context(&self.base, context, dir.tap_policy().render())))
                    }
                    "PATCH" => {
                        let next = dir.tap_policy().patched(&json_body(req)?)?;
                        dir.set_tap_policy(next);
                        Ok(ApiResponse::empty(204))
                    }
                    _ => not_allowed(),
                }
            }
            ["users", key, "authentication", "temporaryAccessPassMethods"] => {
                let id = dir.resolve(Kind::User, key, now)?.id;
                let context = format!("users('{id}')/authentication/temporaryAccessPassMethods");
                match m {
                    "GET" => {
                        let policy = *dir.tap_policy();
                        let items = dir.tap(id, None, now)?.map(|t| t.render(&policy, at, None)).into_iter().collect();
                        Ok(self.collection(&context, items, None))
                    }
                    "POST" => {
                        let request = dir.tap_policy().admit(&json_body(req)?, at)?;
                        let (method, pass) = dir.create_tap(id, request, now, at)?;
                        let shown = method.render(dir.tap_policy(), at, Some(&pass));
                        Ok(ApiResponse::json(201, with_context(&self.base, &format!("{context}/$entity"), shown)))
                    }
                    _ => not_allowed(),
                }
            }
            ["users", key, "authentication", "temporaryAccessPassMethods", method] => {
                let id = dir.resolve(Kind::User, key, now)?.id;
                match m {
                    "GET" => {
                        let policy = *dir.tap_policy();
                        let shown = dir.tap(id, Some(method), now)?.map(|t| t.render(&policy, at, None));
                        let context = format!("users('{id}')/authentication/temporaryAccessPassMethods/$entity");
                        Ok(ApiResponse::json(200, with_context(&self.base, &context, shown.unwrap_or(Value::Null))))
                    }
                    "DELETE" => {
                        dir.delete_tap(id, method, now)?;
                        Ok(ApiResponse::empty(204))
                    }
                    _ => not_allowed(),
                }
            }
            ["directoryRoles"] if m == "GET" => {
                Ok(self.collection("directoryRoles", ROLES.iter().map(Role::render).collect(), None))
            }
            ["directoryRoles", key] if m == "GET" => {
                let role = Role::find(key).ok_or_else(|| GraphError::not_found(key))?;
                Ok(ApiResponse::json(200, with_context(&self.base, "directoryRoles/$entity", role.render())))
            }
            ["directoryRoles", key, "members"] if m == "GET" => {
                let role = Role::find(key).ok_or_else(|| GraphError::not_found(key))?;
                let items =
                    dir.role_holders(role, now).iter().map(|o| render_related(dir, o, q.select.as_deref())).collect();
                Ok(self.collection("directoryObjects", items, None))
            }
            ["directoryRoles", key, "members", "$ref"] => {
                if m != "POST" {
                    return not_allowed();
                }
                let role = Role::find(key).ok_or_else(|| GraphError::not_found(key))?;
                let r = self.reference(&json_body(req)?)?;
                dir.add_role_holder(role, r, now)?;
                Ok(ApiResponse::empty(204))
            }
            ["directoryObjects", key] if m == "GET" => {
                let o = key
                    .parse::<ObjectId>()
                    .ok()
                    .and_then(|id| dir.get(id, now))
                    .ok_or_else(|| GraphError::not_found(key))?;
                Ok(ApiResponse::json(200, self.entity(dir, o, "directoryObjects/$entity", None, None)))
            }
            [] => Err(GraphError::odata("Invalid request: no resource segment.")),
            [first, ..] if !KNOWN.iter().any(|(_, k)| k == first) => Err(GraphError::unknown_segment(first)),
            [.., last] if !KNOWN.iter().any(|(_, k)| k == last) && seg.len() > 2 => {
                Err(GraphError::unknown_segment(last))
            }
            _ => not_allowed(),
        }
    }

    /// `/groups(uniqueName='key')`: GET, and PATCH, which with `Prefer: create-if-missing`
    /// is an upsert (Microsoft Learn, "Upsert group"): 201 with the new group when no group
    /// holds the key, else an update (204). Without the header a missing key is 404. A group
    /// still replicating is not found, so an upsert of it conflicts on its uniqueName.
    fn by_unique_name(
        &self,
        dir: &mut Directory,
        req: &ApiRequest<'_>,
        q: &Query,
        key: &str,
        now: Instant,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<ApiResponse, GraphError> {
        let visible = dir.by_unique_name(key).filter(|o| o.deleted.is_none() && dir.get(o.id, now).is_some());
        let visible = visible.map(|o| o.id);
        let missing = || GraphError::not_found(&format!("uniqueName='{key}'"));
        match req.method {
            "GET" => {
                let id = visible.ok_or_else(missing)?;
                if let Some(names) = &q.select {
                    check_select(dir.schema, Kind::Group, names)?;
                }
                let o = dir.objects_get(id)?;
                Ok(ApiResponse::json(200, self.entity(dir, o, "groups/$entity", q.select.as_deref(), None)))
            }
            "PATCH" => {
                let mut body = json_body(req)?;
                if let Some(named) = body.get("uniqueName")
                    && named.as_str() != Some(key)
                {
                    return Err(GraphError::bad_request(format!(
                        "The uniqueName in the body ('{}') is not the key of the request ('{key}').",
                        named.as_str().unwrap_or_default()
                    )));
                }
                let upsert = req
                    .prefer
                    .is_some_and(|p| p.split(',').any(|x| x.trim().eq_ignore_ascii_case("create-if-missing")));
                match visible {
                    Some(id) => {
                        let existing = dir.objects_get(id)?.props.clone();
                        let write = validate_write(Kind::Group, &body, Some(&existing), &self.context(dir))?;
                        dir.update(id, write, now)?;
                        Ok(ApiResponse::empty(204))
                    }
                    None if upsert => {
                        if let Value::Object(map) = &mut body {
                            map.insert("uniqueName".into(), json!(key));
                        }
                        let write = validate_write(Kind::Group, &body, None, &self.context(dir))?;
                        let id = dir.create(Kind::Group, write, now, at)?;
                        let o = dir.objects_get(id)?;
                        Ok(ApiResponse::json(201, self.entity(dir, o, "groups/$entity", None, None)))
                    }
                    None => Err(missing()),
                }
            }
            m => Err(GraphError::method_not_allowed(m)),
        }
    }

    fn domains(&self, dir: &Directory) -> Vec<Value> {
        let initial =
            dir.settings.domains.iter().find(|d| d.ends_with(".onmicrosoft.com")).cloned().unwrap_or_default();
        dir.settings
            .domains
            .iter()
            .enumerate()
            .map(|(i, d)| {
                json!({
                    "id": d,
                    "authenticationType": "Managed",
                    "isAdminManaged": true,
                    "isDefault": i == 0,
                    "isInitial": *d == initial,
                    "isRoot": true,
                    "isVerified": true,
                    "passwordNotificationWindowInDays": 14,
                    "passwordValidityPeriodInDays": 2_147_483_647,
                    "supportedServices": ["Email", "OfficeCommunicationsOnline"],
                    "state": null,
                })
            })
            .collect()
    }

    fn skus(&self, dir: &Directory) -> Vec<Value> {
        let usage = dir.usage();
        dir.settings
            .skus
            .iter()
            .map(|s| {
                json!({
                    "accountId": self.creds.tenant_id,
                    "accountName": "samla test tenant",
                    "appliesTo": "User",
                    "capabilityStatus": "Enabled",
                    "consumedUnits": usage.consumed(s.id),
                    "id": format!("{}_{}", self.creds.tenant_id, s.id),
                    "prepaidUnits": {"enabled": s.units, "suspended": 0, "warning": 0, "lockedOut": 0},
                    "servicePlans": s.plans.iter().map(|p| json!({
                        "servicePlanId": p.id,
                        "servicePlanName": p.name,
                        "provisioningStatus": "Success",
                        "appliesTo": "User",
                    })).collect::<Vec<_>>(),
                    "skuId": s.id,
                    "skuPartNumber": s.part,
                    "subscriptionIds": [],
                })
            })
            .collect()
    }

    fn list(
        &self,
        dir: &Directory,
        kind: Kind,
        q: &Query,
        req: &ApiRequest<'_>,
        now: Instant,
    ) -> Result<ApiResponse, GraphError> {
        if let Some(names) = &q.select {
            check_select(dir.schema, kind, names)?;
        }
        if let Some(f) = &q.filter {
            check_filter(kind, f)?;
        }
        let after = skiptoken(q)?;
        let (page, more) = dir.list(kind, q.filter.as_ref(), after, q.page_size(), now);
        let usage = needs_usage(q.select.as_deref()).then(|| dir.usage());
        let items = page.iter().map(|o| dir.render(o, q.select.as_deref(), usage.as_ref(), false)).collect();
        let next = more.then(|| page.last().map(|o| self.next_link(req, o.id))).flatten();
        Ok(self.collection(if kind == Kind::User { "users" } else { "groups" }, items, next))
    }

    fn collection(&self, context: &str, items: Vec<Value>, next: Option<String>) -> ApiResponse {
        let mut body = json!({
            "@odata.context": format!("{}/v1.0/$metadata#{context}", self.base),
            "value": items,
        });
        if let Some(next) = next {
            body["@odata.nextLink"] = json!(next);
        }
        ApiResponse::json(200, body)
    }

    fn entity(
        &self,
        dir: &Directory,
        o: &Object,
        context: &str,
        select: Option<&[String]>,
        usage: Option<&super::licences::Usage>,
    ) -> Value {
        let with_type = context.starts_with("directoryObjects");
        with_context(&self.base, context, dir.render(o, select, usage, with_type))
    }

    /// The next page's URL: the same query with a `$skiptoken` after `last`.
    fn next_link(&self, req: &ApiRequest<'_>, last: ObjectId) -> String {
        // Keep the client's own encoding of the other options; Graph writes `$skiptoken=`.
        let mut parts: Vec<String> = req
            .query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| {
                let key = p.split('=').next().unwrap_or_default();
                percent_decode(key).is_none_or(|k| k != "$skiptoken")
            })
            .map(str::to_string)
            .collect();
        parts.push(format!("$skiptoken={}", URL_SAFE_NO_PAD.encode(last.0.as_bytes())));
        format!("{}/v1.0{}?{}", self.base, req.path, parts.join("&"))
    }

    /// Parses a `{"@odata.id": "..."}` body.
    fn reference(&self, body: &Value) -> Result<super::rules::ObjectRef, GraphError> {
        let Value::Object(map) = body else { return Err(GraphError::unreadable_body()) };
        if let Some(k) = map.keys().find(|k| *k != "@odata.id") {
            return Err(GraphError::unknown_property(k));
        }
        let url = map.get("@odata.id").and_then(Value::as_str).ok_or_else(|| {
            GraphError::bad_request("The request body must contain the '@odata.id' of the object to reference.")
        })?;
        parse_ref(url, &self.base).ok_or_else(|| GraphError::bad_request(format!("Invalid object identifier '{url}'.")))
    }

    /// POST /$batch: at most 20 requests with unique ids; dependsOn orders execution and a
    /// failed dependency gives 424; execution order among independent requests and the
    /// order of responses are shuffled with the seed (clients must match on id).
    fn batch(&self, app: super::ids::ClientId, req: &ApiRequest<'_>) -> Result<ApiResponse, GraphError> {
        let body = json_body(req)?;
        let items = body
            .get("requests")
            .and_then(Value::as_array)
            .ok_or_else(|| GraphError::odata("Invalid batch payload format."))?;
        if items.is_empty() {
            return Err(GraphError::odata("Invalid batch payload format: the batch holds no requests."));
        }
        if items.len() > MAX_BATCH {
            return Err(GraphError::odata(format!(
                "Too many requests in the batch: {} given, at most {MAX_BATCH} are allowed.",
                items.len()
            )));
        }
        let inner: Vec<Inner> = items.iter().map(Inner::parse).collect::<Result<_, _>>()?;
        let mut ids = BTreeSet::new();
        for r in &inner {
            if !ids.insert(r.id.as_str()) {
                return Err(GraphError::odata(format!(
                    "Batch request ids must be unique: '{}' is used more than once.",
                    r.id
                )));
            }
        }
        for r in &inner {
            if let Some(d) = r.depends_on.iter().find(|d| !ids.contains(d.as_str()) || **d == r.id) {
                return Err(GraphError::odata(format!(
                    "Request '{}' depends on '{d}', which is not another request of this batch.",
                    r.id
                )));
            }
        }
        let order = self.batch_order(&inner)?;
        let mut results: BTreeMap<String, Value> = BTreeMap::new();
        let mut failed: BTreeSet<String> = BTreeSet::new();
        for i in order {
            let r = &inner[i];
            let dependency = r.depends_on.iter().find(|d| failed.contains(*d));
            let response = match dependency {
                Some(d) => {
                    let e = GraphError::new(
                        424,
                        "FailedDependency",
                        format!("The request depends on request '{d}', which failed."),
                    );
                    let rid = self.next_request_id();
                    ApiResponse::error(&e, &rid, req.client_request_id)
                }
                None => {
                    let body = r.body.as_ref().map(|b| serde_json::to_vec(b).unwrap_or_default()).unwrap_or_default();
                    let (path, query) = r.url.split_once('?').unwrap_or((&r.url, ""));
                    let path = format!("/{}", path.trim_start_matches('/'));
                    let sub = ApiRequest {
                        method: &r.method,
                        path: &path,
                        query,
                        content_type: r.content_type.as_deref(),
                        prefer: r.prefer.as_deref(),
                        body: &body,
                        client_request_id: req.client_request_id,
                    };
                    match self.execute(app, &sub, true, self.next_request_id()) {
                        Outcome::Respond(resp) => resp,
                        Outcome::Drop => ApiResponse::error(
                            &GraphError::unavailable(1),
                            &self.next_request_id(),
                            req.client_request_id,
                        ),
                    }
                }
            };
            if response.status >= 400 {
                failed.insert(r.id.clone());
            }
            results.insert(r.id.clone(), batch_item(&r.id, response));
        }
        let mut responses: Vec<(u64, Value)> =
            results.into_iter().map(|(id, v)| (hash_words(self.seed, &[fnv(id.as_bytes()), 7]), v)).collect();
        responses.sort_by_key(|(k, _)| *k);
        Ok(ApiResponse::json(200, json!({"responses": responses.into_iter().map(|(_, v)| v).collect::<Vec<_>>()})))
    }

    /// A topological order of the batch (Kahn), ties broken by a seeded hash of the id.
    fn batch_order(&self, inner: &[Inner]) -> Result<Vec<usize>, GraphError> {
        let key = |i: usize| hash_words(self.seed, &[fnv(inner[i].id.as_bytes()), 3]);
        let mut done: Vec<bool> = vec![false; inner.len()];
        let mut order = Vec::with_capacity(inner.len());
        while order.len() < inner.len() {
            let ready = (0..inner.len())
                .filter(|&i| !done[i])
                .filter(|&i| {
                    inner[i].depends_on.iter().all(|d| inner.iter().position(|r| r.id == *d).is_some_and(|j| done[j]))
                })
                .min_by_key(|&i| key(i));
            let Some(i) = ready else {
                return Err(GraphError::odata("The dependsOn references of the batch form a cycle."));
            };
            done[i] = true;
            order.push(i);
        }
        Ok(order)
    }
}

/// One request of a batch, checked.
#[derive(Debug)]
struct Inner {
    id: String,
    method: String,
    url: String,
    content_type: Option<String>,
    prefer: Option<String>,
    body: Option<Value>,
    depends_on: Vec<String>,
}

impl Inner {
    fn parse(v: &Value) -> Result<Inner, GraphError> {
        let bad = |m: &str| GraphError::odata(format!("Invalid batch payload format: {m}"));
        let obj = v.as_object().ok_or_else(|| bad("each request must be an object."))?;
        let id = match obj.get("id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(bad("each request needs a non-empty string 'id'.")),
        };
        let method = obj.get("method").and_then(Value::as_str).map(str::to_ascii_uppercase).unwrap_or_default();
        if !["GET", "POST", "PATCH", "PUT", "DELETE"].contains(&method.as_str()) {
            return Err(bad(&format!("request '{id}' has no valid 'method'.")));
        }
        let url =
            obj.get("url").and_then(Value::as_str).ok_or_else(|| bad(&format!("request '{id}' has no 'url'.")))?;
        if url.contains("://") || url.trim_start_matches('/').starts_with("$batch") {
            return Err(bad(&format!(
                "request '{id}': the url must be relative to the version (as '/users'), and batches do not nest."
            )));
        }
        let headers = match obj.get("headers") {
            None => Map::new(),
            Some(Value::Object(h)) => h.clone(),
            Some(_) => return Err(bad(&format!("request '{id}': 'headers' must be an object."))),
        };
        let header = |name: &str| {
            headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str()).map(str::to_string)
        };
        let content_type = header("content-type");
        let prefer = header("prefer");
        let body = obj.get("body").cloned();
        if ["POST", "PATCH", "PUT"].contains(&method.as_str()) && (body.is_none() || content_type.is_none()) {
            return Err(GraphError::odata(format!(
                "Write request id : {id} does not contain Content-Type header or body."
            )));
        }
        let depends_on = match obj.get("dependsOn") {
            None => Vec::new(),
            Some(Value::Array(d)) => d
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad(&format!("request '{id}': 'dependsOn' must list request ids.")))?,
            Some(_) => return Err(bad(&format!("request '{id}': 'dependsOn' must be an array."))),
        };
        Ok(Inner { id, method, url: url.to_string(), content_type, prefer, body, depends_on })
    }
}

/// One entry of a batch's `responses`.
fn batch_item(id: &str, r: ApiResponse) -> Value {
    let mut headers = Map::new();
    for (k, v) in &r.headers {
        headers.insert(k.clone(), json!(v));
    }
    let mut item = json!({"id": id, "status": r.status});
    match r.body {
        Body::Json(v) => {
            headers.insert("Content-Type".into(), json!("application/json"));
            item["body"] = v;
        }
        Body::Text(ct, text) => {
            headers.insert("Content-Type".into(), json!(ct));
            item["body"] = json!(text);
        }
        Body::None => {}
    }
    item["headers"] = Value::Object(headers);
    item
}

/// Path keywords, matched case-insensitively and replaced by their canonical spelling.
const KNOWN: &[(&str, &str)] = &[
    ("users", "users"),
    ("groups", "groups"),
    ("domains", "domains"),
    ("subscribedskus", "subscribedSkus"),
    ("manager", "manager"),
    ("$ref", "$ref"),
    ("memberof", "memberOf"),
    ("assignlicense", "assignLicense"),
    ("microsoft.graph.assignlicense", "assignLicense"),
    ("members", "members"),
    ("owners", "owners"),
    ("directory", "directory"),
    ("deleteditems", "deletedItems"),
    ("microsoft.graph.user", "microsoft.graph.user"),
    ("microsoft.graph.group", "microsoft.graph.group"),
    ("restore", "restore"),
    ("microsoft.graph.restore", "restore"),
    ("directoryobjects", "directoryObjects"),
    ("directoryroles", "directoryRoles"),
    ("$metadata", "$metadata"),
    ("policies", "policies"),
    ("authenticationmethodspolicy", "authenticationMethodsPolicy"),
    ("authenticationmethodconfigurations", "authenticationMethodConfigurations"),
    ("authentication", "authentication"),
    ("temporaryaccesspassmethods", "temporaryAccessPassMethods"),
    ("$batch", "$batch"),
];

/// The key of a `groups(uniqueName='key')` segment (`''` is a quote inside the key).
fn unique_name_key(segment: &str) -> Option<String> {
    let (collection, rest) = segment.split_once('(')?;
    if !collection.eq_ignore_ascii_case("groups") {
        return None;
    }
    let quoted = rest.strip_suffix(')')?.strip_prefix("uniqueName=")?;
    let inner = quoted.strip_prefix('\'')?.strip_suffix('\'')?;
    if inner.replace("''", "").contains('\'') {
        return None;
    }
    Some(inner.replace("''", "'"))
}

/// The percent-decoded path segments, keywords in canonical case.
fn segments(path: &str) -> Result<Vec<String>, GraphError> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    trimmed
        .split('/')
        .map(|s| {
            let decoded = percent_decode(s).ok_or_else(|| GraphError::odata(format!("Invalid URL segment '{s}'.")))?;
            let lower = decoded.to_ascii_lowercase();
            Ok(KNOWN.iter().find(|(k, _)| *k == lower).map(|(_, c)| (*c).to_string()).unwrap_or(decoded))
        })
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The budget a request draws on: each write costs one; reads cost resource units.
fn cost(method: &str, seg: &[&str]) -> Cost {
    if method != "GET" {
        return Cost::Write;
    }
    match seg {
        ["users"] | ["groups"] => Cost::Read(2),
        [_, _, "members" | "owners" | "memberOf"] => Cost::Read(3),
        _ => Cost::Read(1),
    }
}

fn kind_of(collection: &str) -> Kind {
    if collection == "users" { Kind::User } else { Kind::Group }
}

fn rel_of(name: &str) -> Rel {
    if name == "owners" { Rel::Owners } else { Rel::Members }
}

/// The JSON body of a write; a missing JSON content type or bad JSON is Graph's 400.
fn json_body(req: &ApiRequest<'_>) -> Result<Value, GraphError> {
    let is_json =
        req.content_type.is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("application/json"));
    if !is_json {
        return Err(GraphError::unreadable_body());
    }
    serde_json::from_slice(req.body).map_err(|_| GraphError::unreadable_body())
}

fn skiptoken(q: &Query) -> Result<Option<ObjectId>, GraphError> {
    q.skiptoken
        .as_deref()
        .map(|t| {
            URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| <[u8; 16]>::try_from(b.as_slice()).ok())
                .map(|b| ObjectId(super::ids::Guid::from_bytes(b)))
                .ok_or_else(|| GraphError::bad_request("The $skiptoken is not valid."))
        })
        .transpose()
}

fn needs_usage(select: Option<&[String]>) -> bool {
    select.is_some_and(|s| {
        s.iter().any(|n| {
            ["assignedLicenses", "licenseAssignmentStates", "hasMembersWithLicenseErrors"].contains(&n.as_str())
        })
    })
}

fn with_context(base: &str, context: &str, mut v: Value) -> Value {
    if let Value::Object(map) = &mut v {
        let mut out = Map::new();
        out.insert("@odata.context".into(), json!(format!("{base}/v1.0/$metadata#{context}")));
        out.extend(std::mem::take(map));
        return Value::Object(out);
    }
    v
}

/// A member in a members list: its type and the selected properties its type has.
fn render_related(dir: &Directory, o: &Object, select: Option<&[String]>) -> Value {
    let own: Option<Vec<String>> = select
        .map(|names| names.iter().filter(|n| dir.schema.property(o.kind.type_name(), n).is_some()).cloned().collect());
    dir.render(o, own.as_deref(), None, true)
}

/// A deleted item: its type, and deletedDateTime with the default properties.
fn render_deleted(dir: &Directory, o: &Object, select: Option<&[String]>) -> Value {
    let mut v = dir.render(o, select, None, true);
    if select.is_none() {
        v["deletedDateTime"] = dir.property(o, "deletedDateTime", None);
    }
    v
}

/// The SKUs (with disabled plans) to add and the SKUs to remove.
type LicenceChange = (Vec<(SkuId, Vec<PlanId>)>, Vec<SkuId>);

/// Parses an assignLicense body: both `addLicenses` and `removeLicenses` are required.
fn parse_assign(dir: &Directory, body: &Value) -> Result<LicenceChange, GraphError> {
    let Value::Object(map) = body else { return Err(GraphError::unreadable_body()) };
    if let Some(k) = map.keys().find(|k| !["addLicenses", "removeLicenses"].contains(&k.as_str())) {
        return Err(GraphError::unknown_property(k));
    }
    let add_type = dir
        .schema
        .property(USER, "assignedLicenses")
        .map(|p| p.ty.clone())
        .ok_or_else(|| GraphError::new(500, "generalException", "assignedLicense is missing from the schema."))?;
    let add = map.get("addLicenses").ok_or_else(|| GraphError::required("addLicenses", "assignLicense"))?;
    dir.schema.check_value("addLicenses", &add_type, add)?;
    let remove = map.get("removeLicenses").ok_or_else(|| GraphError::required("removeLicenses", "assignLicense"))?;
    let guid = |v: &Value, what: &str| {
        v.as_str()
            .and_then(|s| s.parse::<super::ids::Guid>().ok())
            .ok_or_else(|| GraphError::invalid_value(what, "assignLicense"))
    };
    let mut adds: Vec<(SkuId, Vec<PlanId>)> = Vec::new();
    for item in add.as_array().map(Vec::as_slice).unwrap_or_default() {
        let sku = SkuId(guid(item.get("skuId").unwrap_or(&Value::Null), "skuId")?);
        let plans = match item.get("disabledPlans") {
            Some(Value::Array(p)) => {
                p.iter().map(|x| guid(x, "disabledPlans").map(PlanId)).collect::<Result<Vec<_>, _>>()?
            }
            _ => return Err(GraphError::invalid_value("disabledPlans", "assignLicense")),
        };
        if adds.iter().any(|(s, _)| *s == sku) {
            return Err(GraphError::bad_request(format!("License {sku} is listed more than once in addLicenses.")));
        }
        adds.push((sku, plans));
    }
    let Value::Array(remove) = remove else { return Err(GraphError::invalid_value("removeLicenses", "assignLicense")) };
    let removes = remove.iter().map(|v| guid(v, "removeLicenses").map(SkuId)).collect::<Result<Vec<_>, _>>()?;
    Ok((adds, removes))
}

impl Directory {
    /// An object by id that the caller just resolved or created (visible or still replicating).
    fn objects_get(&self, id: ObjectId) -> Result<&Object, GraphError> {
        self.object(id).ok_or_else(|| GraphError::not_found(&id.to_string()))
    }
}
