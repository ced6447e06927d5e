//! Certificate login end to end: a self-signed RSA certificate from openssl registered on the
//! in-process test tenant, a client assertion built by `samla::client::assertion`, a token
//! from the token endpoint over HTTP, and Graph accepting it; then the refusals a wrong
//! assertion gets, with Entra's AADSTS codes.

use reqwest::StatusCode;
use samla::client::assertion::{ASSERTION_TYPE, client_assertion, client_assertion_at};
use samla::config::secret::{Secret, SecretSource};
use samla::test_tenant::{RunningTenant, TenantError, TenantOptions, start};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A self-signed certificate and key, `NAME.crt` and `NAME.key`, made by openssl; the key is
/// read as the config reads it (the whole PEM file).
fn certificate(dir: &Path, name: &str) -> (PathBuf, Secret) {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=samla", "-days", "2", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert, SecretSource::File(key).read_all().unwrap())
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Posts a client-credentials request with `assertion`; the status and JSON body.
async fn token(http: &reqwest::Client, tenant: &RunningTenant, assertion: &str) -> (StatusCode, Value) {
    post(http, tenant, &[("client_assertion_type", ASSERTION_TYPE), ("client_assertion", assertion)]).await
}

/// Posts a client-credentials request with the given credential fields.
async fn post(http: &reqwest::Client, tenant: &RunningTenant, credential: &[(&str, &str)]) -> (StatusCode, Value) {
    let client_id = tenant.client_id().to_string();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .extend_pairs(credential)
        .finish();
    let resp = http
        .post(tenant.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

#[track_caller]
fn refused(reply: &(StatusCode, Value), aadsts: u32) {
    let (status, body) = reply;
    assert_eq!(status.as_u16(), 401, "{body}");
    assert_eq!(body["error"], "invalid_client", "{body}");
    assert_eq!(body["error_codes"], serde_json::json!([aadsts]), "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.starts_with(&format!("AADSTS{aadsts}: ")), "{description}");
}

#[tokio::test]
async fn a_certificate_signed_assertion_gets_a_token_graph_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "app");
    let tenant = start(TenantOptions { certificate: Some(cert.clone()), ..TenantOptions::default() }).await.unwrap();
    let http = http();
    let client_id = tenant.client_id().to_string();

    let assertion = client_assertion(&cert, &key, &client_id, &tenant.token_url()).unwrap();
    let (status, body) = token(&http, &tenant, &assertion).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let access = body["access_token"].as_str().unwrap();

    let domains = http.get(format!("{}/domains", tenant.graph_url())).bearer_auth(access).send().await.unwrap();
    assert_eq!(domains.status(), 200);
    let domains: Value = domains.json().await.unwrap();
    let ids: Vec<&str> = domains["value"].as_array().unwrap().iter().filter_map(|d| d["id"].as_str()).collect();
    assert!(ids.contains(&"samverkan.se"), "{domains}");

    // The client secret keeps working next to the certificate.
    let (status, body) = post(&http, &tenant, &[("client_secret", tenant.client_secret().expose())]).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn wrong_assertions_are_refused_with_entras_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "app");
    let (other_cert, other_key) = certificate(dir.path(), "other");
    let tenant = start(TenantOptions { certificate: Some(cert.clone()), ..TenantOptions::default() }).await.unwrap();
    let http = http();
    let client_id = tenant.client_id().to_string();
    let url = tenant.token_url();

    // Another key: its certificate is not the one registered on the app.
    let other = client_assertion(&other_cert, &other_key, &client_id, &url).unwrap();
    let reply = token(&http, &tenant, &other).await;
    refused(&reply, 700027);
    assert!(reply.1["error_description"].as_str().unwrap().contains("not registered on application"));

    // Another key's signature under the registered certificate's thumbprint.
    let good = client_assertion(&cert, &key, &client_id, &url).unwrap();
    let mut forged: Vec<&str> = other.split('.').collect();
    forged[0] = good.split('.').next().unwrap();
    let reply = token(&http, &tenant, &forged.join(".")).await;
    refused(&reply, 700027);
    assert!(reply.1["error_description"].as_str().unwrap().contains("signature validation"));

    // Expired: built an hour ago, valid for ten minutes.
    let expired = client_assertion_at(&cert, &key, &client_id, &url, unix_now() - 3600).unwrap();
    let reply = token(&http, &tenant, &expired).await;
    refused(&reply, 700024);
    assert!(reply.1["error_description"].as_str().unwrap().contains("not within its valid time range"));

    // Meant for Entra's token endpoint, not this one.
    let entra = format!("https://login.microsoftonline.com/{}/oauth2/v2.0/token", tenant.tenant_id());
    let wrong_aud = client_assertion(&cert, &key, &client_id, &entra).unwrap();
    refused(&token(&http, &tenant, &wrong_aud).await, 700023);

    // A tenant without a registered certificate knows no key at all.
    let bare = start(TenantOptions::default()).await.unwrap();
    let for_bare = client_assertion(&cert, &key, &client_id, &bare.token_url()).unwrap();
    refused(&token(&http, &bare, &for_bare).await, 700027);
}

#[tokio::test]
async fn the_tenant_refuses_to_start_with_an_unreadable_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _) = certificate(dir.path(), "app");
    for file in ["app.key", "missing.crt"] {
        let path = dir.path().join(file);
        let err = start(TenantOptions { certificate: Some(path), ..TenantOptions::default() }).await.unwrap_err();
        assert!(matches!(err, TenantError::Options(_)), "{err}");
        assert!(err.to_string().contains(file), "{err}");
    }
}
