//! Snapshot sanity: an empty export is refused, and a snapshot that shrinks beyond its
//! source's limit is stored but held until someone accepts it; nothing uses a held snapshot.

use crate::support::{Project, samla, stderr};
use serde_json::Value;
use std::path::Path;

/// The records of an LDIF export (separated by blank lines).
fn records(ldif: &str) -> Vec<&str> {
    ldif.split("\n\n").filter(|r| r.contains("dn: ") || r.contains("dn:: ")).collect()
}

fn is_user(record: &str) -> bool {
    record.lines().any(|l| l.eq_ignore_ascii_case("objectClass: user"))
        && !record.lines().any(|l| l.eq_ignore_ascii_case("objectClass: computer"))
}

fn is_group(record: &str) -> bool {
    record.lines().any(|l| l.eq_ignore_ascii_case("objectClass: group"))
}

/// The export cut at a record boundary after about half its users: what an interrupted
/// `ldifde` leaves. Everything after the cut (the rest of the users, the groups) is missing.
fn cut_in_half(path: &Path) -> (usize, usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let all = records(&text);
    let users = all.iter().filter(|r| is_user(r)).count();
    let mut kept = Vec::new();
    let mut kept_users = 0;
    for r in all {
        if is_group(r) {
            continue;
        }
        if is_user(r) {
            if kept_users == users / 2 {
                break;
            }
            kept_users += 1;
        }
        kept.push(r);
    }
    std::fs::write(path, kept.join("\n\n") + "\n\n").unwrap();
    (users, kept_users)
}

