//! The client assertion: how samla proves to Entra that it is the joint tenant's app when the
//! app signs in with a certificate rather than a client secret.
//!
//! Why a certificate: a client secret is a bearer string, and whoever copies it from a config
//! file or a log can sign in as the app until it expires. With a certificate, the private key
//! never leaves the machine; what crosses the wire is a statement signed with it that names
//! one token endpoint and lives ten minutes. Entra checks the signature against the
//! certificate uploaded to the app registration.
//!
//! The format is the one Microsoft documents today in "Microsoft identity platform application
//! authentication certificate credentials" (learn.microsoft.com/entra/identity-platform/
//! certificate-credentials): a JWT whose
//! - header is `alg` `PS256`, `typ` `JWT`, `x5t#S256` = base64url of the SHA-256 of the
//!   certificate's DER encoding;
//! - claims are `aud` = the token URL, `iss` = `sub` = the client id, `jti` = a fresh GUID,
//!   `nbf` = `iat` = now, `exp` = now + 10 minutes (the page: "5-10 minutes after nbf at most");
//! - signature is RSASSA-PSS with SHA-256 ("Use PSS padding").
//!
//! Earlier versions of that page showed RS256 with a SHA-1 `x5t`; the current one replaced
//! both, so samla sends only the current form, and the test tenant accepts only it.
//!
//! The key is an RSA key in PEM, unencrypted PKCS#8 (`BEGIN PRIVATE KEY`, what `openssl req
//! -newkey rsa:2048 -nodes` writes) or PKCS#1 (`BEGIN RSA PRIVATE KEY`); the config reads it with
//! [`crate::config::secret::SecretSource::read_all`]. Before signing, the key is checked
//! against the certificate, so a mismatched pair fails here with a plain message instead of
//! at Entra with AADSTS700027. Errors name the certificate file and never show key material.

use crate::config::secret::Secret;
use crate::error::{Classified, ExitClass};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::error::KeyRejected;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{RSA_PSS_SHA256, RsaKeyPair};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use x509_parser::error::X509Error;
use x509_parser::public_key::PublicKey;

/// The `client_assertion_type` form field that goes with the assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Seconds an assertion is valid (`exp` - `nbf`).
pub const LIFETIME_SECS: i64 = 600;

/// Why no client assertion could be made. Every message about the certificate or its key
/// names the certificate file; none quotes key material (a key that is not valid PEM is
/// reported without the PEM parser's words, which may quote a line of the key).
#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    #[error("the system clock is before 1970; cannot date a client assertion")]
    ClockBefore1970,
    #[error("a client assertion needs the app's client id")]
    NoClientId,
    #[error("a client assertion needs the token URL it is for")]
    NoTokenUrl,
    /// The certificate file could not be read.
    #[error("certificate {}: {source}", certificate.display())]
    ReadCertificate { certificate: PathBuf, source: std::io::Error },
    /// PEM text (a key file given as the certificate, say) without a `CERTIFICATE` section.
    #[error("certificate {} has no PEM CERTIFICATE section", certificate.display())]
    NoPemCertificate { certificate: PathBuf },
    #[error("certificate {} is not valid PEM: {source}", certificate.display())]
    CertificatePem { certificate: PathBuf, source: pem::Error },
    #[error("certificate {} is not an X.509 certificate: {source}", certificate.display())]
    NotX509 { certificate: PathBuf, source: x509_parser::nom::Err<X509Error> },
    /// The certificate's key is not RSA; `algorithm` is its algorithm's OID.
    #[error(
        "certificate {} does not hold an RSA key (algorithm {algorithm}); Entra's PS256 assertions need RSA",
        certificate.display()
    )]
    NotRsaCertificate { certificate: PathBuf, algorithm: String },
    #[error(
        "the private key for certificate {} is encrypted; samla reads an unencrypted PKCS#8 or PKCS#1 PEM key (protect the file instead)",
        certificate.display()
    )]
    EncryptedKey { certificate: PathBuf },
    #[error("the private key for certificate {} is not an RSA key", certificate.display())]
    KeyNotRsa { certificate: PathBuf },
    #[error(
        "the private key for certificate {} has no PEM PRIVATE KEY or RSA PRIVATE KEY section",
        certificate.display()
    )]
    NoPemKey { certificate: PathBuf },
    #[error("the private key for certificate {} is not valid PEM", certificate.display())]
    KeyPem { certificate: PathBuf },
    /// ring refused the key (too short, inconsistent, ...); ring's reason is a fixed phrase.
    #[error("the private key for certificate {} was refused: {reason}", certificate.display())]
    KeyRefused { certificate: PathBuf, reason: KeyRejected },
    #[error("the private key does not belong to certificate {}", certificate.display())]
    KeyMismatch { certificate: PathBuf },
    #[error("signing with the private key of certificate {} failed", certificate.display())]
    Signing { certificate: PathBuf },
    #[error("the system random generator failed")]
    Random,
}

