//! The Graph requests of a wave (`samla::render::graph`) against Graph's own schema and rules,
//! and sent for real to the test tenant.
//!
//! Two waves of hand-built content: wave 1 (Klippan, 10 people, a group, the E3 licence group)
//! and wave 2 (Bjuv, 60 people: one group of more than 20 members, nested groups, a Microsoft
//! 365 group, per-user and group-based licences, Swedish characters, an extension attribute,
//! memberships and manager links to wave 1's objects). Every rendered body is checked against
//! the CSDL (parsed here with roxmltree, independently of the tenant's own schema code) and
//! graph/README.md's rules; then both waves are sent batch by batch to an in-process tenant,
//! placeholders filled from the create responses, `GET /subscribedSkus` and a random password,
//! and everything is read back.

use reqwest::Method;
use samla::model::AccountKind;
use samla::model::attributes::Attributes;
use samla::model::names;
use samla::model::unified::{Anchor, Group, Member, Person};
use samla::model::{Dn, ObjectGuid};
use samla::render::graph::{self, Action, GraphRequest, Placeholder, SkipReason};
use samla::render::{ObjectRef, RefKind, WaveContent};

use samla::model::settings::TargetSettings;
use samla::test_tenant::{RunningTenant, TenantOptions, start};
use serde_json::{Map, Value, json};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

// ---------------------------------------------------------------------------------------------
// The two waves.

const E3_GROUP: &str = "Licens Microsoft 365 E3";
const PERSONNUMMER: &str = "19791231-2389";

/// Test anchor `n`: a GUID from a hash, as random-looking as real ones (anchors that differ in
/// one digit can give immutable ids that are equal but for case, which the tenant refuses).
fn anchor(n: u32) -> Anchor {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(format!("samla graph test anchor {n}").as_bytes());
    Anchor(ObjectGuid::from_ad_bytes(&hash[..16]).unwrap())
}

fn settings() -> TargetSettings {
    TargetSettings {
        usage_location: "SE".into(),
        skus: BTreeMap::from([("E3".into(), "SPE_E3".into()), ("F3".into(), "SPE_F1".into())]),
        licence_groups: BTreeMap::from([("E3".into(), E3_GROUP.into())]),
        microsoft365_groups: BTreeSet::from(["projekt samla".to_string()]),
        ..TargetSettings::default()
    }
}

