//! Contract tests of the test tenant (`samla::test_tenant`), over real HTTP with reqwest: each
//! rule of issue 5 as a client meets it. Every test starts its own in-process tenant.

use reqwest::{Method, StatusCode};
use samla::test_tenant::{RunningTenant, TenantOptions, start};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const E3: &str = "05e9a617-0261-4cee-bb44-138d3ef5d965";
const PASSWORD: &str = "Sommar!2024x";

/// A tenant and a signed-in client (shared with tests/it/tap.rs).
pub(crate) struct Graph {
    pub(crate) tenant: RunningTenant,
    pub(crate) http: reqwest::Client,
    pub(crate) token: String,
}

/// A response: status, headers, JSON body (Null when empty).
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub(crate) fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        self
    }

    #[track_caller]
    pub(crate) fn error(self, status: u16, code: &str) -> Reply {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.body["error"]["code"], code, "{}", self.body);
        self
    }

    pub(crate) fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().pool_max_idle_per_host(32).build().unwrap()
}

impl Graph {
    pub(crate) async fn start(opts: TenantOptions) -> Graph {
        let tenant = start(opts).await.unwrap();
        let http = http();
        let token =
            token(&http, &tenant, tenant.client_secret().expose()).await.json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_string();
        Graph { tenant, http, token }
    }

    pub(crate) async fn default() -> Graph {
        Graph::start(TenantOptions::default()).await
    }

    pub(crate) async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send_with(method, path, body, &[]).await
    }

    async fn send_with(&self, method: Method, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Reply {
        let url = format!("{}{path}", self.tenant.graph_url());
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        reply(resp).await
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    pub(crate) async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    pub(crate) async fn user(&self, nick: &str, extra: Value) -> String {
        let mut body = user_body(nick);
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.post("/users", body).await.expect(201).body["id"].as_str().unwrap().to_string()
    }

    pub(crate) async fn group(&self, nick: &str, extra: Value) -> String {
        let mut body =
            json!({"displayName": nick, "mailNickname": nick, "mailEnabled": false, "securityEnabled": true});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.post("/groups", body).await.expect(201).body["id"].as_str().unwrap().to_string()
    }

    pub(crate) fn reference(&self, id: &str) -> Value {
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")})
    }
}

async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply { status, headers, body }
}

