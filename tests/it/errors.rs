//! Bad input: each gives one clear line naming the place, a non-zero exit, and loses nothing.

use crate::support::{Project, env, stderr};

/// Asserts a failed run with exactly one stderr line containing every `needle`.
fn one_line_error(out: &std::process::Output, code: i32, needles: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "expected one line, got:\n{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err:?}");
    }
    err
}

fn ldap_source(name: &str, url: &str, base: &str, bind_dn: &str, extra: &str) -> String {
    format!(
        "[[source]]\nname = \"{name}\"\n[source.ldap]\nurl = \"{url}\"\nbase_dn = \"{base}\"\nbind_dn = \"{bind_dn}\"\n{extra}\n"
    )
}

#[test]
fn config_with_an_unknown_key_names_key_and_line() {
    let p = Project::new("[[source]]\nname = \"bjuv\"\nldif = \"x.ldif\"\ncolour = \"blue\"\n");
    let out = p.samla(&["discover"]).output().unwrap();
    one_line_error(&out, 2, &["samla.toml:7:1", "unknown field `colour`"]);
}

#[test]
fn malformed_ldif_names_file_and_line_and_keeps_the_previous_snapshot() {
    let p = Project::new("[[source]]\nname = \"bjuv\"\nldif = \"bjuv.ldif\"\n");
    let good = "version: 1\n\ndn: OU=IT,DC=bjuv,DC=test\nobjectClass: organizationalUnit\nobjectGUID:: ESIzRFVmd4iZqrvM3e7/AA==\n\n\
                dn: CN=b,OU=IT,DC=bjuv,DC=test\nobjectClass: user\nobjectGUID:: ESIzRFVmd4iZqrvM3e7/AQ==\n\n";
    std::fs::write(p.path().join("bjuv.ldif"), good).unwrap();
    p.samla(&["discover", "-q"]).assert().success();
    let first = p.snapshot("bjuv");

    std::fs::write(p.path().join("bjuv.ldif"), format!("{good}dn: CN=a,DC=bjuv,DC=test\nobjectClass user\n")).unwrap();
    let out = p.samla(&["discover", "-q"]).output().unwrap();
    one_line_error(&out, 2, &["bjuv: ", "bjuv.ldif:12:"]);
    assert_eq!(p.snapshot("bjuv"), first);
    let list = p.samla(&["snapshots", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn an_entry_without_object_guid_is_named() {
    let p = Project::new("[[source]]\nname = \"bjuv\"\nldif = \"bjuv.ldif\"\n");
    let ldif = "dn: CN=Öberg\\, Åsa,OU=IT,DC=bjuv,DC=test\nobjectClass: user\nsAMAccountName: asaobe\n\n";
    std::fs::write(p.path().join("bjuv.ldif"), ldif).unwrap();
    let out = p.samla(&["discover"]).output().unwrap();
    one_line_error(&out, 2, &["bjuv.ldif:1: CN=Öberg\\, Åsa,OU=IT,DC=bjuv,DC=test: objectGUID: missing"]);
}

#[test]
fn an_unknown_source_name_is_refused() {
    let p = Project::new("[[source]]\nname = \"bjuv\"\nldif = \"bjuv.ldif\"\n");
    let out = p.samla(&["discover", "--source", "lund"]).output().unwrap();
    one_line_error(&out, 2, &["no source named \"lund\"", "known: bjuv"]);
}

#[test]
fn plain_ldap_to_a_remote_host_is_refused() {
    let src =
        ldap_source("bjuv", "ldap://dc01.bjuv.se", "DC=bjuv,DC=se", "CN=x", "tls = \"plain\"\npassword_env = \"X\"");
    let out = Project::new(&src).samla(&["discover"]).output().unwrap();
    one_line_error(&out, 2, &["samla.toml:", "clear text"]);
}

#[test]
fn unreachable_server() {
    // Port 9 (discard) on loopback: nothing listens there.
    let src = ldap_source(
        "bjuv",
        "ldap://127.0.0.1:9",
        "DC=bjuv,DC=test",
        "CN=x",
        "tls = \"plain\"\npassword_env = \"PATH\"",
    );
    let out = Project::new(&src).samla(&["discover"]).output().unwrap();
    one_line_error(&out, 1, &["bjuv: cannot reach ldap://127.0.0.1:9", "refused"]);
}

#[test]
fn a_missing_password_variable_is_named_without_a_value() {
    let url = env("SAMLA_TEST_SLAPD_URL");
    let src = ldap_source(
        "bjuv",
        &url,
        "dc=bjuv,dc=test",
        "cn=admin,dc=bjuv,dc=test",
        "tls = \"plain\"\npassword_env = \"SAMLA_NO_SUCH_VAR\"",
    );
    let out = Project::new(&src).samla(&["discover"]).output().unwrap();
    one_line_error(&out, 2, &["bjuv: environment variable SAMLA_NO_SUCH_VAR is not set"]);
}

#[test]
fn wrong_password_on_slapd_and_on_samba_with_ads_meaning() {
    let p = Project::new("");
    let wrong = p.secret_file("wrong.pw", "not-the-password");
    let slapd = ldap_source(
        "bjuv",
        &env("SAMLA_TEST_SLAPD_URL"),
        "dc=bjuv,dc=test",
        "cn=admin,dc=bjuv,dc=test",
        &format!("tls = \"plain\"\npassword_file = \"{}\"", wrong.display()),
    );
    let out = Project::new(&slapd).samla(&["discover"]).output().unwrap();
    let err = one_line_error(
        &out,
        1,
        &["refused the bind as \"cn=admin,dc=bjuv,dc=test\"", "invalid credentials (LDAP result 49)"],
    );
    assert!(!err.contains("not-the-password"));

    let samba = ldap_source(
        "bjuv",
        "ldap://127.0.0.2",
        "DC=bjuv,DC=test",
        "Administrator@BJUV.TEST",
        &format!("tls = \"plain\"\npassword_file = \"{}\"", wrong.display()),
    );
    let out = Project::new(&samba).samla(&["discover"]).output().unwrap();
    one_line_error(&out, 1, &["wrong password or unknown user (AD data 52e: invalid credentials)"]);
}

#[test]
fn tls_failure_without_the_ca_and_success_with_it() {
    let ldaps = env("SAMLA_TEST_SLAPD_LDAPS_URL");
    let base = "dc=perstorp,dc=test";
    let bind = "cn=admin,dc=perstorp,dc=test";
    let pw = "password_env = \"SAMLA_TEST_SLAPD_PASSWORD\"";
    let out = Project::new(&ldap_source("perstorp", &ldaps, base, bind, pw)).samla(&["discover"]).output().unwrap();
    one_line_error(&out, 1, &["TLS with ldaps://127.0.0.1:6360 failed", "set ca_file"]);

    // Samba's certificate is not for the name we connect to: the same CA, but a name it does not carry.
    let samba_ca = env("SAMLA_TEST_SAMBA_CA");
    let wrong_ca = ldap_source("perstorp", &ldaps, base, bind, &format!("{pw}\nca_file = \"{samba_ca}\""));
    let out = Project::new(&wrong_ca).samla(&["discover"]).output().unwrap();
    one_line_error(&out, 1, &["TLS with ldaps://127.0.0.1:6360 failed"]);

    let ca = env("SAMLA_TEST_SLAPD_CA");
    let good = ldap_source("perstorp", &ldaps, base, bind, &format!("{pw}\nca_file = \"{ca}\""));
    Project::new(&good).samla(&["discover", "-q"]).assert().success();
}

#[test]
fn a_base_dn_that_does_not_exist() {
    let src = ldap_source(
        "bjuv",
        "ldap://127.0.0.2",
        "OU=Nowhere,DC=bjuv,DC=test",
        "Administrator@BJUV.TEST",
        "tls = \"plain\"\npassword_env = \"SAMLA_TEST_SAMBA_PASSWORD\"",
    );
    let out = Project::new(&src).samla(&["discover"]).output().unwrap();
    one_line_error(&out, 1, &["base DN \"OU=Nowhere,DC=bjuv,DC=test\" does not exist"]);
}