impl Classified for AssertionError {
    /// A certificate or key that is not what certificate login needs, or a target without a
    /// client id or token URL, is bad configuration (exit 2): fixing the files fixes it. A
    /// certificate file that cannot be read is work that failed (exit 1), as a private key or
    /// client secret file that cannot be read is ([`crate::config::secret::SecretError`]);
    /// so are a clock, random generator or signature that fails.
    fn exit_class(&self) -> ExitClass {
        use AssertionError::*;
        match self {
            NoClientId
            | NoTokenUrl
            | NoPemCertificate { .. }
            | CertificatePem { .. }
            | NotX509 { .. }
            | NotRsaCertificate { .. }
            | EncryptedKey { .. }
            | KeyNotRsa { .. }
            | NoPemKey { .. }
            | KeyPem { .. }
            | KeyRefused { .. }
            | KeyMismatch { .. } => ExitClass::Usage,
            ClockBefore1970 | ReadCertificate { .. } | Signing { .. } | Random => ExitClass::Work,
        }
    }
}

/// A signed client assertion for `client_id` at `token_url`, valid from now for
/// [`LIFETIME_SECS`]. `private_key` is the PEM text of the certificate's RSA key.
pub fn client_assertion(
    certificate: &Path,
    private_key: &Secret,
    client_id: &str,
    token_url: &str,
) -> Result<String, AssertionError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .ok_or(AssertionError::ClockBefore1970)?;
    client_assertion_at(certificate, private_key, client_id, token_url, now)
}

/// [`client_assertion`] dated `now` (seconds since 1970) instead of the clock: for tests,
/// and for showing how a token endpoint treats an assertion from a skewed clock.
pub fn client_assertion_at(
    certificate: &Path,
    private_key: &Secret,
    client_id: &str,
    token_url: &str,
    now: i64,
) -> Result<String, AssertionError> {
    if client_id.trim().is_empty() {
        return Err(AssertionError::NoClientId);
    }
    if token_url.trim().is_empty() {
        return Err(AssertionError::NoTokenUrl);
    }
    let cert = read_certificate(certificate)?;
    let key = key_pair(private_key, certificate)?;
    if key.public().as_ref() != cert.rsa_public_key.as_slice() {
        return Err(AssertionError::KeyMismatch { certificate: certificate.to_path_buf() });
    }
    let rng = SystemRandom::new();
    let header = json!({
        "alg": "PS256",
        "typ": "JWT",
        "x5t#S256": URL_SAFE_NO_PAD.encode(Sha256::digest(&cert.der)),
    });
    let claims = json!({
        "aud": token_url,
        "iss": client_id,
        "sub": client_id,
        "jti": guid(&rng)?,
        "nbf": now,
        "iat": now,
        "exp": now.saturating_add(LIFETIME_SECS),
    });
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(&RSA_PSS_SHA256, &rng, signing_input.as_bytes(), &mut signature)
        .map_err(|_| AssertionError::Signing { certificate: certificate.to_path_buf() })?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// A certificate as the assertion needs it.
struct Certificate {
    /// The DER encoding, whose SHA-256 is the thumbprint.
    der: Vec<u8>,
    /// The subject's RSA public key (PKCS#1 `RSAPublicKey` DER), to check the key against.
    rsa_public_key: Vec<u8>,
}

/// Reads a certificate file, PEM (the first `CERTIFICATE` section) or DER.
fn read_certificate(path: &Path) -> Result<Certificate, AssertionError> {
    let certificate = || path.to_path_buf();
    let bytes =
        std::fs::read(path).map_err(|source| AssertionError::ReadCertificate { certificate: certificate(), source })?;
    let der = if bytes.windows(10).any(|w| w == b"-----BEGIN") {
        match CertificateDer::from_pem_slice(&bytes) {
            Ok(der) => der.as_ref().to_vec(),
            Err(pem::Error::NoItemsFound) => {
                return Err(AssertionError::NoPemCertificate { certificate: certificate() });
            }
            Err(source) => return Err(AssertionError::CertificatePem { certificate: certificate(), source }),
        }
    } else {
        bytes
    };
    let (_, parsed) = x509_parser::parse_x509_certificate(&der)
        .map_err(|source| AssertionError::NotX509 { certificate: certificate(), source })?;
    let spki = parsed.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(_)) => {}
        _ => {
            return Err(AssertionError::NotRsaCertificate {
                certificate: certificate(),
                algorithm: spki.algorithm.algorithm.to_string(),
            });
        }
    }
    let rsa_public_key = spki.subject_public_key.data.to_vec();
    Ok(Certificate { der, rsa_public_key })
}

