//! The tenant checked before the first write of a wave: what would make Graph refuse part of
//! the wave half-way is found while nothing has been sent.
//!
//! A wave that goes in half is the worst outcome for the people in it (some accounts made,
//! others not, licences missing in the background), so `wave run` refuses on any finding, and
//! `wave dry-run --target` shows the same findings. What is checked, for the writes the
//! comparison says the tenant still needs:
//! - every userPrincipalName domain of a user to create is a verified domain of the tenant;
//! - every licence SKU the wave assigns (per user, or through a licence group: Entra assigns
//!   those in the background and fails per user when units run out) is subscribed with enough
//!   free units (enabled minus consumed);
//! - no live user samla did not find by its anchor already holds a userPrincipalName or a
//!   mailNickname the wave creates (someone else's account);
//! - no soft-deleted user holds an anchor (onPremisesImmutableId) or a mailNickname the wave
//!   creates: Entra keeps them for 30 days, and a create then fails. (A soft-deleted user's
//!   userPrincipalName is shown as `{id}{upn}` and does not block a new user.) samla's own
//!   deleted users are restored instead of created ([`crate::execute::graph::observe_deleted`]):
//!   no live user may hold the userPrincipalName of one the wave restores (Graph refuses the
//!   restore), and the licences restored users take back count like new ones.
//! - no live user or group samla did not find by its anchor, and no soft-deleted user, holds in
//!   its `proxyAddresses` or `mail` an address the wave claims: `smtp:<userPrincipalName>` of
//!   each user it creates (Exchange Online makes the UPN an address), `smtp:<mail>` where a
//!   create or update sets `mail`, and `<mailNickname>@<default domain>` of each Microsoft 365
//!   group it creates (skipped when `GET /domains` names no default domain). Read with
//!   `proxyAddresses/any(x:x eq 'smtp:...')`, 15 `or`-ed to a filter (Graph's limit of 15
//!   expressions), through `$batch`; the deleted users' addresses come with their listing.
//! - no cloud user the wave would update or take over (found by its anchor) holds a directory
//!   role: an administrator's account must not change hands in a migration (and Entra
//!   Connect does not hard-match users holding a role).
//!
//! The reading is I/O ([`read_facts`]); the judging is pure ([`judge`]).

use crate::client::graph::{ClientError, GraphClient};
use crate::execute::graph::{IN_VALUES, TenantView, encode, quoted};
use crate::render::WaveContent;
use crate::render::graph::{Action, GraphRequest, Placeholder};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// A user's userPrincipalName domain is not verified in the tenant.
    UnverifiedDomain,
    /// A licence SKU the wave assigns is not subscribed.
    NotSubscribed,
    /// A licence SKU has fewer free units than the wave assigns.
    TooFewLicences,
    /// A live user the wave does not own holds a userPrincipalName or mailNickname the wave
    /// creates.
    TakenByAnother,
    /// A soft-deleted user holds an anchor or a mailNickname the wave creates.
    TakenByDeleted,
    /// A cloud user the wave finds by its anchor (and would update) holds a directory role.
    RoleHolder,
    /// A live user or group the wave does not own, or a soft-deleted user, holds an address
    /// (proxyAddresses or mail) the wave claims.
    AddressTaken,
}

impl Check {
    fn text(self) -> &'static str {
        match self {
            Check::UnverifiedDomain => "domain not verified",
            Check::NotSubscribed => "SKU not subscribed",
            Check::TooFewLicences => "too few licences",
            Check::TakenByAnother => "taken by another user",
            Check::TakenByDeleted => "held by a deleted user",
            Check::RoleHolder => "holds a directory role",
            Check::AddressTaken => "address held by another",
        }
    }
}

/// One thing the tenant cannot take.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// The municipality of the object ("" for a SKU the whole wave needs).
    pub municipality: String,
    pub check: Check,
    /// The userPrincipalName, domain or SKU part number.
    pub object: String,
    pub detail: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = if self.municipality.is_empty() { "(whole wave)" } else { &self.municipality };
        write!(f, "{m:<14} {:<24} {}: {}", self.check.text(), self.object, self.detail)
    }
}

