//! Issue 26 on Samba: `samla wave cutover` in a target with a shared AD (the Lab of
//! [`crate::execute`]: the shared domain's DC6 over LDAPS and a test tenant). Every account the
//! pilot wave created in the shared AD is enabled with an initial password that must be changed
//! (in the 0600 handout beside the pass, nowhere else), once; a wave rollback disables them
//! again first and then undoes the run.

use crate::cutover::all_bytes_below;
use crate::execute::Lab;
use crate::shared_ad::{Server, text};
use crate::support::{shared_domain, stderr};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn cutover(lab: &Lab, extra: &[&str]) -> Value {
    let mut args = vec!["wave", "cutover", "1", "--target", "lab", "--json"];
    args.extend_from_slice(extra);
    let out = lab.samla(&args).output().unwrap();
    assert!(out.status.success(), "cutover: {}\n{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sum(outcome: &Value, what: &str) -> u64 {
    outcome["municipalities"].as_object().unwrap().values().map(|m| m[what].as_u64().unwrap()).sum()
}

/// The run's users in the shared AD: sAMAccountName -> (userPrincipalName, userAccountControl).
fn accounts(lab: &Lab, server: &Server) -> BTreeMap<String, (String, i64)> {
    server
        .search(&lab.run_ou, "(objectClass=user)", &["sAMAccountName", "userPrincipalName", "userAccountControl"])
        .iter()
        .map(|e| {
            let uac = text(e, "userAccountControl").unwrap().parse().unwrap();
            (text(e, "sAMAccountName").unwrap(), (text(e, "userPrincipalName").unwrap_or_default(), uac))
        })
        .collect()
}

/// UPN -> (pass, initial password) of every handout CSV the outcome names.
fn handout_rows(outcome: &Value) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for p in outcome["handouts"].as_array().unwrap().iter().map(|p| PathBuf::from(p.as_str().unwrap())) {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600, "{}", p.display());
        if p.extension().is_none_or(|e| e != "csv") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(&bytes[3..]);
        for r in reader.records() {
            let r = r.unwrap();
            let unquote = |s: &str| s.strip_prefix('\'').unwrap_or(s).to_string();
            assert!(out.insert(r[1].to_string(), (unquote(&r[3]), unquote(&r[7]))).is_none(), "one row per person");
        }
    }
    out
}

#[test]
fn a_cutover_enables_the_waves_shared_ad_accounts_with_an_initial_password_and_rollback_disables_them() {
    let _turn = shared_domain();
    let server = Server::from_env();
    let lab = Lab::new(&server, false, "0.3");
    let before_run = lab.shared_ad_state(&server);
    assert_eq!(lab.run("1")["ok"], true);
    let created = accounts(&lab, &server);
    assert!(created.values().all(|(_, uac)| uac & 2 != 0), "created disabled: {created:?}");

    // The dry run says per municipality how many it will enable, and changes nothing.
    let after_run = lab.shared_ad_state(&server);
    let dry = cutover(&lab, &["--dry-run"]);
    let to_enable = sum(&dry, "ad_enable");
    assert!(to_enable > 0, "{dry}");
    assert_eq!(lab.shared_ad_state(&server), after_run);

    let first = cutover(&lab, &["--yes"]);
    assert_eq!(first["ok"], true, "{first}");
    assert_eq!(sum(&first, "ad_enabled"), to_enable, "{first}");
    let enabled: Vec<(String, String)> = accounts(&lab, &server)
        .into_iter()
        .filter(|(_, (_, uac))| uac & 2 == 0)
        .map(|(sam, (upn, _))| (sam, upn))
        .collect();
    assert_eq!(enabled.len() as u64, to_enable);
    let rows = handout_rows(&first);
    let with_password: Vec<&String> = rows.iter().filter(|(_, (_, pw))| !pw.is_empty()).map(|(u, _)| u).collect();
    assert_eq!(with_password.len() as u64, to_enable, "one initial password per account enabled");

    // A person binds with the initial password: Samba refuses until it is changed (773).
    let (upn, (_, password)) = rows.iter().find(|(_, (_, pw))| !pw.is_empty()).unwrap();
    let bind = std::process::Command::new("ldapwhoami")
        .env("LDAPTLS_CACERT", &server.ca)
        .args(["-H", &server.url, "-x", "-D", upn, "-w", password])
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&bind.stdout), String::from_utf8_lossy(&bind.stderr));
    eprintln!("bind as {upn} with the initial password: {:?} {said}", bind.status.code());
    assert!(!bind.status.success() && said.contains("data 773"), "must change password: {said}");

    // Again: nothing to do.
    let second = cutover(&lab, &["--yes"]);
    assert_eq!((sum(&second, "ad_enable"), sum(&second, "ad_enabled")), (0, 0), "{second}");
    assert_eq!(handout_rows(&second), rows, "the handout keeps its passwords and passes");

    // Rollback: the cutover first (journaled as disable_user in the shared AD), then the run.
    let config = std::fs::read_to_string(lab.project.config()).unwrap();
    std::fs::write(lab.project.config(), format!("{config}max_deletes_share = 1.0\n")).unwrap();
    let out = lab.samla(&["wave", "rollback", "1", "--target", "lab", "--yes", "--json"]).output().unwrap();
    assert!(out.status.success(), "rollback: {}", stderr(&out));
    assert_eq!(lab.shared_ad_state(&server), before_run);
    let db = rusqlite::Connection::open(lab.project.path().join("state/samla.db")).unwrap();
    let disabled: u64 = db
        .query_row(
            "SELECT count(*) FROM journal j JOIN wave_runs r ON r.id = j.run_id
             WHERE r.kind = 'rollback' AND j.system = 'shared_ad' AND j.action = 'disable_user' AND j.state = 'done'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(disabled, to_enable);
    // The rollback reports list the shared AD's enables with their inverse.
    let mut reports = Vec::new();
    all_bytes_below(&lab.project.path().join("reports/rollback"), &[], &mut reports);
    let listed: String = reports.iter().map(|(_, b)| String::from_utf8_lossy(b).into_owned()).collect();
    assert!(listed.contains("replace userAccountControl: "), "{listed}");

    // No password and no pass outside the handouts.
    let mut files = Vec::new();
    let handouts = lab.project.path().join("reports/cutover");
    all_bytes_below(lab.project.path(), &[handouts], &mut files);
    for (upn, (pass, password)) in &rows {
        for secret in [pass, password].into_iter().filter(|s| !s.is_empty()) {
            for (path, bytes) in &files {
                let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
                assert!(!found, "{upn}'s secret in {}", path.display());
            }
        }
    }
}
