//! The Graph client (`samla::client::graph`) against the in-process test tenant, over real
//! HTTP: login and its refusals, batches and dependency chains, pacing at the write budget
//! (throughput and throttling as shares of the budget, never absolute times), retries under
//! injected faults with every create landing exactly once, paging and batched reads.

use samla::client::graph::{ClientError, ClientOptions, GraphClient, Outcome};
use samla::config::secret::SecretSource;
use samla::config::target::{ClientCredential, TenantTarget};
use samla::render::graph::{Action, Batch, GraphRequest};
use samla::test_tenant::{RunningTenant, TenantOptions, start};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const PASSWORD: &str = "Sommar!2024x";

/// A tenant and a file holding the secret the client should use.
struct Lab {
    tenant: RunningTenant,
    dir: tempfile::TempDir,
}

impl Lab {
    async fn start(opts: TenantOptions) -> Lab {
        Lab { tenant: start(opts).await.unwrap(), dir: tempfile::tempdir().unwrap() }
    }

    /// The target the client is given: the tenant's URLs, `secret` in a file, and the budget
    /// window divided by the tenant's time scale.
    fn target(&self, secret: &str, time_scale: f64) -> TenantTarget {
        target_of(&self.tenant, self.dir.path(), secret, time_scale)
    }

    async fn client(&self, time_scale: f64) -> GraphClient {
        let secret = self.tenant.client_secret().expose().to_string();
        GraphClient::connect(&self.target(&secret, time_scale)).await.unwrap()
    }

    fn users(&self) -> Vec<Value> {
        self.tenant.dump()["users"].as_array().cloned().unwrap_or_default()
    }
}

/// The target a client of `tenant` is given: its URLs, `secret` in a file of `dir`, and the
/// budget window divided by the tenant's time scale (shared with tests/it/tap.rs).
pub(crate) fn target_of(tenant: &RunningTenant, dir: &std::path::Path, secret: &str, time_scale: f64) -> TenantTarget {
    let path = dir.join(format!("secret-{}", secret.len()));
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    TenantTarget {
        tenant_id: tenant.tenant_id().to_string(),
        client_id: tenant.client_id().to_string(),
        credential: ClientCredential::Secret(SecretSource::File(path)),
        graph_url: tenant.graph_url(),
        login_url: tenant.url().to_string(),
        write_budget: 3000,
        budget_window: Duration::from_secs_f64(150.0 / time_scale),
        max_concurrency: 8,
        timeout: Duration::from_secs(20),
        ca_file: None,
        verify_certificates: true,
    }
}

fn upn(prefix: &str, n: usize) -> String {
    format!("{prefix}.{n}@bjuv.se")
}

fn create_user(prefix: &str, n: usize) -> GraphRequest {
    GraphRequest {
        id: format!("user-{n}"),
        method: "POST".into(),
        url: "/users".into(),
        body: Some(json!({
            "accountEnabled": true,
            "displayName": format!("Test {prefix} {n}"),
            "mailNickname": format!("{prefix}.{n}"),
            "userPrincipalName": upn(prefix, n),
            "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": true},
        })),
        depends_on: Vec::new(),
        action: Action::CreateUser,
        municipality: "bjuv".into(),
        anchor: None,
        licence_class: None,
    }
}

/// `count` user creates in parallel batches of 20.
fn user_batches(prefix: &str, count: usize) -> Vec<Batch> {
    let users: Vec<GraphRequest> = (0..count).map(|n| create_user(prefix, n)).collect();
    users.chunks(20).map(|c| Batch { requests: c.to_vec() }).collect()
}