/// What the tenant holds that the wave's writes depend on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantFacts {
    /// Verified domains, lower case.
    pub verified_domains: BTreeSet<String>,
    /// skuPartNumber -> (enabled units, consumed units).
    pub skus: BTreeMap<String, (u64, u64)>,
    /// Lower-cased userPrincipalName -> id, of live users holding a name the wave creates.
    pub live_upns: BTreeMap<String, String>,
    /// Lower-cased mailNickname -> id, of live users holding a nickname the wave creates.
    pub live_nicknames: BTreeMap<String, String>,
    /// onPremisesImmutableId -> id, of soft-deleted users.
    pub deleted_anchors: BTreeMap<String, String>,
    /// Lower-cased mailNickname -> id, of soft-deleted users.
    pub deleted_nicknames: BTreeMap<String, String>,
    /// samla's own deleted users the wave restores: (municipality, lower-cased
    /// userPrincipalName they get back, their id).
    pub restoring: Vec<(String, String, String)>,
    /// Users the wave found by their anchor, which it would update: (municipality,
    /// userPrincipalName, id).
    pub matched: Vec<(String, String, String)>,
    /// Object id -> the directory roles it holds.
    pub role_holders: BTreeMap<String, Vec<String>>,
    /// The tenant's default domain, lower case: where a Microsoft 365 group's address is.
    pub mail_domain: Option<String>,
    /// Lower-cased address (without `smtp:`) -> the objects the wave does not own holding it.
    pub address_holders: BTreeMap<String, Vec<AddressHolder>>,
}

/// What kind of object holds an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    User,
    Group,
    DeletedUser,
}

/// An object holding an address the wave claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressHolder {
    pub id: String,
    pub holder: Holder,
}

/// The addresses a request claims: (municipality, the object as findings name it, the
/// lower-cased address without `smtp:`).
fn claimed(r: &GraphRequest, mail_domain: Option<&str>) -> Vec<(String, String, String)> {
    let Some(body) = r.body.as_ref() else { return Vec::new() };
    let lower = |v: &Value| v.as_str().map(str::to_lowercase);
    let mail = lower(&body["mail"]);
    let (object, addresses): (Option<String>, Vec<Option<String>>) = match r.action {
        Action::CreateUser => {
            let upn = lower(&body["userPrincipalName"]);
            (upn.clone(), vec![upn, mail])
        }
        Action::UpdateUser => (mail.clone(), vec![mail]),
        Action::CreateGroup if body["groupTypes"].as_array().is_some_and(|t| t.iter().any(|t| t == "Unified")) => {
            let nick = lower(&body["mailNickname"]);
            let address = nick.as_ref().zip(mail_domain).map(|(n, d)| format!("{n}@{d}"));
            (nick, vec![address])
        }
        _ => (None, Vec::new()),
    };
    let Some(object) = object else { return Vec::new() };
    let mut out: Vec<(String, String, String)> = Vec::new();
    for a in addresses.into_iter().flatten() {
        if !out.iter().any(|(_, _, seen)| *seen == a) {
            out.push((r.municipality.clone(), object.clone(), a));
        }
    }
    out
}

/// Every address `requests` claim.
fn claimed_addresses<'a>(
    requests: &'a [(usize, GraphRequest)],
    mail_domain: Option<&'a str>,
) -> impl Iterator<Item = (String, String, String)> + 'a {
    requests.iter().flat_map(move |(_, r)| claimed(r, mail_domain))
}

/// A user the wave creates, as its create request says.
struct NewUser<'a> {
    municipality: &'a str,
    upn: String,
    nickname: Option<String>,
    immutable_id: Option<&'a str>,
}

fn new_users(requests: &[(usize, GraphRequest)]) -> Vec<NewUser<'_>> {
    requests
        .iter()
        .filter(|(_, r)| r.action == Action::CreateUser)
        .filter_map(|(_, r)| {
            let body = r.body.as_ref()?;
            Some(NewUser {
                municipality: &r.municipality,
                upn: body["userPrincipalName"].as_str()?.to_lowercase(),
                nickname: body["mailNickname"].as_str().map(str::to_lowercase),
                immutable_id: body["onPremisesImmutableId"].as_str(),
            })
        })
        .collect()
}

