//! Issue 26: `samla wave cutover` against in-process test tenants (the demo project's sample
//! estate, no LDAP servers): the wave's cloud users enabled, each with exactly one usable
//! Temporary Access Pass, which is the one in the municipality's handout (0600); refused before
//! the wave ran and while the tenant's policy is off (zero writes); resumable after kill -9;
//! no pass anywhere but the handout.

use crate::safe_wave::{TenantLab, options};
use crate::support::stderr;
use samla::test_tenant::TenantOptions;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn lab(tap_disabled: bool) -> TenantLab {
    lab_at("0.3", tap_disabled)
}

fn lab_at(scale: &str, tap_disabled: bool) -> TenantLab {
    // Real time: a pass of an hour must stay usable while the test looks at it.
    let tenant = TenantOptions { time_scale: 1.0, tap_disabled, ..options("33333333-3333-4333-8333-333333333333") };
    TenantLab::with(scale, tenant)
}

fn run(lab: &TenantLab, wave: &str) {
    let out = lab.samla(&["wave", "run", wave, "--target", "lab", "--yes", "--json"]);
    assert!(out.status.success(), "run {wave}: {}", stderr(&out));
}

fn cutover(lab: &TenantLab, args: &[&str]) -> std::process::Output {
    let mut all = vec!["wave", "cutover"];
    all.extend_from_slice(args);
    all.extend(["--target", "lab", "--yes", "--json"]);
    lab.samla(&all)
}

fn cutover_ok(lab: &TenantLab, args: &[&str]) -> Value {
    let out = cutover(lab, args);
    assert!(out.status.success(), "cutover {args:?}: {}\n{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The tenant's users: UPN -> (accountEnabled, pass method ids).
fn users(lab: &TenantLab) -> BTreeMap<String, (bool, Vec<String>)> {
    let dump = lab.tenants[0].dump();
    dump["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let methods = u["temporaryAccessPassMethods"].as_array().cloned().unwrap_or_default();
            let ids = methods.iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
            let p = &u["properties"];
            (p["userPrincipalName"].as_str().unwrap().to_string(), (p["accountEnabled"] == true, ids))
        })
        .collect()
}

/// A handout CSV's rows: UPN -> (pass, pass id), after checking its mode and encoding.
fn handout(path: &Path) -> BTreeMap<String, (String, String)> {
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "Excel's UTF-8 BOM");
    let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(&bytes[3..]);
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{name}: {header:?}"));
    let (upn, pass, id) = (col("New UPN"), col("Temporary Access Pass"), col("Pass id"));
    let mut out = BTreeMap::new();
    for r in reader.records() {
        let r = r.unwrap();
        let pass = r[pass].strip_prefix('\'').unwrap_or(&r[pass]).to_string();
        assert!(out.insert(r[upn].to_string(), (pass, r[id].to_string())).is_none(), "one row per user");
    }
    out
}

/// The handout CSVs a cutover names (the HTML pages beside them are checked for their mode).
fn handouts(summary: &Value) -> Vec<PathBuf> {
    let all: Vec<PathBuf> =
        summary["handouts"].as_array().unwrap().iter().map(|p| PathBuf::from(p.as_str().unwrap())).collect();
    for p in &all {
        assert_eq!(std::fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o600, "{}", p.display());
    }
    all.into_iter().filter(|p| p.extension().is_some_and(|e| e == "csv")).collect()
}

/// Every user of the tenant (all made by wave 1) enabled with exactly one pass, the one the
/// handouts name; returns every pass.
fn every_user_has_the_handouts_pass(lab: &TenantLab, summary: &Value) -> Vec<String> {
    let mut rows = BTreeMap::new();
    for p in handouts(summary) {
        rows.extend(handout(&p));
    }
    let mut users = users(lab);
    // Those whose source account was disabled stay disabled, without a pass.
    let left: u64 =
        summary["municipalities"].as_object().unwrap().values().map(|m| m["left_disabled"].as_u64().unwrap()).sum();
    let before = users.len();
    users.retain(|upn, (enabled, methods)| {
        let kept = rows.contains_key(upn);
        assert!(kept || (!*enabled && methods.is_empty()), "{upn} has no handout row");
        kept
    });
    assert_eq!((before - users.len()) as u64, left, "{summary}");
    assert!(!users.is_empty());
    for (upn, (enabled, methods)) in &users {
        assert!(enabled, "{upn} is not enabled");
        assert_eq!(methods.len(), 1, "{upn}: {methods:?}");
        let (_, id) = rows.get(upn).unwrap_or_else(|| panic!("{upn} has no handout row"));
        assert_eq!(&methods[0], id, "{upn}: the usable pass is not the handout's");
    }
    assert_eq!(rows.len(), users.len(), "a handout row for a user samla did not create");
    rows.into_values().map(|(pass, _)| pass).collect()
}