fn person(n: u32, given: &str, sur: &str, municipality: &str, licence: &str) -> Person {
    let display = format!("{given} {sur}");
    let nick = names::mail_nickname(&format!("{given}.{sur}")).unwrap();
    let cloud = Attributes::from([
        ("givenName", given.to_string()),
        ("surname", sur.to_string()),
        ("displayName", display.clone()),
        ("companyName", format!("{} kommun", capitalised(municipality))),
        ("employeeId", format!("H{n:05}")),
    ]);
    Person {
        anchor: anchor(n),
        immutable_id: anchor(n).immutable_id(),
        user_principal_name: format!("{nick}@samverkan.se"),
        mail_nickname: nick.clone(),
        sam_account_name: nick.chars().take(20).collect(),
        cn: display.clone(),
        display_name: display,
        kind: AccountKind::Person,
        licence: licence.to_string(),
        usage_location: "SE".into(),
        cloud,
        // Stays in the shared AD: must never reach the tenant.
        on_premises: Attributes::from([("employeeNumber", PERSONNUMMER.to_string())]),
        affiliations: Vec::new(),
        manager: None,
        source_state: Default::default(),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

fn group(n: u32, name: &str, municipality: &str) -> Group {
    Group {
        anchor: anchor(n),
        name: name.to_string(),
        mail_nickname: names::mail_nickname(name).unwrap(),
        security: true,
        sources: vec![(
            municipality.to_string(),
            anchor(n).0,
            Dn::parse(&format!("CN={name},OU=Grupper,DC={municipality},DC=local")).unwrap(),
        )],
        members: Vec::new(),
    }
}

fn person_ref(p: &Person, wave: u32, municipality: &str) -> ObjectRef {
    ObjectRef {
        kind: RefKind::Person,
        wave,
        cloud_name: p.user_principal_name.clone(),
        cn: p.cn.clone(),
        sam_account_name: p.sam_account_name.clone(),
        municipality: municipality.to_string(),
        unit: String::new(),
        account_kind: Some(p.kind),
    }
}

fn group_ref(g: &Group, wave: u32, municipality: &str) -> ObjectRef {
    ObjectRef {
        kind: RefKind::Group,
        wave,
        cloud_name: g.mail_nickname.clone(),
        cn: g.name.clone(),
        sam_account_name: g.mail_nickname.chars().take(20).collect(),
        municipality: municipality.to_string(),
        unit: String::new(),
        account_kind: None,
    }
}

const GIVEN: [&str; 10] = ["Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Eva", "Anders", "Sara", "Per"];
const SUR: [&str; 6] = ["Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson"];

fn name(n: u32) -> (&'static str, String) {
    (GIVEN[n as usize % GIVEN.len()], format!("{}{n}", SUR[n as usize % SUR.len()]))
}

/// Wave 1: Klippan's IT, 10 people (E3, group-licensed: the licence group is created here),
/// the group IT-avdelningen with five of them, and their manager links.
fn wave1() -> WaveContent {
    let people: Vec<Person> = (1..=10)
        .map(|n| {
            let (g, s) = name(n);
            person(n, g, &s, "klippan", "E3")
        })
        .collect();
    let it = group(500, "IT-avdelningen", "klippan");
    let mut refs = BTreeMap::new();
    for p in &people {
        refs.insert(p.anchor, person_ref(p, 1, "klippan"));
    }
    refs.insert(it.anchor, group_ref(&it, 1, "klippan"));
    WaveContent {
        number: 1,
        name: "Pilot".into(),
        people,
        groups: vec![it],
        memberships: (1..=5).map(|n| (anchor(500), Member::Person(anchor(n)))).collect(),
        manager_links: (2..=5).map(|n| (anchor(n), anchor(1))).collect(),
        refs,
        licence_groups_created: BTreeSet::from(["E3".to_string()]),
        ..WaveContent::default()
    }
}

/// Wave 2: Bjuv, 60 people (11-40 E3, 41-55 F3 per user, 56-70 none), three groups, and
/// references to wave 1's group, people and licence group.
fn wave2() -> WaveContent {
    let mut people: Vec<Person> = (11..=70)
        .map(|n| {
            let licence = match n {
                11..=40 => "E3",
                41..=55 => "F3",
                _ => "none",
            };
            let (g, s) = name(n);
            person(n, g, &s, "bjuv", licence)
        })
        .collect();
    // Swedish characters: the names as they are, the UPN and nickname transliterated.
    let asa = &mut people[0];
    *asa = person(11, "Åsa", "Öberg-Ängström", "bjuv", "E3");
    asa.cloud.insert("department", "Socialförvaltningen".into());
    asa.cloud.insert("jobTitle", "Undersköterska i hemtjänsten".into());
    asa.cloud.insert("officeLocation", "Hälsans hus, plan 2".into());
    // An extension attribute (the cost centre).
    people[1].cloud.insert("extensionAttribute1", "4711".into());
    people[1].cloud.insert("employeeType", "Tillsvidare".into());
    // An apostrophe in the UPN, licensed per user: /users/{upn}/assignLicense.
    people[30] = person(41, "Conor", "O'Brien", "bjuv", "F3");
    assert_eq!(people[30].user_principal_name, "conor.o'brien@samverkan.se");

    let all = group(600, "Alla medarbetare Bjuv", "bjuv");
    let home = group(601, "Hemtjänst", "bjuv");
    let project = group(602, "Projekt Samla", "bjuv");
    let mut memberships: Vec<(Anchor, Member)> = Vec::new();
    memberships.extend((11..=70).map(|n| (anchor(600), Member::Person(anchor(n)))));
    memberships.push((anchor(600), Member::Group(anchor(601))));
    memberships.extend((11..=25).map(|n| (anchor(601), Member::Person(anchor(n)))));
    memberships.push((anchor(601), Member::Group(anchor(500)))); // wave 1's group, nested
    memberships.extend([1, 11, 12, 13, 14].map(|n| (anchor(602), Member::Person(anchor(n)))));
    memberships.push((anchor(602), Member::Group(anchor(601)))); // left out: M365 takes users only
    memberships.extend((11..=35).map(|n| (anchor(500), Member::Person(anchor(n))))); // wave 1's group
    memberships.sort();
    let mut manager_links: Vec<(Anchor, Anchor)> = (12..=20).map(|n| (anchor(n), anchor(11))).collect();
    manager_links.push((anchor(11), anchor(1))); // a manager from wave 1
    manager_links.sort();

    let first = wave1();
    let mut refs = BTreeMap::new();
    for p in &people {
        refs.insert(p.anchor, person_ref(p, 2, "bjuv"));
    }
    for g in [&all, &home, &project] {
        refs.insert(g.anchor, group_ref(g, 2, "bjuv"));
    }
    refs.insert(anchor(500), first.refs[&anchor(500)].clone());
    refs.insert(anchor(1), first.refs[&anchor(1)].clone());
    WaveContent {
        number: 2,
        name: "Bjuv".into(),
        people,
        groups: vec![all, home, project],
        memberships,
        manager_links,
        refs,
        earlier_groups: true,
        ..WaveContent::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Graph's CSDL, parsed here on its own (not with the tenant's schema code).

/// Structured types of the `microsoft.graph` namespace: base type and property -> type.
struct Csdl {
    types: HashMap<String, (Option<String>, HashMap<String, String>)>,
}

fn local(name: &str) -> String {
    name.trim_start_matches("microsoft.graph.").trim_start_matches("graph.").to_string()
}

impl Csdl {
    fn load() -> Csdl {
        let doc = roxmltree::Document::parse(samla::test_tenant::schema::CSDL).unwrap();
        let mut types = HashMap::new();
        let schema = doc
            .descendants()
            .find(|n| n.has_tag_name("Schema") && n.attribute("Namespace") == Some("microsoft.graph"))
            .unwrap();
        for t in schema.children().filter(|t| t.has_tag_name("EntityType") || t.has_tag_name("ComplexType")) {
            let props = t
                .children()
                .filter(|p| p.has_tag_name("Property"))
                .map(|p| (p.attribute("Name").unwrap().to_string(), p.attribute("Type").unwrap().to_string()))
                .collect();
            types.insert(t.attribute("Name").unwrap().to_string(), (t.attribute("BaseType").map(local), props));
        }
        Csdl { types }
    }

    /// A structural property's declared type, on the type or a base type.
    fn property(&self, ty: &str, name: &str) -> Option<&str> {
        let mut next = Some(ty.to_string());
        while let Some(t) = next {
            let (base, props) = self.types.get(&t)?;
            if let Some(p) = props.get(name) {
                return Some(p);
            }
            next = base.clone();
        }
        None
    }

    /// Checks that `value` has the declared type; returns what is wrong.
    fn check(&self, what: &str, declared: &str, value: &Value) -> Result<(), String> {
        if let Some(inner) = declared.strip_prefix("Collection(").and_then(|r| r.strip_suffix(')')) {
            let items = value.as_array().ok_or(format!("{what}: {declared} needs an array, got {value}"))?;
            return items.iter().try_for_each(|v| self.check(what, inner, v));
        }
        let ok = match declared {
            "Edm.String" => value.is_string(),
            "Edm.Boolean" => value.is_boolean(),
            "Edm.Guid" => value.as_str().is_some_and(|s| ObjectGuid::parse(s).is_ok()),
            complex => {
                let ty = local(complex);
                let obj = value.as_object().ok_or(format!("{what}: {complex} needs an object, got {value}"))?;
                for (k, v) in obj {
                    let p = self.property(&ty, k).ok_or(format!("{what}: {k} is not a property of {ty}"))?;
                    self.check(&format!("{what}.{k}"), p, v)?;
                }
                true
            }
        };
        if ok { Ok(()) } else { Err(format!("{what}: {value} is not {declared}")) }
    }

    /// Every key of a body written to `ty` is a declared property with a value of its type.
    fn check_body(&self, ty: &str, body: &Map<String, Value>) -> Result<(), String> {
        for (k, v) in body.iter().filter(|(k, _)| !k.contains('@')) {
            let declared = self.property(ty, k).ok_or(format!("{k} is not a property of {ty}"))?;
            self.check(k, declared, v)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// graph/README.md's rules, written out here.

fn utf16(s: &str) -> usize {
    s.encode_utf16().count()
}

fn check_upn(upn: &str) -> Result<(), String> {
    let (alias, domain) = upn.split_once('@').ok_or(format!("{upn}: no @"))?;
    let alias_ok = !alias.is_empty()
        && alias.len() <= 64
        && alias.chars().all(|c| c.is_ascii_alphanumeric() || "'.-_!#^~".contains(c))
        && !alias.ends_with('.');
    let ok = alias_ok
        && !domain.is_empty()
        && domain.len() <= 48
        && upn.len() <= 113
        && ["samverkan.se", "elev.samverkan.se"].contains(&domain);
    if ok { Ok(()) } else { Err(format!("userPrincipalName {upn} breaks Graph's rules")) }
}

fn check_nickname(nick: &str) -> Result<(), String> {
    let ok = !nick.is_empty()
        && nick.len() <= 64
        && nick.bytes().all(|b| b.is_ascii_graphic() && !b"@()\\[]\";:<>,".contains(&b));
    if ok { Ok(()) } else { Err(format!("mailNickname {nick} breaks Graph's rules")) }
}

fn check_lengths(body: &Map<String, Value>, limits: &[(&str, usize)]) -> Result<(), String> {
    for (key, max) in limits {
        if let Some(v) = body.get(*key) {
            let s = v.as_str().ok_or(format!("{key} is not a string"))?;
            if utf16(s) > *max || s.trim().is_empty() {
                return Err(format!("{key} {s:?}: empty or longer than {max}"));
            }
        }
    }
    Ok(())
}

fn check_required(body: &Map<String, Value>, required: &[&str]) -> Result<(), String> {
    match required.iter().find(|k| !body.contains_key(**k)) {
        Some(k) => Err(format!("required property {k} is missing")),
        None => Ok(()),
    }
}

/// A bind or `@odata.id`: Graph's root, a collection, a placeholder for the object id.
fn check_ref(url: &Value, collections: &[&str]) -> Result<(), String> {
    let s = url.as_str().ok_or("a reference is not a string")?;
    let rest = s.strip_prefix("https://graph.microsoft.com/v1.0/").ok_or(format!("{s}: not Graph's v1.0 root"))?;
    let (coll, id) = rest.split_once('/').ok_or(format!("{s}: no id"))?;
    let ok = collections.contains(&coll) && matches!(Placeholder::parse(id), Some(Placeholder::Id(_)));
    if ok { Ok(()) } else { Err(format!("{s}: not a reference to {collections:?}/{{id:..}}")) }
}

fn check_request(csdl: &Csdl, r: &GraphRequest) -> Result<(), String> {
    let body = r.body.as_ref().and_then(Value::as_object).ok_or("a write without a JSON object body")?;
    let binds = |key: &str| body.get(key).and_then(Value::as_array).map_or(0, Vec::len);
    match r.action {
        Action::RemoveMember
        | Action::RestoreManager
        | Action::RemoveLicence
        | Action::RestoreUser
        | Action::DeleteGroup
        | Action::DeleteUser => return Err(format!("{:?} is a rollback's, never rendered for a wave", r.action)),
        Action::UpdateUser => {
            assert_eq!(r.method, "PATCH");
            csdl.check_body("user", body)?;
        }
        Action::RestoreDeletedUser | Action::RestoreDeletedGroup => {
            // POST /directory/deletedItems/{id}/restore takes no properties.
            assert_eq!(r.method, "POST");
            assert!(r.url.starts_with("/directory/deletedItems/") && r.url.ends_with("/restore"), "{}", r.url);
            if !body.is_empty() {
                return Err(format!("a restore with a body: {body:?}"));
            }
        }
        Action::CreateUser => {
            assert_eq!((r.method.as_str(), r.url.as_str()), ("POST", "/users"));
            csdl.check_body("user", body)?;
            check_required(
                body,
                &["accountEnabled", "displayName", "mailNickname", "passwordProfile", "userPrincipalName"],
            )?;
            check_lengths(
                body,
                &[
                    ("displayName", 256),
                    ("givenName", 64),
                    ("surname", 64),
                    ("department", 64),
                    ("companyName", 64),
                    ("jobTitle", 128),
                    ("officeLocation", 128),
                    ("employeeId", 16),
                ],
            )?;
            check_upn(body["userPrincipalName"].as_str().unwrap_or_default())?;
            check_nickname(body["mailNickname"].as_str().unwrap_or_default())?;
            let usage =
                body.get("usageLocation").and_then(Value::as_str).ok_or("usageLocation is needed for licences")?;
            if usage.len() != 2 || !usage.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!("usageLocation {usage}"));
            }
            let immutable = body["onPremisesImmutableId"].as_str().unwrap_or("$");
            if immutable.contains(['$', '_']) {
                return Err(format!("onPremisesImmutableId {immutable}"));
            }
            if body["passwordProfile"] != json!({"forceChangePasswordNextSignIn": true, "password": "{password}"}) {
                return Err(format!("passwordProfile {}", body["passwordProfile"]));
            }
            let read_only =
                ["id", "proxyAddresses", "createdDateTime", "securityIdentifier", "onPremisesSamAccountName"];
            if let Some(k) = read_only.iter().find(|k| body.contains_key(**k)) {
                return Err(format!("{k} is read-only"));
            }
        }
        Action::CreateGroup | Action::CreateLicenceGroup => {
            // An upsert on the group's alternate key (the CSDL's AlternateKeys on group),
            // its body naming the same uniqueName: `samla-` and plain characters.
            let unique = body["uniqueName"].as_str().ok_or("a group create carries its uniqueName")?;
            assert_eq!(
                (r.method.as_str(), r.url.clone(), r.prefer()),
                ("PATCH", format!("/groups(uniqueName='{unique}')"), Some("create-if-missing"))
            );
            if !unique.starts_with("samla-")
                || unique.len() > 64
                || !unique.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(format!("uniqueName {unique}"));
            }
            csdl.check_body("group", body)?;
            check_required(body, &["displayName", "mailEnabled", "mailNickname", "securityEnabled"])?;
            check_lengths(body, &[("displayName", 256)])?;
            check_nickname(body["mailNickname"].as_str().unwrap_or_default())?;
            let shape = (&body["groupTypes"], &body["mailEnabled"], &body["securityEnabled"]);
            let security = shape == (&json!([]), &json!(false), &json!(true));
            let unified = shape == (&json!(["Unified"]), &json!(true), &json!(false));
            if !security && !unified {
                return Err(format!("neither a security nor a Microsoft 365 group: {shape:?}"));
            }
            if binds("members@odata.bind") + binds("owners@odata.bind") > 20 {
                return Err("more than 20 references bound on create".into());
            }
            for m in body.get("members@odata.bind").and_then(Value::as_array).into_iter().flatten() {
                check_ref(m, &["directoryObjects"])?;
            }
            for o in body.get("owners@odata.bind").and_then(Value::as_array).into_iter().flatten() {
                check_ref(o, &["users"])?;
            }
            if unified && binds("owners@odata.bind") != 1 {
                return Err("a Microsoft 365 group created by an app names its owner".into());
            }
            if let Some(k) = body.keys().find(|k| k.contains('@') && !k.ends_with("s@odata.bind")) {
                return Err(format!("annotation {k}"));
            }
        }
        Action::AddMembers => {
            assert_eq!(r.method, "PATCH");
            assert!(r.url.starts_with("/groups/{id:"), "{}", r.url);
            if body.len() != 1 || !(1..=20).contains(&binds("members@odata.bind")) {
                return Err(format!("a member PATCH carries 1-20 members@odata.bind only: {body:?}"));
            }
            for m in body["members@odata.bind"].as_array().into_iter().flatten() {
                check_ref(m, &["directoryObjects"])?;
            }
        }
        Action::SetManager => {
            assert_eq!(r.method, "PUT");
            assert!(r.url.starts_with("/users/{id:") && r.url.ends_with("}/manager/$ref"), "{}", r.url);
            if body.len() != 1 {
                return Err(format!("a manager PUT carries @odata.id only: {body:?}"));
            }
            check_ref(&body["@odata.id"], &["users"])?;
        }
        Action::AssignUserLicence | Action::AssignGroupLicence => {
            assert_eq!(r.method, "POST");
            assert!(r.url.ends_with("/assignLicense"), "{}", r.url);
            if body.keys().collect::<Vec<_>>() != ["addLicenses", "removeLicenses"]
                || body["removeLicenses"] != json!([])
            {
                return Err(format!("assignLicense takes addLicenses and removeLicenses: {body:?}"));
            }
            // The parameter's type is Collection(graph.assignedLicense).
            csdl.check("addLicenses", "Collection(graph.assignedLicense)", &json!([]))?;
            for item in body["addLicenses"].as_array().into_iter().flatten() {
                let sku = item["skuId"].as_str().unwrap_or_default();
                if !matches!(Placeholder::parse(sku), Some(Placeholder::Sku(_))) || item["disabledPlans"] != json!([]) {
                    return Err(format!("addLicenses item {item}"));
                }
                for key in item.as_object().into_iter().flat_map(|o| o.keys()) {
                    csdl.property("assignedLicense", key).ok_or(format!("{key} is not on assignedLicense"))?;
                }
            }
        }
    }
    Ok(())
}

#[test]
fn every_rendered_body_matches_graphs_schema_and_rules() {
    let csdl = Csdl::load();
    // The parser above sees what the tests rely on.
    assert_eq!(csdl.property("user", "onPremisesExtensionAttributes"), Some("graph.onPremisesExtensionAttributes"));
    assert_eq!(csdl.property("user", "deletedDateTime"), Some("Edm.DateTimeOffset"), "inherited");
    assert!(csdl.check_body("user", json!({"givenName": 1}).as_object().unwrap()).is_err());
    assert!(csdl.check_body("user", json!({"favouriteColour": "blå"}).as_object().unwrap()).is_err());
    assert!(
        csdl.check_body("user", json!({"passwordProfile": {"pasword": "x"}}).as_object().unwrap()).is_err(),
        "complex types are closed"
    );

    let s = settings();
    let mut actions = BTreeSet::new();
    for content in [wave1(), wave2()] {
        let rendering = graph::render_wave(&content, &s);
        assert!(!rendering.requests.is_empty());
        for r in &rendering.requests {
            actions.insert(r.action);
            if let Err(e) = check_request(&csdl, r) {
                panic!("wave {} request {}: {e}\n{}", content.number, r.id, serde_json::to_string(r).unwrap());
            }
            let line = serde_json::to_string(r).unwrap();
            assert!(!line.contains(PERSONNUMMER) && !line.contains("employeeNumber"), "{line}");
        }
        for b in graph::batches(&rendering.requests) {
            let body = serde_json::to_value(&b).unwrap();
            let items = body["requests"].as_array().unwrap();
            assert!((1..=20).contains(&items.len()));
            for item in items {
                let upsert = item["url"].as_str().unwrap().starts_with("/groups(uniqueName=");
                let headers = if upsert {
                    json!({"Content-Type": "application/json", "Prefer": "create-if-missing"})
                } else {
                    json!({"Content-Type": "application/json"})
                };
                assert_eq!(item["headers"], headers, "a write body needs its type, an upsert its Prefer");
                assert!(item["url"].as_str().unwrap().starts_with('/'));
            }
        }
    }
    assert_eq!(actions.len(), 7, "every kind of request was checked: {actions:?}");
    let user = graph::render(&wave2(), &s).into_iter().find(|r| r.anchor == Some(anchor(12))).unwrap();
    assert_eq!(user.body.unwrap()["onPremisesExtensionAttributes"], json!({"extensionAttribute1": "4711"}));
}

// ---------------------------------------------------------------------------------------------
// The test tenant.

struct Client {
    tenant: RunningTenant,
    http: reqwest::Client,
    token: String,
}

impl Client {
    async fn start() -> Client {
        Client::start_with(&["SPE_E3=100", "SPE_F1=50"]).await
    }

    /// `skus` as PARTNUMBER=COUNT. Time runs 1,000 times faster than Graph's throttling windows:
    /// this test client does not pace itself (the executor will).
    async fn start_with(skus: &[&str]) -> Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let opts = TenantOptions {
            time_scale: 1000.0,
            domains: vec!["samverkan.se".into(), "elev.samverkan.se".into()],
            skus: skus.iter().map(|s| s.parse().unwrap()).collect(),
            ..TenantOptions::default()
        };
        let tenant = start(opts).await.unwrap();
        let http = reqwest::Client::new();
        let client_id = tenant.client_id().to_string();
        let form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
                ("client_secret", tenant.client_secret().expose()),
            ])
            .finish();
        let resp = http
            .post(tenant.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let token = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
        Client { tenant, http, token }
    }

    async fn send(&self, method: Method, url: &str, body: Option<&Value>) -> (u16, Value) {
        let url = if url.starts_with("http") { url.to_string() } else { format!("{}{url}", self.tenant.graph_url()) };
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn get(&self, url: &str) -> Value {
        let (status, body) = self.send(Method::GET, url, None).await;
        assert_eq!(status, 200, "GET {url}: {body}");
        body
    }

    /// skuPartNumber -> skuId, from /subscribedSkus.
    async fn sku_ids(&self) -> BTreeMap<String, String> {
        self.get("/subscribedSkus").await["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["skuPartNumber"].as_str().unwrap().to_string(), s["skuId"].as_str().unwrap().to_string()))
            .collect()
    }

    /// Every page of a collection.
    async fn all(&self, url: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = Some(url.to_string());
        while let Some(u) = next {
            let page = self.get(&u).await;
            out.extend(page["value"].as_array().unwrap().iter().cloned());
            next = page["@odata.nextLink"].as_str().map(str::to_string);
        }
        out
    }
}

/// A password Entra accepts: 16 random characters and one of each class. Random from std's
/// randomly keyed hasher: no RNG crate needed for a test.
fn random_password() -> String {
    use std::hash::{BuildHasher, Hasher};
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!#%+-=?";
    let mut out: String = (0..16)
        .map(|i| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            char::from(ALPHABET[(h.finish() % ALPHABET.len() as u64) as usize])
        })
        .collect();
    out.push_str("aA7!");
    out
}

/// Sends a wave batch by batch, as the executor will; returns the requests sent (without
/// placeholders filled) and records the ids the creates got.
async fn run_wave(
    client: &Client,
    content: &WaveContent,
    ids: &mut BTreeMap<Placeholder, String>,
    skus: &BTreeMap<String, String>,
    passwords: &RefCell<Vec<String>>,
) -> graph::Rendering {
    run_wave_with(client, content, &settings(), ids, skus, passwords).await
}

async fn run_wave_with(
    client: &Client,
    content: &WaveContent,
    settings: &TargetSettings,
    ids: &mut BTreeMap<Placeholder, String>,
    skus: &BTreeMap<String, String>,
    passwords: &RefCell<Vec<String>>,
) -> graph::Rendering {
    let rendering = graph::render_wave(content, settings);
    let batches = graph::batches(&rendering.requests);
    for (n, batch) in batches.iter().enumerate() {
        let sent = {
            let resolve = |p: &Placeholder| match p {
                Placeholder::Id(_) | Placeholder::LicenceGroup(_) => ids.get(p).cloned(),
                Placeholder::Sku(part) => skus.get(part).cloned(),
                Placeholder::Password => {
                    let pw = random_password();
                    passwords.borrow_mut().push(pw.clone());
                    Some(pw)
                }
            };
            batch
                .substitute(&resolve)
                .unwrap_or_else(|p| panic!("wave {}: batch {n}: {p} is not known yet", content.number))
        };
        let body = serde_json::to_value(&sent).unwrap();
        let (status, reply) = client.send(Method::POST, "/$batch", Some(&body)).await;
        assert_eq!(status, 200, "{reply}");
        let responses: BTreeMap<String, Value> = reply["responses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["id"].as_str().unwrap().to_string(), r.clone()))
            .collect();
        assert_eq!(responses.len(), batch.requests.len());
        for r in &batch.requests {
            let resp = &responses[&r.id];
            let code = resp["status"].as_u64().unwrap();
            assert!(
                (200..300).contains(&code),
                "wave {} request {} got {code}: {}",
                content.number,
                r.id,
                resp["body"]
            );
            if let Some(p) = r.creates() {
                ids.insert(p, resp["body"]["id"].as_str().unwrap().to_string());
            }
        }
    }
    rendering
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_tenant_accepts_every_request_and_holds_the_waves_content() {
    let client = Client::start().await;
    let skus = client.sku_ids().await;
    let mut ids: BTreeMap<Placeholder, String> = BTreeMap::new();
    let passwords = RefCell::new(Vec::new());
    let (first, second) = (wave1(), wave2());
    let r1 = run_wave(&client, &first, &mut ids, &skus, &passwords).await;
    let r2 = run_wave(&client, &second, &mut ids, &skus, &passwords).await;
    assert!(r1.skipped.is_empty(), "{:?}", r1.skipped);
    let skipped: Vec<_> = r2.skipped.iter().map(|s| (s.reason, s.anchor, s.detail.clone())).collect();
    assert_eq!(skipped, [(SkipReason::NestedGroupInMicrosoft365Group, Some(anchor(602)), anchor(601).0.to_string())]);
    assert_eq!(passwords.borrow().len(), 70, "a fresh password per user");
    assert_eq!(passwords.borrow().iter().collect::<BTreeSet<_>>().len(), 70);

    let id = |a: Anchor| ids[&Placeholder::Id(a)].clone();
    let people: Vec<Person> = first.people.iter().chain(&second.people).cloned().collect();
    assert_eq!(people.len(), 70);

    // Users: everything written in the one create, licences per user or through the group.
    let select = "displayName,userPrincipalName,mailNickname,accountEnabled,usageLocation,onPremisesImmutableId,\
                  givenName,surname,jobTitle,department,companyName,employeeId,employeeType,officeLocation,\
                  onPremisesExtensionAttributes,assignedLicenses";
    for p in &people {
        let u = client.get(&format!("/users/{}?$select={select}", id(p.anchor))).await;
        assert_eq!(u["displayName"], p.display_name.as_str());
        assert_eq!(u["userPrincipalName"], p.user_principal_name.as_str());
        assert_eq!(u["mailNickname"], p.mail_nickname.as_str());
        // [account_state] by default: every new account disabled until cutover.
        assert_eq!(u["accountEnabled"], false);
        assert_eq!(u["usageLocation"], "SE");
        assert_eq!(u["onPremisesImmutableId"], p.anchor.immutable_id());
        for key in [
            "givenName",
            "surname",
            "jobTitle",
            "department",
            "companyName",
            "employeeId",
            "employeeType",
            "officeLocation",
        ] {
            assert_eq!(u[key].as_str(), p.cloud.get(key).map(String::as_str), "{key} of {}", p.display_name);
        }
        assert_eq!(
            u["onPremisesExtensionAttributes"]["extensionAttribute1"].as_str(),
            p.cloud.get("extensionAttribute1").map(String::as_str)
        );
        let licences: Vec<&str> =
            u["assignedLicenses"].as_array().unwrap().iter().map(|l| l["skuId"].as_str().unwrap()).collect();
        let expected: Vec<&str> = match p.licence.as_str() {
            "E3" => vec![skus["SPE_E3"].as_str()],
            "F3" => vec![skus["SPE_F1"].as_str()],
            _ => vec![],
        };
        assert_eq!(licences, expected, "licences of {}", p.display_name);
    }
    let asa = client.get(&format!("/users/{}?$select=givenName,surname,department", id(anchor(11)))).await;
    assert_eq!((asa["givenName"].as_str(), asa["surname"].as_str()), (Some("Åsa"), Some("Öberg-Ängström")));
    assert_eq!(asa["department"], "Socialförvaltningen");

    // Groups and members, across both waves; the nested M365 membership was left out.
    let mut expected: BTreeMap<Anchor, BTreeSet<String>> = BTreeMap::new();
    for (g, m) in first.memberships.iter().chain(&second.memberships) {
        if *g == anchor(602) && matches!(m, Member::Group(_)) {
            continue;
        }
        let a = match m {
            Member::Person(a) | Member::Group(a) => *a,
        };
        expected.entry(*g).or_default().insert(ids[&Placeholder::Id(a)].clone());
    }
    assert_eq!(expected[&anchor(600)].len(), 61);
    assert_eq!(expected[&anchor(500)].len(), 5 + 25);
    for (g, members) in &expected {
        let gid = &ids[&Placeholder::Id(*g)];
        let got: BTreeSet<String> = client
            .all(&format!("/groups/{gid}/members?$select=id"))
            .await
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(&got, members, "members of group {}", g.0);
    }
    let groups: Vec<&Group> = first.groups.iter().chain(&second.groups).collect();
    for g in groups {
        let v = client
            .get(&format!(
                "/groups/{}?$select=displayName,mailNickname,groupTypes,securityEnabled,mailEnabled",
                id(g.anchor)
            ))
            .await;
        assert_eq!(v["displayName"], g.name.as_str());
        assert_eq!(v["mailNickname"], g.mail_nickname.as_str());
        let unified = g.name == "Projekt Samla";
        assert_eq!(v["groupTypes"], if unified { json!(["Unified"]) } else { json!([]) });
        assert_eq!(v["securityEnabled"], !unified);
    }
    // The Microsoft 365 group's owner: its first user member of the wave (in anchor order).
    let owner = [1, 11, 12, 13, 14].map(anchor).into_iter().min().unwrap();
    let owners = client.all(&format!("/groups/{}/owners?$select=id", id(anchor(602)))).await;
    assert_eq!(owners.iter().map(|o| o["id"].as_str().unwrap()).collect::<Vec<_>>(), [id(owner)]);

    // The licence group: created in wave 1, joined by wave 2's E3 people, carrying SPE_E3.
    let lg = &ids[&Placeholder::LicenceGroup("E3".into())];
    let v = client.get(&format!("/groups/{lg}?$select=displayName,assignedLicenses,securityEnabled")).await;
    assert_eq!(v["displayName"], E3_GROUP);
    assert_eq!(v["assignedLicenses"][0]["skuId"], skus["SPE_E3"].as_str());
    let lg_members: BTreeSet<String> = client
        .all(&format!("/groups/{lg}/members?$select=id"))
        .await
        .iter()
        .map(|m| m["id"].as_str().unwrap().into())
        .collect();
    let e3: BTreeSet<String> = people.iter().filter(|p| p.licence == "E3").map(|p| id(p.anchor)).collect();
    assert_eq!(lg_members, e3);
    assert_eq!(e3.len(), 10 + 30);

    // Managers, one of them from wave 1.
    for (p, m) in first.manager_links.iter().chain(&second.manager_links) {
        let got = client.get(&format!("/users/{}/manager?$select=id", ids[&Placeholder::Id(*p)])).await;
        assert_eq!(got["id"].as_str(), Some(ids[&Placeholder::Id(*m)].as_str()));
    }

    // Nothing on-premises and no password reached the tenant (nor its rendering).
    let dump = client.tenant.dump().to_string();
    assert!(!dump.contains(PERSONNUMMER) && !dump.contains("employeeNumber"));
    let rendered = serde_json::to_string(&r1.requests).unwrap() + &serde_json::to_string(&r2.requests).unwrap();
    for pw in passwords.borrow().iter() {
        assert!(!dump.contains(pw.as_str()) && !rendered.contains(pw.as_str()));
    }

    // The write count of wave 2 is the minimal one and what was sent.
    let wc = graph::count(&r2.requests);
    assert_eq!(wc.writes, r2.requests.len());
    let creates = 60 + 3;
    // Member PATCHes (20 bound on create): Alla 61 members -> 3, Hemtjänst 16 and Projekt
    // (owner + 5) -> 0, wave 1's IT-avdelningen 25 -> 2, the E3 licence group 30 -> 2.
    let members = 3 + 2 + 2;
    assert_eq!(wc.writes, creates + members + 10 /* managers */ + 15 /* F3 per user */);
    assert!(wc.naive > wc.writes);
}

/// Every wave of the sample estate, as `samla wave dry-run` prepares it: each request matches
/// Graph's schema and rules, and the test tenant accepts all of them in order, ending with
/// everyone mapped as a user, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_wave_of_the_sample_estate_is_valid_graph_and_accepted_by_the_test_tenant() {
    let p = crate::dry_run::planned("0.3");
    let config = samla::config::Config::load(&p.config()).unwrap();
    let names: Vec<String> = config.sources.iter().map(|s| s.name.clone()).collect();
    let targets = samla::mapping::spec::load(&p.path().join("mappings"), &names).unwrap().target.targets;
    let waves = samla::plan::files::read_dir(&p.path().join("waves")).unwrap();
    let csdl = Csdl::load();
    let client = Client::start_with(&["SPE_E3=5000", "SPE_F1=5000", "M365EDU_A3_STUUSEBNFT=5000"]).await;
    let skus = client.sku_ids().await;
    let mut ids: BTreeMap<Placeholder, String> = BTreeMap::new();
    let passwords = RefCell::new(Vec::new());
    let mut people = 0;
    let state = samla::state::State::open_read(&config.state_path).unwrap();
    for w in &waves {
        let purpose = samla::wave::prepare::Purpose::Send;
        let content = samla::wave::prepare::prepare(&config, &state, &w.number.to_string(), purpose).unwrap().content;
        // Admin and service accounts stay in the shared AD ([cloud]).
        people += content.people.iter().filter(|p| targets.cloud.goes(p.kind)).count();
        for r in &graph::render_wave(&content, &targets).requests {
            if let Err(e) = check_request(&csdl, r) {
                panic!("wave {} request {}: {e}", w.number, r.id);
            }
        }
        run_wave_with(&client, &content, &targets, &mut ids, &skus, &passwords).await;
    }
    let users = client.all("/users?$select=id,onPremisesImmutableId").await;
    assert_eq!(users.len(), people, "every person once");
    let anchors: BTreeSet<&str> = users.iter().filter_map(|u| u["onPremisesImmutableId"].as_str()).collect();
    assert_eq!(anchors.len(), people, "every person with their own anchor");
}