/// Licence units the requests assign, per licence class: one per user licensed directly, one
/// per member bound into a licence group.
fn licences_needed(requests: &[(usize, GraphRequest)]) -> BTreeMap<&str, u64> {
    let mut out: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, r) in requests {
        let Some(class) = r.licence_class.as_deref() else { continue };
        let n = match r.action {
            Action::AssignUserLicence => 1,
            Action::CreateLicenceGroup | Action::AddMembers => r.members() as u64,
            _ => 0,
        };
        if n > 0 {
            *out.entry(class).or_default() += n;
        }
    }
    out
}

/// Everything the tenant cannot take of `requests` (what it still needs), sorted by
/// municipality. `skus` maps a licence class to its SKU part number.
pub fn judge(requests: &[(usize, GraphRequest)], skus: &BTreeMap<String, String>, facts: &TenantFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    let finding = |municipality: &str, check, object: &str, detail: String| Finding {
        municipality: municipality.to_string(),
        check,
        object: object.to_string(),
        detail,
    };
    for u in new_users(requests) {
        let domain = u.upn.rsplit_once('@').map_or("", |(_, d)| d);
        if !facts.verified_domains.contains(domain) {
            out.push(finding(
                u.municipality,
                Check::UnverifiedDomain,
                &u.upn,
                format!("{domain} is not a verified domain of the tenant; verify it first"),
            ));
        }
        let nickname = u.nickname.as_deref().unwrap_or_default();
        let live = facts.live_upns.get(&u.upn).map(|id| ("userPrincipalName", id));
        if let Some((what, id)) = live.or_else(|| facts.live_nicknames.get(nickname).map(|id| ("mailNickname", id))) {
            out.push(finding(
                u.municipality,
                Check::TakenByAnother,
                &u.upn,
                format!("user {id} holds its {what} and is not this person (another anchor)"),
            ));
        }
        let anchor =
            u.immutable_id.and_then(|a| facts.deleted_anchors.get(a)).map(|id| ("anchor (onPremisesImmutableId)", id));
        if let Some((what, id)) =
            anchor.or_else(|| facts.deleted_nicknames.get(nickname).map(|id| ("mailNickname", id)))
        {
            out.push(finding(
                u.municipality,
                Check::TakenByDeleted,
                &u.upn,
                format!("deleted user {id} holds its {what} for up to 30 days; restore it or wait until it is purged"),
            ));
        }
    }
    for (m, upn, id) in &facts.restoring {
        if let Some(holder) = facts.live_upns.get(upn) {
            out.push(finding(
                m,
                Check::TakenByAnother,
                upn,
                format!(
                    "user {holder} holds the userPrincipalName of samla's deleted user {id}, which the wave \
                     would restore; Graph refuses the restore"
                ),
            ));
        }
    }
    for (municipality, upn, id) in &facts.matched {
        if let Some(roles) = facts.role_holders.get(id) {
            out.push(finding(
                municipality,
                Check::RoleHolder,
                &upn.to_lowercase(),
                format!(
                    "cloud user {id} holds {}; the wave finds it by its anchor and would update it: remove the role \
                     or leave the person out of the wave",
                    roles.join(", ")
                ),
            ));
        }
    }
    for (municipality, object, address) in claimed_addresses(requests, facts.mail_domain.as_deref()) {
        let taken_as_upn = facts.live_upns.get(&address);
        for h in facts.address_holders.get(&address).into_iter().flatten() {
            if taken_as_upn == Some(&h.id) {
                continue; // found above as the holder of the userPrincipalName
            }
            let (what, wait) = match h.holder {
                Holder::User => ("user", ""),
                Holder::Group => ("group", ""),
                Holder::DeletedUser => ("deleted user", " for up to 30 days; restore it or wait until it is purged"),
            };
            out.push(finding(
                &municipality,
                Check::AddressTaken,
                &object,
                format!(
                    "{what} {} holds smtp:{address} in its proxyAddresses or mail and is not this object{wait}; \
                     Exchange refuses a second holder of an address",
                    h.id
                ),
            ));
        }
    }
    for (class, needed) in licences_needed(requests) {
        let Some(part) = skus.get(class) else { continue };
        match facts.skus.get(part) {
            None => out.push(finding(
                "",
                Check::NotSubscribed,
                part,
                format!("licence class {class}: {needed} unit(s) needed, the tenant has no such subscription"),
            )),
            Some(&(enabled, consumed)) if enabled.saturating_sub(consumed) < needed => out.push(finding(
                "",
                Check::TooFewLicences,
                part,
                format!(
                    "licence class {class}: {needed} unit(s) needed, {} free ({enabled} enabled, {consumed} consumed)",
                    enabled.saturating_sub(consumed)
                ),
            )),
            Some(_) => {}
        }
    }
    out.sort();
    out
}