/// Sends all batches at once (the client paces them); the outcomes, and when each batch ended.
async fn send_all(client: &GraphClient, batches: Vec<Batch>) -> (Vec<Vec<Outcome>>, Vec<Instant>) {
    let mut tasks = tokio::task::JoinSet::new();
    for (n, batch) in batches.into_iter().enumerate() {
        let client = client.clone();
        tasks.spawn(async move {
            let out = client.send_batch(&batch).await;
            (n, out, Instant::now())
        });
    }
    let mut results = Vec::new();
    while let Some(r) = tasks.join_next().await {
        results.push(r.unwrap());
    }
    results.sort_by_key(|(n, _, _)| *n);
    results.into_iter().map(|(_, out, at)| (out, at)).unzip()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_in_once_and_refuses_a_wrong_secret_with_entras_code() {
    let lab = Lab::start(TenantOptions::default()).await;
    let client = lab.client(1.0).await;
    assert_eq!(client.logins(), 1);
    let domains = client.get("/domains").await.unwrap();
    assert!(domains["value"].as_array().unwrap().iter().any(|d| d["id"] == "samverkan.se"));
    client.get("subscribedSkus").await.unwrap();
    assert_eq!(client.logins(), 1, "the token is reused");
    assert_eq!(client.stats().reads_sent, 2);

    let wrong = "wrong-secret-0123456789";
    let err = GraphClient::connect(&lab.target(wrong, 1.0)).await.unwrap_err();
    let text = err.to_string();
    match &err {
        ClientError::Login { url, code, description } => {
            assert_eq!(*url, lab.tenant.token_url());
            assert!(code.contains("AADSTS7000215"), "{code}");
            assert!(description.starts_with("Invalid client secret provided."), "{description}");
        }
        other => panic!("not a login error: {other:?}"),
    }
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(!text.contains(wrong) && !format!("{err:?}").contains(wrong), "{text}");
    assert!(!text.contains(lab.tenant.client_secret().expose()));

    let mut unknown = lab.target(wrong, 1.0);
    unknown.tenant_id = "11111111-2222-3333-4444-555555555555".into();
    let err = GraphClient::connect(&unknown).await.unwrap_err();
    assert!(matches!(&err, ClientError::Login { code, .. } if code.contains("AADSTS90002")), "{err}");

    let mut missing = lab.target(wrong, 1.0);
    missing.credential = ClientCredential::Secret(SecretSource::File(lab.dir.path().join("no-such-file")));
    let err = GraphClient::connect(&missing).await.unwrap_err();
    assert!(matches!(&err, ClientError::Credential { .. }) && err.to_string().contains("no-such-file"), "{err}");
    assert_eq!(samla::error::Classified::exit_class(&err), samla::error::ExitClass::Usage);

    let mut closed = lab.target(wrong, 1.0);
    closed.login_url = "http://127.0.0.1:9".into();
    let fast = ClientOptions { backoff_base: Duration::from_millis(10), ..ClientOptions::default() };
    let err = GraphClient::connect_with(&closed, fast).await.unwrap_err();
    assert!(matches!(&err, ClientError::Transport { url, .. } if url.starts_with("http://127.0.0.1:9/")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_creates_chains_and_final_errors() {
    let lab = Lab::start(TenantOptions::default()).await;
    let client = lab.client(1.0).await;
    let batch = &user_batches("alfa", 20)[0];
    let out = client.send_batch(batch).await;
    assert_eq!(out.len(), 20);
    for (o, r) in out.iter().zip(&batch.requests) {
        assert_eq!(o.status, 201, "{o:?}");
        assert_eq!(o.attempts, 1);
        let id = o.id().unwrap();
        let user = client.get(&format!("/users/{id}")).await.unwrap();
        assert_eq!(user["userPrincipalName"], r.body.as_ref().unwrap()["userPrincipalName"]);
    }

    // The same creates again: conflicts come back as they are, never retried.
    let again = client.send_batch(batch).await;
    assert!(again.iter().all(|o| o.status == 400 && o.attempts == 1 && o.error_code() == Some("Request_BadRequest")));
    assert!(again[0].error_message().unwrap().contains("userPrincipalName already exists"));

    // A chain: three updates in order; then a chain whose first link fails gives final 424s.
    let patch = |id: &str, title: &str, after: Option<&str>| GraphRequest {
        id: id.into(),
        method: "PATCH".into(),
        url: format!("/users/{}", upn("alfa", 0)),
        body: Some(json!({"jobTitle": title})),
        depends_on: after.map(|a| vec![a.to_string()]).unwrap_or_default(),
        action: Action::SetManager,
        ..create_user("alfa", 0)
    };
    let chain = Batch {
        requests: vec![patch("p1", "Ett", None), patch("p2", "Två", Some("p1")), patch("p3", "Tre", Some("p2"))],
    };
    let out = client.send_batch(&chain).await;
    assert!(out.iter().all(|o| o.status == 204), "{out:?}");
    assert_eq!(client.get(&format!("/users/{}", upn("alfa", 0))).await.unwrap()["jobTitle"], "Tre");
    let mut broken = chain.clone();
    broken.requests[0].body = Some(json!({"jobTitle": 42}));
    let out = client.send_batch(&broken).await;
    assert_eq!(out.iter().map(|o| o.status).collect::<Vec<_>>(), [400, 424, 424]);
    assert!(out.iter().all(|o| o.attempts == 1), "a failed dependency is final: {out:?}");

    // A 404 is an error of its own kind.
    let missing = client.get("/users/00000000-0000-0000-0000-000000000001").await.unwrap_err();
    assert!(matches!(missing, ClientError::Graph { status: 404, ref code, .. } if code == "Request_ResourceNotFound"));
    let stats = client.stats();
    assert_eq!((stats.writes_sent, stats.batches_sent, stats.throttled), (46, 4, 0));
}

/// The key performance requirement: a stream of three budgets' worth of creates sustains at
/// least 95% of the budget with under 1% of requests throttled, each user created once.
///
/// Two rates, both as shares of the budget (`write_budget / budget_window`): the plain one,
/// writes over elapsed time (flattered by the empty window at the start, where a whole budget
/// goes at once), and the sustained one, which is what a long wave gets: the budget divided by
/// the mean time from the k-th write's answer to the (k + budget)-th's. Against a sliding
/// window that time is at least the window, so the sustained share says how promptly the
/// client uses room as it frees up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_sustains_the_write_budget_without_throttling() {
    // A 3 s window: the per-window cost of one round trip stays small next to it even when
    // the machine is busy (the tenant runs in this process, unoptimised).
    let scale = 50.0;
    let lab = Lab::start(TenantOptions { time_scale: scale, seed: 3, ..TenantOptions::default() }).await;
    let client = lab.client(scale).await;
    let budget = 3000usize;
    let window = 150.0 / scale;
    let total = 3 * budget;
    let started = Instant::now();
    let (outcomes, ended) = send_all(&client, user_batches("pace", total)).await;
    let elapsed = started.elapsed().as_secs_f64();

    let all: Vec<&Outcome> = outcomes.iter().flatten().collect();
    assert_eq!(all.len(), total);
    let failed: Vec<&&Outcome> = all.iter().filter(|o| o.status != 201).collect();
    assert!(failed.is_empty(), "{} failed, first {:?}", failed.len(), failed.first());
    assert_eq!(lab.users().len(), total, "every user created exactly once");

    // When each write was answered, in order.
    let mut answered: Vec<f64> = ended
        .iter()
        .zip(&outcomes)
        .flat_map(|(t, o)| std::iter::repeat_n(t.duration_since(started).as_secs_f64(), o.len()))
        .collect();
    answered.sort_by(f64::total_cmp);
    let cycles: Vec<f64> = (0..total - budget).map(|k| answered[k + budget] - answered[k]).collect();
    let mean_cycle = cycles.iter().sum::<f64>() / cycles.len() as f64;
    let sustained = window / mean_cycle;
    let overall = total as f64 / elapsed / (budget as f64 / window);
    let stats = client.stats();
    let throttled = stats.throttled as f64 / stats.writes_sent as f64;
    eprintln!(
        "pacing: {total} creates in {elapsed:.2} s (window {window} s); sustained {:.1}% of the budget \
         (a budget's worth every {mean_cycle:.3} s), overall {:.1}%; throttled {} of {} writes ({:.2}%); \
         concurrency now {}",
        sustained * 100.0,
        overall * 100.0,
        stats.throttled,
        stats.writes_sent,
        throttled * 100.0,
        client.concurrency(),
    );
    // 95-99 % on a quiet machine (bench/RESULTS.md); this test shares 2 cores with the whole
    // suite, so it only guards against pacing that leaves much of the budget unused.
    assert!(sustained >= 0.80, "sustained {sustained:.3} of the budget");
    assert!(overall >= 0.95, "overall {overall:.3} of the budget");
    assert!(throttled < 0.01, "throttled share {throttled:.4}");
    assert_eq!(stats.writes_sent, total as u64, "nothing was sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_retried_and_every_create_lands_exactly_once() {
    let lab = Lab::start(TenantOptions {
        fault_rate_429: 0.1,
        fault_rate_503: 0.05,
        fault_rate_drop: 0.05,
        seed: 3,
        ..TenantOptions::default()
    })
    .await;
    // Login and the first GETs meet faults too: connect retries them.
    let secret = lab.tenant.client_secret().expose().to_string();
    let options = ClientOptions { backoff_base: Duration::from_millis(100), ..ClientOptions::default() };
    let client = GraphClient::connect_with(&lab.target(&secret, 1.0), options).await.unwrap();
    let total = 300;
    let batches = user_batches("fault", total);
    let (outcomes, _) = send_all(&client, batches.clone()).await;

    let users = lab.users();
    let mut by_upn: BTreeMap<String, usize> = BTreeMap::new();
    for u in &users {
        *by_upn.entry(u["properties"]["userPrincipalName"].as_str().unwrap().to_lowercase()).or_default() += 1;
    }
    let mut conflicts = 0;
    for (batch, out) in batches.iter().zip(&outcomes) {
        for (r, o) in batch.requests.iter().zip(out) {
            let upn = r.body.as_ref().unwrap()["userPrincipalName"].as_str().unwrap().to_lowercase();
            match o.status {
                201 => {}
                // Its answer was lost after it ran (a dropped connection): resent, it conflicts.
                400 => {
                    conflicts += 1;
                    assert!(o.attempts > 1, "{o:?}");
                    assert!(o.error_message().unwrap().contains("already exists"), "{o:?}");
                }
                _ => panic!("{upn}: {o:?}"),
            }
            assert_eq!(by_upn.get(&upn), Some(&1), "{upn} exists exactly once");
        }
    }
    assert_eq!(users.len(), total);
    let stats = client.stats();
    eprintln!("faults: {stats:?}; {conflicts} conflicts after a lost answer; concurrency now {}", client.concurrency());
    assert!(stats.throttled > 0 && stats.unavailable > 0 && stats.transport_retries > 0, "{stats:?}");
    assert!(outcomes.iter().flatten().any(|o| o.attempts > 1));

    // Chains under the same faults: a link refused 429/503 makes the rest 424, and the client
    // resends them together, in order. Reads meanwhile.
    let chains: Vec<Batch> = (0..10)
        .map(|n| {
            let link = |k: usize| GraphRequest {
                id: format!("title-{k}"),
                method: "PATCH".into(),
                url: format!("/users/{}", upn("fault", n)),
                body: Some(json!({"jobTitle": format!("Steg {k}")})),
                depends_on: if k > 1 { vec![format!("title-{}", k - 1)] } else { Vec::new() },
                action: Action::UpdateUser,
                ..create_user("fault", n)
            };
            Batch { requests: (1..=3).map(link).collect() }
        })
        .collect();
    let paths: Vec<String> = (0..20).map(|n| format!("/users/{}", upn("fault", n + 100))).collect();
    let ((outcomes, _), listed, read) =
        tokio::join!(send_all(&client, chains), client.get_all("/users?$top=100"), client.get_many(&paths));
    assert!(outcomes.iter().flatten().all(|o| o.status == 204), "{outcomes:?}");
    for n in 0..10 {
        let user = lab.users().into_iter().find(|u| u["properties"]["userPrincipalName"] == upn("fault", n)).unwrap();
        assert_eq!(user["properties"]["jobTitle"], "Steg 3", "{user}");
    }
    assert_eq!(listed.unwrap().len(), total);
    for (n, r) in read.iter().enumerate() {
        assert_eq!(r.as_ref().unwrap()["userPrincipalName"], upn("fault", n + 100), "{n}");
    }
    let stats = client.stats();
    eprintln!("faults, after chains and reads: {stats:?}");
    assert!(stats.dependency_resends > 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_follows_pages_and_get_many_keeps_order() {
    let lab = Lab::start(TenantOptions::default()).await;
    let client = lab.client(1.0).await;
    let total = 130;
    let (outcomes, _) = send_all(&client, user_batches("page", total)).await;
    let ids: Vec<String> = outcomes.iter().flatten().map(|o| o.id().unwrap().to_string()).collect();
    assert_eq!(ids.len(), total);

    let before = client.stats().reads_sent;
    let listed = client.get_all("/users?$top=50&$select=id,userPrincipalName").await.unwrap();
    assert_eq!(listed.len(), total);
    assert_eq!(client.stats().reads_sent - before, 3, "three pages of at most 50");
    let mut seen: Vec<&str> = listed.iter().map(|u| u["id"].as_str().unwrap()).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), total);

    // 45 reads, every seventh of an object that does not exist, in input order.
    let missing = "00000000-0000-0000-0000-0000000000ff";
    let paths: Vec<String> = (0..45)
        .map(|n| if n % 7 == 3 { format!("/users/{missing}") } else { format!("/users/{}", ids[n * 2]) })
        .collect();
    let batches = client.stats().batches_sent;
    let results = client.get_many(&paths).await;
    assert_eq!(results.len(), 45);
    assert_eq!(client.stats().batches_sent - batches, 3, "20 per $batch");
    for (n, r) in results.iter().enumerate() {
        if n % 7 == 3 {
            assert!(matches!(r, Err(ClientError::Graph { status: 404, .. })), "{n}: {r:?}");
        } else {
            assert_eq!(r.as_ref().unwrap()["id"], ids[n * 2].as_str(), "{n}");
        }
    }
    assert!(client.get_many(&[]).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_renewed() {
    let lab = Lab::start(TenantOptions { token_lifetime_secs: 1, ..TenantOptions::default() }).await;
    let client = lab.client(1.0).await;
    for n in 0..3 {
        client.get("/domains").await.unwrap();
        let out = client.send_batch(&user_batches(&format!("renew{n}"), 2)[0]).await;
        assert!(out.iter().all(Outcome::is_success), "{out:?}");
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert!(client.logins() >= 3, "{} logins", client.logins());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_in_with_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("app.crt"), dir.path().join("app.key"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=samla", "-days", "2", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lab = Lab::start(TenantOptions { certificate: Some(cert.clone()), ..TenantOptions::default() }).await;
    let mut target = lab.target("unused", 1.0);
    target.credential = ClientCredential::Certificate { certificate: cert, private_key: SecretSource::File(key) };
    let client = GraphClient::connect(&target).await.unwrap();
    client.get("/domains").await.unwrap();
    assert_eq!(client.logins(), 1);
}
