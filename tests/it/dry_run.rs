//! `samla wave dry-run` on the sample estate: what each wave sends, that later waves refer to
//! earlier objects instead of recreating them, the minimal write count, and the refusals.

use crate::support::{Project, mapped_project};
use serde_json::Value;
use std::collections::BTreeSet;

pub fn planned(scale: &str) -> Project {
    let p = mapped_project(scale);
    p.samla(&["map", "-q"]).assert().success();
    p.samla(&["plan", "-q"]).assert().success();
    p
}

pub fn dry_run(p: &Project, wave: &str) -> Value {
    let out = p.samla(&["wave", "dry-run", wave, "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn requests(result: &Value) -> Vec<Value> {
    let path = result["outputs"]["graph_requests"].as_str().unwrap();
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The anchors in `{id:ANCHOR}` placeholders of a request.
fn referenced(r: &Value) -> BTreeSet<String> {
    let text = r.to_string();
    text.split("{id:").skip(1).filter_map(|rest| rest.split('}').next()).map(str::to_string).collect()
}

#[test]
fn every_wave_renders_its_requests_ldif_and_changes_referring_back_not_recreating() {
    let p = planned("0.3");
    let waves: Value = serde_json::from_slice(&p.samla(&["waves", "--json"]).output().unwrap().stdout).unwrap();
    let n = waves.as_array().unwrap().len();
    assert!(n >= 3, "{n}");
    let mut created: BTreeSet<String> = BTreeSet::new();
    let mut people_total = 0;
    let mut shared_ad_only = 0;
    for w in 1..=n {
        let result = dry_run(&p, &w.to_string());
        let reqs = requests(&result);
        let mut here = BTreeSet::new();
        for r in &reqs {
            match r["action"].as_str().unwrap() {
                "create_user" | "create_group" => {
                    let anchor = r["anchor"].as_str().unwrap().to_string();
                    assert!(!created.contains(&anchor), "wave {w} creates {anchor} again");
                    here.insert(anchor);
                }
                _ => {}
            }
        }
        // Everything referred to exists by then: created in this wave or an earlier one.
        for r in &reqs {
            for a in referenced(r).into_iter().filter(|a| !a.starts_with("licence-group:")) {
                assert!(here.contains(&a) || created.contains(&a), "wave {w}: {a} referred to before it exists: {r}");
            }
        }
        people_total += reqs.iter().filter(|r| r["action"] == "create_user").count();
        let counts = result["municipalities"].as_object().unwrap().values();
        shared_ad_only += counts.map(|c| c["shared_ad_only"].as_u64().unwrap() as usize).sum::<usize>();
        created.extend(here);
        // The write count is minimal and smaller than one request per change.
        let g = &result["graph"];
        assert_eq!(g["writes"].as_u64().unwrap() as usize, reqs.len());
        assert!(g["writes"].as_u64() <= g["naive"].as_u64(), "{g}");
        let ldif = std::fs::read_to_string(result["outputs"]["shared_ad_ldif"].as_str().unwrap()).unwrap();
        assert!(ldif.contains("changetype: add"));
        assert!(!ldif.to_lowercase().contains("unicodepwd") && !ldif.contains("userPassword"));
        let csv = std::fs::read(result["outputs"]["changes_csv"].as_str().unwrap()).unwrap();
        assert!(csv.starts_with(b"\xEF\xBB\xBF"), "the CSV opens in Excel with å, ä, ö");
    }
    let state = samla::state::State::open_read(&p.path().join("state/samla.db")).unwrap();
    let run = state.latest_unified().unwrap().unwrap();
    // Admin and service accounts stay in the shared AD ([cloud]): everyone else is a cloud user once.
    let people: Vec<Value> =
        state.unified_rows(run.id, "person").unwrap().iter().map(|r| serde_json::from_str(r).unwrap()).collect();
    let on_premises = people.iter().filter(|p| p["kind"] == "admin" || p["kind"] == "service").count();
    assert!(on_premises > 0);
    assert_eq!(shared_ad_only, on_premises, "the dry-runs count them");
    assert_eq!(people_total, people.len() - on_premises, "everyone else is created exactly once");
}

#[test]
fn a_stale_wave_or_a_blocking_finding_stops_the_dry_run() {
    let p = planned("0.05");
    dry_run(&p, "1");
    let settings = p.path().join("mappings/plan.toml");
    let text = std::fs::read_to_string(&settings).unwrap();
    std::fs::write(&settings, text.replacen("largest_group = 0.01", "largest_group = 0.02", 1)).unwrap();
    let out = p.samla(&["wave", "dry-run", "1"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("wave 1 is stale") && err.contains("plan.toml changed"), "{err}");
    std::fs::write(&settings, &text).unwrap();
    dry_run(&p, "pilot");

    // Klippan's personnummer flows into employeeId: a privacy violation, blocking.
    let file = p.path().join("mappings/klippan.toml");
    let mapping = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        mapping.replace("from = \"employeeID\"", "from = \"employeeNumber\"").replace("{ truncate = 16 }", "\"trim\""),
    )
    .unwrap();
    assert_eq!(p.samla(&["map", "-q"]).output().unwrap().status.code(), Some(1));
    p.samla(&["plan", "-q"]).assert().success();
    let out = p.samla(&["wave", "dry-run", "1"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("blocking finding") && err.contains("privacy violation"), "{err}");
    let out = p.samla(&["wave", "dry-run", "99"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