async fn token(http: &reqwest::Client, tenant: &RunningTenant, secret: &str) -> reqwest::Response {
    let client_id = tenant.client_id().to_string();
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
        ("client_secret", secret),
    ]);
    http.post(tenant.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A form-encoded body.
fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

fn user_body(nick: &str) -> Value {
    json!({
        "accountEnabled": true,
        "displayName": format!("Test {nick}"),
        "mailNickname": nick,
        "userPrincipalName": format!("{nick}@bjuv.se"),
        "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": true},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_uses_entras_errors_and_graph_requires_a_valid_unexpired_bearer() {
    let opts = TenantOptions { token_lifetime_secs: 1, ..TenantOptions::default() };
    let tenant = start(opts).await.unwrap();
    let http = http();

    let ok = token(&http, &tenant, tenant.client_secret().expose()).await;
    assert_eq!(ok.status(), 200);
    let ok: Value = ok.json().await.unwrap();
    assert_eq!(ok["token_type"], "Bearer");
    assert_eq!(ok["expires_in"], 1);
    let access = ok["access_token"].as_str().unwrap().to_string();

    let bad = token(&http, &tenant, "not-the-secret").await;
    assert_eq!(bad.status(), 401);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["error"], "invalid_client");
    assert_eq!(bad["error_codes"], json!([7000215]));
    assert!(bad["error_description"].as_str().unwrap().starts_with("AADSTS7000215: Invalid client secret provided."));
    for key in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(bad[key].is_string(), "{key} in {bad}");
    }
    let client_id = tenant.client_id().to_string();
    let wrong_scope = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", &client_id),
        ("scope", "User.Read"),
        ("client_secret", tenant.client_secret().expose()),
    ]);
    let wrong_scope = http
        .post(tenant.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(wrong_scope)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_scope.status(), 400);
    assert_eq!(wrong_scope.json::<Value>().await.unwrap()["error"], "invalid_scope");

    let users = format!("{}/users", tenant.graph_url());
    let none = reply(http.get(&users).send().await.unwrap()).await.error(401, "InvalidAuthenticationToken");
    assert!(none.header("www-authenticate").unwrap().starts_with("Bearer"));
    assert!(none.header("request-id").is_some());
    assert!(none.body["error"]["innerError"]["request-id"].is_string());
    reply(http.get(&users).bearer_auth("a.b.c").send().await.unwrap()).await.error(401, "InvalidAuthenticationToken");
    reply(http.get(&users).bearer_auth(&access).send().await.unwrap()).await.expect(200);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = reply(http.get(&users).bearer_auth(&access).send().await.unwrap()).await;
    let expired = expired.error(401, "InvalidAuthenticationToken");
    assert!(expired.message().contains("expired"), "{}", expired.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_bodies_carry_inner_error_and_request_ids_and_bad_json_is_bad_request() {
    let g = Graph::default().await;
    let resp = g
        .http
        .post(format!("{}/users", g.tenant.graph_url()))
        .bearer_auth(&g.token)
        .header("content-type", "application/json")
        .header("client-request-id", "c0ffee00-0000-4000-8000-000000000001")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let r = reply(resp).await.error(400, "BadRequest");
    assert!(r.message().starts_with("Unable to read JSON request payload."));
    let inner = &r.body["error"]["innerError"];
    assert_eq!(inner["client-request-id"], "c0ffee00-0000-4000-8000-000000000001");
    assert_eq!(inner["request-id"].as_str(), r.header("request-id"));
    assert_eq!(r.header("client-request-id"), Some("c0ffee00-0000-4000-8000-000000000001"));
    assert!(inner["date"].as_str().unwrap().len() == 19, "{inner}");
    // A JSON array where an object is expected, and an unknown segment.
    g.post("/users", json!([1, 2])).await.error(400, "BadRequest");
    let r = g.get("/usres").await.error(400, "BadRequest");
    assert_eq!(r.message(), "Resource not found for the segment 'usres'.");
    // Graph's schema is served too.
    let meta = g.http.get(format!("{}/$metadata", g.tenant.graph_url())).bearer_auth(&g.token).send().await.unwrap();
    assert!(meta.text().await.unwrap().contains("<EntityType Name=\"user\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domains_and_subscribed_skus_are_the_configured_ones() {
    let g = Graph::default().await;
    let domains = g.get("/domains").await.expect(200);
    let ids: Vec<&str> = domains.body["value"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    for d in ["samverkan.se", "bjuv.se", "klippan.se", "perstorp.se", "astorp.se", "orkelljunga.se"] {
        assert!(ids.contains(&d), "{d} in {ids:?}");
    }
    assert!(domains.body["value"].as_array().unwrap().iter().all(|d| d["isVerified"] == true));
    let skus = g.get("/subscribedSkus").await.expect(200);
    let e3 = skus.body["value"].as_array().unwrap().iter().find(|s| s["skuPartNumber"] == "SPE_E3").unwrap().clone();
    assert_eq!(e3["skuId"], E3);
    assert_eq!(e3["prepaidUnits"]["enabled"], 2000);
    assert_eq!(e3["consumedUnits"], 0);
    let f1 = skus.body["value"].as_array().unwrap().iter().find(|s| s["skuPartNumber"] == "SPE_F1").unwrap().clone();
    assert_eq!(f1["prepaidUnits"]["enabled"], 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_created_with_graphs_rules_and_read_by_id_or_upn_with_select() {
    let g = Graph::default().await;
    let created = g
        .post(
            "/users",
            json!({
                "accountEnabled": true, "displayName": "Åsa Öberg", "mailNickname": "asa.oberg",
                "userPrincipalName": "asa.oberg@bjuv.se", "givenName": "Åsa", "surname": "Öberg",
                "onPremisesImmutableId": "AAECAwQFBgcICQoLDA0ODw==", "employeeId": "B1001", "usageLocation": "SE",
                "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": true},
            }),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["userPrincipalName"], "asa.oberg@bjuv.se");
    assert_eq!(created.body["displayName"], "Åsa Öberg");
    assert!(created.body.get("passwordProfile").is_none(), "the password is never returned");

    let by_id = g.get(&format!("/users/{id}")).await.expect(200);
    assert_eq!(by_id.body["givenName"], "Åsa");
    assert!(by_id.body.get("onPremisesImmutableId").is_none(), "not in the default set");
    let by_upn =
        g.get("/users/ASA.OBERG@bjuv.se?$select=id,onPremisesImmutableId,employeeId,usageLocation").await.expect(200);
    assert_eq!(by_upn.body["id"], id);
    assert_eq!(by_upn.body["onPremisesImmutableId"], "AAECAwQFBgcICQoLDA0ODw==");
    assert_eq!(by_upn.body["employeeId"], "B1001");
    assert!(by_upn.body.get("displayName").is_none(), "only what was selected");
    g.get("/users/nobody@bjuv.se").await.error(404, "Request_ResourceNotFound");

    // Required properties, one at a time.
    for missing in ["accountEnabled", "displayName", "mailNickname", "passwordProfile", "userPrincipalName"] {
        let mut body = user_body("x1");
        body.as_object_mut().unwrap().remove(missing);
        let r = g.post("/users", body).await.error(400, "Request_BadRequest");
        assert!(r.message().contains(missing), "{}", r.body);
    }
    // Name rules.
    let cases = [
        ("userPrincipalName", json!("åsa@bjuv.se"), "Property userPrincipalName is invalid."),
        ("userPrincipalName", json!("asa.@bjuv.se"), "Property userPrincipalName is invalid."),
        ("userPrincipalName", json!(format!("{}@bjuv.se", "a".repeat(65))), "Property userPrincipalName is invalid."),
        (
            "userPrincipalName",
            json!("asa@contoso.com"),
            "The domain portion of the userPrincipalName property is invalid.",
        ),
        ("mailNickname", json!("asa oberg"), "Invalid value specified for property 'mailNickname'"),
        ("mailNickname", json!("x".repeat(65)), "Invalid value specified for property 'mailNickname'"),
        ("displayName", json!("x".repeat(257)), "Invalid value specified for property 'displayName'"),
        ("givenName", json!("x".repeat(65)), "Invalid value specified for property 'givenName'"),
        ("jobTitle", json!("x".repeat(129)), "Invalid value specified for property 'jobTitle'"),
        ("employeeId", json!("x".repeat(17)), "Invalid value specified for property 'employeeId'"),
        ("onPremisesImmutableId", json!("abc$def"), "Invalid value specified for property 'onPremisesImmutableId'"),
        ("usageLocation", json!("Sweden"), "Invalid value specified for property 'usageLocation'"),
        ("passwordProfile", json!({"password": "short"}), "The specified password does not comply"),
    ];
    for (prop, value, message) in cases {
        let mut body = user_body("x2");
        body[prop] = value;
        let r = g.post("/users", body).await.error(400, "Request_BadRequest");
        assert!(r.message().starts_with(message), "{prop}: {}", r.body);
    }
    // Uniqueness: Graph's exact body.
    let mut dup = user_body("other");
    dup["userPrincipalName"] = json!("Asa.Oberg@bjuv.se");
    let r = g.post("/users", dup).await.error(400, "Request_BadRequest");
    assert_eq!(r.message(), "Another object with the same value for property userPrincipalName already exists.");
    assert_eq!(r.body["error"]["details"][0]["code"], "ObjectConflict");
    assert_eq!(r.body["error"]["details"][0]["target"], "userPrincipalName");
    let mut dup = user_body("x3");
    dup["mailNickname"] = json!("ASA.OBERG");
    let r = g.post("/users", dup).await.error(400, "Request_BadRequest");
    assert_eq!(r.body["error"]["details"][0]["target"], "mailNickname");
    let mut dup = user_body("x4");
    dup["onPremisesImmutableId"] = json!("AAECAwQFBgcICQoLDA0ODw==");
    g.post("/users", dup).await.error(400, "Request_BadRequest");
    assert_eq!(g.tenant.dump()["users"].as_array().unwrap().len(), 1, "no failed create left anything behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_found_by_the_properties_samla_anchors_on_and_listed_in_pages() {
    let g = Graph::default().await;
    let a = g.user("anna", json!({"onPremisesImmutableId": "q83vEjRWeJCrze8SNFZ4kA==", "employeeId": "K-17"})).await;
    let b = g.user("o'brien", json!({})).await;
    for n in 0..5 {
        g.user(&format!("bulk{n}"), json!({})).await;
    }
    let one = |r: Reply| {
        let v = r.expect(200).body["value"].as_array().unwrap().clone();
        v.iter().map(|u| u["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(one(g.get("/users?$filter=onPremisesImmutableId eq 'q83vEjRWeJCrze8SNFZ4kA=='").await), vec![a.clone()]);
    assert_eq!(one(g.get("/users?$filter=userPrincipalName eq 'ANNA@bjuv.se'").await), vec![a.clone()]);
    assert_eq!(one(g.get("/users?$filter=mailNickname eq 'anna'").await), vec![a.clone()]);
    assert_eq!(one(g.get("/users?$filter=employeeId eq 'K-17'").await), vec![a.clone()]);
    assert_eq!(one(g.get("/users?$filter=userPrincipalName eq 'o''brien@bjuv.se'").await), vec![b.clone()]);
    assert!(one(g.get("/users?$filter=employeeId eq 'nobody'").await).is_empty());
    // A "+" in a query string is a space (as in Graph): base64 anchors need %2B.
    let plus = g.user("plus", json!({"onPremisesImmutableId": "q83vEjRW+JCrze8SNFZ4kA=="})).await;
    assert!(one(g.get("/users?$filter=onPremisesImmutableId eq 'q83vEjRW+JCrze8SNFZ4kA=='").await).is_empty());
    assert_eq!(one(g.get("/users?$filter=onPremisesImmutableId eq 'q83vEjRW%2BJCrze8SNFZ4kA=='").await), vec![plus]);
    assert_eq!(one(g.get("/users?$filter=startswith(userPrincipalName,'bulk')").await).len(), 5);
    assert_eq!(one(g.get("/users?$filter=mailNickname in ('anna','bulk0')").await).len(), 2);
    let r = g.get("/users?$filter=jobTitle eq 'x'").await.error(400, "Request_UnsupportedQuery");
    assert!(r.message().contains("jobTitle"));
    g.get("/users?$filter=displayName eq").await.error(400, "BadRequest");
    g.get("/users?$top=1000").await.error(400, "Request_BadRequest");
    g.get("/users?$select=favouriteColour").await.error(400, "BadRequest");

    // Paging: $top=3 over 7 users, following @odata.nextLink.
    let mut url = format!("{}/users?$top=3&$select=id", g.tenant.graph_url());
    let mut seen = Vec::new();
    loop {
        let r = reply(g.http.get(&url).bearer_auth(&g.token).send().await.unwrap()).await.expect(200);
        let page = r.body["value"].as_array().unwrap();
        assert!(page.len() <= 3);
        seen.extend(page.iter().map(|u| u["id"].as_str().unwrap().to_string()));
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (8, 8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_goes_through_the_same_validation_as_post() {
    let g = Graph::default().await;
    let id = g.user("per", json!({})).await;
    g.user("taken", json!({})).await;
    let path = format!("/users/{id}");
    g.patch(&path, json!({"jobTitle": "Rektor", "department": "Skola", "usageLocation": "SE"})).await.expect(204);
    assert_eq!(g.get(&format!("{path}?$select=jobTitle,department")).await.body["department"], "Skola");
    g.patch(&path, json!({"jobTitle": null})).await.expect(204);
    assert_eq!(g.get(&format!("{path}?$select=jobTitle")).await.body["jobTitle"], Value::Null);
    let too_long = g.patch(&path, json!({"displayName": "x".repeat(257)})).await.error(400, "Request_BadRequest");
    assert!(too_long.message().contains("displayName"));
    g.patch(&path, json!({"displayName": null})).await.error(400, "Request_BadRequest");
    g.patch(&path, json!({"userPrincipalName": "per@contoso.com"})).await.error(400, "Request_BadRequest");
    let r = g.patch(&path, json!({"userPrincipalName": "TAKEN@bjuv.se"})).await.error(400, "Request_BadRequest");
    assert_eq!(r.body["error"]["details"][0]["target"], "userPrincipalName");
    g.patch(&path, json!({"mailNickname": "taken"})).await.error(400, "Request_BadRequest");
    g.patch(&path, json!({"userPrincipalName": "per.nilsson@klippan.se"})).await.expect(204);
    g.get("/users/per.nilsson@klippan.se").await.expect(200);
    g.get("/users/per@bjuv.se").await.error(404, "Request_ResourceNotFound");
    g.patch("/users/00000000-0000-4000-8000-000000000000", json!({"jobTitle": "x"}))
        .await
        .error(404, "Request_ResourceNotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_are_checked_against_graphs_own_csdl() {
    let g = Graph::default().await;
    // Not in the CSDL: refused, named.
    let mut body = user_body("csdl1");
    body["favouriteColour"] = json!("blå");
    let r = g.post("/users", body).await.error(400, "Request_BadRequest");
    assert_eq!(r.message(), "Property 'favouriteColour' does not exist as a declared property or extension property.");
    // In the CSDL, writable, never sent by samla: accepted and returned.
    let mut body = user_body("csdl2");
    body["officeLocation"] = json!("Stadshuset");
    body["preferredLanguage"] = json!("sv-SE");
    body["onPremisesExtensionAttributes"] = json!({"extensionAttribute1": "Bjuv", "extensionAttribute15": "x"});
    body["businessPhones"] = json!(["+46 42 123 45"]);
    let id = g.post("/users", body).await.expect(201).body["id"].as_str().unwrap().to_string();
    let back =
        g.get(&format!("/users/{id}?$select=officeLocation,preferredLanguage,onPremisesExtensionAttributes")).await;
    assert_eq!(back.body["officeLocation"], "Stadshuset");
    assert_eq!(back.body["onPremisesExtensionAttributes"]["extensionAttribute1"], "Bjuv");
    // Inherited from directoryObject (BaseType) and entity: known, but read-only.
    let r = g.patch(&format!("/users/{id}"), json!({"deletedDateTime": "2024-01-01T00:00:00Z"})).await;
    assert_eq!(
        r.error(400, "Request_BadRequest").message(),
        "Property 'deletedDateTime' is read-only and cannot be set."
    );
    // Types: boolean, collection, complex, nested unknown, nested type.
    let cases = [
        json!({"accountEnabled": "true"}),
        json!({"businessPhones": "+46 42 1"}),
        json!({"displayName": ["x"]}),
        json!({"passwordProfile": "Sommar!2024x"}),
        json!({"passwordProfile": {"password": PASSWORD, "mustChange": true}}),
        json!({"onPremisesExtensionAttributes": {"extensionAttribute16": "x"}}),
        json!({"onPremisesExtensionAttributes": {"extensionAttribute1": 5}}),
        json!({"employeeHireDate": "last tuesday"}),
    ];
    for case in cases {
        let r = g.patch(&format!("/users/{id}"), case.clone()).await.error(400, "BadRequest");
        assert!(!r.message().is_empty(), "{case}");
    }
    // Read-only properties from graph/README.md.
    for (prop, value) in [
        ("proxyAddresses", json!(["SMTP:a@bjuv.se"])),
        ("id", json!("00000000-0000-4000-8000-000000000000")),
        ("createdDateTime", json!("2024-01-01T00:00:00Z")),
        ("securityIdentifier", json!("S-1-12-1-1-2-3-4")),
        ("onPremisesSyncEnabled", json!(true)),
        ("onPremisesSamAccountName", json!("asa")),
        ("assignedLicenses", json!([])),
    ] {
        let r = g.patch(&format!("/users/{id}"), json!({ prop: value })).await.error(400, "Request_BadRequest");
        assert!(r.message().contains("read-only"), "{prop}: {}", r.body);
    }
    // Groups are checked against microsoft.graph.group.
    let r = g
        .post("/groups", json!({"displayName": "G", "mailNickname": "g", "mailEnabled": false, "securityEnabled": true, "jobTitle": "x"}))
        .await
        .error(400, "Request_BadRequest");
    assert!(r.message().contains("'jobTitle'"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_is_soft_and_restore_brings_the_user_back_unless_its_upn_was_taken() {
    let g = Graph::default().await;
    let id = g.user("lisa", json!({})).await;
    let group = g.group("lisagrupp", json!({}));
    let group = group.await;
    g.post(&format!("/groups/{group}/members/$ref"), g.reference(&id)).await.expect(204);
    g.delete(&format!("/users/{id}")).await.expect(204);
    g.get(&format!("/users/{id}")).await.error(404, "Request_ResourceNotFound");
    g.delete(&format!("/users/{id}")).await.error(404, "Request_ResourceNotFound");
    assert!(g.get(&format!("/groups/{group}/members")).await.body["value"].as_array().unwrap().is_empty());

    let deleted = g.get("/directory/deletedItems/microsoft.graph.user").await.expect(200);
    let item = deleted.body["value"].as_array().unwrap().iter().find(|u| u["id"] == id.as_str()).unwrap().clone();
    assert_eq!(item["@odata.type"], "#microsoft.graph.user");
    let simple = id.replace('-', "");
    assert_eq!(item["userPrincipalName"], format!("{simple}lisa@bjuv.se"), "Entra's mangled UPN");
    assert!(item["deletedDateTime"].is_string());
    g.get(&format!("/directory/deletedItems/{id}")).await.expect(200);
    // One deleted item by id, with $select (how samla finds its own deleted users by anchor).
    let one = g.get(&format!("/directory/deletedItems/{id}?$select=id,mailNickname")).await.expect(200);
    assert_eq!((one.body["id"].as_str(), one.body["mailNickname"].as_str()), (Some(id.as_str()), Some("lisa")));
    assert!(one.body.get("displayName").is_none(), "only what was selected: {}", one.body);

    // The UPN is free again (as in Entra); the mailNickname stays reserved (stricter).
    let mut again = user_body("lisa2");
    again["userPrincipalName"] = json!("lisa@bjuv.se");
    let other = g.post("/users", again).await.expect(201).body["id"].as_str().unwrap().to_string();
    let mut nick = user_body("lisa3");
    nick["mailNickname"] = json!("lisa");
    g.post("/users", nick).await.error(400, "Request_BadRequest");
    let r = g.post(&format!("/directory/deletedItems/{id}/restore"), json!({})).await.error(400, "Request_BadRequest");
    assert_eq!(r.body["error"]["details"][0]["target"], "userPrincipalName");

    g.delete(&format!("/users/{other}")).await.expect(204);
    let restored = g.post(&format!("/directory/deletedItems/{id}/restore"), json!({})).await.expect(200);
    assert_eq!(restored.body["userPrincipalName"], "lisa@bjuv.se");
    g.get("/users/lisa@bjuv.se").await.expect(200);
    assert_eq!(
        g.get(&format!("/groups/{group}/members")).await.body["value"][0]["id"],
        id.as_str(),
        "memberships kept"
    );
    // Purging needs a permission no application has.
    g.delete(&format!("/directory/deletedItems/{other}")).await.error(403, "Authorization_RequestDenied");
    // Security groups are deleted for good; Microsoft 365 groups are restorable.
    g.delete(&format!("/groups/{group}")).await.expect(204);
    g.post(&format!("/directory/deletedItems/{group}/restore"), json!({})).await.error(404, "Request_ResourceNotFound");
    let owner = format!("https://graph.microsoft.com/v1.0/users/{id}");
    let unified =
        json!({"mailEnabled": true, "securityEnabled": false, "groupTypes": ["Unified"], "owners@odata.bind": [owner]});
    let m365 = g.group("team", unified).await;
    g.delete(&format!("/groups/{m365}")).await.expect(204);
    let listed = g.get("/directory/deletedItems/microsoft.graph.group").await.expect(200);
    assert_eq!(listed.body["value"][0]["id"], m365.as_str());
    g.post(&format!("/directory/deletedItems/{m365}/restore"), json!({})).await.expect(200);
}

/// Issue 25: the preflight's address check reads `proxyAddresses/any(x:x eq 'smtp:...')`, `or`-ed,
/// on users, groups and deleted users; Graph's errors for the forms it does not take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_addresses_are_found_with_any_lambdas_on_users_groups_and_deleted_items() {
    let g = Graph::default().await;
    let kept = g.user("kalle", json!({"mail": "Kalle.K@bjuv.se"})).await;
    let gone = g.user("olle", json!({"mail": "olle@bjuv.se"})).await;
    g.user("other", json!({})).await;
    g.delete(&format!("/users/{gone}")).await.expect(204);
    let owner = format!("https://graph.microsoft.com/v1.0/users/{kept}");
    let unified =
        json!({"mailEnabled": true, "securityEnabled": false, "groupTypes": ["Unified"], "owners@odata.bind": [owner]});
    let team = g.group("team", unified).await;
    let ids = |r: Reply| {
        let v = r.expect(200).body["value"].as_array().unwrap().clone();
        v.iter().map(|u| u["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let both = "proxyAddresses/any(x:x eq 'smtp:kalle.k@BJUV.se') or proxyAddresses/any(p:p eq 'SMTP:olle@bjuv.se')";
    let users = g.get(&format!("/users?$filter={both}&$select=id,proxyAddresses")).await.expect(200);
    assert_eq!(users.body["value"], json!([{"id": kept, "proxyAddresses": ["SMTP:Kalle.K@bjuv.se"]}]));
    assert_eq!(ids(g.get(&format!("/directory/deletedItems/microsoft.graph.user?$filter={both}")).await), vec![gone]);
    let mail =
        g.get(&format!("/groups/{team}?$select=mail")).await.expect(200).body["mail"].as_str().unwrap().to_string();
    let group = format!("/groups?$filter=proxyAddresses/any(a:a eq 'smtp:{mail}')");
    assert_eq!(ids(g.get(&group).await), vec![team]);
    let sixteen: Vec<String> = (0..16).map(|i| format!("proxyAddresses/any(x:x eq 'smtp:{i}@bjuv.se')")).collect();
    g.get(&format!("/users?$filter={}", sixteen.join(" or "))).await.error(400, "Request_BadRequest");
    g.get(&format!("/users?$filter={}", sixteen[..15].join(" or "))).await.expect(200);
    g.get("/users?$filter=proxyAddresses/all(x:x eq 'smtp:a@bjuv.se')").await.error(400, "Request_UnsupportedQuery");
    g.get("/users?$filter=proxyAddresses/any(x:startswith(x,'smtp:'))").await.error(400, "BadRequest");
    g.get("/users?$filter=mail/any(x:x eq 'a@bjuv.se')").await.error(400, "Request_UnsupportedQuery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_is_set_read_and_removed_by_reference() {
    let g = Graph::default().await;
    let boss = g.user("chef", json!({})).await;
    let worker = g.user("medarbetare", json!({})).await;
    let path = format!("/users/{worker}/manager");
    g.get(&path).await.error(404, "Request_ResourceNotFound");
    let body = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{boss}")});
    g.send(Method::PUT, &format!("{path}/$ref"), Some(body)).await.expect(204);
    let m = g.get(&path).await.expect(200);
    assert_eq!(m.body["id"], boss.as_str());
    assert_eq!(m.body["@odata.type"], "#microsoft.graph.user");
    // Own tenant URLs work as references too.
    let own = json!({"@odata.id": format!("{}/users/{boss}", g.tenant.graph_url())});
    g.send(Method::PUT, &format!("{path}/$ref"), Some(own)).await.expect(204);
    // Not yourself, not a loop, not a group, not a missing user.
    let me = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{worker}")});
    g.send(Method::PUT, &format!("{path}/$ref"), Some(me)).await.error(400, "Request_BadRequest");
    let back = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{worker}")});
    g.send(Method::PUT, &format!("/users/{boss}/manager/$ref"), Some(back)).await.error(400, "Request_BadRequest");
    let missing = g.reference("00000000-0000-4000-8000-000000000000");
    g.send(Method::PUT, &format!("{path}/$ref"), Some(missing)).await.error(404, "Request_ResourceNotFound");
    g.send(Method::PUT, &format!("{path}/$ref"), Some(json!({"@odata.id": "users/x"})))
        .await
        .error(400, "Request_BadRequest");
    g.delete(&format!("{path}/$ref")).await.expect(204);
    g.get(&path).await.error(404, "Request_ResourceNotFound");
    g.delete(&format!("{path}/$ref")).await.error(404, "Request_ResourceNotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licences_need_usage_location_and_cannot_exceed_the_subscription() {
    let opts = TenantOptions {
        skus: vec!["SPE_E3=2".parse().unwrap(), "SPE_F1=5".parse().unwrap()],
        ..TenantOptions::default()
    };
    let g = Graph::start(opts).await;
    let add = json!({"addLicenses": [{"skuId": E3, "disabledPlans": []}], "removeLicenses": []});
    let a = g.user("lic-a", json!({})).await;
    let r = g.post(&format!("/users/{a}/assignLicense"), add.clone()).await.error(400, "Request_BadRequest");
    assert_eq!(r.message(), "License assignment cannot be done for user with invalid usage location.");
    g.patch(&format!("/users/{a}"), json!({"usageLocation": "SE"})).await.expect(204);
    let ok = g.post(&format!("/users/{a}/assignLicense"), add.clone()).await.expect(200);
    assert_eq!(ok.body["id"], a.as_str());
    let lic = g.get(&format!("/users/{a}?$select=assignedLicenses")).await.expect(200);
    assert_eq!(lic.body["assignedLicenses"][0]["skuId"], E3);
    // The body is checked: removeLicenses is required, skuIds must exist, plans must belong.
    g.post(&format!("/users/{a}/assignLicense"), json!({"addLicenses": []})).await.error(400, "Request_BadRequest");
    let unknown = json!({"addLicenses": [{"skuId": "00000000-0000-4000-8000-000000000000", "disabledPlans": []}], "removeLicenses": []});
    g.post(&format!("/users/{a}/assignLicense"), unknown).await.error(400, "Request_BadRequest");

    // Two Exchange plans on one user are refused (E3's and F3's), and a licensed user keeps
    // a usage location.
    let f3 = json!({"addLicenses": [{"skuId": "66b55226-6b4f-492c-910c-a3b7a3c9d993", "disabledPlans": []}], "removeLicenses": []});
    let r = g.post(&format!("/users/{a}/assignLicense"), f3).await.error(400, "Request_BadRequest");
    assert!(r.message().starts_with("Conflicting Service Plans"), "{}", r.body);
    g.patch(&format!("/users/{a}"), json!({"usageLocation": null})).await.error(400, "Request_BadRequest");
    // Two units: b gets the second, c is refused.
    let b = g.user("lic-b", json!({"usageLocation": "SE"})).await;
    let c = g.user("lic-c", json!({"usageLocation": "SE"})).await;
    g.post(&format!("/users/{b}/assignLicense"), add.clone()).await.expect(200);
    let r = g.post(&format!("/users/{c}/assignLicense"), add.clone()).await.error(400, "Request_BadRequest");
    assert!(r.message().contains("does not have any available licenses"), "{}", r.body);
    let skus = g.get("/subscribedSkus").await.body;
    let e3 = skus["value"].as_array().unwrap().iter().find(|s| s["skuId"] == E3).unwrap().clone();
    assert_eq!(e3["consumedUnits"], 2);
    // Freeing one lets c have it.
    g.post(&format!("/users/{b}/assignLicense"), json!({"addLicenses": [], "removeLicenses": [E3]})).await.expect(200);
    g.post(&format!("/users/{c}/assignLicense"), add.clone()).await.expect(200);

    // Group-based licensing: members consume; when units run out the rest are in error.
    let f1 = "66b55226-6b4f-492c-910c-a3b7a3c9d993";
    let group = g.group("f3-licens", json!({})).await;
    let mut members = Vec::new();
    for n in 0..6 {
        let u = g.user(&format!("f3-{n}"), json!({"usageLocation": "SE"})).await;
        g.post(&format!("/groups/{group}/members/$ref"), g.reference(&u)).await.expect(204);
        members.push(u);
    }
    let add_f1 = json!({"addLicenses": [{"skuId": f1, "disabledPlans": []}], "removeLicenses": []});
    g.post(&format!("/groups/{group}/assignLicense"), add_f1).await.expect(202);
    let skus = g.get("/subscribedSkus").await.body;
    let f1_sku = skus["value"].as_array().unwrap().iter().find(|s| s["skuId"] == f1).unwrap().clone();
    assert_eq!(f1_sku["consumedUnits"], 5);
    let states = g.get(&format!("/users/{}?$select=licenseAssignmentStates,assignedLicenses", members[5])).await;
    assert_eq!(states.body["licenseAssignmentStates"][0]["error"], "CountViolation");
    assert_eq!(states.body["licenseAssignmentStates"][0]["assignedByGroup"], group.as_str());
    assert_eq!(states.body["assignedLicenses"], json!([]));
    let inherited = g.get(&format!("/users/{}?$select=assignedLicenses", members[0])).await;
    assert_eq!(inherited.body["assignedLicenses"][0]["skuId"], f1);
    let r = g
        .post(&format!("/users/{}/assignLicense", members[0]), json!({"addLicenses": [], "removeLicenses": [f1]}))
        .await;
    assert!(r.error(400, "Request_BadRequest").message().contains("inherited from a group membership"));
    let flagged = g.get(&format!("/groups/{group}?$select=hasMembersWithLicenseErrors")).await;
    assert_eq!(flagged.body["hasMembersWithLicenseErrors"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_follow_graphs_kinds_binds_and_membership_rules() {
    let g = Graph::default().await;
    let mut users = Vec::new();
    for n in 0..25 {
        users.push(g.user(&format!("m{n:02}"), json!({})).await);
    }
    let bind = |ids: &[String]| -> Value {
        json!(
            ids.iter().map(|id| format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")).collect::<Vec<_>>()
        )
    };
    // Create with members and owners bound.
    let created = g
        .post(
            "/groups",
            json!({"displayName": "Skola Bjuv", "mailNickname": "skola-bjuv", "mailEnabled": false, "securityEnabled": true,
                   "members@odata.bind": bind(&users[0..3]), "owners@odata.bind": bind(&users[3..4])}),
        )
        .await
        .expect(201);
    let gid = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["securityEnabled"], true);
    assert_eq!(created.body["groupTypes"], json!([]));
    let members = g.get(&format!("/groups/{gid}/members")).await.expect(200);
    assert_eq!(members.body["value"].as_array().unwrap().len(), 3);
    assert_eq!(members.body["value"][0]["@odata.type"], "#microsoft.graph.user");
    assert_eq!(g.get(&format!("/groups/{gid}/owners")).await.body["value"][0]["id"], users[3].as_str());
    // More than 20 references in one request: refused.
    let too_many = json!({"displayName": "X", "mailNickname": "x21", "mailEnabled": false, "securityEnabled": true,
                          "members@odata.bind": bind(&users[0..21])});
    g.post("/groups", too_many).await.error(400, "Request_BadRequest");
    // Kinds: Microsoft 365 needs mailEnabled; mail-enabled security groups cannot be written.
    g.post("/groups", json!({"displayName": "T", "mailNickname": "t1", "mailEnabled": false, "securityEnabled": false, "groupTypes": ["Unified"]}))
        .await
        .error(400, "Request_BadRequest");
    let r = g
        .post(
            "/groups",
            json!({"displayName": "T", "mailNickname": "t2", "mailEnabled": true, "securityEnabled": true}),
        )
        .await
        .error(400, "Request_BadRequest");
    assert!(r.message().contains("mail-enabled"));
    g.post("/groups", json!({"displayName": "T", "mailNickname": "t3", "mailEnabled": false}))
        .await
        .error(400, "Request_BadRequest");
    // Graph documents no unique mailNickname for security groups: a second one is made.
    let dup =
        json!({"displayName": "Dup", "mailNickname": "SKOLA-bjuv", "mailEnabled": false, "securityEnabled": true});
    g.post("/groups", dup).await.expect(201);
    let mut team = json!({"displayName": "Team", "mailNickname": "team", "mailEnabled": true, "securityEnabled": false, "groupTypes": ["Unified"]});
    let r = g.post("/groups", team.clone()).await.error(400, "Request_BadRequest");
    assert!(r.message().contains("owner"), "an app names the owner of a Microsoft 365 group");
    team["owners@odata.bind"] = bind(&users[24..25]);
    let m365 = g.post("/groups", team).await.expect(201);
    assert_eq!(m365.body["mail"], "team@samverkan.se");
    assert_eq!(m365.body["proxyAddresses"], json!(["SMTP:team@samverkan.se"]));
    // The group's address is taken: a user's mail may not repeat it.
    let r = g
        .patch(&format!("/users/{}", users[23]), json!({"mail": "TEAM@samverkan.se"}))
        .await
        .error(400, "Request_BadRequest");
    assert_eq!(r.body["error"]["details"][0]["target"], "proxyAddresses");
    let m365 = m365.body["id"].as_str().unwrap().to_string();

    // PATCH with members@odata.bind: at most 20, all or nothing.
    g.patch(&format!("/groups/{gid}"), json!({"members@odata.bind": bind(&users[3..24])}))
        .await
        .error(400, "Request_BadRequest");
    let mut with_bad = users[3..8].to_vec();
    with_bad.push("00000000-0000-4000-8000-000000000000".into());
    g.patch(&format!("/groups/{gid}"), json!({"members@odata.bind": bind(&with_bad)}))
        .await
        .error(404, "Request_ResourceNotFound");
    assert_eq!(
        g.get(&format!("/groups/{gid}/members")).await.body["value"].as_array().unwrap().len(),
        3,
        "nothing added"
    );
    let with_member = users[2..6].to_vec();
    let r = g.patch(&format!("/groups/{gid}"), json!({"members@odata.bind": bind(&with_member)})).await;
    assert!(r.error(400, "Request_BadRequest").message().contains("already exist"));
    g.patch(
        &format!("/groups/{gid}"),
        json!({"description": "Alla i skolan", "members@odata.bind": bind(&users[3..24])}),
    )
    .await
    .error(400, "Request_BadRequest");
    g.patch(
        &format!("/groups/{gid}"),
        json!({"description": "Alla i skolan", "members@odata.bind": bind(&users[3..20])}),
    )
    .await
    .expect(204);
    assert_eq!(g.get(&format!("/groups/{gid}/members?$top=999")).await.body["value"].as_array().unwrap().len(), 20);

    // $ref add and remove, with Graph's errors.
    let r =
        g.post(&format!("/groups/{gid}/members/$ref"), g.reference(&users[0])).await.error(400, "Request_BadRequest");
    assert_eq!(
        r.message(),
        "One or more added object references already exist for the following modified properties: 'members'."
    );
    g.post(&format!("/groups/{gid}/members/$ref"), g.reference(&users[20])).await.expect(204);
    g.delete(&format!("/groups/{gid}/members/{}/$ref", users[20])).await.expect(204);
    let r = g.delete(&format!("/groups/{gid}/members/{}/$ref", users[20])).await.error(404, "Request_ResourceNotFound");
    assert!(r.message().contains("does not exist"));

    // Nesting: security groups nest, without cycles; Microsoft 365 groups take users only.
    let inner = g.group("inner", json!({})).await;
    g.post(&format!("/groups/{gid}/members/$ref"), g.reference(&inner)).await.expect(204);
    g.post(&format!("/groups/{inner}/members/$ref"), g.reference(&gid)).await.error(400, "Request_BadRequest");
    g.post(&format!("/groups/{m365}/members/$ref"), g.reference(&inner)).await.error(400, "Request_BadRequest");
    g.post(&format!("/groups/{m365}/members/$ref"), g.reference(&users[0])).await.expect(204);
    let of = g.get(&format!("/groups/{inner}/memberOf")).await.expect(200);
    assert_eq!(of.body["value"][0]["id"], gid.as_str());
    let listed = g.get(&format!("/groups/{gid}/members?$top=999&$select=id,displayName")).await.expect(200);
    let kinds: Vec<&str> =
        listed.body["value"].as_array().unwrap().iter().map(|m| m["@odata.type"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"#microsoft.graph.group"));
    // Without /$ref Graph deletes the member object itself: so does the tenant.
    g.delete(&format!("/groups/{gid}/members/{}", users[19])).await.expect(204);
    g.get(&format!("/users/{}", users[19])).await.error(404, "Request_ResourceNotFound");
    // Groups are filtered and read like users.
    let found = g.get("/groups?$filter=mailNickname eq 'skola-bjuv'").await.expect(200);
    let mut described: Vec<String> =
        found.body["value"].as_array().unwrap().iter().map(|g| g["description"].to_string()).collect();
    described.sort();
    assert_eq!(described, ["\"Alla i skolan\"", "null"], "the group and the one sharing its nickname");
}

/// Issue 25, point 6: what is unique among groups is what Graph says is unique. Two security
/// groups may share a mailNickname (Graph promises nothing else); Microsoft 365 groups may
/// not (their address derives from it); a group's uniqueName is unique and immutable, and
/// `PATCH /groups(uniqueName='x')` with `Prefer: create-if-missing` is an upsert, alone and
/// inside `$batch`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_upserted_by_unique_name_and_security_groups_may_share_a_mail_nickname() {
    let g = Graph::default().await;
    let owner = g.user("agare", json!({})).await;
    let security = |name: &str| json!({"displayName": name, "mailNickname": "ekonomi", "mailEnabled": false, "securityEnabled": true});
    let first = g.post("/groups", security("Ekonomi 1")).await.expect(201).body["id"].clone();
    let second = g.post("/groups", security("Ekonomi 2")).await.expect(201).body["id"].clone();
    assert_ne!(first, second, "two security groups with one mailNickname are two groups");
    let both = g.get("/groups?$filter=mailNickname eq 'ekonomi'").await.expect(200);
    assert_eq!(both.body["value"].as_array().unwrap().len(), 2, "{}", both.body);
    let team = json!({"displayName": "Team", "mailNickname": "team", "mailEnabled": true, "securityEnabled": false,
                      "groupTypes": ["Unified"], "owners@odata.bind": [format!("https://graph.microsoft.com/v1.0/users/{owner}")]});
    g.post("/groups", team.clone()).await.expect(201);
    let r = g.post("/groups", team).await.error(400, "Request_BadRequest");
    assert_eq!(r.body["error"]["details"][0]["target"], "mailNickname", "a Microsoft 365 group's address is unique");

    // The upsert: without the header a missing key is 404; with it, 201 and then 204.
    let key = "/groups(uniqueName='samla-0a1b')";
    let body = json!({"displayName": "Skola", "mailNickname": "skola", "mailEnabled": false, "securityEnabled": true});
    let upsert = [("Prefer", "create-if-missing")];
    g.send_with(Method::PATCH, key, Some(body.clone()), &[]).await.error(404, "Request_ResourceNotFound");
    g.get(key).await.error(404, "Request_ResourceNotFound");
    let made = g.send_with(Method::PATCH, key, Some(body.clone()), &upsert).await.expect(201);
    let id = made.body["id"].as_str().unwrap().to_string();
    assert_eq!(made.body["displayName"], "Skola");
    g.send_with(Method::PATCH, key, Some(body.clone()), &upsert).await.expect(204);
    g.send_with(Method::PATCH, key, Some(json!({"description": "Alla"})), &[]).await.expect(204);
    let read = g.get(&format!("{key}?$select=id,uniqueName,description")).await.expect(200);
    assert_eq!((read.body["id"].as_str(), read.body["uniqueName"].as_str()), (Some(id.as_str()), Some("samla-0a1b")));
    assert_eq!(read.body["description"], "Alla");
    let named = g.get("/groups?$filter=displayName eq 'Skola'").await.expect(200);
    assert_eq!(named.body["value"].as_array().unwrap().len(), 1, "an upsert sent twice makes one group");
    // uniqueName: unique (any case), immutable, plain characters, not filterable.
    let mut taken = body.clone();
    taken["uniqueName"] = json!("SAMLA-0A1B");
    let r = g.post("/groups", taken).await.error(400, "Request_BadRequest");
    assert_eq!(r.body["error"]["details"][0]["target"], "uniqueName");
    g.patch(&format!("/groups/{id}"), json!({"uniqueName": "samla-other"})).await.error(400, "Request_BadRequest");
    g.send_with(Method::PATCH, key, Some(json!({"uniqueName": "samla-other"})), &upsert)
        .await
        .error(400, "Request_BadRequest");
    g.send_with(Method::PATCH, "/groups(uniqueName='a b')", Some(body.clone()), &upsert)
        .await
        .error(400, "Request_BadRequest");
    g.get("/groups?$filter=uniqueName eq 'samla-0a1b'").await.error(400, "Request_UnsupportedQuery");

    // Inside $batch the Prefer header is the request's own.
    let item = |id: &str, name: &str, prefer: bool| {
        let mut headers = json!({"Content-Type": "application/json"});
        if prefer {
            headers["Prefer"] = json!("create-if-missing");
        }
        json!({"id": id, "method": "PATCH", "url": format!("/groups(uniqueName='{name}')"), "headers": headers,
               "body": {"displayName": name, "mailNickname": "batch", "mailEnabled": false, "securityEnabled": true}})
    };
    let answer =
        g.post("/$batch", json!({"requests": [item("1", "samla-b1", true), item("2", "samla-b2", false)]})).await;
    let status = |id: &str| {
        answer.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["status"].clone())
            .unwrap()
    };
    assert_eq!((status("1"), status("2")), (json!(201), json!(404)), "{}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_paged_at_100_with_next_links() {
    let g = Graph::default().await;
    let gid = g.group("stor", json!({})).await;
    let mut batch_requests = Vec::new();
    for n in 0..130 {
        batch_requests.push(json!({"id": n.to_string(), "method": "POST", "url": "/users",
            "headers": {"Content-Type": "application/json"}, "body": user_body(&format!("p{n:03}"))}));
    }
    let mut ids = Vec::new();
    for chunk in batch_requests.chunks(20) {
        let r = g.post("/$batch", json!({"requests": chunk})).await.expect(200);
        for resp in r.body["responses"].as_array().unwrap() {
            assert_eq!(resp["status"], 201, "{resp}");
            ids.push(resp["body"]["id"].as_str().unwrap().to_string());
        }
    }
    for chunk in ids.chunks(20) {
        let refs: Vec<String> =
            chunk.iter().map(|id| format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")).collect();
        g.patch(&format!("/groups/{gid}"), json!({"members@odata.bind": refs})).await.expect(204);
    }
    let first = g.get(&format!("/groups/{gid}/members")).await.expect(200);
    assert_eq!(first.body["value"].as_array().unwrap().len(), 100);
    let next = first.body["@odata.nextLink"].as_str().unwrap().to_string();
    assert!(next.contains("$skiptoken="), "{next}");
    let second = reply(g.http.get(&next).bearer_auth(&g.token).send().await.unwrap()).await.expect(200);
    assert_eq!(second.body["value"].as_array().unwrap().len(), 30);
    assert!(second.body.get("@odata.nextLink").is_none());
    let top = g.get(&format!("/groups/{gid}/members?$top=999")).await.expect(200);
    assert_eq!(top.body["value"].as_array().unwrap().len(), 130);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_checks_its_envelope_orders_by_depends_on_and_fails_dependants_with_424() {
    let g = Graph::default().await;
    let get = |id: &str| json!({"id": id, "method": "GET", "url": "/users"});
    let many: Vec<Value> = (0..21).map(|i| get(&i.to_string())).collect();
    g.post("/$batch", json!({"requests": many})).await.error(400, "BadRequest");
    g.post("/$batch", json!({"requests": [get("1"), get("1")]})).await.error(400, "BadRequest");
    let no_type = json!({"id": "1", "method": "POST", "url": "/users", "body": user_body("b0")});
    let r = g.post("/$batch", json!({"requests": [no_type]})).await.error(400, "BadRequest");
    assert_eq!(r.message(), "Write request id : 1 does not contain Content-Type header or body.");
    let unknown_dep = json!({"id": "1", "method": "GET", "url": "/users", "dependsOn": ["9"]});
    g.post("/$batch", json!({"requests": [unknown_dep]})).await.error(400, "BadRequest");
    let cycle = json!([{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["2"]},
                       {"id": "2", "method": "GET", "url": "/users", "dependsOn": ["1"]}]);
    g.post("/$batch", json!({"requests": cycle})).await.error(400, "BadRequest");

    let post = |id: &str, nick: &str| json!({"id": id, "method": "POST", "url": "/users", "headers": {"Content-Type": "application/json"}, "body": user_body(nick)});
    let mut bad = user_body("b-bad");
    bad["userPrincipalName"] = json!("b-bad@contoso.com");
    let requests = json!([
        post("1", "b1"),
        {"id": "2", "method": "POST", "url": "users", "headers": {"content-type": "application/json"}, "body": bad},
        {"id": "3", "method": "GET", "url": "/users/b1@bjuv.se?$select=id,mailNickname", "dependsOn": ["1"]},
        {"id": "4", "method": "PATCH", "url": "/users/b1@bjuv.se", "headers": {"Content-Type": "application/json"},
         "body": {"jobTitle": "x"}, "dependsOn": ["2"]},
        {"id": "5", "method": "GET", "url": "/users/b1@bjuv.se", "dependsOn": ["4"]},
        post("6", "b6"), post("7", "b7"), post("8", "b8"), post("9", "b9"), post("10", "b10"),
    ]);
    let r = g.post("/$batch", json!({"requests": requests.clone()})).await.expect(200);
    let responses = r.body["responses"].as_array().unwrap().clone();
    let status = |id: &str| responses.iter().find(|x| x["id"] == id).unwrap()["status"].as_u64().unwrap();
    assert_eq!(responses.len(), 10);
    assert_eq!(status("1"), 201);
    assert_eq!(status("2"), 400);
    assert_eq!(status("3"), 200, "dependsOn ran it after its dependency");
    assert_eq!(status("4"), 424, "its dependency failed");
    assert_eq!(status("5"), 424, "transitively");
    let three = responses.iter().find(|x| x["id"] == "3").unwrap();
    assert_eq!(three["body"]["mailNickname"], "b1");
    assert_eq!(responses.iter().find(|x| x["id"] == "2").unwrap()["body"]["error"]["code"], "Request_BadRequest");
    let order: Vec<&str> = responses.iter().map(|x| x["id"].as_str().unwrap()).collect();
    let mut sorted = order.clone();
    sorted.sort_by_key(|s| s.parse::<u32>().unwrap());
    assert_ne!(order, sorted, "responses come back in any order: match on id");
    // The same seed gives the same order.
    let g2 = Graph::default().await;
    let r2 = g2.post("/$batch", json!({"requests": requests})).await.expect(200);
    let order2: Vec<&str> =
        r2.body["responses"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(order, order2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_throttled_at_3000_per_window_with_retry_after_each_batch_request_on_its_own() {
    // Time scale 10: the 150 s window lasts 15 s; 3,000 writes take about 1 s here (debug
    // build, 2 cores), so they all fall into one window even on a machine ten times as loaded.
    let g = Graph::start(TenantOptions { time_scale: 10.0, ..TenantOptions::default() }).await;
    let id = g.user("throttled", json!({})).await;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let http = g.http.clone();
        let url = format!("{}/users/{id}", g.tenant.graph_url());
        let token = g.token.clone();
        // 2,999 more writes (the create was the first), spread over 8 connections.
        let n = if worker < 7 { 375 } else { 2999 - 7 * 375 };
        tasks.spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..n {
                let r = http
                    .patch(&url)
                    .bearer_auth(&token)
                    .json(&json!({"jobTitle": format!("t{worker}-{i}")}))
                    .send()
                    .await
                    .unwrap();
                statuses.push(r.status().as_u16());
            }
            statuses
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = tasks.join_next().await {
        statuses.extend(s.unwrap());
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(14000), "3,000 writes took {elapsed:?}: too slow for a 15 s window");
    assert_eq!(statuses.iter().filter(|s| **s == 204).count(), 2999, "all within the budget pass");
    let throttled =
        g.patch(&format!("/users/{id}"), json!({"jobTitle": "one too many"})).await.error(429, "TooManyRequests");
    let retry_after: u64 = throttled.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=15).contains(&retry_after), "{retry_after}");
    // Reads have their own budget.
    g.get(&format!("/users/{id}")).await.expect(200);
    // Inside a batch, each request is throttled on its own: the writes get 429 with their
    // own Retry-After while the reads succeed.
    let requests = json!([
        {"id": "r1", "method": "GET", "url": format!("/users/{id}")},
        {"id": "w1", "method": "PATCH", "url": format!("/users/{id}"), "headers": {"Content-Type": "application/json"}, "body": {"jobTitle": "b"}},
        {"id": "r2", "method": "GET", "url": "/users?$top=1"},
    ]);
    let r = g.post("/$batch", json!({"requests": requests.clone()})).await.expect(200);
    for resp in r.body["responses"].as_array().unwrap() {
        if resp["id"] == "w1" {
            assert_eq!(resp["status"], 429, "{resp}");
            assert!(resp["headers"]["Retry-After"].as_str().unwrap().parse::<u64>().unwrap() >= 1);
            assert_eq!(resp["body"]["error"]["code"], "TooManyRequests");
        } else {
            assert_eq!(resp["status"], 200, "{resp}");
        }
    }
    // After Retry-After, writes pass again.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    g.patch(&format!("/users/{id}"), json!({"jobTitle": "after the wait"})).await.expect(204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_lag_hides_new_objects_from_reads_and_reference_writes() {
    // A lag long enough that the checks below finish inside it even on a loaded machine.
    let g = Graph::start(TenantOptions { replication_lag_ms: 2000, ..TenantOptions::default() }).await;
    let ready = g.user("ready", json!({})).await;
    let gid = g.group("lag", json!({})).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let created = g.post("/users", user_body("fresh")).await.expect(201);
    assert_eq!(created.body["userPrincipalName"], "fresh@bjuv.se", "the create response has the object");
    let id = created.body["id"].as_str().unwrap().to_string();
    let r = g.get(&format!("/users/{id}")).await.error(404, "Request_ResourceNotFound");
    assert!(r.message().contains(&id));
    g.get("/users/fresh@bjuv.se").await.error(404, "Request_ResourceNotFound");
    let listed = g.get("/users?$filter=mailNickname eq 'fresh'").await.expect(200);
    assert!(listed.body["value"].as_array().unwrap().is_empty());
    g.post(&format!("/groups/{gid}/members/$ref"), g.reference(&id)).await.error(404, "Request_ResourceNotFound");
    let bind = json!({"members@odata.bind": [format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")]});
    g.patch(&format!("/groups/{gid}"), bind.clone()).await.error(404, "Request_ResourceNotFound");
    let as_manager = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{id}")});
    g.send(Method::PUT, &format!("/users/{ready}/manager/$ref"), Some(as_manager.clone()))
        .await
        .error(404, "Request_ResourceNotFound");
    // A retried create still conflicts: the object exists, it has not replicated yet.
    g.post("/users", user_body("fresh")).await.error(400, "Request_BadRequest");

    tokio::time::sleep(Duration::from_millis(2100)).await;
    g.get(&format!("/users/{id}")).await.expect(200);
    g.patch(&format!("/groups/{gid}"), bind).await.expect(204);
    g.send(Method::PUT, &format!("/users/{ready}/manager/$ref"), Some(as_manager)).await.expect(204);
}

/// What a client saw for one request: a status, or a dropped connection.
async fn outcome(g: &Graph, path: &str) -> String {
    let url = format!("{}{path}", g.tenant.graph_url());
    match g.http.get(url).bearer_auth(&g.token).send().await {
        Ok(r) => {
            let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            match r.status().as_u16() {
                s @ (429 | 503) => {
                    assert!(retry.is_some(), "{s} without Retry-After");
                    format!("{s}+{}", retry.unwrap_or_default())
                }
                s => s.to_string(),
            }
        }
        Err(e) => {
            assert!(!e.is_timeout(), "{e}");
            "dropped".to_string()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_seeded_and_reproducible() {
    let opts = |seed| TenantOptions {
        fault_rate_429: 0.15,
        fault_rate_503: 0.15,
        fault_rate_drop: 0.15,
        seed,
        ..TenantOptions::default()
    };
    let run = |seed| async move {
        let g = Graph::start(opts(seed)).await;
        let mut seen = Vec::new();
        for i in 0..60 {
            seen.push(outcome(&g, &format!("/users?$filter=mailNickname eq 'n{}'", i % 20)).await);
        }
        seen
    };
    let a = run(7).await;
    let b = run(7).await;
    assert_eq!(a, b, "same seed, same faults");
    assert_ne!(a, run(8).await, "another seed, other faults");
    for kind in ["429+", "503+", "dropped", "200"] {
        assert!(a.iter().any(|s| s.starts_with(kind)), "{kind} in {a:?}");
    }
    // A dropped connection may have done its write first (the response was lost): with every
    // request dropped, some creates took effect and some did not.
    let g = Graph::start(TenantOptions { fault_rate_drop: 1.0, ..TenantOptions::default() }).await;
    for n in 0..16 {
        let r = g
            .http
            .post(format!("{}/users", g.tenant.graph_url()))
            .bearer_auth(&g.token)
            .json(&user_body(&format!("d{n}")))
            .send()
            .await;
        assert!(r.is_err(), "every connection is dropped");
    }
    let made = g.tenant.dump()["users"].as_array().unwrap().len();
    assert!((1..16).contains(&made), "{made} of 16 creates took effect before the drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_keeps_the_tenant_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let opts = TenantOptions {
        state: Some(dir.path().join("tenant.db")),
        domains: vec!["bjuv.se".into(), "elev.bjuv.se".into()],
        skus: ["SPE_E3=7", "SPE_F1=3"].iter().map(|s| s.parse().unwrap()).collect(),
        ..TenantOptions::default()
    };
    let g = Graph::start(opts.clone()).await;
    let u = g.user("kvar", json!({"usageLocation": "SE"})).await;
    let gid = g.group("kvargrupp", json!({})).await;
    g.post(&format!("/groups/{gid}/members/$ref"), g.reference(&u)).await.expect(204);
    g.post(
        &format!("/users/{u}/assignLicense"),
        json!({"addLicenses": [{"skuId": E3, "disabledPlans": []}], "removeLicenses": []}),
    )
    .await
    .expect(200);
    let gone = g.user("borta", json!({})).await;
    g.delete(&format!("/users/{gone}")).await.expect(204);
    let before = g.tenant.dump();
    let Graph { tenant, .. } = g;
    tenant.shutdown().await;

    assert_eq!(samla::test_tenant::dump_state_file(&opts).unwrap(), before, "dump of the file without serving");
    // The file keeps the domains and SKUs it was served with: a dump with the default flags
    // shows those, not the defaults.
    let only_file = TenantOptions { state: opts.state.clone(), ..TenantOptions::default() };
    let dumped = samla::test_tenant::dump_state_file(&only_file).unwrap();
    assert_eq!(dumped, before, "dump with default flags");
    let parts: Vec<&str> =
        dumped["subscribedSkus"].as_array().unwrap().iter().map(|s| s["skuPartNumber"].as_str().unwrap()).collect();
    assert_eq!(parts, ["SPE_E3", "SPE_F1"], "{dumped}");
    let g = Graph::start(opts.clone()).await;
    assert_eq!(g.tenant.dump(), before);
    g.get("/users/kvar@bjuv.se").await.expect(200);
    g.get(&format!("/directory/deletedItems/{gone}")).await.expect(200);
    let next = g.user("ny", json!({})).await;
    assert!(next != u && next != gone, "ids are not reused after a restart");
    // A state file belongs to one tenant.
    let other = TenantOptions { tenant_id: "11111111-2222-4333-8444-555555555555".parse().unwrap(), ..opts };
    assert!(start(other).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_listens_on_loopback_only_and_dumps_canonically() {
    let remote = TenantOptions { listen: "0.0.0.0:0".parse().unwrap(), ..TenantOptions::default() };
    let e = start(remote).await.unwrap_err();
    assert!(e.to_string().contains("loopback"), "{e}");

    let g = Graph::default().await;
    let b = g.user("b-user", json!({})).await;
    let a = g.user("a-user", json!({})).await;
    let gid = g.group("dumpgrupp", json!({})).await;
    for m in [&b, &a] {
        g.post(&format!("/groups/{gid}/members/$ref"), g.reference(m)).await.expect(204);
    }
    let dump = g.tenant.dump();
    let ids: Vec<&str> = dump["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "users sorted by id");
    let members: Vec<&str> =
        dump["groups"][0]["members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    let mut sorted_members = members.clone();
    sorted_members.sort();
    assert_eq!(members, sorted_members);
    assert!(!dump.to_string().contains(PASSWORD), "no passwords in the dump");
    assert!(dump["users"][0]["properties"].get("passwordProfile").is_none());
    // Over HTTP too, with the bearer token.
    let over_http = g.http.get(format!("{}/_samla/dump", g.tenant.url())).bearer_auth(&g.token).send().await.unwrap();
    assert_eq!(over_http.json::<Value>().await.unwrap(), dump);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_requests_get_graph_errors_not_dropped_connections() {
    let g = Graph::default().await;
    let id = g.user("odd", json!({})).await;
    let cases: Vec<(Method, String, Option<&str>)> = vec![
        (Method::GET, "/users/%ZZ".into(), None),
        (Method::GET, "/users/%C3%28".into(), None),
        (Method::GET, "/".into(), None),
        (Method::GET, "/users/a/b/c/d/e/f".into(), None),
        (Method::PUT, "/users".into(), Some("{}")),
        (Method::POST, format!("/users/{id}"), Some("{}")),
        (Method::PATCH, format!("/users/{id}"), Some("null")),
        (Method::PATCH, format!("/users/{id}"), Some("{\"displayName\": 1e999}")),
        (Method::POST, "/$batch".into(), Some("{\"requests\": 5}")),
        (Method::POST, "/$batch".into(), Some("{\"requests\": [{\"id\": 1}]}")),
        (
            Method::POST,
            "/$batch".into(),
            Some("{\"requests\": [{\"id\": \"1\", \"method\": \"GET\", \"url\": \"/$batch\"}]}"),
        ),
        (Method::POST, format!("/groups/{id}/members/$ref"), Some("{\"@odata.id\": 7}")),
        (
            Method::POST,
            format!("/users/{id}/assignLicense"),
            Some("{\"addLicenses\": [{\"skuId\": 5}], \"removeLicenses\": {}}"),
        ),
        (Method::GET, "/users?$filter=((((".into(), None),
        (Method::GET, "/users?$top=-1".into(), None),
        (Method::GET, "/users?$skiptoken=!!!".into(), None),
        (Method::GET, "/users?$expand=manager".into(), None),
        (Method::GET, format!("/users/{id}?$select=manager"), None),
        (Method::DELETE, "/directory/deletedItems/not-a-guid".into(), None),
    ];
    for (method, path, body) in cases {
        let mut req = g.http.request(method.clone(), format!("{}{path}", g.tenant.graph_url())).bearer_auth(&g.token);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let r = reply(req.send().await.unwrap()).await;
        assert!(r.status.is_client_error(), "{method} {path}: {} {}", r.status, r.body);
        assert!(r.body["error"]["code"].is_string(), "{method} {path}: {}", r.body);
    }
}

/// Issue 25: the tenant's directory roles (the activated ones, Microsoft's template ids),
/// their members read and added as Graph does it, kept in the state file and shown in the dump.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_roles_list_their_members_and_keep_them_in_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let opts = TenantOptions { state: Some(dir.path().join("tenant.db")), ..TenantOptions::default() };
    let g = Graph::start(opts.clone()).await;
    let roles = g.get("/directoryRoles").await.expect(200);
    let ga =
        roles.body["value"].as_array().unwrap().iter().find(|r| r["displayName"] == "Global Administrator").unwrap();
    assert_eq!(ga["roleTemplateId"], "62e90394-69f5-4237-9190-012177145e10");
    let role = ga["id"].as_str().unwrap().to_string();
    g.get(&format!("/directoryRoles/{role}")).await.expect(200);
    g.get("/directoryRoles/00000000-0000-4000-8000-000000000000/members").await.error(404, "Request_ResourceNotFound");
    let admin = g.user("admin", json!({})).await;
    let gid = g.group("admins", json!({})).await;
    g.post(&format!("/directoryRoles/{role}/members/$ref"), g.reference(&admin)).await.expect(204);
    let again = g.post(&format!("/directoryRoles/{role}/members/$ref"), g.reference(&admin)).await;
    assert!(again.error(400, "Request_BadRequest").message().contains("already exist"));
    g.post(&format!("/directoryRoles/{role}/members/$ref"), g.reference(&gid)).await.error(400, "Request_BadRequest");
    let members = g.get(&format!("/directoryRoles/{role}/members?$select=id")).await.expect(200);
    assert_eq!(members.body["value"], json!([{"@odata.type": "#microsoft.graph.user", "id": admin}]));
    let before = g.tenant.dump();
    assert_eq!(before["directoryRoles"][0]["members"], json!([admin]), "{}", before["directoryRoles"]);
    let Graph { tenant, .. } = g;
    tenant.shutdown().await;
    assert_eq!(samla::test_tenant::dump_state_file(&opts).unwrap(), before, "the roles' members are in the file");
    // Given at start too (--role-holder), and kept.
    let unknown = TenantOptions { role_holders: vec!["Kung=admin@bjuv.se".into()], ..opts.clone() };
    assert!(start(unknown).await.is_err(), "an unknown role is refused");
    let nobody = TenantOptions { role_holders: vec!["User Administrator=nobody@bjuv.se".into()], ..opts.clone() };
    assert!(start(nobody).await.is_err(), "a user not in the tenant is refused");
    let seeded = TenantOptions { role_holders: vec!["user administrator=admin@bjuv.se".into()], ..opts.clone() };
    let g = Graph::start(seeded).await;
    let members = g.get(&format!("/directoryRoles/{role}/members?$select=id")).await.expect(200);
    assert_eq!(members.body["value"][0]["id"], admin.as_str());
    let user_admin = "fe930be7-5e62-47db-91af-98c3a49a38b1";
    let members = g.get(&format!("/directoryRoles/{user_admin}/members?$select=id")).await.expect(200);
    assert_eq!(members.body["value"][0]["id"], admin.as_str(), "found by its template id too");
    let Graph { tenant, .. } = g;
    tenant.shutdown().await;
    let kept = samla::test_tenant::dump_state_file(&opts).unwrap();
    assert_eq!(kept["directoryRoles"].as_array().unwrap().len(), 2, "{}", kept["directoryRoles"]);
    let g = Graph::start(opts).await;
    // A deleted user holds no role that anyone sees.
    g.delete(&format!("/users/{admin}")).await.expect(204);
    assert_eq!(g.get(&format!("/directoryRoles/{role}/members")).await.body["value"], json!([]));
}