/// Reads what [`judge`] needs beyond what the comparison read (`view`: the subscribed SKUs and
/// the users found by anchor, each in its municipality by `content`): verified domains, live
/// users holding the userPrincipalNames and mailNicknames the requests create, the
/// soft-deleted users, and who holds a directory role.
pub async fn read_facts(
    client: &GraphClient,
    view: &TenantView,
    content: &WaveContent,
    requests: &[(usize, GraphRequest)],
) -> Result<TenantFacts, ClientError> {
    let mut facts = TenantFacts {
        skus: view.sku_units.iter().map(|(part, units)| (part.clone(), *units)).collect(),
        ..TenantFacts::default()
    };
    for (anchor, user) in &view.users {
        let Some(id) = user["id"].as_str() else { continue };
        let municipality = content.refs.get(anchor).map(|r| r.municipality.clone()).unwrap_or_default();
        let upn = user["userPrincipalName"].as_str().unwrap_or(id).to_string();
        facts.matched.push((municipality, upn, id.to_string()));
    }
    if !facts.matched.is_empty() {
        facts.role_holders = client.directory_role_holders().await?;
    }
    for d in client.get_all("/domains").await? {
        if d["isVerified"] == true
            && let Some(id) = d["id"].as_str()
        {
            facts.verified_domains.insert(id.to_lowercase());
            if d["isDefault"] == true {
                facts.mail_domain = Some(id.to_lowercase());
            }
        }
    }
    facts.restoring = restoring(view, requests);
    let users = new_users(requests);
    let upns: Vec<String> =
        users.iter().map(|u| u.upn.clone()).chain(facts.restoring.iter().map(|(_, upn, _)| upn.clone())).collect();
    let nicknames: Vec<String> = users.iter().filter_map(|u| u.nickname.clone()).collect();
    let paths: Vec<String> =
        in_filters("userPrincipalName", &upns).into_iter().chain(in_filters("mailNickname", &nicknames)).collect();
    for page in client.get_many(&paths).await {
        for u in page?["value"].as_array().into_iter().flatten() {
            let Some(id) = u["id"].as_str() else { continue };
            if let Some(upn) = u["userPrincipalName"].as_str().map(str::to_lowercase)
                && upns.contains(&upn)
            {
                facts.live_upns.insert(upn, id.to_string());
            }
            if let Some(nick) = u["mailNickname"].as_str().map(str::to_lowercase)
                && nicknames.contains(&nick)
            {
                facts.live_nicknames.insert(nick, id.to_string());
            }
        }
    }
    let addresses: BTreeSet<String> =
        claimed_addresses(requests, facts.mail_domain.as_deref()).map(|(_, _, a)| a).collect();
    let owned: BTreeSet<&str> = view
        .users
        .values()
        .chain(view.groups.values())
        .chain(view.restorable.values())
        .filter_map(|o| o["id"].as_str())
        .collect();
    let listed: Vec<String> = addresses.iter().cloned().collect();
    let reads: Vec<(Holder, String)> = address_filters("users", &listed)
        .into_iter()
        .map(|p| (Holder::User, p))
        .chain(address_filters("groups", &listed).into_iter().map(|p| (Holder::Group, p)))
        .collect();
    let paths: Vec<String> = reads.iter().map(|(_, p)| p.clone()).collect();
    for ((holder, _), page) in reads.iter().zip(client.get_many(&paths).await) {
        for o in page?["value"].as_array().into_iter().flatten() {
            if let Some(id) = o["id"].as_str().filter(|id| !owned.contains(id)) {
                held(&mut facts, &addresses, o, id, *holder);
            }
        }
    }
    let deleted = client.get_all(
        "/directory/deletedItems/microsoft.graph.user?$select=id,mailNickname,onPremisesImmutableId,mail,proxyAddresses",
    );
    for u in deleted.await? {
        let Some(id) = u["id"].as_str() else { continue };
        if !owned.contains(id) {
            held(&mut facts, &addresses, &u, id, Holder::DeletedUser);
        }
        if let Some(nick) = u["mailNickname"].as_str() {
            facts.deleted_nicknames.insert(nick.to_lowercase(), id.to_string());
        }
        if let Some(anchor) = u.get("onPremisesImmutableId").and_then(Value::as_str) {
            facts.deleted_anchors.insert(anchor.to_string(), id.to_string());
        }
    }
    Ok(facts)
}

