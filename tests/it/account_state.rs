//! Issue 25, points 3 and 4 on an LDIF project: the sample estate with an expired consultant,
//! a disabled account brought over by `include_disabled`, and a givenName stored decomposed
//! (NFD). Each account's state reaches both targets' dry-run alike; the NFD name arrives as
//! NFC in the snapshot and the Graph request, and the map summary counts it.

use crate::dry_run::{dry_run, requests};
use crate::support::{IDS, Project, copy_mappings, samla};
use base64::Engine;
use serde_json::Value;
use std::collections::BTreeMap;

const NFD: &str = "A\u{30a}sa";

/// The entry of `bjuv.ldif` whose DN starts with `CN=<cn>,`, changed by `edit`.
fn edit_entry(ldif: &mut String, cn: &str, edit: impl Fn(&str) -> String) {
    let start = ldif.find(&format!("dn: CN={cn},")).unwrap();
    let end = ldif[start..].find("\n\n").map_or(ldif.len(), |e| start + e);
    let changed = edit(&ldif[start..end]);
    assert_ne!(changed, ldif[start..end], "{cn}: nothing changed");
    ldif.replace_range(start..end, &changed);
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

fn project() -> Project {
    let sources: String =
        IDS.iter().map(|id| format!("[[source]]\nname = \"{id}\"\nldif = \"estate/{id}.ldif\"\n\n")).collect();
    let p = Project::new(&sources);
    let estate = p.path().join("estate");
    samla()
        .args(["estate", "generate", "--flavor", "ldifde", "--scale", "0.1", "--out"])
        .arg(&estate)
        .assert()
        .success();
    let path = estate.join("bjuv.ldif");
    let mut ldif = std::fs::read_to_string(&path).unwrap();
    edit_entry(&mut ldif, "Kerstin Larsson", |e| {
        e.replace("givenName: Kerstin\n", &format!("givenName:: {}\n", b64(NFD)))
            .replace("displayName: Kerstin Larsson\n", &format!("displayName:: {}\n", b64(&format!("{NFD} Larsson"))))
    });
    // An ended consultant: accountExpires in 2012.
    edit_entry(&mut ldif, "Ahmed Arvidsson", |e| {
        let lines =
            e.lines().map(|l| if l.starts_with("accountExpires:") { "accountExpires: 129700000000000000" } else { l });
        lines.collect::<Vec<_>>().join("\n")
    });
    std::fs::write(&path, ldif).unwrap();
    copy_mappings(p.path());
    let mappings = p.path().join("mappings");
    let edit = |file: &str, from: &str, to: &str| {
        let text = std::fs::read_to_string(mappings.join(file)).unwrap();
        assert!(text.contains(from), "{file}: {from}");
        std::fs::write(mappings.join(file), text.replace(from, to)).unwrap();
    };
    edit("bjuv.toml", "include_disabled = false", "include_disabled = true");
    edit("target.toml", "new_accounts = \"disabled\"", "new_accounts = \"random-password\"");
    edit("target.toml", "person = \"disabled_until_cutover\"", "person = \"as_in_source\"");
    p
}

#[test]
fn expired_and_disabled_accounts_stay_disabled_in_both_targets_and_nfd_arrives_as_nfc() {
    let p = project();
    p.samla(&["discover", "-q"]).assert().success();
    let snapshot = p.snapshot("bjuv");
    let by_cn = |cn: &str| snapshot.iter().find(|o| o.cn.as_deref() == Some(cn)).unwrap();
    let asa = by_cn("Kerstin Larsson");
    assert_eq!(asa.given_name.as_deref(), Some("Åsa"), "NFC in the snapshot");
    assert_eq!(asa.display_name.as_deref(), Some("Åsa Larsson"));
    let expired = by_cn("Ahmed Arvidsson").guid.to_string();
    let disabled: Vec<String> = snapshot
        .iter()
        .filter(|o| o.user_account_control.is_some_and(|u| u.is_disabled()) && o.kind == samla::model::ObjectKind::User)
        .map(|o| o.guid.to_string())
        .collect();
    assert!(!disabled.is_empty(), "the sample estate has disabled accounts");

    let out = p.samla(&["map", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let map: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(map["summaries"]["bjuv"]["nfc_normalised"], 2, "givenName and displayName");
    assert_eq!(map["summaries"]["klippan"]["nfc_normalised"], 0);
    let text = String::from_utf8(p.samla(&["map"]).output().unwrap().stdout).unwrap();
    let header = text.lines().find(|l| l.starts_with("municipality")).unwrap();
    assert!(header.trim_end().ends_with("nfc"), "{text}");
    let bjuv = text.lines().find(|l| l.starts_with("bjuv")).unwrap();
    assert!(bjuv.trim_end().ends_with(" 2"), "{text}");

    p.samla(&["plan", "-q"]).assert().success();
    let waves: Value = serde_json::from_slice(&p.samla(&["waves", "--json"]).output().unwrap().stdout).unwrap();
    let mut enabled: BTreeMap<String, bool> = BTreeMap::new();
    let mut ldif = String::new();
    for w in 1..=waves.as_array().unwrap().len() {
        let result = dry_run(&p, &w.to_string());
        for r in requests(&result).iter().filter(|r| r["action"] == "create_user") {
            let body = &r["body"];
            enabled.insert(r["anchor"].as_str().unwrap().to_string(), body["accountEnabled"].as_bool().unwrap());
            if r["anchor"] == asa.guid.to_string() {
                assert_eq!(body["givenName"], "Åsa", "NFC in the request");
                assert_eq!(body["displayName"], "Åsa Larsson");
            }
        }
        ldif.push_str(&std::fs::read_to_string(result["outputs"]["shared_ad_ldif"].as_str().unwrap()).unwrap());
    }
    assert_eq!(enabled.get(&expired), Some(&false), "the expired consultant is created disabled");
    let brought: Vec<bool> = disabled.iter().filter_map(|d| enabled.get(d).copied()).collect();
    assert!(!brought.is_empty(), "include_disabled brings disabled accounts over");
    assert!(brought.iter().all(|e| !e), "a disabled source account is never enabled: {brought:?}");
    assert_eq!(enabled.get(&asa.guid.to_string()), Some(&true), "an enabled person, as_in_source");
    assert!(enabled.values().any(|e| !e) && enabled.values().any(|e| *e));
    // The shared AD agrees: its notes say who is enabled with the first password, and why not.
    let ldif = ldif.replace("\n ", "");
    let enables = ldif.matches("and enables the account").count();
    assert_eq!(enables, enabled.values().filter(|e| **e).count(), "the same people enabled in both targets");
    assert!(ldif.contains("the account stays disabled: the source account is expired on 2012-"), "expired");
    assert!(ldif.contains("the account stays disabled: the source account is disabled"), "disabled");
    assert!(ldif.contains("the account stays disabled: account_state.student = disabled_until_cutover"));
}
