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
    // It ends with the cutover of wave 1 and names the handouts (one per municipality, 0600).
    let handouts: Vec<&str> = text.lines().filter_map(|l| l.trim().strip_prefix("handout: ")).collect();
    assert!(!handouts.is_empty() && text.contains("Cutover run "), "{text}");
    // `samla waves` shows per target where each wave stands, and since when: wave 1 cut over
    // against "demo" (after its run), the others planned and in no target.
    let config = dir.path().join("samla.toml");
    let listed = samla().arg("-c").arg(&config).args(["waves", "--json"]).output().unwrap();
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let waves: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let waves = waves.as_array().unwrap();
    assert!(waves.len() > 1);
    for w in waves {
        assert_eq!(w["status"], "planned", "{w}");
        let targets = w["targets"].as_array().unwrap();
        if w["number"] == 1 {
            assert_eq!(targets.len(), 1, "{w}");
            assert_eq!(targets[0]["target"], "demo");
            assert_eq!(targets[0]["stage"], "cut_over", "{w}");
            assert!(targets[0]["at"].as_str().is_some_and(|at| at.starts_with("20")), "{w}");
            assert!(targets[0]["run"].as_i64().is_some(), "{w}");
        } else {
            assert!(targets.is_empty(), "{w}");
        }
    }
    let listed = samla().arg("-c").arg(&config).arg("waves").output().unwrap();
    let table = String::from_utf8(listed.stdout).unwrap();
    let first = table.lines().find(|l| l.trim_start().starts_with("1 ")).unwrap();
    assert!(first.contains("demo: cut over 20"), "{table}");
    assert!(table.lines().filter(|l| l.contains("cut over")).count() == 1, "{table}");

    // The test tenant's secret is the owner's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let secret = std::fs::metadata(dir.path().join("state/demo-tenant-secret")).unwrap();
        assert_eq!(secret.permissions().mode() & 0o777, 0o600);
        for h in &handouts {
            assert_eq!(std::fs::metadata(h).unwrap().permissions().mode() & 0o777, 0o600, "{h}");
        }
    }
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

