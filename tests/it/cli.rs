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

    // The test tenant's secret is the owner's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let secret = std::fs::metadata(dir.path().join("state/demo-tenant-secret")).unwrap();
        assert_eq!(secret.permissions().mode() & 0o777, 0o600);
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
