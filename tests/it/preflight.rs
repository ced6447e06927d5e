//! Issue 25, point 2: the tenant is checked before the first write of a wave. A tenant
//! without a UPN domain the wave uses, with too few licences, or where another live or a
//! soft-deleted user holds a name or an anchor the wave creates, refuses the wave in its
//! dry-run (exit 1, the findings by municipality, JSON) and in its run, with nothing sent.

use crate::safe_wave::{TenantLab, options};
use crate::support::stderr;
use serde_json::{Value, json};

const TENANT: &str = "33333333-3333-4333-8333-333333333333";

/// The users wave 1 creates (the dry-run's create requests), as (userPrincipalName, body).
fn created_users(lab: &TenantLab) -> Vec<Value> {
    let out = lab.samla(&["wave", "dry-run", "1", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dry: Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = dry["outputs"]["graph_requests"].as_str().unwrap();
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["method"] == "POST" && r["url"] == "/users")
        .map(|r| r["body"].clone())
        .collect()
}

/// A client signed in to `lab`'s tenant as its app, and the bearer token.
async fn as_app(lab: &TenantLab) -> (reqwest::Client, String) {
    let tenant = &lab.tenants[0];
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "client_credentials"),
            ("client_id", tenant.client_id().to_string().as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
            ("client_secret", tenant.client_secret().expose()),
        ])
        .finish();
    let token: Value = http
        .post(tenant.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = token["access_token"].as_str().unwrap().to_string();
    (http, bearer)
}

/// A user made in the tenant by someone else (over Graph, as the app) with `upn`, `nick` and
/// `anchor`, then soft-deleted when `delete`; its id.
pub(crate) fn foreign_user(lab: &TenantLab, upn: &str, nick: &str, anchor: Option<&str>, delete: bool) -> String {
    let mut body = json!({"mailNickname": nick, "userPrincipalName": upn});
    if let Some(a) = anchor {
        body["onPremisesImmutableId"] = json!(a);
    }
    foreign(lab, body, delete)
}

/// A user made by someone else with the properties of `props` (and a name and password), then
/// soft-deleted when `delete`; its id.
fn foreign(lab: &TenantLab, props: Value, delete: bool) -> String {
    let tenant = &lab.tenants[0];
    lab.rt.block_on(async {
        let (http, bearer) = as_app(lab).await;
        let mut body = json!({
            "accountEnabled": true,
            "displayName": "Someone Else",
            "passwordProfile": {"password": "Ett-annat-L0senord!", "forceChangePasswordNextSignIn": true},
        });
        for (k, v) in props.as_object().unwrap() {
            body[k] = v.clone();
        }
        let made = http.post(format!("{}/users", tenant.graph_url())).bearer_auth(&bearer).json(&body).send().await;
        let made: Value = made.unwrap().json().await.unwrap();
        let id = made["id"].as_str().unwrap_or_else(|| panic!("{made}")).to_string();
        if delete {
            let gone = http.delete(format!("{}/users/{id}", tenant.graph_url())).bearer_auth(&bearer).send().await;
            assert_eq!(gone.unwrap().status(), 204);
        }
        id
    })
}

/// Gives user `id` the directory role named `role`, as Graph does it: the role found in
/// `GET /directoryRoles`, the user added with `POST /directoryRoles/{role}/members/$ref`.
fn grant_role(lab: &TenantLab, id: &str, role: &str) {
    let graph = lab.tenants[0].graph_url().to_string();
    lab.rt.block_on(async {
        let (http, bearer) = as_app(lab).await;
        let roles: Value = http
            .get(format!("{graph}/directoryRoles"))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let role_id = roles["value"].as_array().unwrap().iter().find(|r| r["displayName"] == role).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")});
        let added = http
            .post(format!("{graph}/directoryRoles/{role_id}/members/$ref"))
            .bearer_auth(&bearer)
            .json(&reference)
            .send()
            .await
            .unwrap();
        assert_eq!(added.status(), 204);
        let members: Value = http
            .get(format!("{graph}/directoryRoles/{role_id}/members?$select=id"))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(members["value"][0]["id"], id, "{members}");
    });
}

