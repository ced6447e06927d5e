//! Issue 26's foundation: the test tenant's Temporary Access Pass policy and passes
//! (`/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass`,
//! `/users/{id}/authentication/temporaryAccessPassMethods`) with Graph's rules and errors, and
//! the Graph client's typed functions for them, over real HTTP against in-process tenants.

use crate::graph_client::target_of;
use crate::support::samla;
use crate::tenant::Graph;
use samla::client::graph::{ClientError, ClientOptions, GraphClient, TapRemoval};
use samla::test_tenant::{TenantOptions, dump_state_file};
use serde_json::{Value, json};
use std::time::Duration;

const POLICY: &str = "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass";

fn taps(user: &str) -> String {
    format!("/users/{user}/authentication/temporaryAccessPassMethods")
}

/// Creates a pass for `user` with `body`; its method id and the pass.
async fn issue(g: &Graph, user: &str, body: Value) -> (String, String) {
    let created = g.post(&taps(user), body).await.expect(201).body;
    (created["id"].as_str().unwrap().to_string(), created["temporaryAccessPass"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_has_graphs_defaults_and_bounds_and_is_switched_by_patch() {
    let g = Graph::default().await;
    let p = g.get(POLICY).await.expect(200).body;
    assert_eq!(p["@odata.type"], "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration", "{p}");
    assert_eq!(p["id"], "TemporaryAccessPass");
    assert_eq!(p["state"], "enabled", "the test tenant starts with passes allowed");
    assert_eq!(
        (&p["minimumLifetimeInMinutes"], &p["defaultLifetimeInMinutes"], &p["maximumLifetimeInMinutes"]),
        (&json!(60), &json!(60), &json!(480)),
        "Microsoft's defaults: {p}"
    );
    assert_eq!((&p["isUsableOnce"], &p["defaultLength"]), (&json!(false), &json!(8)));
    // The id is matched case-insensitively, like every segment; other methods are not served.
    g.get(&POLICY.to_lowercase()).await.expect(200);
    g.get("/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Fido2").await.expect(404);

    for (bad, what) in [
        (json!({"defaultLength": 7}), "defaultLength"),
        (json!({"defaultLength": 49}), "defaultLength"),
        (json!({"minimumLifetimeInMinutes": 9}), "minimumLifetimeInMinutes"),
        (json!({"maximumLifetimeInMinutes": 43_201}), "maximumLifetimeInMinutes"),
        (json!({"minimumLifetimeInMinutes": 600}), "minimumLifetimeInMinutes"),
        (json!({"defaultLifetimeInMinutes": 500}), "defaultLifetimeInMinutes"),
        (json!({"state": "off"}), "state"),
        (json!({"isUsableOnce": "yes"}), "isUsableOnce"),
        (json!({"colour": "blue"}), "colour"),
    ] {
        let r = g.patch(POLICY, bad.clone()).await.expect(400);
        assert!(r.message().contains(what), "{bad}: {}", r.body);
    }
    assert_eq!(g.get(POLICY).await.body, p, "a refused PATCH changes nothing");

    g.patch(POLICY, json!({"state": "disabled", "maximumLifetimeInMinutes": 43_200, "defaultLength": 12}))
        .await
        .expect(204);
    let p = g.get(POLICY).await.expect(200).body;
    assert_eq!(
        (&p["state"], &p["maximumLifetimeInMinutes"], &p["defaultLength"]),
        (&json!("disabled"), &json!(43_200), &json!(12))
    );

    // A tenant can start with the policy switched off.
    let off = Graph::start(TenantOptions { tap_disabled: true, ..TenantOptions::default() }).await;
    assert_eq!(off.get(POLICY).await.expect(200).body["state"], "disabled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_is_shown_only_in_the_create_response_and_kept_within_the_policys_bounds() {
    let g = Graph::default().await;
    let u = g.user("tap-anna", json!({})).await;
    let created = g.post(&taps(&u), json!({})).await.expect(201).body;
    assert_eq!(created["@odata.type"], "#microsoft.graph.temporaryAccessPassAuthenticationMethod", "{created}");
    let pass = created["temporaryAccessPass"].as_str().unwrap();
    assert_eq!(pass.chars().count(), 8, "the policy's default length: {created}");
    assert_eq!((&created["lifetimeInMinutes"], &created["isUsableOnce"]), (&json!(60), &json!(false)));
    assert_eq!((&created["isUsable"], &created["methodUsabilityReason"]), (&json!(true), &json!("EnabledByPolicy")));
    for field in ["createdDateTime", "startDateTime"] {
        assert!(
            created[field].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().is_ok(),
            "{field}: {created}"
        );
    }
    let id = created["id"].as_str().unwrap();

    // Reads never show the pass (Graph returns it as null).
    let listed = g.get(&taps(&u)).await.expect(200).body;
    let items = listed["value"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    let one = g.get(&format!("{}/{id}", taps(&u))).await.expect(200).body;
    for read in [&items[0], &one] {
        assert_eq!(read["id"], id);
        assert_eq!(read["temporaryAccessPass"], Value::Null, "{read}");
        for field in [
            "isUsable",
            "methodUsabilityReason",
            "startDateTime",
            "lifetimeInMinutes",
            "isUsableOnce",
            "createdDateTime",
        ] {
            assert_eq!(read[field], created[field], "{field}");
        }
    }
    assert!(!listed.to_string().contains(pass) && !one.to_string().contains(pass));

    // The lifetime is within the policy's minimum and maximum, Graph's message.
    for lifetime in [59, 481] {
        let r = g.post(&taps(&u), json!({"lifetimeInMinutes": lifetime})).await.error(400, "badRequest");
        assert_eq!(r.message(), "Invalid LifetimeInMinutes specified. The valid range between 60 and 480.");
    }
    g.post(&taps(&u), json!({"lifetimeInMinutes": "60"})).await.expect(400);
    g.post(&taps(&u), json!({"temporaryAccessPass": "mine1234"})).await.expect(400);
    g.post(&taps(&u), json!({"startDateTime": "yesterday"})).await.expect(400);
    // Stricter than Graph: a start in the past is refused.
    g.post(&taps(&u), json!({"startDateTime": "2020-01-01T00:00:00Z"})).await.expect(400);
    // A pass that starts later is not usable yet.
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let pending = g
        .post(&taps(&u), json!({"startDateTime": later, "lifetimeInMinutes": 480, "isUsableOnce": true}))
        .await
        .expect(201)
        .body;
    assert_eq!((&pending["isUsable"], &pending["methodUsabilityReason"]), (&json!(false), &json!("NotYetValid")));
    assert_eq!((&pending["lifetimeInMinutes"], &pending["isUsableOnce"]), (&json!(480), &json!(true)));

    // The policy's length and one-time rule apply to the next pass.
    g.patch(POLICY, json!({"defaultLength": 20, "isUsableOnce": true})).await.expect(204);
    g.post(&taps(&u), json!({"isUsableOnce": false})).await.error(400, "badRequest");
    let (_, long) = issue(&g, &u, json!({})).await;
    assert_eq!(long.chars().count(), 20);
    let listed = g.get(&taps(&u)).await.body;
    assert_eq!(listed["value"][0]["isUsableOnce"], true, "the policy's one-time rule is the default: {listed}");

    // Unknown users and methods are 404; DELETE removes the pass, a second DELETE is 404.
    g.post(&taps("00000000-0000-4000-8000-000000000000"), json!({})).await.expect(404);
    g.get(&taps("nobody@bjuv.se")).await.expect(404);
    g.get(&format!("{}/00000000-0000-4000-8000-000000000000", taps(&u))).await.expect(404);
    let current = g.get(&taps(&u)).await.body["value"][0]["id"].as_str().unwrap().to_string();
    g.delete(&format!("{}/{current}", taps(&u))).await.expect(204);
    assert_eq!(g.get(&taps(&u)).await.body["value"], json!([]));
    g.delete(&format!("{}/{current}", taps(&u))).await.expect(404);
    // The user is addressed by userPrincipalName too.
    issue(&g, "tap-anna@bjuv.se", json!({})).await;
    assert_eq!(g.get(&taps(&u)).await.body["value"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_pass_replaces_the_first_so_a_user_has_at_most_one() {
    let g = Graph::default().await;
    let u = g.user("tap-bo", json!({})).await;
    let (first, first_pass) = issue(&g, &u, json!({})).await;
    let (second, second_pass) = issue(&g, &u, json!({"lifetimeInMinutes": 120})).await;
    assert_ne!(first, second, "a new method");
    assert_ne!(first_pass, second_pass);
    let listed = g.get(&taps(&u)).await.expect(200).body;
    let items = listed["value"].as_array().unwrap();
    assert_eq!(items.len(), 1, "Graph deletes the current pass when a new one is created: {listed}");
    assert_eq!((&items[0]["id"], &items[0]["lifetimeInMinutes"]), (&json!(second), &json!(120)));
    g.get(&format!("{}/{first}", taps(&u))).await.expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_switched_off_refuses_new_passes_and_makes_existing_ones_unusable() {
    let g = Graph::default().await;
    let u = g.user("tap-cid", json!({})).await;
    let (id, _) = issue(&g, &u, json!({})).await;
    g.patch(POLICY, json!({"state": "disabled"})).await.expect(204);
    let r = g.post(&taps(&u), json!({})).await.error(400, "badRequest");
    assert_eq!(
        r.message(),
        "Converged UserCredentialPolicy does not allow creating or updating this authentication method. AuthMethodType [TemporaryAccessPass]."
    );
    let listed = g.get(&taps(&u)).await.expect(200).body;
    assert_eq!(listed["value"].as_array().unwrap().len(), 1, "the refusal left the pass alone");
    assert_eq!((&listed["value"][0]["id"], &listed["value"][0]["isUsable"]), (&json!(id), &json!(false)));
    assert_eq!(listed["value"][0]["methodUsabilityReason"], "DisabledByPolicy");
    g.delete(&format!("{}/{id}", taps(&u))).await.expect(204);

    let off = Graph::start(TenantOptions { tap_disabled: true, ..TenantOptions::default() }).await;
    let v = off.user("tap-dag", json!({})).await;
    off.post(&taps(&v), json!({})).await.error(400, "badRequest");
    assert_eq!(off.get(&taps(&v)).await.body["value"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_or_unreplicated_user_gets_no_pass() {
    let g = Graph::start(TenantOptions { replication_lag_ms: 60_000, ..TenantOptions::default() }).await;
    let body = json!({
        "accountEnabled": false,
        "displayName": "Test lag",
        "mailNickname": "tap-lag",
        "userPrincipalName": "tap-lag@bjuv.se",
        "passwordProfile": {"password": "Sommar!2024x", "forceChangePasswordNextSignIn": true},
    });
    let lagging = g.post("/users", body).await.expect(201).body["id"].as_str().unwrap().to_string();
    g.post(&taps(&lagging), json!({})).await.expect(404);

    let g = Graph::default().await;
    let u = g.user("tap-eva", json!({"accountEnabled": false})).await;
    let r = g.post(&taps(&u), json!({})).await.expect(400);
    assert!(r.message().contains("disabled"), "{}", r.body);
    g.patch(&format!("/users/{u}"), json!({"accountEnabled": true})).await.expect(204);
    issue(&g, &u, json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_the_dump_nor_the_state_file_holds_a_pass_and_both_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("tenant.db");
    let opts = TenantOptions { state: Some(state.clone()), ..TenantOptions::default() };
    let g = Graph::start(opts.clone()).await;
    let mut passes = Vec::new();
    let mut ids = Vec::new();
    for n in 0..12 {
        let u = g.user(&format!("tap-dump{n}"), json!({})).await;
        let (id, pass) = issue(&g, &u, json!({"lifetimeInMinutes": 90})).await;
        passes.push(pass);
        ids.push((u, id));
    }
    g.patch(POLICY, json!({"state": "disabled", "defaultLength": 30})).await.expect(204);
    let dump = g.tenant.dump();
    let over_http = g.http.get(format!("{}/_samla/dump", g.tenant.url())).bearer_auth(&g.token).send().await.unwrap();
    let over_http = over_http.text().await.unwrap();
    // The dump shows each user's method (id, lifetime, one-time use), never the pass.
    let user = dump["users"].as_array().unwrap().iter().find(|u| u["id"] == json!(ids[0].0)).unwrap();
    assert_eq!(
        user["temporaryAccessPassMethods"],
        json!([{"id": ids[0].1, "isUsableOnce": false, "lifetimeInMinutes": 90}])
    );
    assert_eq!(dump["authenticationMethodsPolicy"]["temporaryAccessPass"]["state"], "disabled", "{dump}");
    let Graph { tenant, .. } = g;
    tenant.shutdown().await;

    let from_file = dump_state_file(&opts).unwrap();
    assert_eq!(from_file, dump);
    let cli = samla().args(["test-tenant", "dump", "--state"]).arg(&state).output().unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let cli = String::from_utf8(cli.stdout).unwrap();
    let mut files = String::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        files.push_str(&String::from_utf8_lossy(&std::fs::read(entry.unwrap().path()).unwrap()));
    }
    assert!(files.contains(&ids[0].1), "the state file holds the methods");
    for pass in &passes {
        for (what, text) in [
            ("dump", &dump.to_string()),
            ("GET /_samla/dump", &over_http),
            ("test-tenant dump", &cli),
            ("state file", &files),
        ] {
            assert!(!text.contains(pass.as_str()), "{what} holds a pass");
        }
    }

    // A restart keeps the policy and the methods.
    let g = Graph::start(opts).await;
    let p = g.get(POLICY).await.expect(200).body;
    assert_eq!((&p["state"], &p["defaultLength"]), (&json!("disabled"), &json!(30)));
    let listed = g.get(&taps(&ids[3].0)).await.expect(200).body;
    assert_eq!(listed["value"][0]["id"], json!(ids[3].1));
    assert_eq!(g.tenant.dump(), dump);
}

/// A Graph client of `g`'s tenant (its secret in a file of `dir`).
async fn client_of(g: &Graph, dir: &std::path::Path, options: ClientOptions) -> GraphClient {
    let secret = g.tenant.client_secret().expose().to_string();
    GraphClient::connect_with(&target_of(&g.tenant, dir, &secret, 1.0), options).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reads_the_policy_issues_lists_and_deletes_passes_and_never_prints_one() {
    let g = Graph::default().await;
    let dir = tempfile::tempdir().unwrap();
    let client = client_of(&g, dir.path(), ClientOptions::default()).await;
    let u = g.user("tap-klient", json!({})).await;

    // The app's token carries the permission Graph asks for.
    let claims = g.token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims).unwrap(),
    )
    .unwrap();
    assert!(claims["roles"].as_array().unwrap().contains(&json!("UserAuthenticationMethod.ReadWrite.All")), "{claims}");

    let policy = client.tap_policy().await.unwrap();
    assert!(policy.enabled);
    assert_eq!(
        (policy.minimum_lifetime_minutes, policy.default_lifetime_minutes, policy.maximum_lifetime_minutes),
        (60, 60, 480)
    );
    assert_eq!((policy.usable_once, policy.default_length), (false, 8));

    let issued = client.issue_tap(&u, 90, true).await.unwrap();
    assert_eq!((issued.lifetime_minutes, issued.usable_once), (90, true));
    assert_eq!(issued.pass.expose().chars().count(), 8);
    let pass = issued.pass.expose().to_string();
    for shown in [format!("{issued:?}"), format!("{}", issued.pass), format!("{:?}", issued.pass)] {
        assert!(!shown.contains(&pass), "the pass redacts itself: {shown}");
    }
    assert!((chrono::Utc::now() - issued.start).num_minutes().abs() < 5, "{issued:?}");

    let listed = client.list_taps(&u).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let m = &listed[0];
    assert_eq!((&m.method_id, m.usable, m.usability_reason.as_str()), (&issued.method_id, true, "EnabledByPolicy"));
    assert_eq!((m.lifetime_minutes, m.usable_once, m.start), (90, true, issued.start));
    assert!(m.created.is_some());

    // Graph's refusals come back as Graph errors, the pass in none of them.
    match client.issue_tap(&u, 30, false).await {
        Err(ClientError::Graph { status: 400, code, message }) => {
            assert_eq!(code, "badRequest");
            assert!(message.contains("valid range between 60 and 480"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.list_taps(&u).await.unwrap()[0].method_id, issued.method_id, "a refused create changes nothing");
    assert!(matches!(
        client.list_taps("00000000-0000-4000-8000-000000000000").await,
        Err(ClientError::Graph { status: 404, .. })
    ));

    // Many at once: a user named twice gets one pass.
    let v = g.user("tap-klient2", json!({})).await;
    let both = client.issue_taps(&[&v, &u, &v], 60, false).await;
    assert!(both[0].is_ok() && both[1].is_ok() && both[2].is_err(), "{both:?}");
    let lists = client.list_taps_of(&[&v, &u]).await;
    let ids: Vec<String> = lists.into_iter().map(|l| l.unwrap()[0].method_id.clone()).collect();
    assert_eq!(ids, [both[0].as_ref().unwrap().method_id.clone(), both[1].as_ref().unwrap().method_id.clone()]);
    let issued = both[1].as_ref().unwrap().clone();

    assert_eq!(client.delete_tap(&u, &issued.method_id).await.unwrap(), TapRemoval::Deleted);
    assert_eq!(client.delete_tap(&u, &issued.method_id).await.unwrap(), TapRemoval::NotThere);
    assert!(client.list_taps(&u).await.unwrap().is_empty());

    g.patch(POLICY, json!({"state": "disabled"})).await.expect(204);
    assert!(!client.tap_policy().await.unwrap().enabled);
    let refused = client.issue_tap(&u, 60, false).await.unwrap_err();
    assert!(refused.to_string().contains("Converged UserCredentialPolicy"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_response_to_a_create_leaves_exactly_one_usable_pass_the_client_sees() {
    // Users made on a calm tenant, then served again with faults from the same state file.
    let dir = tempfile::tempdir().unwrap();
    let state = Some(dir.path().join("tenant.db"));
    let calm = Graph::start(TenantOptions { state: state.clone(), ..TenantOptions::default() }).await;
    let mut users = Vec::new();
    for n in 0..30 {
        users.push(calm.user(&format!("tap-drop{n}"), json!({})).await);
    }
    let Graph { tenant, .. } = calm;
    tenant.shutdown().await;
    let g = Graph::start(TenantOptions {
        state,
        fault_rate_drop: 0.3,
        fault_rate_429: 0.1,
        fault_rate_503: 0.05,
        seed: 7,
        ..TenantOptions::default()
    })
    .await;
    // The injected 429s and 503s are not a real budget: no need to wait their Retry-After.
    let options = ClientOptions {
        backoff_base: Duration::from_millis(50),
        retry_after_cap: Duration::from_millis(50),
        max_attempts: 12,
        ..ClientOptions::default()
    };
    let client = client_of(&g, dir.path(), options).await;

    // The first ten one by one, the rest 20 to a $batch.
    let mut issued = Vec::new();
    for u in &users[..10] {
        issued.push(client.issue_tap(u, 60, false).await.unwrap());
    }
    let rest: Vec<&str> = users[10..].iter().map(String::as_str).collect();
    issued.extend(client.issue_taps(&rest, 60, false).await.into_iter().map(Result::unwrap));
    let all: Vec<&str> = users.iter().map(String::as_str).collect();
    let lists = client.list_taps_of(&all).await;
    for ((u, tap), listed) in users.iter().zip(&issued).zip(lists) {
        let listed = listed.unwrap();
        assert_eq!(listed.len(), 1, "{u}: {listed:?}");
        assert_eq!(listed[0].method_id, tap.method_id, "{u}: the pass the client holds is the usable one");
        assert!(listed[0].usable, "{u}: {listed:?}");
    }
    // Some creates ran and lost their answer: the resend replaced the pass made then.
    let writes: Value = g
        .http
        .get(format!("{}/_samla/writes", g.tenant.url()))
        .bearer_auth(&g.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admitted = writes["arrivals"].as_array().unwrap().len();
    assert!(admitted > users.len(), "{admitted} creates ran for {} users: a lost answer was met", users.len());
    assert!(client.stats().transport_retries > 0 && client.stats().throttled > 0, "{:?}", client.stats());
}

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread: the tenant and the client both run on it, so the thread's log subscriber sees
// what both log.
// tracing caches per call site whether anyone listens; a test on another thread that logs at
// the same moment can leave a call site switched off for this thread's subscriber. The log is
// then incomplete, not wrong, so such an attempt is run again (at most three times).
#[tokio::test(flavor = "current_thread")]
async fn no_pass_reaches_the_trace_log_of_the_client_or_the_tenant() {
    for attempt in 1..=3 {
        if pass_free_trace_log(attempt).await {
            return;
        }
    }
    panic!("the trace log was never captured whole");
}

/// Issues passes with a trace-level subscriber on this thread; whether the log was captured
/// (the pass-free check itself panics).
async fn pass_free_trace_log(attempt: u64) -> bool {
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    let g = Graph::start(TenantOptions { fault_rate_drop: 0.3, seed: 10 + attempt, ..TenantOptions::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let options =
        ClientOptions { backoff_base: Duration::from_millis(20), max_attempts: 12, ..ClientOptions::default() };
    let client = client_of(&g, dir.path(), options).await;
    let mut passes = Vec::new();
    for n in 0..5 {
        // Users are made through the client's own retries: the tenant drops connections.
        let body = json!({
            "accountEnabled": true,
            "displayName": format!("Test tap-log{n}"),
            "mailNickname": format!("tap-log{n}"),
            "userPrincipalName": format!("tap-log{n}@bjuv.se"),
            "passwordProfile": {"password": "Sommar!2024x", "forceChangePasswordNextSignIn": true},
        });
        let batch = samla::render::graph::Batch {
            requests: vec![samla::render::graph::GraphRequest {
                id: "1".into(),
                method: "POST".into(),
                url: "/users".into(),
                body: Some(body),
                depends_on: Vec::new(),
                action: samla::render::graph::Action::CreateUser,
                municipality: "bjuv".into(),
                anchor: None,
                licence_class: None,
            }],
        };
        client.send_batch(&batch).await;
        let upn = format!("tap-log{n}@bjuv.se");
        let issued = client.issue_tap(&upn, 60, false).await.unwrap();
        tracing::info!("issued {issued:?} to {upn}");
        client.list_taps(&upn).await.unwrap();
        passes.push(issued.pass.expose().to_string());
    }
    let log = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    for pass in &passes {
        assert!(!log.contains(pass.as_str()), "a pass in the trace log");
    }
    let captured = ["temporaryAccessPassMethods", "TRACE", "issued"].iter().all(|w| log.contains(w));
    if !captured {
        eprintln!("attempt {attempt}: the trace log was not captured whole ({} bytes)", log.len());
    }
    captured
}