pub fn all_bytes_below(dir: &Path, skip: &[PathBuf], out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all_bytes_below(&path, skip, out);
        } else if !skip.iter().any(|s| path.starts_with(s)) {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
}

#[test]
fn the_pilot_wave_is_cut_over_once_each_user_enabled_with_one_pass_in_a_0600_handout() {
    let lab = lab(false);
    // Before the wave ran: refused, saying what is missing, nothing written.
    let before = lab.tenants[0].dump();
    let refused = cutover(&lab, &["1"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("wave run 1"), "{}", stderr(&refused));
    assert_eq!(lab.tenants[0].dump(), before);

    run(&lab, "1");
    let after_run = lab.tenants[0].dump();
    // Without --yes and without a terminal it cannot ask: refused before anything is written.
    let unasked = lab.samla(&["wave", "cutover", "1", "--target", "lab"]);
    assert_eq!(unasked.status.code(), Some(2), "{}", stderr(&unasked));
    assert!(stderr(&unasked).contains("--yes"), "{}", stderr(&unasked));
    assert_eq!(lab.tenants[0].dump(), after_run);
    assert!(users(&lab).values().all(|(enabled, m)| !enabled && m.is_empty()), "a run leaves accounts disabled");

    // A dry run shows per municipality what it will do and writes nothing.
    let shown = lab.samla(&["wave", "cutover", "1", "--target", "lab", "--dry-run"]);
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(shown.contains("municipality") && shown.contains("enable") && shown.contains("Dry run"), "{shown}");
    let dry = cutover_ok(&lab, &["1", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    let sum = |v: &Value, key: &str| -> u64 {
        v["municipalities"].as_object().unwrap().values().map(|m| m[key].as_u64().unwrap()).sum()
    };
    assert_eq!((sum(&dry, "enable") + sum(&dry, "left_disabled")) as usize, users(&lab).len(), "{dry}");
    assert_eq!(lab.tenants[0].dump(), after_run, "a dry run writes nothing");

    // One municipality first: only its users.
    let first = dry["municipalities"].as_object().unwrap().keys().next().unwrap().clone();
    let one = cutover_ok(&lab, &["1", "--municipality", &first]);
    assert_eq!(handouts(&one).len(), 1, "{one}");
    let first_rows = handout(&handouts(&one)[0]);
    let enabled: usize = users(&lab).values().filter(|(e, _)| *e).count();
    assert_eq!(enabled, first_rows.len());
    assert_eq!(one["municipalities"].as_object().unwrap().keys().collect::<Vec<_>>(), [&first]);

    // The whole wave; again: nothing changes, every pass kept.
    let all = cutover_ok(&lab, &["1"]);
    let passes = every_user_has_the_handouts_pass(&lab, &all);
    let tenant = lab.tenants[0].dump();
    let again = cutover_ok(&lab, &["1"]);
    assert_eq!(lab.tenants[0].dump(), tenant, "a second cutover changes nothing: {again}");
    assert_eq!(every_user_has_the_handouts_pass(&lab, &again), passes);
    for p in handouts(&all) {
        let html = p.with_extension("html");
        assert_eq!(std::fs::metadata(&html).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // `wave status` shows the cutover runs.
    let status = lab.samla(&["wave", "status", "1", "--json"]);
    let runs: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(runs.as_array().unwrap().iter().any(|r| r["kind"] == "cutover" && r["status"] == "completed"), "{runs}");

    // A trace-level log of a cutover, the state file, the journal and the rollback reports
    // hold no pass.
    let mut traced = lab.samla_in(&lab.project.config(), &["wave", "cutover", "1", "--target", "lab", "--yes"]);
    let traced = traced.env("SAMLA_LOG", "trace").output().unwrap();
    assert!(traced.status.success(), "{}", stderr(&traced));
    let report = lab.samla(&["report", "rollback", "1", "--target", "lab"]);
    assert!(report.status.success(), "{}", stderr(&report));
    let mut files = Vec::new();
    // The handouts (CSV and HTML) are the one place a pass is written.
    let skip = vec![lab.project.path().join("reports/cutover")];
    all_bytes_below(lab.project.path(), &skip, &mut files);
    // The rollback reports list what the cutover changed and how it is undone.
    let rollback_reports = lab.project.path().join("reports/rollback");
    let listed: String = files
        .iter()
        .filter(|(p, _)| p.starts_with(&rollback_reports) && p.extension().is_some_and(|e| e == "csv"))
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    for what in ["enable_user", "accountEnabled false", "issue_pass", "temporaryAccessPassMethods/", "valid from"] {
        assert!(listed.contains(what), "the rollback reports lack {what}: {listed}");
    }
    // A rollback undoes the cutover first: every pass deleted, every account disabled, each
    // journaled in the rollback run.
    let rolled = lab.rollback(&["1"]);
    assert!(rolled.status.success(), "{}", stderr(&rolled));
    let db = rusqlite::Connection::open(lab.project.path().join("state/samla.db")).unwrap();
    let count = |action: &str| -> usize {
        db.query_row(
            "SELECT count(*) FROM journal j JOIN wave_runs r ON r.id = j.run_id
             WHERE r.kind = 'rollback' AND j.action = ?1 AND j.state = 'done'",
            [action],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!((count("delete_pass"), count("disable_user")), (passes.len(), passes.len()));
    // A wave rolled back cannot be cut over again, and says why.
    let refused = cutover(&lab, &["1"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("rolled back"), "{}", stderr(&refused));
    let report = lab.samla(&["report", "rollback", "1", "--target", "lab"]);
    assert!(report.status.success(), "{}", stderr(&report));
    files.clear();
    all_bytes_below(lab.project.path(), &skip, &mut files);
    files.push(("trace log".into(), [traced.stdout.clone(), traced.stderr.clone()].concat()));
    for pass in &passes {
        for (what, bytes) in &files {
            assert!(!bytes.windows(pass.len()).any(|w| w == pass.as_bytes()), "{} holds a pass", what.display());
        }
    }
}

#[test]
fn a_tenant_whose_policy_is_off_or_a_lifetime_outside_its_bounds_is_refused_with_zero_writes() {
    let lab = lab(true);
    run(&lab, "1");
    let before = lab.tenants[0].dump();
    let refused = cutover(&lab, &["1"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("Temporary Access Pass policy"), "{}", stderr(&refused));
    assert_eq!(lab.tenants[0].dump(), before);

    // samla.toml asks for 10 hours: beyond the policy's 8, said beside the switch.
    let config = lab.project.config();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("[cutover]\ntap_lifetime_minutes = 600\n{text}")).unwrap();
    let refused = cutover(&lab, &["1"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("600") && stderr(&refused).contains("480"), "{}", stderr(&refused));
    assert_eq!(lab.tenants[0].dump(), before);

    // An unknown key in [cutover] is refused like the rest of samla.toml, naming the place.
    std::fs::write(&config, format!("[cutover]\ntap_lifetime = 60\n{text}")).unwrap();
    let bad = cutover(&lab, &["1"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("samla.toml:2:"), "{}", stderr(&bad));
}

#[test]
fn a_cutover_killed_at_random_points_resumes_to_one_usable_pass_per_user_the_handouts() {
    let lab = lab_at("1.0", false);
    run(&lab, "1");
    // Beyond the thresholds (the creates' limits, which the run passed): refused, nothing written.
    let config = lab.project.config();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("max_creates = 100000", "max_creates = 1")).unwrap();
    let before = lab.tenants[0].dump();
    let refused = cutover(&lab, &["1"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("thresholds"), "{}", stderr(&refused));
    assert_eq!(lab.tenants[0].dump(), before);
    std::fs::write(&config, text).unwrap();
    let dir = lab.project.path().join("reports/cutover");
    let written = || -> u64 {
        let mut n = 0;
        for m in std::fs::read_dir(dir.join("01-pilot/lab")).into_iter().flatten() {
            n += std::fs::metadata(m.unwrap().path()).map_or(0, |m| m.len());
        }
        n
    };
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..5 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let before = written();
        let mut child = lab
            .samla_in(&lab.project.config(), &["wave", "cutover", "1", "--target", "lab", "--yes", "--json"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Killed while the handout grows (passes being issued) or at a random moment before.
        let start = std::time::Instant::now();
        let deadline = std::time::Duration::from_millis(100 + seed % 1500);
        while written() == before && start.elapsed() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        std::thread::sleep(std::time::Duration::from_millis(seed % 7));
        let _ = child.kill();
        let _ = child.wait();
    }
    // At least one kill hit a cutover under way (its run is then recorded as failed).
    let status = lab.samla(&["wave", "status", "1", "--json"]);
    let runs: Value = serde_json::from_slice(&status.stdout).unwrap();
    let cutovers: Vec<&Value> = runs.as_array().unwrap().iter().filter(|r| r["kind"] == "cutover").collect();
    assert!(cutovers.iter().any(|r| r["status"] != "completed"), "no kill hit a cutover: {runs}");
    let done = cutover_ok(&lab, &["1"]);
    every_user_has_the_handouts_pass(&lab, &done);
    eprintln!("{} cutover runs before the last; the last: {}", cutovers.len(), done["municipalities"]);
}