/// The users `requests` restore, as (municipality, userPrincipalName, id): the name their
/// deleted item shows without the id Entra puts before it.
fn restoring(view: &TenantView, requests: &[(usize, GraphRequest)]) -> Vec<(String, String, String)> {
    requests
        .iter()
        .filter(|(_, r)| r.action == Action::RestoreDeletedUser)
        .filter_map(|(_, r)| {
            let deleted = view.restorable.get(&Placeholder::Id(r.anchor?))?;
            let id = deleted["id"].as_str()?;
            let shown = deleted["userPrincipalName"].as_str()?;
            let upn = shown.strip_prefix(&id.replace('-', "")).unwrap_or(shown);
            Some((r.municipality.clone(), upn.to_lowercase(), id.to_string()))
        })
        .collect()
}

/// Records `o` (with `id`) as a holder of each of `addresses` its `mail` or `proxyAddresses`
/// holds (any `smtp:` prefix case, the address case-insensitive).
fn held(facts: &mut TenantFacts, addresses: &BTreeSet<String>, o: &Value, id: &str, holder: Holder) {
    let proxies = o["proxyAddresses"].as_array().into_iter().flatten().filter_map(Value::as_str).filter_map(|p| {
        let (kind, address) = p.split_once(':')?;
        kind.eq_ignore_ascii_case("smtp").then_some(address)
    });
    let mut found: BTreeSet<String> = BTreeSet::new();
    for address in o["mail"].as_str().into_iter().chain(proxies).map(str::to_lowercase) {
        if addresses.contains(&address) && found.insert(address.clone()) {
            let holders = facts.address_holders.entry(address).or_default();
            if !holders.iter().any(|h| h.id == id) {
                holders.push(AddressHolder { id: id.to_string(), holder });
            }
        }
    }
}

/// Reads of the `collection`'s objects holding one of `addresses` in their proxyAddresses,
/// 15 lambdas `or`-ed to a filter (Graph allows 15 expressions in a filter clause).
fn address_filters(collection: &str, addresses: &[String]) -> Vec<String> {
    addresses
        .chunks(IN_VALUES)
        .map(|c| {
            let any: Vec<String> =
                c.iter().map(|a| format!("proxyAddresses/any(x:x eq {})", quoted(&[format!("smtp:{a}")]))).collect();
            let filter = encode(&any.join(" or "));
            format!("/{collection}?$filter={filter}&$select=id,mail,proxyAddresses&$top=999")
        })
        .collect()
}

