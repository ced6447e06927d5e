//! `samla wave rollback` and `samla report rollback` against real targets (Samba's shared
//! domain over LDAPS, the test tenant over HTTP): a wave rolled back leaves both as they were
//! before it (canonical dumps, soft-deleted objects aside), for a whole wave, for one
//! municipality (the others untouched, shared groups keeping their members), after a crash
//! half-way through the wave and half-way through the rollback; drift is reported and left.

use crate::execute::Lab;
use crate::shared_ad::Server;
use crate::support::shared_domain;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

impl Lab {
    /// Replaces the lab's `[thresholds]` (the last table of its samla.toml).
    fn thresholds(&self, body: &str) {
        let config = self.project.config();
        let text = std::fs::read_to_string(&config).unwrap();
        let head = &text[..text.find("[thresholds]\n").unwrap()];
        std::fs::write(&config, format!("{head}[thresholds]\n{body}")).unwrap();
    }

    /// Thresholds wide enough for rolling whole waves back (the lab's default refuses updates).
    fn allow_rollbacks(&self) {
        self.thresholds(
            "max_updates = 100000\nmax_updates_share = 1.0\nmax_deletes = 100000\nmax_deletes_share = 1.0\n",
        );
    }

    fn rollback(&self, args: &[&str]) -> Value {
        let mut all = vec!["wave", "rollback"];
        all.extend_from_slice(args);
        all.extend(["--target", "lab", "--yes", "--json"]);
        let out = self.samla(&all).output().unwrap();
        assert!(
            out.status.success(),
            "rollback {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Both targets, canonical; the tenant without its soft-deleted objects.
    fn both(&self, server: &Server) -> (Value, Value) {
        (self.tenant_state()["objects"].clone(), self.shared_ad_state(server))
    }

    /// A request straight to the tenant, as an administrator would make it in the portal.
    fn graph(&self, method: reqwest::Method, path: &str, body: Value) {
        let tenant = &self.tenant;
        self.block_on(async {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let http = reqwest::Client::new();
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "client_credentials")
                .append_pair("client_id", &tenant.client_id().to_string())
                .append_pair("client_secret", tenant.client_secret().expose())
                .append_pair("scope", "https://graph.microsoft.com/.default")
                .finish();
            let token = http
                .post(tenant.token_url())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send();
            let token: Value = token.await.unwrap().json().await.unwrap();
            let token = token["access_token"].as_str().unwrap().to_string();
            let url = format!("{}{path}", tenant.graph_url());
            let r = http.request(method.clone(), url).bearer_auth(token).json(&body).send().await.unwrap();
            let status = r.status();
            assert!(status.is_success(), "{method} {path}: {status} {}", r.text().await.unwrap_or_default());
        });
    }
}

fn users_of(tenant: &Value) -> Vec<String> {
    tenant.as_object().unwrap().keys().filter(|k| k.starts_with("user:")).cloned().collect()
}

fn verification_counts(summary: &Value, when: &str) -> BTreeMap<String, u64> {
    summary[when].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect()
}

/// Wave 1 and 2 run; wave 2 rolled back leaves what wave 1 left; one municipality of wave 1
/// rolled back leaves the others' objects as they were; drift is reported and left alone.
#[test]
fn a_wave_rolled_back_leaves_the_targets_as_before_it_per_municipality_and_around_drift() {
    let _turn = shared_domain();
    let server = Server::from_env();
    let lab = Lab::new(&server, false, "0.3");
    let wave1_plan = lab.compare("1");
    assert_eq!(lab.run("1")["ok"], true);
    let after1 = lab.both(&server);
    assert_eq!(lab.run("2")["ok"], true);
    let after2 = lab.both(&server);
    assert_ne!(after1, after2);

    // The reports are written at the end of every run, one per municipality.
    let reports = lab.project.path().join("reports/rollback");
    let html: Vec<_> = walk(&reports).into_iter().filter(|p| p.extension().is_some_and(|e| e == "html")).collect();
    assert!(html.len() >= 2, "{html:?}");
    let csv = walk(&reports).into_iter().find(|p| p.extension().is_some_and(|e| e == "csv")).unwrap();
    assert!(std::fs::read(&csv).unwrap().starts_with(b"\xEF\xBB\xBF"));

    // Thresholds that allow no deletes refuse a rollback, naming them.
    lab.thresholds("max_deletes = 0\n");
    let refused = lab.samla(&["wave", "rollback", "2", "--target", "lab", "--yes"]).output().unwrap();
    assert!(!refused.status.success(), "{}", String::from_utf8_lossy(&refused.stdout));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("thresholds"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(lab.both(&server), after2, "a refused rollback changes nothing");
    lab.allow_rollbacks();

    // A dry run changes nothing and says what would be undone.
    let dry = lab.rollback(&["2", "--dry-run"]);
    assert!(verification_counts(&dry, "before")["applied"] > 0, "{dry}");
    assert_eq!(lab.both(&server), after2);

    // Wave 2 rolled back: both targets as wave 1 left them; again: nothing to do.
    let undone = lab.rollback(&["2"]);
    assert_eq!(undone["ok"], true, "{undone}");
    let now = lab.both(&server);
    assert!(now.0 == after1.0, "tenant differs from before wave 2: {}", differences(&now.0, &after1.0));
    assert!(now.1 == after1.1, "shared AD differs from before wave 2: {}", differences(&now.1, &after1.1));
    let again = lab.rollback(&["2"]);
    assert_eq!(again["sent"], 0, "{again}");
    assert!(!verification_counts(&again, "after").contains_key("applied"), "{again}");

    // One municipality of wave 1: its people go, the others' objects stay as they were.
    let mut by_people: Vec<(String, u64, u64)> = wave1_plan["municipalities"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(m, v)| (m.clone(), v["people"].as_u64().unwrap(), v["shared_ad_only"].as_u64().unwrap()))
        .filter(|(_, n, _)| *n > 0)
        .collect();
    by_people.sort_by_key(|(_, n, _)| *n);
    // Admin and service accounts are in the shared AD only ([cloud]).
    let (x, x_people, x_shared_ad_only) = by_people[0].clone();
    let x_cloud_people = x_people - x_shared_ad_only;
    let one = lab.rollback(&["1", "--municipality", &x]);
    assert_eq!(one["ok"], true, "{one}");
    let (tenant, ad) = lab.both(&server);
    assert_eq!(
        users_of(&tenant).len() as u64,
        users_of(&after1.0).len() as u64 - x_cloud_people,
        "{x}: {x_cloud_people} people in the tenant"
    );
    for (key, object) in tenant.as_object().unwrap() {
        let before = &after1.0[key];
        if key.starts_with("user:") {
            assert_eq!(object, before, "{key} of another municipality changed");
        } else {
            let members = |v: &Value| v["members"].as_array().unwrap().clone();
            assert!(members(object).iter().all(|m| members(before).contains(m)), "{key} gained members");
            assert_eq!(object["properties"], before["properties"], "{key} changed");
        }
    }
    let ad_users = |v: &Value| {
        v.as_object()
            .unwrap()
            .values()
            .filter(|e| e.get("samaccountname").is_some() && e.get("grouptype").is_none())
            .count()
    };
    assert_eq!(
        ad_users(&ad) as u64,
        ad_users(&after1.1) as u64 - x_people,
        "shared AD: {x}'s people deleted, no one else"
    );

    // Drift: someone changes a remaining user in each target after the wave.
    let drifted_upn = {
        let dump = lab.tenant.dump();
        let u = dump["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["properties"]["onPremisesImmutableId"].is_string())
            .unwrap()
            .clone();
        lab.graph(
            reqwest::Method::PATCH,
            &format!("/users/{}", u["id"].as_str().unwrap()),
            json!({"jobTitle": "Ändrad av en människa"}),
        );
        u["properties"]["userPrincipalName"].as_str().unwrap().to_string()
    };
    let drifted_dn = {
        let users = server.search(&lab.run_ou, "(objectClass=user)", &["cn"]);
        let dn = users[0].dn.as_str().to_string();
        let ldif = format!("dn: {dn}\nchangetype: modify\nreplace: department\ndepartment: Flyttad för hand\n");
        let out = server.apply("ldapmodify", &ldif);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        dn
    };
    let report = lab.samla(&["report", "rollback", "1", "--target", "lab", "--json"]).output().unwrap();
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["verified_live"], true);
    assert!(report["counts"]["drifted"].as_u64().unwrap() >= 2, "{report}");
    let all = lab.rollback(&["1"]);
    assert_eq!(all["ok"], true, "{all}");
    let (tenant, _) = lab.both(&server);
    let left: Vec<String> = users_of(&tenant);
    assert_eq!(left.len(), 1, "only the drifted user is left in the tenant: {left:?}");
    assert_eq!(tenant[&left[0]]["properties"]["userPrincipalName"], json!(drifted_upn));
    let ad_left = server.search(&lab.run_ou, "(objectClass=user)", &["department"]);
    assert_eq!(ad_left.len(), 1, "only the drifted user is left in the shared AD");
    assert!(ad_left[0].dn.as_str().eq_ignore_ascii_case(&drifted_dn));
}

/// Objects that existed before the wave (someone made them, with other values) are updated by
/// the wave and, rolled back, get their own values back and are not deleted.
#[test]
fn a_rollback_restores_what_the_wave_updated_and_deletes_only_what_it_created() {
    let _turn = shared_domain();
    let server = Server::from_env();
    let lab = Lab::new(&server, false, "0.3");
    lab.allow_rollbacks();
    let out = lab.project.path().join("dry-run");
    lab.samla(&["wave", "dry-run", "1", "--out", out.to_str().unwrap()]).assert().success();
    // The shared AD: the wave's OUs and its first user, made beforehand with another department.
    let ldif = std::fs::read_to_string(out.join("shared-ad.ldif")).unwrap();
    let first_user = ldif.find("# create user").unwrap();
    let end = first_user + ldif[first_user..].find("\n\n").unwrap();
    let entry = &ldif[first_user..end];
    let department = entry.lines().find(|l| l.starts_with("department:")).unwrap().to_string();
    let before = format!("{}{}\n", &ldif[..first_user], entry.replace(&department, "department: Fore vagen"));
    let added = server.apply("ldapmodify", &before);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    // The tenant: the wave's first user, made beforehand with another department.
    let requests = std::fs::read_to_string(out.join("graph-requests.jsonl")).unwrap();
    let create: Value = requests
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["action"] == "create_user")
        .unwrap();
    let mut body = create["body"].clone();
    body["department"] = json!("Fore vagen");
    body["passwordProfile"]["password"] = json!("Vinter-2026-Losen!");
    lab.graph(reqwest::Method::POST, "/users", body);
    let before_wave = lab.both(&server);

    let run = lab.run("1");
    assert_eq!(run["ok"], true, "{run}");
    let updated: u64 = ["tenant", "shared_ad"]
        .iter()
        .flat_map(|s| run[s]["municipalities"].as_object().into_iter().flatten())
        .map(|(_, t)| t["updated"].as_u64().unwrap())
        .sum();
    assert_eq!(updated, 2, "one user updated in each target: {run}");
    let undone = lab.rollback(&["1"]);
    assert_eq!(undone["ok"], true, "{undone}");
    let after = lab.both(&server);
    assert!(after.0 == before_wave.0, "tenant differs from before the wave: {}", differences(&after.0, &before_wave.0));
    assert!(
        after.1 == before_wave.1,
        "shared AD differs from before the wave: {}",
        differences(&after.1, &before_wave.1)
    );
}

/// Killed half-way through the wave, then rolled back: both targets as before the wave. A
/// wave's rollback killed half-way several times, then run to the end: the same.
#[test]
fn a_rollback_after_a_crash_in_the_wave_and_in_the_rollback_leaves_the_targets_as_before() {
    let _turn = shared_domain();
    let server = Server::from_env();
    let lab = Lab::new(&server, false, "1.0");
    lab.allow_rollbacks();
    let empty = lab.both(&server);
    // Killed as soon as its first writes show in the targets, not after a fixed delay: on a
    // busy machine the wave may not have written anything yet after a second.
    let args = ["wave", "run", "1", "--target", "lab", "--yes", "--json"];
    let killed = kill_when(&lab, &args, || lab.both(&server) != empty);
    assert!(killed, "the wave finished before anything it wrote was seen; the test would prove little");
    assert_ne!(lab.both(&server), empty, "the killed run changed something");
    assert_eq!(lab.rollback(&["1"])["ok"], true);
    let after = lab.both(&server);
    assert!(after.0 == empty.0, "tenant differs from before the wave: {}", differences(&after.0, &empty.0));
    assert!(after.1 == empty.1, "shared AD differs from before the wave: {}", differences(&after.1, &empty.1));

    drop(lab);

    // A fresh lab (re-running a wave meets its soft-deleted objects' reserved names): the wave
    // runs to the end and its rollback is killed half-way, several times.
    let lab = Lab::new(&server, false, "1.0");
    lab.allow_rollbacks();
    let empty = lab.both(&server);
    assert_eq!(lab.run("1")["ok"], true);
    let mut kills = 0;
    for delay in [300, 500, 700] {
        let args = ["wave", "rollback", "1", "--target", "lab", "--yes", "--json"];
        if kill_after(&lab, &args, Duration::from_millis(delay)) {
            kills += 1;
        }
    }
    assert!(kills >= 1, "every rollback finished before it was killed");
    assert_eq!(lab.rollback(&["1"])["ok"], true);
    let after = lab.both(&server);
    assert!(after.0 == empty.0, "tenant differs from before the wave: {}", differences(&after.0, &empty.0));
    assert!(after.1 == empty.1, "shared AD differs from before the wave: {}", differences(&after.1, &empty.1));
    let status: Value =
        serde_json::from_slice(&lab.samla(&["wave", "status", "1", "--json"]).output().unwrap().stdout).unwrap();
    assert!(status.as_array().unwrap().iter().any(|r| r["kind"] == "rollback" && r["status"] == "completed"));
}

/// Starts samla with `args`, kills it (SIGKILL) after `delay`; whether it was still running.
fn kill_after(lab: &Lab, args: &[&str], delay: Duration) -> bool {
    let started = std::time::Instant::now();
    kill_when(lab, args, || started.elapsed() >= delay)
}

/// Starts samla with `args` and kills it (SIGKILL) once `now` holds (asked every 20 ms, for at
/// most two minutes, while it runs); whether it was still running then.
fn kill_when(lab: &Lab, args: &[&str], mut now: impl FnMut() -> bool) -> bool {
    let mut child =
        lab.command(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() && !now() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let running = child.try_wait().unwrap().is_none();
    if running {
        child.kill().unwrap();
    }
    let _ = child.wait();
    running
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The keys whose values differ between two canonical states, with both values (for messages).
fn differences(now: &Value, expected: &Value) -> String {
    let (a, b) = (now.as_object().unwrap(), expected.as_object().unwrap());
    let mut out = Vec::new();
    for k in a.keys().chain(b.keys()).collect::<std::collections::BTreeSet<_>>() {
        if a.get(k) != b.get(k) {
            out.push(format!(
                "{k}:\n  now      {}\n  expected {}",
                a.get(k).unwrap_or(&Value::Null),
                b.get(k).unwrap_or(&Value::Null)
            ));
        }
    }
    out.truncate(6);
    out.join("\n")
}
