//! What a careful reviewer asks of a tool that holds every municipality's directory and the
//! keys to the joint tenant, each shown end to end through the `samla` binary against the
//! real servers (the privacy guard at 100,000 users through the library, for time):
//!
//! - no secret (LDAP password, client secret, a token the tenant issued, in any encoding) in
//!   any output, log line at `trace`, report, wave, journal or state row, also when things fail;
//! - TLS verified by default (LDAPS and HTTPS), plain LDAP to a remote host refused before
//!   connecting, the switches that loosen either explicit;
//! - names crafted to break LDAP filters or DNs land exactly where they belong, read and written;
//! - a wave file edited to hold what the plan does not is refused by dry-run and run alike;
//! - the privacy guard lets no personnummer through across the whole sample estate.

use crate::execute::{AD_PASSWORD_ENV, Lab, SECRET_ENV};
use crate::shared_ad::{Cleanup, Server, run_id};
use crate::support::{IDS, Project, env, objects_of_ldif, samla, shared_domain, stderr};
use base64::Engine as _;
use samla::model::{DirectoryObject, Dn, ObjectKind};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

// -------------------------------------------------------------------------------------------
// Secrets.

/// Every form a secret could leak in: as it is, JSON-escaped, percent-encoded (form bodies,
/// URLs), UTF-16LE (AD's unicodePwd), and base64 (standard and URL-safe) at each of the three
/// alignments it could have inside a longer encoded value (its stable middle part).
fn leak_forms(secret: &str) -> Vec<Vec<u8>> {
    let mut forms = vec![secret.as_bytes().to_vec()];
    forms.push(serde_json::to_string(secret).unwrap().trim_matches('"').as_bytes().to_vec());
    forms.push(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>().into_bytes());
    forms.push(secret.encode_utf16().flat_map(u16::to_le_bytes).collect());
    for engine in [&base64::engine::general_purpose::STANDARD, &base64::engine::general_purpose::URL_SAFE] {
        for (pad, skip) in [(0usize, 0usize), (1, 2), (2, 3)] {
            let mut bytes = vec![0u8; pad];
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = engine.encode(&bytes);
            let stable = (pad + secret.len()) / 3 * 4;
            if stable > skip + 4 {
                forms.push(encoded.as_bytes()[skip..stable].to_vec());
            }
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Bearer tokens as the test tenant (and Entra) issue them: three base64url parts, JSON inside.
fn jwt() -> regex::bytes::Regex {
    regex::bytes::Regex::new(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}").unwrap()
}

/// Collects what a flow left behind and asserts no secret is in any of it.
struct LeakScan {
    secrets: Vec<(&'static str, String)>,
    seen: Vec<(String, Vec<u8>)>,
}

impl LeakScan {
    fn output(&mut self, what: &str, out: &Output) {
        self.seen.push((format!("{what}: stdout"), out.stdout.clone()));
        self.seen.push((format!("{what}: stderr"), out.stderr.clone()));
    }

    /// Every file below `dir`, and every text or blob column of every table of each SQLite
    /// file (a secret split over pages or compressed would not show in the raw bytes).
    fn tree(&mut self, dir: &Path) {
        for path in walk(dir) {
            let bytes = std::fs::read(&path).unwrap();
            if bytes.starts_with(b"SQLite format 3\0") {
                self.sqlite(&path);
            }
            self.seen.push((path.display().to_string(), bytes));
        }
    }

    fn sqlite(&mut self, path: &Path) {
        let db = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let tables: Vec<String> = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(!tables.is_empty(), "{}: no tables", path.display());
        for table in tables {
            let mut stmt = db.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
            let columns = stmt.column_count();
            let mut rows = stmt.query([]).unwrap();
            let mut text = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                for i in 0..columns {
                    match row.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                            text.extend_from_slice(t);
                            text.push(b'\n');
                            // The unified directory's chunks are zstd frames: read inside them too.
                            if t.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                                text.extend(zstd::stream::decode_all(t).unwrap());
                                text.push(b'\n');
                            }
                        }
                        _ => {}
                    }
                }
            }
            self.seen.push((format!("{} table {table}", path.display()), text));
        }
    }

    fn assert_clean(&self) {
        let tokens = jwt();
        for (secret_name, secret) in &self.secrets {
            let forms = leak_forms(secret);
            for (what, bytes) in &self.seen {
                for form in &forms {
                    assert!(!contains(bytes, form), "{secret_name} ({:?}) is in {what}", String::from_utf8_lossy(form));
                }
            }
        }
        for (what, bytes) in &self.seen {
            assert!(!tokens.is_match(bytes), "a bearer token is in {what}");
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A stand-in tenant that logs samla in with `token`, then answers every Graph request with
/// `status`, echoing the request's Authorization header in the error message (as a careless
/// proxy might): samla must not repeat it.
fn fake_tenant(rt: &tokio::runtime::Runtime, token: &str, status: u16) -> String {
    use axum::http::{HeaderMap, StatusCode};
    let token = token.to_string();
    let app = axum::Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            axum::routing::post(move || {
                let token = token.clone();
                async move { axum::Json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": token})) }
            }),
        )
        .fallback(move |headers: HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            let body = json!({"error": {"code": "InvalidAuthenticationToken", "message": format!("refused: {auth}")}});
            (StatusCode::from_u16(status).unwrap(), [("retry-after", "0")], axum::Json(body))
        });
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await });
    url
}

/// Appends a target named `name` to the lab's samla.toml: the lab's shared AD with the given
/// password variable and a tenant at `tenant_url`.
fn add_target(lab: &Lab, name: &str, tenant_url: &str, password: &str) {
    let server = Server::from_env();
    let config = lab.project.config();
    let text = std::fs::read_to_string(&config).unwrap();
    let (head, thresholds) = text.split_at(text.find("\n[thresholds]").unwrap());
    let target = format!(
        "\n[[target]]\nname = \"{name}\"\n[target.tenant]\ntenant_id = \"{}\"\nclient_id = \"{}\"\n\
         client_secret_env = \"{SECRET_ENV}\"\ngraph_url = \"{tenant_url}/v1.0\"\nlogin_url = \"{tenant_url}\"\n\
         timeout_seconds = 5\n[target.shared_ad]\nurl = \"{}\"\nbase_dn = \"{}\"\nbind_dn = \"{}\"\n{password}\nca_file = \"{}\"\n",
        lab.tenant.tenant_id(),
        lab.tenant.client_id(),
        server.url,
        lab.run_ou,
        server.bind,
        server.ca
    );
    std::fs::write(&config, format!("{head}{target}{thresholds}")).unwrap();
}

