//! Issue 25, point 5 on the sample estate: admin and service accounts stay in the shared AD
//! by default (`[cloud]` in target.toml), named after their account names; `admin = true`
//! and `service = true` bring them to the tenant too.

use crate::dry_run::{dry_run, planned, requests};
use crate::support::Project;
use samla::model::{DirectoryObject, ObjectKind};
use serde_json::Value;
use std::collections::BTreeMap;

/// Every wave's dry-run: the Graph requests' text, the anchors of the users created, the
/// shared AD's LDIF (lines unfolded) and the rows of changes.csv.
#[derive(Default)]
struct Rendered {
    graph: String,
    users: BTreeMap<String, Value>,
    ldif: String,
    changes: String,
    /// What the dry-runs report as left out of the tenant: (reason, anchor).
    skipped: Vec<(String, String)>,
    /// The dry-runs' terminal summaries.
    text: String,
}

fn render_all(p: &Project) -> Rendered {
    let waves: Value = serde_json::from_slice(&p.samla(&["waves", "--json"]).output().unwrap().stdout).unwrap();
    let mut out = Rendered::default();
    for w in 1..=waves.as_array().unwrap().len() {
        let result = dry_run(p, &w.to_string());
        for s in result["skipped"].as_array().unwrap() {
            out.skipped.push((s["reason"].as_str().unwrap().into(), s["anchor"].as_str().unwrap_or("").into()));
        }
        let text = p.samla(&["wave", "dry-run", &w.to_string()]).output().unwrap();
        out.text.push_str(&String::from_utf8_lossy(&text.stdout));
        for r in requests(&result) {
            if r["action"] == "create_user" {
                out.users.insert(r["anchor"].as_str().unwrap().to_string(), r["body"].clone());
            }
            out.graph.push_str(&r.to_string());
            out.graph.push('\n');
        }
        let read = |what: &str| std::fs::read_to_string(result["outputs"][what].as_str().unwrap()).unwrap();
        out.ldif.push_str(&read("shared_ad_ldif").replace("\n ", ""));
        out.changes.push_str(&read("changes_csv"));
    }
    out
}

/// The userPrincipalName the LDIF creates the person with that anchor with.
fn ldif_upn(ldif: &str, anchor: &str) -> Option<String> {
    let first = |e: &&str| e.lines().next().is_some_and(|l| l.starts_with("# create user (") && l.ends_with(anchor));
    let entry = ldif.split("\n\n").find(first)?;
    entry.lines().find_map(|l| l.strip_prefix("userPrincipalName: ")).map(str::to_string)
}

/// Whether `upn` is `sam` (with a counter where another municipality has the same account
/// name) at the shared domain.
fn named_after(upn: &str, sam: &str) -> bool {
    upn.strip_suffix("@samverkan.se")
        .and_then(|alias| alias.strip_prefix(sam))
        .is_some_and(|counter| counter.chars().all(|c| c.is_ascii_digit()))
}

/// The in-scope accounts of `kind`'s OU or name in bjuv: (anchor, sAMAccountName).
fn accounts(p: &Project, pick: impl Fn(&DirectoryObject) -> bool) -> Vec<(String, String)> {
    p.snapshot("bjuv")
        .into_iter()
        .filter(|o| o.kind == ObjectKind::User && !o.user_account_control.is_some_and(|u| u.is_disabled()))
        .filter(pick)
        .map(|o| (o.guid.to_string(), o.sam_account_name.clone().unwrap()))
        .collect()
}