/// The RSA key pair from the PEM text. Errors name the certificate the key is for, and
/// never quote the PEM.
fn key_pair(private_key: &Secret, certificate: &Path) -> Result<RsaKeyPair, AssertionError> {
    let certificate = || certificate.to_path_buf();
    let pem = private_key.expose().as_bytes();
    if pem.windows(23).any(|w| w == b"ENCRYPTED PRIVATE KEY--") {
        return Err(AssertionError::EncryptedKey { certificate: certificate() });
    }
    let parsed = match PrivateKeyDer::from_pem_slice(pem) {
        Ok(PrivateKeyDer::Pkcs8(der)) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
        Ok(PrivateKeyDer::Pkcs1(der)) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
        Ok(_) => return Err(AssertionError::KeyNotRsa { certificate: certificate() }),
        Err(pem::Error::NoItemsFound) => return Err(AssertionError::NoPemKey { certificate: certificate() }),
        Err(_) => return Err(AssertionError::KeyPem { certificate: certificate() }),
    };
    parsed.map_err(|reason| AssertionError::KeyRefused { certificate: certificate(), reason })
}

/// A random (version 4) GUID, the `jti` Microsoft's page asks for.
fn guid(rng: &SystemRandom) -> Result<String, AssertionError> {
    let mut b = [0u8; 16];
    rng.fill(&mut b).map_err(|_| AssertionError::Random)?;
    b[6] = (b[6] & 0x0F) | 0x40;
    b[8] = (b[8] & 0x3F) | 0x80;
    let h = hex::encode(b);
    Ok(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::path::PathBuf;
    use std::process::Command;

    const CLIENT: &str = "c1a5e7d9-3b2f-4e6a-8c0d-1f3b5d7e9a2c";
    const RSA: &[&str] = &["-newkey", "rsa:2048"];
    const TOKEN_URL: &str = "http://127.0.0.1:1/5a3b7e2c-0d1f-4c6a-9b8e-2f4d6c8a0b1e/oauth2/v2.0/token";

    fn openssl(args: &[&str]) {
        let out = Command::new("openssl").args(args).output().expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A self-signed certificate and its key, `NAME.crt` and `NAME.key`, made by openssl.
    fn pair(dir: &Path, name: &str, newkey: &[&str]) -> (PathBuf, Secret) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        let mut args = vec!["req", "-x509", "-nodes", "-subj", "/CN=samla", "-days", "2"];
        args.extend_from_slice(newkey);
        args.extend_from_slice(&["-keyout", key.to_str().unwrap(), "-out", cert.to_str().unwrap()]);
        openssl(&args);
        (cert, Secret::new(std::fs::read_to_string(key).unwrap()))
    }

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn assertion_has_microsofts_header_and_claims_and_a_pss_signature_openssl_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(dir.path(), "app", RSA);
        let jwt = client_assertion_at(&cert, &key, CLIENT, TOKEN_URL, 1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);

        // The thumbprint, computed independently: openssl's DER, then SHA-256.
        let der_path = dir.path().join("app.der");
        openssl(&["x509", "-in", cert.to_str().unwrap(), "-outform", "DER", "-out", der_path.to_str().unwrap()]);
        let thumb = URL_SAFE_NO_PAD.encode(Sha256::digest(std::fs::read(&der_path).unwrap()));
        assert_eq!(decode(parts[0]), json!({"alg": "PS256", "typ": "JWT", "x5t#S256": thumb}));

        let claims = decode(parts[1]);
        let jti = claims["jti"].as_str().unwrap().to_string();
        assert_eq!(jti.len(), 36);
        assert_eq!(jti.as_bytes()[14], b'4', "a version 4 GUID");
        assert_eq!(
            claims,
            json!({"aud": TOKEN_URL, "iss": CLIENT, "sub": CLIENT, "jti": jti,
                   "nbf": 1_700_000_000, "iat": 1_700_000_000, "exp": 1_700_000_600})
        );

        // openssl checks the signature as RSASSA-PSS, SHA-256, salt = hash length (JWA PS256).
        let input = dir.path().join("input");
        let sig = dir.path().join("sig");
        let public = dir.path().join("public.pem");
        std::fs::write(&input, format!("{}.{}", parts[0], parts[1])).unwrap();
        std::fs::write(&sig, URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
        openssl(&["x509", "-in", cert.to_str().unwrap(), "-pubkey", "-noout", "-out", public.to_str().unwrap()]);
        openssl(&[
            "dgst",
            "-sha256",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
            "-verify",
            public.to_str().unwrap(),
            "-signature",
            sig.to_str().unwrap(),
            input.to_str().unwrap(),
        ]);

        let again = client_assertion(&cert, &key, CLIENT, TOKEN_URL).unwrap();
        assert_ne!(decode(again.split('.').nth(1).unwrap())["jti"], jti, "every assertion has its own jti");
    }

    #[test]
    fn pkcs1_keys_and_der_certificates_are_read_too() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = pair(dir.path(), "app", RSA);
        let pkcs1 = dir.path().join("app.rsa");
        let der = dir.path().join("app.der");
        let key = dir.path().join("app.key");
        openssl(&["rsa", "-in", key.to_str().unwrap(), "-traditional", "-out", pkcs1.to_str().unwrap()]);
        openssl(&["x509", "-in", cert.to_str().unwrap(), "-outform", "DER", "-out", der.to_str().unwrap()]);
        let pkcs1 = Secret::new(std::fs::read_to_string(pkcs1).unwrap());
        assert!(pkcs1.expose().contains("BEGIN RSA PRIVATE KEY"));
        assert!(client_assertion(&der, &pkcs1, CLIENT, TOKEN_URL).is_ok());
    }

    #[test]
    fn errors_name_the_certificate_and_never_show_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(dir.path(), "app", RSA);
        let (other_cert, other_key) = pair(dir.path(), "other", RSA);
        let body_of = |k: &Secret| k.expose().lines().nth(1).unwrap().to_string();
        let check = |result: Result<String, AssertionError>, path: &Path, says: &str| {
            let e = result.map_err(|e| e.to_string()).unwrap_err();
            assert!(e.contains(&path.display().to_string()), "{e}");
            assert!(e.contains(says), "{e}");
            assert!(!e.contains(&body_of(&key)) && !e.contains(&body_of(&other_key)), "{e}");
        };
        check(client_assertion(&cert, &other_key, CLIENT, TOKEN_URL), &cert, "does not belong");
        check(client_assertion(&other_cert, &key, CLIENT, TOKEN_URL), &other_cert, "does not belong");
        let missing = dir.path().join("missing.crt");
        check(client_assertion(&missing, &key, CLIENT, TOKEN_URL), &missing, "certificate");
        // A key file given as the certificate: PEM, but no CERTIFICATE section.
        let key_path = dir.path().join("app.key");
        check(client_assertion(&key_path, &key, CLIENT, TOKEN_URL), &key_path, "no PEM CERTIFICATE");
        // Only the first line of the key: what SecretSource::read would have given.
        let first_line = Secret::new(key.expose().lines().next().unwrap());
        check(client_assertion(&cert, &first_line, CLIENT, TOKEN_URL), &cert, "not valid PEM");
        let garbled = Secret::new(key.expose().replacen('M', "!", 3));
        check(client_assertion(&cert, &garbled, CLIENT, TOKEN_URL), &cert, "private key");
        check(client_assertion(&cert, &Secret::new("hunter2"), CLIENT, TOKEN_URL), &cert, "no PEM PRIVATE KEY");
        let encrypted = dir.path().join("enc.key");
        openssl(&[
            "pkcs8",
            "-topk8",
            "-in",
            key_path.to_str().unwrap(),
            "-out",
            encrypted.to_str().unwrap(),
            "-passout",
            "pass:pw",
        ]);
        let encrypted = Secret::new(std::fs::read_to_string(encrypted).unwrap());
        check(client_assertion(&cert, &encrypted, CLIENT, TOKEN_URL), &cert, "encrypted");
        let no_client = client_assertion(&cert, &key, " ", TOKEN_URL).map_err(|e| e.to_string());
        assert!(no_client.unwrap_err().contains("client id"));
        let no_url = client_assertion(&cert, &key, CLIENT, "").map_err(|e| e.to_string());
        assert!(no_url.unwrap_err().contains("token URL"));
    }

    #[test]
    fn ec_certificates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(dir.path(), "ec", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
        let e = client_assertion(&cert, &key, CLIENT, TOKEN_URL).unwrap_err();
        assert!(matches!(&e, AssertionError::NotRsaCertificate { certificate, .. } if certificate == &cert), "{e}");
        let e = e.to_string();
        assert!(e.contains("RSA") && e.contains("ec.crt"), "{e}");
    }

    /// The messages, word for word, and their exit classes: a file that is not what
    /// certificate login needs is usage, a failure at run time is work.
    #[test]
    fn messages_and_classes() {
        let certificate = || PathBuf::from("certs/app.crt");
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let cases = [
            (AssertionError::ClockBefore1970, "the system clock is before 1970; cannot date a client assertion", 1),
            (AssertionError::NoClientId, "a client assertion needs the app's client id", 2),
            (AssertionError::NoTokenUrl, "a client assertion needs the token URL it is for", 2),
            (
                AssertionError::ReadCertificate { certificate: certificate(), source: io },
                "certificate certs/app.crt: entity not found",
                1,
            ),
            (
                AssertionError::NoPemCertificate { certificate: certificate() },
                "certificate certs/app.crt has no PEM CERTIFICATE section",
                2,
            ),
            (
                AssertionError::NotRsaCertificate { certificate: certificate(), algorithm: "1.2.840.10045.2.1".into() },
                "certificate certs/app.crt does not hold an RSA key (algorithm 1.2.840.10045.2.1); Entra's PS256 assertions need RSA",
                2,
            ),
            (
                AssertionError::EncryptedKey { certificate: certificate() },
                "the private key for certificate certs/app.crt is encrypted; samla reads an unencrypted PKCS#8 or PKCS#1 PEM key (protect the file instead)",
                2,
            ),
            (
                AssertionError::KeyNotRsa { certificate: certificate() },
                "the private key for certificate certs/app.crt is not an RSA key",
                2,
            ),
            (
                AssertionError::NoPemKey { certificate: certificate() },
                "the private key for certificate certs/app.crt has no PEM PRIVATE KEY or RSA PRIVATE KEY section",
                2,
            ),
            (
                AssertionError::KeyPem { certificate: certificate() },
                "the private key for certificate certs/app.crt is not valid PEM",
                2,
            ),
            (
                AssertionError::KeyMismatch { certificate: certificate() },
                "the private key does not belong to certificate certs/app.crt",
                2,
            ),
            (
                AssertionError::Signing { certificate: certificate() },
                "signing with the private key of certificate certs/app.crt failed",
                1,
            ),
            (AssertionError::Random, "the system random generator failed", 1),
        ];
        for (e, message, code) in cases {
            assert_eq!((e.to_string().as_str(), e.exit_class().code()), (message, code));
        }
        let pem = AssertionError::CertificatePem { certificate: certificate(), source: pem::Error::NoItemsFound };
        assert_eq!(
            pem.to_string(),
            format!("certificate certs/app.crt is not valid PEM: {}", pem::Error::NoItemsFound)
        );
        let x509 = x509_parser::parse_x509_certificate(b"not DER").map(|_| ()).unwrap_err();
        let shown = x509.to_string();
        let not = AssertionError::NotX509 { certificate: certificate(), source: x509 };
        assert_eq!(not.to_string(), format!("certificate certs/app.crt is not an X.509 certificate: {shown}"));
        assert_eq!(not.exit_class(), ExitClass::Usage);
    }
}