/// A whole flow at `trace` (dry-run, run, status, rollback dry-run, discover from an LDAP
/// source with a password file) and its failures (wrong AD password, wrong client secret, a
/// tenant answering 401 and 500 that echoes the token, an unreachable tenant and LDAP server):
/// no secret in any output, file, journal or state row, in any encoding.
#[test]
fn no_secret_in_any_output_file_or_state_row_also_when_things_fail() {
    let _turn = shared_domain();
    let server = Server::from_env();
    let lab = Lab::new(&server, false, "0.05");
    let id = run_id();
    let ad_password = env("SAMLA_TEST_SAMBA_PASSWORD");
    let client_secret = lab.tenant.client_secret().expose().to_string();
    let wrong_password = format!("Fel-Lösen+{id}/=");
    let wrong_secret = format!("fel~hemlighet.{id}");
    let fake_token = format!("FAKE-TOKEN-{id}-ingen-far-se-den");
    let mut scan = LeakScan {
        secrets: vec![
            ("the AD password", ad_password.clone()),
            ("the client secret", client_secret),
            ("a wrong AD password", wrong_password.clone()),
            ("a wrong client secret", wrong_secret.clone()),
            ("a token", fake_token.clone()),
        ],
        seen: Vec::new(),
    };
    let traced = |args: &[&str]| {
        let mut cmd = lab.samla(args);
        cmd.env("SAMLA_LOG", "trace");
        cmd
    };

    // The flow that works.
    for args in [
        &["wave", "dry-run", "1", "--target", "lab", "--json"][..],
        &["wave", "run", "1", "--target", "lab", "--yes", "--json"],
        &["wave", "status", "1", "--json"],
        &["wave", "rollback", "1", "--dry-run", "--target", "lab", "--yes", "--json"],
    ] {
        let out = traced(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(args[1] == "status" || stderr(&out).contains("TRACE"), "{args:?} logs at trace");
        scan.output(&args.join(" "), &out);
    }

    // Failures: wrong AD password, wrong client secret.
    let out = traced(&["wave", "run", "2", "--target", "lab", "--yes"])
        .env(AD_PASSWORD_ENV, &wrong_password)
        .output()
        .unwrap();
    assert!(!out.status.success() && stderr(&out).contains("invalid credentials"), "{}", stderr(&out));
    scan.output("run with a wrong AD password", &out);
    let out =
        traced(&["wave", "run", "2", "--target", "lab", "--yes"]).env(SECRET_ENV, &wrong_secret).output().unwrap();
    assert!(!out.status.success() && stderr(&out).contains("AADSTS"), "{}", stderr(&out));
    scan.output("run with a wrong client secret", &out);

    // A tenant that logs samla in, then answers 401 or 500 and echoes the token back.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pw = format!("password_env = \"{AD_PASSWORD_ENV}\"");
    // Wave 1 on targets it never ran against (wave 2 would be refused before connecting: it
    // needs wave 1 in the target); names without the status, so the status seen is the tenant's.
    for (status, name) in [(401, "fake-unauthorized"), (500, "fake-failing")] {
        add_target(&lab, name, &fake_tenant(&rt, &fake_token, status), &pw);
        let out = traced(&["wave", "run", "1", "--target", name, "--yes"]).output().unwrap();
        assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        assert!(stderr(&out).contains(&status.to_string()), "{status}: {}", stderr(&out));
        scan.output(&format!("a tenant answering {status}"), &out);
    }
    // Unreachable: the tenant, then the shared AD (a password file this time).
    add_target(&lab, "nowhere", "http://127.0.0.1:9", &pw);
    let out = traced(&["wave", "run", "1", "--target", "nowhere", "--yes"]).output().unwrap();
    assert!(!out.status.success() && stderr(&out).contains("127.0.0.1:9"), "{}", stderr(&out));
    scan.output("an unreachable tenant", &out);
    let file = lab.project.secret_file("ad.pw", &ad_password);
    add_target(&lab, "file", lab.tenant.url(), &format!("password_file = \"{}\"", file.display()));
    let out = traced(&["wave", "dry-run", "1", "--target", "file", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    scan.output("a password from a file", &out);
    std::fs::remove_file(&file).unwrap();

    // Reading a municipality's AD over LDAPS with a password file, then an unreachable one.
    let source = Project::new(&format!(
        "[[source]]\nname = \"bjuv\"\n[source.ldap]\nurl = \"ldaps://127.0.0.2\"\nbase_dn = \"DC=bjuv,DC=test\"\n\
         bind_dn = \"Administrator@BJUV.TEST\"\npassword_file = \"ad.pw\"\nca_file = \"{}\"\n\
         [[source]]\nname = \"nowhere\"\n[source.ldap]\nurl = \"ldaps://127.0.0.1:9\"\nbase_dn = \"DC=x\"\n\
         bind_dn = \"x\"\npassword_file = \"ad.pw\"\n",
        server.ca
    ));
    source.secret_file("ad.pw", &ad_password);
    let out = source.samla(&["discover", "--source", "bjuv", "-q"]).env("SAMLA_LOG", "trace").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    scan.output("discover over LDAPS", &out);
    let out = source.samla(&["discover", "--source", "nowhere"]).env("SAMLA_LOG", "trace").output().unwrap();
    assert!(!out.status.success() && stderr(&out).contains("cannot reach"), "{}", stderr(&out));
    scan.output("discover from an unreachable server", &out);
    std::fs::remove_file(source.path().join("ad.pw")).unwrap();

    scan.tree(lab.project.path());
    scan.tree(source.path());
    assert!(scan.seen.iter().any(|(w, _)| w.contains("table")), "the state was scanned");
    scan.assert_clean();
}

/// The types that hold secrets print `[redacted]` or leave them out (a panic or a log line
/// that formats one with `{:?}` leaks nothing); errors about refused credentials do not
/// carry them either.
#[test]
fn secret_holding_types_never_print_their_values() {
    let secret = samla::config::secret::Secret::new("Hemligt-4711");
    assert_eq!(format!("{secret} {secret:?}"), "[redacted] [redacted]");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let tenant = rt
        .block_on(samla::test_tenant::start(samla::test_tenant::TenantOptions {
            client_secret: Some(samla::config::secret::Secret::new("Klient-Hemlighet-0815")),
            ..Default::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[[target]]\nname = \"lab\"\n[target.tenant]\ntenant_id = \"{}\"\nclient_id = \"{}\"\n\
         client_secret_env = \"SAMLA_IT_DEBUG_SECRET\"\ngraph_url = \"{}\"\nlogin_url = \"{}\"\n\
         [target.shared_ad]\nurl = \"{}\"\nbase_dn = \"{}\"\nbind_dn = \"{}\"\npassword_env = \"SAMLA_IT_DEBUG_PW\"\n\
         ca_file = \"{}\"\n",
        tenant.tenant_id(),
        tenant.client_id(),
        tenant.graph_url(),
        tenant.url(),
        env("SAMLA_TEST_SHARED_URL"),
        env("SAMLA_TEST_SHARED_BASE"),
        env("SAMLA_TEST_SHARED_BIND"),
        env("SAMLA_TEST_SAMBA_CA"),
    );
    let config = samla::config::Config::parse(&dir.path().join("samla.toml"), &toml).unwrap();
    // SAFETY: this test alone reads these two variables; set before any thread reads them.
    unsafe {
        std::env::set_var("SAMLA_IT_DEBUG_SECRET", "Klient-Hemlighet-0815");
        std::env::set_var("SAMLA_IT_DEBUG_PW", "Fel-Lösen-0815");
        std::env::set_var("SAMLA_IT_DEBUG_WRONG", "Fel-Hemlighet-0815");
    }
    let target = config.targets[0].clone();
    let (client, read, login_error, ldap_error) = rt.block_on(async {
        let client = samla::client::graph::GraphClient::connect(target.tenant.as_ref().unwrap()).await.unwrap();
        let read = client.get("/users?$top=1").await;
        let mut wrong = target.tenant.clone().unwrap();
        wrong.credential = samla::config::target::ClientCredential::Secret(samla::config::secret::SecretSource::Env(
            "SAMLA_IT_DEBUG_WRONG".into(),
        ));
        let refused = samla::client::graph::GraphClient::connect(&wrong).await.err();
        let ldap = samla::client::ldap::SharedAdClient::connect(target.shared_ad.as_ref().unwrap()).await.err();
        (client, read, refused.expect("a wrong secret is refused"), ldap.expect("a wrong password is refused"))
    });
    assert!(read.is_ok(), "{read:?}");
    let printed = [
        format!("{config:?}"),
        format!("{target:?}"),
        format!("{client:?}"),
        format!("{tenant:?}"),
        format!("{login_error} {login_error:?}"),
        format!("{ldap_error} {ldap_error:?}"),
    ];
    for text in &printed {
        for secret in ["Hemligt-4711", "Klient-Hemlighet-0815", "Fel-Lösen-0815", "Fel-Hemlighet-0815"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(!jwt().is_match(text.as_bytes()), "a token in {text}");
    }
    assert!(printed[5].contains("52e") || printed[5].contains("49"), "{}", printed[5]);
    rt.block_on(tenant.shutdown());
}

// -------------------------------------------------------------------------------------------
// TLS.

/// Asserts a failure within `limit` whose stderr holds every needle.
fn refused_within(out: &Output, took: Duration, limit: Duration, needles: &[&str]) -> String {
    let err = stderr(out);
    assert!(!out.status.success(), "succeeded: {}", String::from_utf8_lossy(&out.stdout));
    assert!(took < limit, "took {took:?}: it tried to connect");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err}");
    }
    err
}

fn timed(mut cmd: assert_cmd::Command) -> (Output, Duration) {
    let started = Instant::now();
    let out = cmd.output().unwrap();
    (out, started.elapsed())
}

/// LDAPS to Samba without the CA fails on the certificate, for a source and for a target's
/// shared AD; HTTPS to a tenant whose certificate the system does not trust fails the same
/// way; `ca_file` or an explicit `verify_certificates = false` are the only ways past it.
#[test]
fn certificates_are_verified_by_default_for_ldaps_and_https() {
    let ca = env("SAMLA_TEST_SAMBA_CA");
    let pw = "password_env = \"SAMLA_TEST_SAMBA_PASSWORD\"";
    let source = |extra: &str| {
        Project::new(&format!(
            "[[source]]\nname = \"bjuv\"\n[source.ldap]\nurl = \"ldaps://127.0.0.2\"\nbase_dn = \"DC=bjuv,DC=test\"\n\
             bind_dn = \"Administrator@BJUV.TEST\"\n{pw}\n{extra}\n"
        ))
    };
    let out = source("").samla(&["discover"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("TLS with ldaps://127.0.0.2 failed") && err.contains("set ca_file"), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    source(&format!("ca_file = \"{ca}\"")).samla(&["discover", "-q"]).assert().success();

    // A wave's targets: the shared AD without the CA, and a tenant served over HTTPS by a
    // certificate of the test CA (Samba's LDAPS port: TLS first, then no HTTP at all).
    let p = crate::dry_run::planned("0.05");
    let config = std::fs::read_to_string(p.config()).unwrap();
    let with =
        |target: &str| std::fs::write(p.config(), format!("{config}\n[[target]]\nname = \"x\"\n{target}")).unwrap();
    with(&format!(
        "[target.shared_ad]\nurl = \"ldaps://127.0.0.7\"\nbase_dn = \"DC=samverkan,DC=test\"\nbind_dn = \"x\"\n{pw}\n"
    ));
    for args in [&["wave", "dry-run", "1", "--target", "x"][..], &["wave", "run", "1", "--target", "x", "--yes"]] {
        let out = p.samla(args).output().unwrap();
        let err = stderr(&out);
        assert!(!out.status.success() && err.contains("ldaps://127.0.0.7") && err.contains("set ca_file"), "{err}");
    }
    let tenant = |extra: &str| {
        with(&format!(
            "[target.tenant]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"PATH\"\n\
             graph_url = \"https://127.0.0.7:636/v1.0\"\nlogin_url = \"https://127.0.0.7:636\"\ntimeout_seconds = 5\n{extra}\n"
        ));
        let out = p.samla(&["wave", "dry-run", "1", "--target", "x"]).output().unwrap();
        assert!(!out.status.success());
        stderr(&out)
    };
    let err = tenant("");
    assert!(err.contains("https://127.0.0.7:636") && err.contains("certificate"), "{err}");
    assert!(err.contains("UnknownIssuer") || err.contains("unknown issuer"), "{err}");
    for extra in [format!("ca_file = \"{ca}\""), "verify_certificates = false".to_string()] {
        let err = tenant(&extra);
        assert!(!err.contains("certificate"), "with {extra}, TLS is accepted and HTTP fails instead: {err}");
        assert!(err.contains("https://127.0.0.7:636"), "{err}");
    }
}

/// Plain LDAP (or HTTP) to a host that is not loopback is refused by the configuration, before
/// any connection (TEST-NET-1 would only time out), naming the host; `allow_plain = true` is
/// the explicit way to allow it, and then samla does try.
#[test]
fn plain_ldap_or_http_to_a_remote_host_is_refused_before_connecting() {
    let ldap = |url: &str, extra: &str| {
        format!(
            "url = \"{url}\"\nbase_dn = \"DC=bjuv,DC=se\"\nbind_dn = \"CN=x\"\npassword_env = \"PATH\"\ntimeout_seconds = 2\n{extra}\n"
        )
    };
    let limit = Duration::from_secs(1);
    let source = Project::new(&format!(
        "[[source]]\nname = \"bjuv\"\n[source.ldap]\n{}",
        ldap("ldap://192.0.2.1", "tls = \"plain\"")
    ));
    let (out, took) = timed(source.samla(&["discover"]));
    let err = refused_within(&out, took, limit, &["samla.toml:", "plain LDAP to 192.0.2.1", "clear text"]);
    assert_eq!(out.status.code(), Some(2), "{err}");

    let target = Project::new(&format!(
        "[[source]]\nname = \"bjuv\"\nldif = \"b.ldif\"\n[[target]]\nname = \"prod\"\n[target.shared_ad]\n{}",
        ldap("ldap://192.0.2.1:389", "tls = \"plain\"")
    ));
    let (out, took) = timed(target.samla(&["discover"]));
    refused_within(&out, took, limit, &["plain LDAP to 192.0.2.1", "allow_plain"]);

    let http = Project::new(
        "[[source]]\nname = \"bjuv\"\nldif = \"b.ldif\"\n[[target]]\nname = \"prod\"\n[target.tenant]\n\
         tenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"PATH\"\ngraph_url = \"http://192.0.2.1/v1.0\"\n",
    );
    let (out, took) = timed(http.samla(&["discover"]));
    refused_within(&out, took, limit, &["http://192.0.2.1/v1.0", "plain HTTP", "token in clear text"]);

    // Explicitly allowed, samla does try to connect (TEST-NET-1 does not answer).
    let allowed = Project::new(&format!(
        "[[source]]\nname = \"bjuv\"\n[source.ldap]\n{}",
        ldap("ldap://192.0.2.1", "tls = \"plain\"\nallow_plain = true")
    ));
    let out = allowed.samla(&["discover"]).output().unwrap();
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("cannot reach ldap://192.0.2.1"), "{err}");
    assert_eq!(out.status.code(), Some(1), "a connection failure, not a configuration error: {err}");
}

// -------------------------------------------------------------------------------------------
// Injection through names.

/// Names that would widen a filter, add an RDN, or break DN parsing if pasted unescaped.
const CRAFTED: [&str; 6] = ["*)(uid=*", "Eva Berg,OU=Admins", "Back\\slash", "Plus+Sign", "\"Quoted\"", "#Hash First"];

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The `(attr=value)` equality filter for a value, every byte escaped (RFC 4515).
fn eq_filter(attr: &str, value: &[u8]) -> String {
    format!("({attr}={})", samla::client::ldap::escape_filter_bytes(value))
}

/// A Samba directory holding crafted names (below a test OU, beside a decoy `OU=Admins`), read
/// by `samla discover`: while their descriptions hold a NUL, discover refuses the source with
/// exit 2, listing every such value with its DN and attribute (issue 29); once they do not,
/// every object is read at exactly its DN, with exactly its names; none is taken to be in
/// `OU=Admins`; a filter on each name finds exactly that object.
#[test]
fn crafted_names_read_from_samba_keep_exactly_their_place_and_value() {
    let server = Server::from_env();
    let id = run_id();
    let base = format!("OU=Sec-{id},{}", server.base);
    let _cleanup = Cleanup { server: &server, dns: vec![base.clone()] };
    let admins = format!("OU=Admins,{base}");
    let tricky_ou_name = "Ekonomi,OU=Admins";
    let tricky_ou = format!("OU=Ekonomi\\,OU\\=Admins,{base}");
    let mut names: Vec<&str> = CRAFTED.to_vec();
    names.push(" Lead and trail ");
    let mut ldif = format!(
        "dn: {base}\nobjectClass: organizationalUnit\n\ndn: {admins}\nobjectClass: organizationalUnit\n\n\
         dn:: {}\nobjectClass: organizationalUnit\n\n",
        b64(&tricky_ou)
    );
    for (i, name) in names.iter().enumerate() {
        let dn = Dn::parse(&tricky_ou).unwrap().child("CN", name);
        ldif.push_str(&format!(
            "dn:: {}\nobjectClass: user\nsAMAccountName: sec{id}{i}\ndisplayName:: {}\ndescription:: {}\n\n",
            b64(dn.as_str()),
            b64(name),
            b64(&format!("{name}\0after a NUL"))
        ));
    }
    let out = server.apply("ldapadd", &ldif);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let p = Project::new(&format!(
        "[[source]]\nname = \"sec\"\n[source.ldap]\nurl = \"{}\"\nbase_dn = \"{base}\"\nbind_dn = \"{}\"\n\
         password_env = \"SAMLA_TEST_SAMBA_PASSWORD\"\nca_file = \"{}\"\n",
        server.url, server.bind, server.ca
    ));
    // A NUL in a value: refused over LDAP as from an LDIF, every value named, nothing stored.
    let out = p.samla(&["discover", "-q"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{} value(s) hold control characters", names.len())), "{err}");
    let refusal = ": description: holds the control character U+0000 (NUL)";
    assert_eq!(err.matches(refusal).count(), names.len(), "{err}");
    let mut fixed = String::new();
    for name in &names {
        let dn = Dn::parse(&tricky_ou).unwrap().child("CN", name);
        fixed.push_str(&format!(
            "dn:: {}\nchangetype: modify\nreplace: description\ndescription:: {}\n-\n\n",
            b64(dn.as_str()),
            b64(&format!("{name}\tafter a tab"))
        ));
    }
    let list = p.samla(&["snapshots", "--json"]).output().unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&list.stdout).unwrap(), json!([]), "nothing stored");
    let out = server.apply("ldapmodify", &fixed);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    p.samla(&["discover", "-q"]).assert().success();
    let objects = p.snapshot("sec");
    let users: Vec<&DirectoryObject> = objects.iter().filter(|o| o.kind == ObjectKind::User).collect();
    assert_eq!(users.len(), names.len(), "{users:#?}");
    let admins_dn = Dn::parse(&admins).unwrap();
    let tricky = Dn::parse(&tricky_ou).unwrap();
    assert_eq!(tricky.leaf_value().unwrap(), tricky_ou_name);
    assert!(objects.iter().all(|o| o.dn == admins_dn || !o.dn.is_within(&admins_dn)), "nothing is in OU=Admins");
    for name in &names {
        let found: Vec<&&DirectoryObject> = users.iter().filter(|u| u.cn.as_deref() == Some(*name)).collect();
        assert_eq!(found.len(), 1, "{name:?}: {users:#?}");
        let u = found[0];
        assert_eq!(u.dn.leaf_value().unwrap(), *name);
        assert_eq!(u.dn.parent(), tricky, "{name:?} is in {}", u.dn);
        assert_eq!(u.dn.ou_path().last().map(|s| s.to_string()).as_deref(), Some(tricky_ou_name));
        assert_eq!(u.display_name.as_deref(), Some(*name));
        // A tab inside a multi-line value is read as it is.
        assert_eq!(u.description.as_deref(), Some(format!("{name}\tafter a tab").as_str()));
        // A filter on the name finds exactly this object, and so does one on its GUID.
        let by_name = server.search(&server.base, &eq_filter("displayName", name.as_bytes()), &["cn"]);
        assert_eq!(by_name.len(), 1, "{name:?}");
        let by_guid = server.search(&server.base, &eq_filter("objectGUID", &u.guid.to_ad_bytes()), &["cn"]);
        assert_eq!(by_guid.len(), 1, "{name:?}");
        assert_eq!(Dn::parse(by_guid[0].dn.as_str()).unwrap(), u.dn);
    }
}

/// Pilot people renamed to crafted names (and one to a name with a NUL byte): the NUL is
/// refused by discover, naming the export's line, the object and the attribute; the others are
/// written by a real wave run to exactly their intended DN in Samba and to the tenant with
/// exactly their name, found by samla's own filter (the second comparison finds nothing to
/// do), with nothing else created; the CSV defuses a formula.
#[test]
fn crafted_names_written_by_a_wave_land_exactly_where_they_belong() {
    let _turn = shared_domain();
    let server = Server::from_env();
    // Scale 0.5: the pilot's people (past their expiry dates out of scope) outnumber the names.
    let lab = Lab::new(&server, false, "0.5");
    let wave1 = crate::dry_run::requests(&lab.compare("1"));
    let anchors: Vec<String> = wave1
        .iter()
        .filter(|r| r["action"] == "create_user")
        .map(|r| r["anchor"].as_str().unwrap().to_string())
        .collect();
    assert!(anchors.len() > CRAFTED.len(), "{anchors:?}");

    // Source DNs of the pilot's people, from the unified directory.
    let state = samla::state::State::open_read(&lab.project.path().join("state/samla.db")).unwrap();
    let run = state.latest_unified().unwrap().unwrap();
    let people: BTreeMap<String, Value> = state
        .unified_rows(run.id, "person")
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str::<Value>(r).unwrap())
        .map(|p| (p["anchor"].as_str().unwrap().to_string(), p))
        .collect();
    drop(state);
    let nul_name = "Nul\0Byte";
    let formula = "=HYPERLINK(\"http://evil.example/\",\"x\")";
    let mut renames: BTreeMap<String, (String, String)> = BTreeMap::new(); // source DN key -> (anchor, name)
    for (anchor, name) in anchors.iter().zip(CRAFTED.iter().copied().chain([nul_name])) {
        let dn = people[anchor]["affiliations"][0]["dn"].as_str().unwrap();
        renames.insert(Dn::parse(dn).unwrap().key(), (anchor.clone(), name.to_string()));
    }
    let rediscover = |renames: &BTreeMap<String, (String, String)>| {
        for id in IDS {
            rename_in_ldif(&lab.project.path().join(format!("estate/{id}.ldif")), renames);
        }
        for step in [&["discover", "-q"][..], &["map", "-q"], &["plan", "-q"]] {
            let out = lab.samla(step).output().unwrap();
            assert!(out.status.success(), "{step:?}: {}", stderr(&out));
        }
    };
    // The NUL byte: refused already by discover (issue 29), naming the export's line, the
    // object and the attribute; the wave commands behind it never see it.
    for id in IDS {
        rename_in_ldif(&lab.project.path().join(format!("estate/{id}.ldif")), &renames);
    }
    let out = lab.samla(&["discover", "-q"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for attribute in ["cn", "displayName"] {
        let refusal =
            format!(": {attribute}: holds the control character U+0000 (NUL) at character 4 of \"Nul\\0Byte\"");
        assert!(err.contains(&refusal) && err.contains(".ldif:"), "{refusal:?} not in {err}");
    }

    // Renamed once more, to a formula instead: the wave runs.
    for (_, name) in renames.values_mut().filter(|(_, n)| n == nul_name) {
        *name = formula.to_string();
    }
    rediscover(&renames);
    let dry = lab.compare("1");
    let csv = std::fs::read_to_string(dry["outputs"]["changes_csv"].as_str().unwrap()).unwrap();
    assert!(csv.contains(";\"'=HYPERLINK(\"\"http://evil.example/"), "the formula is defused:\n{csv}");
    assert!(!csv.contains(";=HYPERLINK") && !csv.contains(";\"=HYPERLINK"), "a formula reaches Excel:\n{csv}");
    let admins_before = server.search(&server.base, "(|(ou=Admins)(cn=Admins))", &["cn"]).len();
    assert_eq!(lab.run("1")["ok"], true);

    let run_ou = Dn::parse(&lab.run_ou).unwrap();
    for (anchor, name) in renames.values() {
        let guid = samla::model::ObjectGuid::parse(anchor).unwrap();
        // samla's own lookup: by the anchor in mS-DS-ConsistencyGuid, every byte escaped.
        let filter = samla::client::ldap::anchor_filter(&[samla::model::unified::Anchor(guid)]);
        let found = server.search(&server.base, &filter, &["cn", "displayName"]);
        assert_eq!(found.len(), 1, "{name:?}: {found:?}");
        let dn = Dn::parse(found[0].dn.as_str()).unwrap();
        assert_eq!(dn.leaf_value().unwrap(), *name, "{dn}");
        assert!(dn.is_within(&run_ou), "{dn}");
        let unit = dn.parent();
        assert!(!dn.ou_path().iter().any(|ou| ou == "Admins"), "{name:?} landed in OU=Admins: {dn}");
        assert!(
            unit.leaf_value().is_some_and(|u| u == "Drift" || u == "Servicedesk"),
            "{name:?} is in its IT unit, not elsewhere: {dn}"
        );
        let cn: Vec<String> = found[0]
            .attrs
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cn") || n.eq_ignore_ascii_case("displayName"))
            .flat_map(|(_, v)| v.iter().map(|b| String::from_utf8_lossy(b).into_owned()))
            .collect();
        assert_eq!(cn, vec![name.to_string(), name.to_string()], "{dn}");
        // And a filter on the name itself finds exactly it.
        assert_eq!(server.search(&lab.run_ou, &eq_filter("cn", name.as_bytes()), &["cn"]).len(), 1, "{name:?}");
    }
    let tenant = lab.tenant_state();
    for (anchor, name) in renames.values() {
        let immutable = people[anchor]["immutable_id"].as_str().unwrap();
        let user = &tenant["objects"][format!("user:{immutable}")];
        assert_eq!(user["properties"]["displayName"], json!(name), "{user}");
    }
    // Exactly the wave's people were created, nothing else was touched.
    let users = server.search(&lab.run_ou, "(objectClass=user)", &["cn"]);
    assert_eq!(users.len(), anchors.len());
    assert_eq!(server.search(&server.base, "(|(ou=Admins)(cn=Admins))", &["cn"]).len(), admins_before);
    assert_eq!(lab.compare("1")["nothing_to_do"], true, "samla's lookups find every object it wrote");
}

/// Replaces the displayName (and cn) of the entries whose DN key is in `renames`.
fn rename_in_ldif(path: &Path, renames: &BTreeMap<String, (String, String)>) {
    let text = std::fs::read_to_string(path).unwrap();
    let folded = regex::Regex::new(r"(?m)^(displayName|cn|name)::? .*(\n .*)*$").unwrap();
    let entries: Vec<String> = text
        .split("\n\n")
        .map(|entry| {
            let raw = samla::source::ldif::LdifReader::new(format!("{entry}\n\n").as_bytes()).next();
            let Some(Ok(raw)) = raw else { return entry.to_string() };
            let Some((_, name)) = Dn::parse(raw.dn.as_str()).ok().and_then(|dn| renames.get(&dn.key())) else {
                return entry.to_string();
            };
            folded.replace_all(entry, |c: &regex::Captures| format!("{}:: {}", &c[1], b64(name))).into_owned()
        })
        .collect();
    std::fs::write(path, entries.join("\n\n")).unwrap();
}

// -------------------------------------------------------------------------------------------
// Wave files.

/// A wave file edited to hold what the plan does not (a unit the directory does not have, a
/// unit of another wave, a unit whose accounts changed, an account listed by hand) is refused
/// by `wave dry-run` and `wave run` with the place and the reason, and nothing is written.
#[test]
fn a_wave_file_edited_to_add_objects_outside_the_plan_is_refused_by_dry_run_and_run() {
    let _turn = shared_domain();
    let server = Server::from_env();
    let lab = Lab::new(&server, false, "0.05");
    let files = samla::plan::files::read_dir(&lab.project.path().join("waves")).unwrap();
    let (first, other) = (&files[0], &files[files.len() - 1]);
    let good = std::fs::read_to_string(&first.path).unwrap();
    let block = |unit: &str, accounts: usize, digest: &str, wave: u32| {
        format!(
            "\n[[unit]]\nid = {}\naccounts = {accounts}\ndigest = \"{digest}\"\nimpact = 1.0\nplanned_wave = {wave}\n",
            toml::Value::String(unit.into())
        )
    };
    let theirs = &other.units[0];
    let unit = theirs.slot.unit.0.clone();
    let ours = first.units[0].slot.unit.0.clone();
    let made_up = format!("{good}{}", block("bjuv/IT/Påhittad", 1usize, "0000000000000000", first.number));
    let made_up_line = made_up.lines().position(|l| l.contains("bjuv/IT/Påhittad")).unwrap() + 1;
    let file_name = first.path.file_name().unwrap().to_str().unwrap().to_string();
    let edits: Vec<(String, String, i32, String)> = vec![
        (
            "a unit the directory does not hold".into(),
            made_up,
            2,
            format!("{file_name}:{made_up_line}:1: unknown unit bjuv/IT/Påhittad: not in the unified directory"),
        ),
        (
            "a unit of another wave".into(),
            format!("{good}{}", block(&unit, theirs.accounts, &theirs.digest, first.number)),
            2,
            format!("unit {unit} is also in wave {}", first.number),
        ),
        (
            "more accounts in a unit than planned".into(),
            good.replacen(
                &format!("accounts = {}\n", first.units[0].accounts),
                &format!("accounts = {}\n", first.units[0].accounts + 1),
                1,
            ),
            1,
            format!("unit {ours}: "),
        ),
        (
            "an account by hand".into(),
            format!("{good}\n[[account]]\nanchor = \"00112233-4455-6677-8899-aabbccddeeff\"\n"),
            2,
            "unknown field `account`".into(),
        ),
    ];
    let before = (lab.tenant_state(), lab.shared_ad_state(&server));
    for (what, text, code, needle) in edits {
        std::fs::write(&first.path, &text).unwrap();
        let wave = first.number.to_string();
        for args in [&["wave", "dry-run", &wave][..], &["wave", "run", &wave, "--target", "lab", "--yes"]] {
            let out = lab.samla(args).output().unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(code), "{what}: {args:?}: {err}");
            assert!(err.contains(&needle), "{what}: {args:?}: {needle:?} not in {err}");
            assert_eq!(err.trim_end().lines().count(), 1, "{what}: one clear line: {err}");
        }
    }
    assert_eq!((lab.tenant_state(), lab.shared_ad_state(&server)), before, "nothing was written");
    let status: Value =
        serde_json::from_slice(&lab.samla(&["wave", "status", "1", "--json"]).output().unwrap().stdout).unwrap();
    assert_eq!(status, json!([]), "no run was even journaled");
    std::fs::write(&first.path, &good).unwrap();
    lab.samla(&["wave", "dry-run", &first.number.to_string()]).assert().success();
}

// -------------------------------------------------------------------------------------------
// The privacy guard at scale.

/// A valid personnummer's ten digits from a birth date and serial (Luhn over the first nine).
fn with_check_digit(nine: &str) -> String {
    let sum: u32 = nine
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0') * if i % 2 == 0 { 2 } else { 1 };
            d / 10 + d % 10
        })
        .sum();
    format!("{nine}{}", (10 - sum % 10) % 10)
}

/// The formats a personnummer is written in, from ten valid digits (`ten`) and its century.
fn formats(century: &str, ten: &str, i: usize) -> String {
    let (date, rest) = ten.split_at(6);
    match i % 7 {
        0 => format!("{century}{date}-{rest}"),
        1 => format!("{date}-{rest}"),
        2 => ten.to_string(),
        3 => format!("{century}{ten}"),
        4 => format!("{date}+{rest}"),
        5 => format!("pnr {century}{date}-{rest} enligt HR"),
        _ => format!("{century}{ten}"), // a samordningsnummer (day + 60) when the date says so
    }
}

/// An independent recogniser (not samla's): 10 or 12 digits, optionally `-`/`+` before the last
/// four, not part of a longer number, a month 01-12, a day 01-31 (or 61-91), Luhn valid.
fn has_valid_personnummer(s: &str) -> bool {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(^|[^0-9])((?:19|20)?([0-9]{6})[-+]?([0-9]{4}))($|[^0-9])").unwrap()
    });
    let re = &*RE;
    let mut start = 0;
    while let Some(c) = re.captures_at(s, start) {
        let (date, last) = (&c[3], &c[4]);
        let month: u32 = date[2..4].parse().unwrap();
        let day: u32 = date[4..6].parse().unwrap();
        let digits = format!("{date}{last}");
        if (1..=12).contains(&month)
            && ((1..=31).contains(&day) || (61..=91).contains(&day))
            && with_check_digit(&digits[..9]) == digits
        {
            return true;
        }
        start = c.get(2).unwrap().start() + 1;
    }
    false
}

/// The sample estate at scale 14.5 (about 100,000 accounts, 80,000 people), with valid
/// personnummer planted in every attribute that flows to Graph, in seven formats, and numbers
/// with a wrong check digit beside them, mapped with the repository's mappings (policy
/// "refuse"): no cloud attribute and no rendered Graph request of a person without a blocking
/// finding holds a valid personnummer; every planted one is reported as a privacy violation;
/// the wrong check digits pass unchanged. Through the library: the binary's discover and map
/// at this scale take over a minute in a debug build, mostly storing snapshots in SQLite.
#[test]
fn the_privacy_guard_holds_across_the_sample_estate_at_100000_users() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    samla()
        .args(["estate", "generate", "--flavor", "ldifde", "--scale", "14.5", "-q", "--out"])
        .arg(dir.path().join("estate"))
        .assert()
        .success();
    let mut snapshots: BTreeMap<String, Vec<DirectoryObject>> = std::thread::scope(|s| {
        let handles: Vec<_> = IDS
            .iter()
            .map(|id| {
                let path = dir.path().join(format!("estate/{id}.ldif"));
                s.spawn(move || (id.to_string(), objects_of_ldif(&path)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let accounts: usize = snapshots.values().flatten().filter(|o| o.kind == ObjectKind::User).count();
    assert!(accounts >= 95_000, "{accounts} accounts");
    eprintln!("{accounts} accounts read after {:.1} s", started.elapsed().as_secs_f64());

    // Plant: every 37th account a valid number, every 41st (others) one with a wrong check digit.
    let mut planted: BTreeMap<String, (&'static str, String)> = BTreeMap::new(); // DN -> (attribute, value)
    let mut decoys: BTreeMap<String, String> = BTreeMap::new(); // DN -> department
    let mut n = 0usize;
    for objects in snapshots.values_mut() {
        for o in objects.iter_mut().filter(|o| o.kind == ObjectKind::User) {
            n += 1;
            let year = 1950 + (n % 55);
            let (century, yy) = (&year.to_string()[..2], &year.to_string()[2..]);
            let (k, valid) = (n / 37, n.is_multiple_of(37));
            let day = 1 + n % 28 + if valid && k % 7 == 6 { 60 } else { 0 };
            let nine = format!("{yy}{:02}{day:02}{:03}", 1 + n % 12, n % 1000);
            let ten = with_check_digit(&nine);
            if valid {
                let mut value = formats(century, &ten, k);
                if k % 6 == 2 && value.len() > 16 {
                    value = formats(century, &ten, 0); // employeeId keeps 16 characters
                }
                let attribute = match k % 6 {
                    0 => {
                        o.department = Some(value.clone());
                        "department"
                    }
                    1 => {
                        o.title = Some(value.clone());
                        "jobTitle"
                    }
                    2 => {
                        o.employee_id = Some(value.clone());
                        "employeeId"
                    }
                    3 => {
                        o.extension_attributes.insert(1, value.clone());
                        "extensionAttribute1"
                    }
                    4 => {
                        o.display_name = Some(format!("Anna {value}"));
                        "displayName"
                    }
                    _ => {
                        o.surname = Some(value.clone());
                        "surname"
                    }
                };
                assert!(has_valid_personnummer(&value), "{value}");
                planted.insert(o.dn.to_string(), (attribute, value));
            } else if n.is_multiple_of(41) {
                let wrong = format!("{}{}", &ten[..9], (ten.as_bytes()[9] - b'0' + 1) % 10);
                let value = formats(century, &wrong, n / 41);
                assert!(!has_valid_personnummer(&value), "{value}");
                o.department = Some(value.clone());
                decoys.insert(o.dn.to_string(), value);
            }
        }
    }

    let mappings_dir = dir.path().join("mappings");
    crate::support::copy_mappings(dir.path());
    let names: Vec<String> = IDS.iter().map(|s| s.to_string()).collect();
    let mappings = samla::mapping::spec::load(&mappings_dir, &names).unwrap();
    assert_eq!(mappings.target.privacy_policy, samla::mapping::privacy::PrivacyPolicy::Refuse);
    let overrides = match &mappings.target.overrides {
        Some(path) => samla::mapping::overrides::Overrides::load(path).unwrap(),
        None => Default::default(),
    };
    let mut book = samla::model::unified::NameBook::default();
    let inputs = samla::mapping::unify::Inputs {
        mappings: &mappings,
        overrides: &overrides,
        hash_key: None,
        now: chrono::DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z").unwrap().with_timezone(&chrono::Utc),
    };
    let judged = samla::mapping::unify::judge_all(&inputs, snapshots);
    let unified = samla::mapping::unify::unify(&inputs, judged, &mut book);
    eprintln!("{} people mapped after {:.1} s", unified.people.len(), started.elapsed().as_secs_f64());
    assert!(unified.people.len() >= 75_000, "{}", unified.people.len());

    // Every planted number of a person's primary account is reported, naming the attribute.
    let violations: BTreeMap<&str, Vec<&str>> =
        unified.findings.iter().filter(|f| f.category == "privacy violation").fold(BTreeMap::new(), |mut m, f| {
            m.entry(f.object.as_str()).or_default().push(f.detail.as_str());
            m
        });
    let primaries: BTreeSet<String> =
        unified.people.iter().filter_map(|p| p.affiliations.first()).map(|a| a.dn.to_string()).collect();
    let mut checked = BTreeMap::<&str, usize>::new();
    for (dn, (attribute, value)) in &planted {
        if !primaries.contains(dn) {
            continue;
        }
        let details =
            violations.get(dn.as_str()).unwrap_or_else(|| panic!("{dn}: {attribute} = {value:?} not reported"));
        let named = match *attribute {
            "surname" => details.iter().any(|d| d.starts_with("surname") || d.starts_with("userPrincipalName")),
            a => details.iter().any(|d| d.starts_with(a)),
        };
        assert!(named, "{dn}: {attribute} = {value:?}: {details:?}");
        *checked.entry(attribute).or_default() += 1;
    }
    assert_eq!(checked.len(), 6, "{checked:?}");
    assert!(checked.values().all(|n| *n >= 50), "{checked:?}");
    assert!(violations.keys().all(|dn| planted.contains_key(*dn)), "only planted numbers are reported");

    // Nothing bound for Graph holds one: the cloud attributes, and the requests a wave of every
    // person without a blocking finding (and every group) would send.
    let blocked: BTreeSet<&str> = unified
        .findings
        .iter()
        .filter(|f| f.severity == samla::model::unified::Severity::Blocking)
        .map(|f| f.object.as_str())
        .collect();
    for p in &unified.people {
        for (attr, value) in &p.cloud {
            assert!(!has_valid_personnummer(value), "{}: {attr} = {value:?} is bound for Graph", p.user_principal_name);
        }
    }
    let clean: Vec<_> = unified
        .people
        .iter()
        .filter(|p| !p.affiliations.iter().any(|a| blocked.contains(a.dn.to_string().as_str())))
        .cloned()
        .collect();
    assert!(clean.len() + planted.len() >= unified.people.len());
    let content = samla::render::WaveContent {
        number: 1,
        name: "everyone".into(),
        people: clean,
        groups: unified.groups.clone(),
        ..Default::default()
    };
    let requests = samla::render::graph::render(&content, &mappings.target.targets);
    assert!(requests.len() >= content.people.len());
    // GUIDs (anchors in `{id:...}` placeholders) are hex, and a run of their digits can look
    // like a number; they are not directory values.
    let guid =
        regex::Regex::new(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}").unwrap();
    for r in &requests {
        let body = r.body.as_ref().map(Value::to_string).unwrap_or_default();
        let body = guid.replace_all(&body, "{guid}");
        assert!(!has_valid_personnummer(&body), "{} {} sends a personnummer: {body}", r.method, r.url);
    }

    // The wrong check digits pass, unchanged, without a finding.
    let by_primary: BTreeMap<String, &samla::model::unified::Person> =
        unified.people.iter().filter_map(|p| p.affiliations.first().map(|a| (a.dn.to_string(), p))).collect();
    let mut passed = 0;
    for (dn, value) in &decoys {
        if let Some(p) = by_primary.get(dn) {
            assert_eq!(p.cloud.get("department"), Some(&value.chars().take(64).collect::<String>()), "{dn}");
            assert!(!violations.contains_key(dn.as_str()), "{dn}: {value:?} reported");
            passed += 1;
        }
    }
    assert!(passed >= 500, "{passed}");
    eprintln!("privacy guard at scale: {:.1} s", started.elapsed().as_secs_f64());
}