/// Issue 30: the demo folder is a real project afterwards. Wave 1's dry-run files keep its
/// requests (the comparison against `demo` goes to its own folder); the rollback reports the
/// demo verified are not replaced by unverified ones when the tenant is down; and the printed
/// command brings the tenant back on the same state and port.
#[test]
fn demo_project_keeps_its_dry_run_its_verified_reports_and_can_restart_its_tenant() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let out = samla().args(["demo", "--dir"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let config = dir.path().join("samla.toml");

    // 1. The plain dry-run's files hold the wave; the comparison has its own folder.
    let wave_dir = dir.path().join("reports/waves/01-pilot");
    let requests = std::fs::read_to_string(wave_dir.join("graph-requests.jsonl")).unwrap();
    assert!(!requests.trim().is_empty(), "graph-requests.jsonl is empty");
    let changes = std::fs::read_to_string(wave_dir.join("changes.csv")).unwrap();
    assert!(changes.contains("create user"), "no create rows in changes.csv:\n{}", &changes[..changes.len().min(2000)]);
    let against = wave_dir.join("against-demo");
    for f in ["graph-requests.jsonl", "graph-batches.json", "shared-ad.ldif", "changes.csv"] {
        assert!(against.join(f).exists(), "{f} missing in {}", against.display());
    }
    assert!(std::fs::read_to_string(against.join("graph-requests.jsonl")).unwrap().trim().is_empty());

    // 3. With the tenant stopped, the verified rollback reports stay as they are.
    let reports = dir.path().join("reports/rollback/01-pilot/demo");
    let verified = |path: &std::path::Path| {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["verified_live"] == true
    };
    let jsons: Vec<_> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert!(!jsons.is_empty());
    assert!(jsons.iter().all(|p| verified(p)));
    let before: Vec<String> = jsons.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    let down = samla().arg("-c").arg(&config).args(["report", "rollback", "1"]).output().unwrap();
    assert_eq!(down.status.code(), Some(1), "{}", String::from_utf8_lossy(&down.stdout));
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert!(stderr.contains("verified") && stderr.contains("unverified"), "{stderr}");
    let after: Vec<String> = jsons.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    assert_eq!(before, after, "the verified reports were overwritten");
    let beside: Vec<_> = std::fs::read_dir(reports.join("unverified"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(beside.len(), jsons.len());
    assert!(beside.iter().all(|p| !verified(p)));

    // 2. The printed command starts the tenant again on the same state and port.
    let line = text.lines().find(|l| l.contains("samla test-tenant serve")).unwrap_or_else(|| panic!("{text}"));
    let command = line.split("samla test-tenant serve").nth(1).unwrap().trim().trim_end_matches('`');
    assert!(command.contains("--listen 127.0.0.1:"), "{line}");
    let toml = std::fs::read_to_string(&config).unwrap();
    let port = command.split("--listen 127.0.0.1:").nth(1).unwrap().split_whitespace().next().unwrap();
    assert!(toml.contains(&format!("127.0.0.1:{port}")), "{toml}");
    assert!(line.contains("SAMLA_TENANT_CLIENT_SECRET=\"$(cat "), "{line}");
    let secret = std::fs::read_to_string(dir.path().join("state/demo-tenant-secret")).unwrap();
    let mut tenant = std::process::Command::new(assert_cmd::cargo::cargo_bin("samla"))
        .args(["test-tenant", "serve"])
        .args(command.split_whitespace())
        .env("SAMLA_TENANT_CLIENT_SECRET", secret.trim())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufReader::new(tenant.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    let dry = samla().arg("-c").arg(&config).args(["wave", "dry-run", "1", "--target", "demo", "--json"]).output();
    // With the tenant back, the reports are verified again and the unverified ones go.
    let up = samla().arg("-c").arg(&config).args(["report", "rollback", "1", "--json"]).output();
    let _ = tenant.kill();
    let _ = tenant.wait();
    let dry = dry.unwrap();
    assert!(dry.status.success(), "{ready}\n{}", String::from_utf8_lossy(&dry.stderr));
    let dry: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(dry["nothing_to_do"], true, "{dry}");
    let up = up.unwrap();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    assert!(jsons.iter().all(|p| verified(p)));
    assert!(!reports.join("unverified").exists());

    // 4. A client secret that cannot be read is samla.toml's fault: exit 2, the file named,
    // nothing printed on stdout.
    std::fs::remove_file(dir.path().join("state/demo-tenant-secret")).unwrap();
    let out = samla().arg("-c").arg(&config).args(["wave", "dry-run", "1", "--target", "demo"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("demo-tenant-secret"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
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

#[test]
fn a_missing_samla_toml_says_where_it_looked_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("samla.toml");
    let out = samla().arg("-c").arg(&config).arg("snapshots").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("samla.toml was not found at {}", config.display())), "{err}");
    assert!(err.contains("-c FILE") && err.contains("samla init DIR"), "{err}");
    assert!(!err.contains("No such file or directory"), "{err}");
}

#[test]
fn the_wave_commands_and_their_arguments_are_described() {
    let help = |args: &[&str], flag: &str| {
        let out = samla().args(args).arg(flag).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let wave = help(&["wave"], "--help");
    for sub in ["dry-run", "run", "rollback", "status"] {
        let line = wave.lines().find(|l| l.trim_start().starts_with(&format!("{sub} "))).unwrap_or_default();
        assert!(line.trim().len() > sub.len() + 5, "{sub} is not described in:\n{wave}");
    }
    // The command list and `wave --help` itself say all it does, not only dry-runs.
    let top = help(&[], "-h");
    let line = top.lines().find(|l| l.trim_start().starts_with("wave ")).unwrap_or_default();
    for word in ["dry-run", "run", "roll", "status"] {
        assert!(line.contains(word), "{line:?} lacks {word}");
        assert!(wave.lines().next().unwrap_or_default().contains(word), "{wave}");
    }
    // Every argument says what it is (the short help puts it on the argument's line).
    for args in [
        &["wave", "run"][..],
        &["wave", "dry-run"],
        &["wave", "rollback"],
        &["wave", "status"],
        &["init"],
        &["estate", "generate"],
    ] {
        let text = help(args, "-h");
        let mut lines = text.lines().skip_while(|l| !l.starts_with("Arguments:") && !l.starts_with("Options:"));
        for l in lines.by_ref() {
            let t = l.trim_start();
            if (t.starts_with('<') || t.starts_with("--") || t.starts_with('-')) && !t.starts_with("-h") {
                let described = t.split("  ").filter(|p| !p.trim().is_empty()).count() > 1;
                assert!(described, "{args:?}: {l:?} has no help text in:\n{text}");
            }
        }
    }
}