fn refused(lab: &TenantLab, needles: &[&str]) -> Value {
    let before = lab.tenant_objects();
    let dry = lab.samla(&["wave", "dry-run", "1", "--target", "lab", "--json"]);
    assert_eq!(dry.status.code(), Some(1), "{}", stderr(&dry));
    let text = stderr(&dry);
    assert!(text.contains("cannot take wave 1") && text.contains("nothing was sent"), "{text}");
    for n in needles {
        assert!(text.contains(n), "{n} not in {text}");
    }
    let json: Value = serde_json::from_slice(&dry.stdout).unwrap();
    let run = lab.samla(&["wave", "run", "1", "--target", "lab", "--yes"]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    for n in needles {
        assert!(stderr(&run).contains(n), "{n} not in {}", stderr(&run));
    }
    assert_eq!(lab.tenant_objects(), before, "the tenant changed");
    json["preflight"].clone()
}

#[test]
fn a_tenant_without_the_domain_or_enough_licences_refuses_the_wave_with_nothing_sent() {
    let mut tenant = options(TENANT);
    tenant.domains = vec!["elev.samverkan.se".into()];
    tenant.skus = ["SPE_E3=1", "SPE_F1=1", "M365EDU_A3_STUUSEBNFT=2500"].iter().map(|s| s.parse().unwrap()).collect();
    let lab = TenantLab::with("0.3", tenant);
    let users = created_users(&lab).len();
    assert!(users > 1);
    let findings = refused(&lab, &["domain not verified", "samverkan.se is not a verified domain", "SPE_E3"]);
    let checks: Vec<&str> = findings.as_array().unwrap().iter().map(|f| f["check"].as_str().unwrap()).collect();
    assert_eq!(checks.iter().filter(|c| **c == "unverified_domain").count(), users, "{findings}");
    assert!(checks.contains(&"too_few_licences"), "{findings}");
}

#[test]
fn a_foreign_or_soft_deleted_user_holding_a_name_or_anchor_of_the_wave_refuses_it() {
    let lab = TenantLab::with("0.3", options(TENANT));
    let users = created_users(&lab);
    let upn = |i: usize| users[i]["userPrincipalName"].as_str().unwrap().to_string();
    let nick = |i: usize| users[i]["mailNickname"].as_str().unwrap().to_string();
    // Someone else's account on the first name; a deleted account with the second person's
    // mailNickname and one with the third person's anchor, under other names.
    foreign_user(&lab, &upn(0), "someone.else", None, false);
    foreign_user(&lab, "former.one@samverkan.se", &nick(1), None, true);
    let anchor = users[2]["onPremisesImmutableId"].as_str().unwrap();
    foreign_user(&lab, "former.two@samverkan.se", "former.two", Some(anchor), true);
    let findings = refused(&lab, &[&upn(0), &upn(1), &upn(2), "taken by another user", "held by a deleted user"]);
    let by_check = |c: &str| findings.as_array().unwrap().iter().filter(|f| f["check"] == c).count();
    assert_eq!((by_check("taken_by_another"), by_check("taken_by_deleted")), (1, 2), "{findings}");
    // Without them, the same wave goes through.
    let clean = TenantLab::with("0.3", options(TENANT));
    let out = clean.samla(&["wave", "dry-run", "1", "--target", "lab", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dry: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dry["preflight"], json!([]));
}

/// Issue 25, point 2's last check: a cloud user the wave would take over (found by its
/// anchor, so the wave updates it) that holds a directory role refuses the wave, naming the
/// role, with nothing sent.
#[test]
fn a_cloud_user_the_wave_would_update_holding_a_directory_role_refuses_it() {
    let lab = TenantLab::with("0.3", options(TENANT));
    let users = created_users(&lab);
    let anchor = users[0]["onPremisesImmutableId"].as_str().unwrap();
    let admin = foreign_user(&lab, "it.admin@samverkan.se", "it.admin", Some(anchor), false);
    grant_role(&lab, &admin, "Global Administrator");
    let findings = refused(&lab, &["holds a directory role", "it.admin@samverkan.se", "Global Administrator"]);
    let roles: Vec<&Value> = findings.as_array().unwrap().iter().filter(|f| f["check"] == "role_holder").collect();
    assert_eq!(roles.len(), 1, "{findings}");
    assert!(roles[0]["detail"].as_str().unwrap().contains(&admin), "{findings}");
}

/// Issue 25, point 2, the addresses: Exchange Online makes each new user's userPrincipalName
/// an address, so a live user the wave does not own (under its own, other UPN) whose
/// proxyAddresses hold `SMTP:<a wave person's UPN>`, or a soft-deleted one likewise, refuses
/// the wave in its dry-run and its run with nothing sent; without them it goes through.
#[test]
fn a_foreign_or_soft_deleted_holder_of_an_address_the_wave_claims_refuses_it() {
    let lab = TenantLab::with("0.3", options(TENANT));
    let users = created_users(&lab);
    let upn = |i: usize| users[i]["userPrincipalName"].as_str().unwrap().to_string();
    let holder = |n: &str, address: &str, delete: bool| {
        let props = json!({"userPrincipalName": format!("{n}@samverkan.se"), "mailNickname": n, "mail": address});
        foreign(&lab, props, delete)
    };
    let live = holder("alias.holder", &upn(0), false);
    let deleted = holder("former.alias", &upn(1).to_uppercase(), true);
    let findings = refused(&lab, &[&upn(0), &upn(1), "address held by another", &format!("smtp:{}", upn(0))]);
    let all = findings.as_array().unwrap();
    assert!(all.iter().all(|f| f["check"] == "address_taken"), "{findings}");
    assert_eq!(all.len(), 2, "{findings}");
    let about = |u: &str| all.iter().find(|f| f["object"] == u).unwrap()["detail"].as_str().unwrap().to_string();
    assert!(about(&upn(0)).starts_with(&format!("user {live}")), "{findings}");
    assert!(about(&upn(1)).starts_with(&format!("deleted user {deleted}")), "{findings}");
    // Without them, the same wave goes through.
    let clean = TenantLab::with("0.3", options(TENANT));
    let out = clean.samla(&["wave", "dry-run", "1", "--target", "lab", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dry: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dry["preflight"], json!([]));
}