/// `/users` reads of the users whose `property` is one of `values`, 15 to a filter.
fn in_filters(property: &str, values: &[String]) -> Vec<String> {
    values
        .chunks(IN_VALUES)
        .map(|c| {
            let filter = encode(&format!("{property} in ({})", quoted(c)));
            format!("/users?$filter={filter}&$select=id,userPrincipalName,mailNickname&$top=999")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(action: Action, municipality: &str, body: Value, class: Option<&str>) -> (usize, GraphRequest) {
        (
            0,
            GraphRequest {
                id: "r".into(),
                method: "POST".into(),
                url: "/users".into(),
                body: Some(body),
                depends_on: Vec::new(),
                action,
                municipality: municipality.into(),
                anchor: None,
                licence_class: class.map(str::to_string),
            },
        )
    }

    fn user(m: &str, upn: &str, anchor: &str) -> (usize, GraphRequest) {
        request(Action::CreateUser, m, json!({"userPrincipalName": upn, "onPremisesImmutableId": anchor}), None)
    }

    fn facts() -> TenantFacts {
        TenantFacts {
            verified_domains: ["samverkan.se".to_string()].into(),
            skus: [("SPE_E3".to_string(), (11, 8)), ("SPE_F1".to_string(), (100, 0))].into(),
            ..TenantFacts::default()
        }
    }

    #[test]
    fn a_tenant_that_can_take_the_wave_has_no_findings() {
        let requests = vec![
            user("bjuv", "Asa.Oberg@Samverkan.se", "a1"),
            request(Action::AssignUserLicence, "bjuv", json!({}), Some("E3")),
            request(Action::AddMembers, "", json!({"members@odata.bind": ["x", "y"]}), Some("E3")),
        ];
        let skus = [("E3".to_string(), "SPE_E3".to_string())].into();
        assert_eq!(judge(&requests, &skus, &facts()), Vec::new());
    }

    #[test]
    fn a_restore_whose_user_principal_name_a_live_user_took_meanwhile_is_found() {
        let mut facts = facts();
        facts.restoring = vec![
            ("bjuv".into(), "back@samverkan.se".into(), "u-1".into()),
            ("bjuv".into(), "free@samverkan.se".into(), "u-2".into()),
        ];
        facts.live_upns.insert("back@samverkan.se".into(), "u-9".into());
        let found = judge(&[], &BTreeMap::new(), &facts);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].check, found[0].object.as_str()), (Check::TakenByAnother, "back@samverkan.se"));
        assert!(found[0].detail.contains("u-9") && found[0].detail.contains("u-1"), "{}", found[0].detail);
    }

    #[test]
    fn unverified_domains_missing_or_short_skus_and_held_names_are_each_found() {
        let mut facts = facts();
        facts.live_upns.insert("taken@samverkan.se".into(), "u-9".into());
        facts.deleted_nicknames.insert("gone".into(), "u-7".into());
        facts.deleted_anchors.insert("a4".into(), "u-8".into());
        let requests = vec![
            user("perstorp", "elev1@elev.samverkan.se", "a1"),
            user("bjuv", "Taken@samverkan.se", "a2"),
            request(
                Action::CreateUser,
                "bjuv",
                json!({"userPrincipalName": "gone@samverkan.se", "mailNickname": "Gone", "onPremisesImmutableId": "a3"}),
                None,
            ),
            user("klippan", "fine@samverkan.se", "a4"),
            request(Action::CreateLicenceGroup, "", json!({"members@odata.bind": ["a", "b", "c", "d"]}), Some("E3")),
            request(Action::AssignUserLicence, "bjuv", json!({}), Some("A3")),
        ];
        let skus = [("E3".to_string(), "SPE_E3".to_string()), ("A3".to_string(), "M365EDU_A3".to_string())].into();
        let found: Vec<(String, Check, String)> =
            judge(&requests, &skus, &facts).into_iter().map(|f| (f.municipality, f.check, f.object)).collect();
        assert_eq!(
            found,
            vec![
                ("".into(), Check::NotSubscribed, "M365EDU_A3".into()),
                ("".into(), Check::TooFewLicences, "SPE_E3".into()),
                ("bjuv".into(), Check::TakenByAnother, "taken@samverkan.se".into()),
                ("bjuv".into(), Check::TakenByDeleted, "gone@samverkan.se".into()),
                ("klippan".into(), Check::TakenByDeleted, "fine@samverkan.se".into()),
                ("perstorp".into(), Check::UnverifiedDomain, "elev1@elev.samverkan.se".into()),
            ]
        );
    }

    #[test]
    fn an_address_the_wave_claims_held_by_another_or_a_deleted_object_is_found() {
        let mut facts = facts();
        facts.mail_domain = Some("samverkan.se".into());
        let holder = |id: &str, holder| AddressHolder { id: id.into(), holder };
        // Someone else's mailbox has the first person's UPN as an alias; a deleted user keeps
        // the second person's mail; a group has the third's UPN; the fourth is free.
        facts.address_holders.insert("asa@samverkan.se".into(), vec![holder("u-5", Holder::User)]);
        facts.address_holders.insert("bo.b@bjuv.se".into(), vec![holder("u-6", Holder::DeletedUser)]);
        facts.address_holders.insert("rektorer@samverkan.se".into(), vec![holder("g-1", Holder::Group)]);
        facts.address_holders.insert("cia@samverkan.se".into(), vec![holder("u-7", Holder::User)]);
        // A UPN already taken as a userPrincipalName is one finding, not two.
        facts.live_upns.insert("taken@samverkan.se".into(), "u-9".into());
        facts.address_holders.insert("taken@samverkan.se".into(), vec![holder("u-9", Holder::User)]);
        let mut update = request(Action::UpdateUser, "klippan", json!({"mail": "Cia@samverkan.se"}), None);
        update.1.anchor = None;
        let requests = vec![
            user("bjuv", "Asa@Samverkan.se", "a1"),
            request(
                Action::CreateUser,
                "bjuv",
                json!({"userPrincipalName": "bo@samverkan.se", "mail": "Bo.B@bjuv.se", "onPremisesImmutableId": "a2"}),
                None,
            ),
            user("perstorp", "free@samverkan.se", "a3"),
            user("bjuv", "taken@samverkan.se", "a4"),
            request(
                Action::CreateGroup,
                "perstorp",
                json!({"mailNickname": "Rektorer", "groupTypes": ["Unified"], "mailEnabled": true}),
                None,
            ),
            request(Action::CreateGroup, "perstorp", json!({"mailNickname": "asa", "mailEnabled": false}), None),
            update,
        ];
        let found = judge(&requests, &BTreeMap::new(), &facts);
        let brief: Vec<(&str, Check, &str)> =
            found.iter().map(|f| (f.municipality.as_str(), f.check, f.object.as_str())).collect();
        assert_eq!(
            brief,
            vec![
                ("bjuv", Check::TakenByAnother, "taken@samverkan.se"),
                ("bjuv", Check::AddressTaken, "asa@samverkan.se"),
                ("bjuv", Check::AddressTaken, "bo@samverkan.se"),
                ("klippan", Check::AddressTaken, "cia@samverkan.se"),
                ("perstorp", Check::AddressTaken, "rektorer"),
            ],
            "{found:#?}"
        );
        assert!(found[1].detail.contains("smtp:asa@samverkan.se") && found[1].detail.contains("u-5"), "{found:#?}");
        assert!(found[2].detail.contains("deleted user u-6"), "{}", found[2].detail);
        assert!(found[4].detail.contains("group g-1"), "{}", found[4].detail);
        // Without the tenant's default domain, a Microsoft 365 group's address is not known.
        facts.mail_domain = None;
        assert_eq!(judge(&requests, &BTreeMap::new(), &facts).len(), 4);
    }

    #[test]
    fn a_matched_user_holding_a_directory_role_is_found_with_its_roles() {
        let mut facts = facts();
        facts.matched = vec![
            ("bjuv".into(), "Chef.IT@samverkan.se".into(), "u-1".into()),
            ("bjuv".into(), "anna@samverkan.se".into(), "u-2".into()),
        ];
        facts.role_holders.insert("u-1".into(), vec!["Global Administrator".into(), "User Administrator".into()]);
        facts.role_holders.insert("u-3".into(), vec!["Global Administrator".into()]);
        let found = judge(&[], &BTreeMap::new(), &facts);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].check, found[0].object.as_str()), (Check::RoleHolder, "chef.it@samverkan.se"));
        assert!(found[0].detail.contains("Global Administrator, User Administrator"), "{}", found[0].detail);
    }
}