/// Drops `share` of the export's users (the last ones), keeps everything else.
fn drop_users(path: &Path, share: f64) -> (usize, usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let all = records(&text);
    let users = all.iter().filter(|r| is_user(r)).count();
    let dropped = (users as f64 * share).ceil() as usize;
    let mut seen = 0;
    let kept: Vec<&str> = all
        .into_iter()
        .filter(|r| {
            if !is_user(r) {
                return true;
            }
            seen += 1;
            seen <= users - dropped
        })
        .collect();
    std::fs::write(path, kept.join("\n\n") + "\n\n").unwrap();
    (users, users - dropped)
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn snapshots(p: &Project) -> Vec<Value> {
    let out = p.samla(&["snapshots", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    json(&out).as_array().unwrap().clone()
}

fn of<'a>(list: &'a [Value], municipality: &str) -> Vec<&'a Value> {
    list.iter().filter(|s| s["municipality"] == municipality).collect()
}

/// The snapshot ids the newest map run used.
fn mapped_ids(p: &Project) -> Vec<i64> {
    let out = p.samla(&["map", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    json(&out)["run"]["snapshots"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect()
}

/// A project reading only the sample estate's perstorp export, with `extra` lines in its
/// `[[source]]`.
fn perstorp_project(extra: &str) -> Project {
    let p = Project::new(&format!("[[source]]\nname = \"perstorp\"\nldif = \"estate/perstorp.ldif\"\n{extra}\n"));
    samla()
        .args(["estate", "generate", "--flavor", "ldifde", "--scale", "0.05", "--out"])
        .arg(p.path().join("estate"))
        .assert()
        .success();
    p
}

#[test]
fn an_empty_export_is_refused_naming_municipality_and_file() {
    let p = perstorp_project("");
    let export = p.path().join("estate/perstorp.ldif");
    let full = std::fs::read_to_string(&export).unwrap();
    // Empty from the start: nothing is stored.
    std::fs::write(&export, "version: 1\n\n").unwrap();
    let out = p.samla(&["discover", "-q"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("perstorp: ") && err.contains("perstorp.ldif") && err.contains("no users"), "{err}");
    assert!(snapshots(&p).is_empty());
    // Empty after a good one: the good one stays the one in use.
    std::fs::write(&export, &full).unwrap();
    p.samla(&["discover", "-q"]).assert().success();
    let good = snapshots(&p);
    std::fs::write(&export, "").unwrap();
    let out = p.samla(&["discover", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no users"), "{}", stderr(&out));
    assert_eq!(snapshots(&p), good);
}

#[test]
fn a_cut_export_is_held_and_map_keeps_the_previous_snapshot_until_it_is_accepted() {
    let p = crate::dry_run::planned("0.05");
    let before = of(&snapshots(&p), "perstorp")[0]["id"].as_i64().unwrap();
    assert!(mapped_ids(&p).contains(&before));
    let waves = |p: &Project| json(&p.samla(&["waves", "--json"]).output().unwrap());
    let (users, kept) = cut_in_half(&p.path().join("estate/perstorp.ldif"));

    let out = p.samla(&["discover", "-q", "--source", "perstorp"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let list = snapshots(&p);
    let held = of(&list, "perstorp")[1].clone();
    let id = held["id"].as_i64().unwrap();
    assert_eq!(held["users"].as_u64(), Some(kept as u64), "stored complete");
    assert_eq!(held["acceptance"]["state"], "held", "{held}");
    let shrunk = held["acceptance"]["shrink"]["shrunk"].as_array().unwrap();
    let count = |what: &str| shrunk.iter().find(|s| s["count"] == what).cloned();
    assert_eq!(count("users").unwrap()["before"].as_u64(), Some(users as u64));
    assert_eq!(count("users").unwrap()["after"].as_u64(), Some(kept as u64));
    assert_eq!(count("groups").unwrap()["after"].as_u64(), Some(0));
    assert!(count("memberships").is_some());
    for needle in ["perstorp: ", "held", &format!("users {users} -> {kept}"), &format!("samla snapshots accept {id}")] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
    // The table says so too.
    let table = String::from_utf8(p.samla(&["snapshots"]).output().unwrap().stdout).unwrap();
    let row = table.lines().find(|l| l.trim_start().starts_with(&format!("{id} "))).unwrap();
    assert!(row.contains("held") && row.contains(&format!("users {users} -> {kept}")), "{table}");

    // The waves' staleness check, dry-run and map use the accepted one.
    assert!(waves(&p).as_array().unwrap().iter().all(|w| w["status"] == "planned"), "{}", waves(&p));
    p.samla(&["wave", "dry-run", "1", "-q"]).assert().success();
    let mapped = mapped_ids(&p);
    assert!(mapped.contains(&before) && !mapped.contains(&id), "{mapped:?}");

    let out = p.samla(&["snapshots", "accept", &id.to_string()]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let accepted = of(&snapshots(&p), "perstorp")[1].clone();
    assert_eq!(accepted["acceptance"]["state"], "accepted_shrink", "{accepted}");
    assert!(!accepted["acceptance"]["by"].as_str().unwrap().is_empty());
    assert!(!accepted["acceptance"]["at"].as_str().unwrap().is_empty());
    // Accepted, it is what the waves were not planned from, and what map maps.
    assert!(waves(&p).to_string().contains("perstorp's snapshot changed"), "{}", waves(&p));
    assert_eq!(p.samla(&["wave", "dry-run", "1", "-q"]).output().unwrap().status.code(), Some(1));
    assert!(mapped_ids(&p).contains(&id));
    // Accepting twice, or a snapshot that does not exist, is refused.
    let again = p.samla(&["snapshots", "accept", &id.to_string()]).output().unwrap();
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(stderr(&again).contains("not held"), "{}", stderr(&again));
    let none = p.samla(&["snapshots", "accept", "9999"]).output().unwrap();
    assert_eq!(none.status.code(), Some(2), "{}", stderr(&none));
}

#[test]
fn accept_shrink_accepts_a_shrunk_snapshot_at_once() {
    let p = perstorp_project("");
    p.samla(&["discover", "-q"]).assert().success();
    cut_in_half(&p.path().join("estate/perstorp.ldif"));
    let out = p.samla(&["discover", "-q", "--accept-shrink"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let list = snapshots(&p);
    assert_eq!(list[1]["acceptance"]["state"], "accepted_shrink", "{}", list[1]);
    let users = p.snapshot("perstorp").iter().filter(|o| o.kind == samla::model::ObjectKind::User).count();
    assert_eq!(Some(users as u64), list[1]["users"].as_u64(), "the shrunk snapshot is the one in use");
}

#[test]
fn the_limit_is_each_sources_own_and_a_growing_snapshot_is_accepted() {
    let p = perstorp_project("max_shrink = 0.05");
    let export = p.path().join("estate/perstorp.ldif");
    let full = std::fs::read_to_string(&export).unwrap();
    p.samla(&["discover", "-q"]).assert().success();
    let (users, kept) = drop_users(&export, 0.06);
    assert!((users - kept) as f64 / users as f64 > 0.05);

    // 6 % fewer users against a 5 % limit: held.
    let out = p.samla(&["discover", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("5 %"), "{}", stderr(&out));
    assert_eq!(snapshots(&p)[1]["acceptance"]["state"], "held");

    // The same against a 20 % limit: accepted.
    let config = std::fs::read_to_string(p.config()).unwrap();
    std::fs::write(p.config(), config.replace("max_shrink = 0.05", "max_shrink = 0.20")).unwrap();
    p.samla(&["discover", "-q"]).assert().success();
    assert_eq!(snapshots(&p)[2]["acceptance"]["state"], "accepted");
    assert_eq!(p.snapshot("perstorp").iter().filter(|o| o.kind == samla::model::ObjectKind::User).count(), kept);

    // Growing back: accepted.
    std::fs::write(&export, &full).unwrap();
    p.samla(&["discover", "-q"]).assert().success();
    assert_eq!(snapshots(&p)[3]["acceptance"]["state"], "accepted");
    assert_eq!(p.snapshot("perstorp").iter().filter(|o| o.kind == samla::model::ObjectKind::User).count(), users);

    // A limit that is no share is refused with its place.
    std::fs::write(p.config(), config.replace("max_shrink = 0.05", "max_shrink = 1.5")).unwrap();
    let out = p.samla(&["discover", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("samla.toml:") && stderr(&out).contains("max_shrink"), "{}", stderr(&out));
}