#[test]
fn admin_and_service_accounts_stay_in_the_shared_ad_named_after_their_account_names() {
    let p = planned("0.1");
    let service = accounts(&p, |o| o.dn.as_str().contains(",OU=Servicekonton,"));
    let admins = accounts(&p, |o| o.sam_account_name.as_deref().is_some_and(|s| s.starts_with("adm-")));
    assert!(!service.is_empty() && !admins.is_empty(), "the sample estate has both");
    let r = render_all(&p);
    let mut in_ad = BTreeMap::new();
    for (anchor, sam) in service.iter().chain(&admins) {
        assert!(!r.graph.contains(anchor.as_str()), "{sam} ({anchor}) has a Graph request");
        // Unused accounts are out of scope; those in it are created in the shared AD, named
        // after their account names (a service account has no givenName: never user.<hex>).
        if let Some(upn) = ldif_upn(&r.ldif, anchor) {
            assert!(named_after(&upn, sam), "{sam}: {upn}");
            assert!(r.changes.contains(&format!(";shared AD only;{upn};")), "{upn}");
            assert!(r.skipped.contains(&("shared_ad_only".into(), anchor.clone())), "{upn}");
            in_ad.insert(anchor.clone(), upn);
        }
    }
    assert!(in_ad.len() >= 2, "{in_ad:?}");
    assert!(in_ad.keys().any(|a| service.iter().any(|(s, _)| s == a)), "a service account: {in_ad:?}");
    assert!(in_ad.keys().any(|a| admins.iter().any(|(s, _)| s == a)), "an admin account: {in_ad:?}");
    assert!(!r.ldif.contains("userPrincipalName: user."), "no fallback names");
    assert!(r.text.contains("stays in") && r.text.contains("the shared AD only"), "{}", r.text);
    assert!(!r.graph.contains("\"userPrincipalName\":\"svc-") && !r.graph.contains("\"userPrincipalName\":\"adm-"));

    // In the cloud after all: target.toml says so, the project is mapped and planned again.
    let target = p.path().join("mappings/target.toml");
    let text = std::fs::read_to_string(&target).unwrap();
    for kind in ["admin", "service"] {
        assert!(text.contains(&format!("\n{kind} = false")), "{kind}");
    }
    let text = text.replace("\nadmin = false", "\nadmin = true").replace("\nservice = false", "\nservice = true");
    std::fs::write(&target, text).unwrap();
    p.samla(&["map", "-q"]).assert().success();
    p.samla(&["plan", "-q"]).assert().success();
    let back = render_all(&p);
    let in_cloud: BTreeMap<String, String> = (service.iter().chain(&admins))
        .filter_map(|(anchor, _)| back.users.get(anchor).map(|b| (anchor.clone(), b["userPrincipalName"].to_string())))
        .map(|(anchor, upn)| (anchor, upn.trim_matches('"').to_string()))
        .collect();
    // The same accounts, under the names the first map gave them (the name book keeps them).
    assert_eq!(in_cloud, in_ad, "each account the shared AD gets, the tenant gets too");
    assert!(!back.changes.contains("shared AD only"));
    assert!(!back.skipped.iter().any(|(reason, _)| reason == "shared_ad_only"));
}

/// Against a test tenant: the waves up to the first with admin or service accounts run, and
/// the tenant holds exactly the cloud kinds' users; that wave's rollback finds nothing of
/// theirs to undo in the tenant and leaves it as before the wave.
#[test]
fn a_wave_and_its_rollback_touch_no_cloud_object_for_accounts_that_stay_on_premises() {
    use crate::safe_wave::{TenantLab, options};
    let lab = TenantLab::with("0.1", options("33333333-3333-4333-8333-333333333333"));
    let users = |objects: &Value| -> Vec<Value> {
        let all = objects.as_object().unwrap().iter();
        all.filter(|(k, _)| k.starts_with("user:")).map(|(_, v)| v.clone()).collect()
    };
    let mut cloud_people = 0;
    let mut before;
    let mut wave = 0;
    loop {
        wave += 1;
        let plan = dry_run(&lab.project, &wave.to_string());
        let sum = |what: &str| -> u64 {
            plan["municipalities"].as_object().unwrap().values().map(|m| m[what].as_u64().unwrap()).sum()
        };
        cloud_people += sum("people") - sum("shared_ad_only");
        before = lab.tenant_objects();
        let out = lab.samla(&["wave", "run", &wave.to_string(), "--target", "lab", "--yes", "--json"]);
        assert!(out.status.success(), "wave {wave}: {}", String::from_utf8_lossy(&out.stderr));
        let now = lab.tenant_objects();
        assert_eq!(users(&now).len() as u64, cloud_people, "wave {wave}");
        for u in users(&now) {
            let upn = u["properties"]["userPrincipalName"].as_str().unwrap();
            assert!(!upn.starts_with("adm-") && !upn.starts_with("svc-"), "{upn} is in the tenant");
        }
        if sum("shared_ad_only") > 0 {
            break;
        }
        assert!(wave < 10, "no wave with admin or service accounts");
    }
    let out = lab.rollback(&[&wave.to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lab.tenant_objects(), before, "the tenant as before wave {wave}");
}
