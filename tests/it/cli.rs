//! The front door: `samla demo`, `samla init`, `samla snapshots`.

use crate::support::{IDS, Project, samla};

#[test]
fn demo_discovers_the_five_municipalities_of_the_bundled_estate() {
    let dir = tempfile::tempdir().unwrap();
    let out = samla().args(["demo", "--dir"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    for id in IDS {
        assert!(text.contains(&format!("{id}: ")), "{id} missing from:\n{text}");
    }
    assert!(text.contains("look like personnummer"), "{text}");
    // It maps, and checks the result against the in-process test tenant over HTTP.
    assert!(text.contains("unified: "), "{text}");
    assert!(text.contains("licence class E3 (SPE_E3): "), "{text}");

    // The demo leaves a real project behind: its state lists the five snapshots.
    let listed = samla().arg("-c").arg(dir.path().join("samla.toml")).args(["snapshots", "--json"]).output().unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let municipalities: Vec<&str> =
        listed.as_array().unwrap().iter().map(|s| s["municipality"].as_str().unwrap()).collect();
    assert_eq!(municipalities.len(), 5);
    for id in IDS {
        assert!(municipalities.contains(&id));
    }
    // Run twice, the same estate gives the same content hashes.
    samla().args(["demo", "--json", "--dir"]).arg(dir.path()).assert().success();
    let again = samla().arg("-c").arg(dir.path().join("samla.toml")).args(["snapshots", "--json"]).output().unwrap();
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    let hashes = |v: &serde_json::Value, m: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|s| s["municipality"] == m)
            .map(|s| s["content_hash"].clone())
            .collect::<Vec<_>>()
    };
    for id in IDS {
        let h = hashes(&again, id);
        assert_eq!(h.len(), 2);
        assert_eq!(h[0], h[1], "{id}");
    }
}

#[test]
fn init_writes_a_project_that_loads_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    samla().arg("init").arg(dir.path()).assert().success();
    for f in ["samla.toml", "mappings/README.md", "waves/README.md"] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    // An empty project is valid, and says there is nothing to read.
    let out = samla().arg("-c").arg(dir.path().join("samla.toml")).arg("discover").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("defines no sources"));
    let again = samla().arg("init").arg(dir.path()).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("does not overwrite"));
}

#[test]
fn the_password_is_nowhere_after_a_failed_bind() {
    // A loopback port where nothing listens never sees the password; a real bind does.
    let p = Project::new(&format!(
        "[[source]]\nname = \"bjuv\"\n[source.ldap]\nurl = \"{}\"\ntls = \"plain\"\nbase_dn = \"dc=bjuv,dc=test\"\n\
         bind_dn = \"cn=admin,dc=bjuv,dc=test\"\npassword_env = \"SAMLA_IT_PW\"\n",
        crate::support::env("SAMLA_TEST_SLAPD_URL")
    ));
    let secret = "Hemligt-Lösen-4711";
    let out = p.samla(&["discover", "--json"]).env("SAMLA_IT_PW", secret).env("SAMLA_LOG", "trace").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all = [out.stdout.as_slice(), out.stderr.as_slice(), &std::fs::read(p.path().join("state/samla.db")).unwrap()]
        .concat();
    assert!(!String::from_utf8_lossy(&all).contains(secret));
}

/// Issue 30: the tables of one wave count member links the same way. In the demo's wave 1, the
/// dry-run's Graph member links per municipality equal what the comparison before the run
/// (against an empty tenant) found, equal what the run reports as added, and their sum equals
/// the rollback reports' `add_member` items.
#[test]
fn demo_counts_member_links_the_same_in_the_dry_run_the_comparison_the_run_and_the_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let out = samla().args(["demo", "--json", "--dir"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let values: Vec<serde_json::Value> =
        serde_json::Deserializer::from_slice(&out.stdout).into_iter().collect::<Result<_, _>>().unwrap();
    let dry = values.iter().find(|v| v.get("outputs").is_some() && v.get("comparison").is_none()).unwrap();
    let run = values.iter().find(|v| v.get("compared").is_some() && v.get("rollback_reports").is_some()).unwrap();
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let mut total = 0;
    for (m, c) in dry["municipalities"].as_object().unwrap() {
        let planned = n(&c["tenant_member_links"]);
        let compared = n(&run["compared"][format!("tenant/{m}")]["member_links"]);
        let added = n(&run["tenant"]["municipalities"][m]["member_links"]);
        assert_eq!((planned, planned), (compared, added), "{m}: dry-run, comparison, run");
        total += planned;
    }
    assert!(total > 0);
    let reports = dir.path().join("reports/rollback/01-pilot/demo");
    let mut rollback = 0;
    for entry in std::fs::read_dir(&reports).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            rollback += report["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["system"] == "tenant" && i["change"] == "add_member")
                .count() as u64;
        }
    }
    assert_eq!(rollback, total, "the rollback reports' add_member items");
}
