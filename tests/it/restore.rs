//! Issue 25, point 7: a wave run again after its rollback. Graph keeps a deleted user's
//! userPrincipalName, mailNickname and onPremisesImmutableId for 30 days, so creating the
//! wave's users again fails; samla restores its own soft-deleted objects instead (by the id
//! its journal recorded and the anchor), then makes them match the wave. The pilot wave of
//! the sample estate against in-process test tenants (no LDAP servers needed).

use crate::preflight::foreign_user;
use crate::safe_wave::{TenantLab, options};
use crate::support::stderr;
use samla::test_tenant::TenantOptions;
use serde_json::Value;
use std::collections::BTreeMap;

/// `wave run 1`, run again until it exits 0 (a run may end with work in doubt when the
/// tenant drops connections); the summary of the run that completed.
fn run_until_done(lab: &TenantLab) -> Value {
    for _ in 0..4 {
        let out = lab.samla(&["wave", "run", "1", "--target", "lab", "--yes", "--json"]);
        if out.status.success() {
            return serde_json::from_slice(&out.stdout).unwrap();
        }
        assert_eq!(out.status.code(), Some(1), "{}\n{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    }
    panic!("wave 1 did not complete in four runs");
}

/// `wave rollback 1`, run again until it exits 0; its summary.
fn rollback_until_done(lab: &TenantLab) -> Value {
    for _ in 0..5 {
        let out = lab.rollback(&["1"]);
        if out.status.success() {
            return serde_json::from_slice(&out.stdout).unwrap();
        }
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    }
    panic!("the rollback of wave 1 did not complete in five runs");
}

/// The live users' ids by anchor (onPremisesImmutableId).
fn user_ids(lab: &TenantLab) -> BTreeMap<String, String> {
    let dump = lab.tenants[0].dump();
    dump["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (u["properties"]["onPremisesImmutableId"].as_str().unwrap().to_string(), u["id"].as_str().unwrap().into())
        })
        .collect()
}

/// A run's tenant tally summed over municipalities.
fn tenant_total(summary: &Value, field: &str) -> u64 {
    summary["tenant"]["municipalities"].as_object().unwrap().values().map(|t| t[field].as_u64().unwrap()).sum()
}

/// The wave, its rollback, the wave again, and its rollback again, against `tenant`.
fn again_after_rollback(tenant: TenantOptions, kill: bool) {
    let lab = TenantLab::with("0.3", tenant);
    let empty = lab.tenant_objects();
    let first = run_until_done(&lab);
    let after_first = lab.tenant_objects();
    let ids = user_ids(&lab);
    assert!(!ids.is_empty(), "the wave created users: {first}");
    rollback_until_done(&lab);
    assert_eq!(lab.tenant_objects(), empty, "the rollback left the tenant as before the wave");

    // The dry-run against the tenant says what the run will do: restore, not create.
    let out = lab.samla(&["wave", "dry-run", "1", "--target", "lab", "--json"]);
    assert!(out.status.success(), "the dry-run refused the wave again: {}", stderr(&out));
    let dry: Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = dry["outputs"]["graph_requests"].as_str().unwrap();
    let requests: Vec<Value> =
        std::fs::read_to_string(file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let restores = requests
        .iter()
        .filter(|r| r["method"] == "POST" && r["url"].as_str().unwrap().starts_with("/directory/deletedItems/"))
        .count();
    assert_eq!(restores, ids.len(), "one restore per user");
    assert!(!requests.iter().any(|r| r["url"] == "/users"), "no user is created again");
    let changes = std::fs::read_to_string(dry["outputs"]["changes_csv"].as_str().unwrap()).unwrap();
    assert!(changes.contains(";restore;"), "{changes}");

    // The wave again (when `kill`, killed with SIGKILL a moment after it starts, then run
    // again): the same users (restored, not new), the tenant as after the first run.
    if kill {
        let mut child = lab
            .samla_in(&lab.project.config(), &["wave", "run", "1", "--target", "lab", "--yes", "--json"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let _ = child.kill();
        let _ = child.wait();
    }
    let second = run_until_done(&lab);
    assert_eq!(second["ok"], true, "{second}");
    if !kill {
        assert_eq!(tenant_total(&second, "restored_deleted"), ids.len() as u64, "{second}");
    }
    assert_eq!(restored_in_journal(&lab), ids.len(), "one restore per user in the journal");
    assert_eq!(user_ids(&lab), ids, "the users keep their ids");
    assert_eq!(lab.tenant_objects(), after_first, "the tenant is as the first run left it");

    // Its rollback deletes them again and reports them.
    let undone = rollback_until_done(&lab);
    assert_eq!(undone["ok"], true, "{undone}");
    assert_eq!(lab.tenant_objects(), empty, "the second rollback left the tenant as before the wave");
    let reports = walk_text(&lab.project.path().join("reports/rollback"));
    assert!(reports.contains("restore_deleted_user"), "the rollback reports name the restores");
}

/// The users the journal says a run restored (done, or in doubt after a lost response).
fn restored_in_journal(lab: &TenantLab) -> usize {
    let db = lab.project.path().join("state/samla.db");
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row(
        "SELECT count(DISTINCT anchor) FROM journal WHERE action = 'restore_deleted_user' AND state IN ('done', 'in_doubt')",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as usize
}

/// Every CSV under `dir`, concatenated.
fn walk_text(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out += &walk_text(&path);
        } else if path.extension().is_some_and(|e| e == "csv") {
            out += &std::fs::read_to_string(&path).unwrap_or_default();
        }
    }
    out
}

#[test]
fn a_wave_run_again_after_its_rollback_restores_its_own_users() {
    again_after_rollback(options("44444444-4444-4444-8444-444444444444"), false);
}

/// The same with 30 % of the connections dropped (half of them after the tenant acted), and
/// the run again killed once: a restore whose response was lost, or whose run died, finds its
/// user live again under the same id.
#[test]
fn a_wave_run_again_after_its_rollback_converges_when_connections_drop() {
    again_after_rollback(
        TenantOptions {
            fault_rate_drop: 0.3,
            replication_lag_ms: 300,
            ..options("55555555-5555-4555-8555-555555555555")
        },
        true,
    );
}

/// A live user who took the userPrincipalName of one of samla's deleted users meanwhile: Graph
/// would refuse the restore, so the preflight refuses the wave before anything is sent; a
/// deleted user samla did not create holding a wave's anchor is still refused as before
/// (`preflight::a_foreign_or_soft_deleted_user_holding_a_name_or_anchor_of_the_wave_refuses_it`).
#[test]
fn a_restore_whose_name_someone_took_meanwhile_is_refused_before_anything_is_sent() {
    let lab = TenantLab::with("0.3", options("66666666-6666-4666-8666-666666666666"));
    run_until_done(&lab);
    let dump = lab.tenants[0].dump();
    let taken = dump["users"][0]["properties"]["userPrincipalName"].as_str().unwrap().to_string();
    rollback_until_done(&lab);
    foreign_user(&lab, &taken, "someone.new", None, false);
    let before = lab.tenants[0].dump();
    let out = lab.samla(&["wave", "run", "1", "--target", "lab", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&taken.to_lowercase()) && err.contains("which the wave would restore"), "{err}");
    assert_eq!(lab.tenants[0].dump(), before, "nothing was sent");
}
