//! A local test tenant that behaves like Microsoft Graph v1.0, for rehearsals, demos and
//! every Graph test of samla.
//!
//! No Microsoft 365 tenant can be reached from where waves are prepared, and the joint
//! tenant must not be the place where samla's Graph client meets Graph's rules for the
//! first time. So samla carries the subset of Graph it uses, with Graph's own rules, error
//! bodies and limits, served over real HTTP: a wave rehearsed here must hold against the
//! real tenant. That sets the one design rule of this module: **where Graph's behaviour is
//! uncertain, the test tenant is stricter than Graph, never looser** (a rehearsal that
//! passes here must not fail there; the README's "The test tenant" lists every such place).
//!
//! What it serves:
//! - the OAuth2 client-credentials token endpoint, with Entra's error shape ([`auth`]);
//! - `/v1.0/domains`, `/v1.0/subscribedSkus`, users, groups, members, owners, manager,
//!   licences, deleted items and restore, directory roles and their members ([`roles`]),
//!   `$batch` ([`api`]);
//! - the Temporary Access Pass policy and users' passes, with Graph's rules ([`auth_methods`]);
//! - property checks against Graph's own CSDL, embedded from `graph/v1.0-Prod.csdl`
//!   ([`schema`]), plus the rules the CSDL does not encode ([`rules`]);
//! - the directory's invariants: uniqueness, soft deletion, nesting, licence counts,
//!   replication lag ([`directory`], [`licences`]);
//! - throttling with Graph's budgets and a time scale ([`throttle`]); seeded fault
//!   injection ([`faults`]); optional persistence to SQLite ([`persist`]).
//!
//! Layers: [`rules`], [`auth_methods`], [`schema`], [`query`], [`throttle`], [`faults`],
//! [`licences`] are pure; [`directory`] holds state but no HTTP; [`api`] maps one request to
//! one response; [`server`] is the axum edge. Plain HTTP on loopback only, unless `--allow-remote`.

pub mod api;
pub mod auth;
pub mod auth_methods;
pub mod directory;
pub mod error;
pub mod faults;
pub mod ids;
pub mod licences;
pub mod persist;
pub mod query;
pub mod roles;
pub mod rules;
pub mod schema;
pub mod server;
pub mod throttle;

use crate::config::secret::Secret;
use crate::error::{Classified, ExitClass};
use api::{Shared, State};
use auth::{AppCertificate, Credentials};
use directory::{Directory, InvalidObject, Settings};
use faults::{Faults, Rates};
use ids::IdStream;
pub use ids::{ClientId, ObjectId, SkuId, TenantId};
use licences::{Sku, SkuSpec};
use persist::{PersistError, Store};
use schema::SchemaError;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use throttle::{Budgets, Clock};

/// The default listen address: loopback, any free port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:0";
/// The default verified domains: the cooperation's and the five municipalities'.
pub const DEFAULT_DOMAINS: [&str; 6] =
    ["samverkan.se", "bjuv.se", "klippan.se", "perstorp.se", "astorp.se", "orkelljunga.se"];
/// The default SKUs: Microsoft 365 E3 and F3.
pub const DEFAULT_SKUS: [&str; 2] = ["SPE_E3=2000", "SPE_F1=500"];
pub const DEFAULT_TENANT_ID: &str = "5a3b7e2c-0d1f-4c6a-9b8e-2f4d6c8a0b1e";
pub const DEFAULT_CLIENT_ID: &str = "c1a5e7d9-3b2f-4e6a-8c0d-1f3b5d7e9a2c";
pub const DEFAULT_SECRET_ENV: &str = "SAMLA_TENANT_CLIENT_SECRET";
/// The secret when the environment variable is unset: acceptable for a local test tenant
/// (loopback only), and never printed.
const FALLBACK_SECRET: &str = "samla-test-tenant-secret";
/// The longest replication lag the tenant accepts (a day).
const MAX_LAG_MS: u64 = 86_400_000;
/// Entra's access-token lifetime (`expires_in`).
pub const DEFAULT_TOKEN_LIFETIME: u64 = 3599;

/// Options of the test tenant (`samla test-tenant serve` flags; in-process callers build it
/// with [`Default`] and struct update).
#[derive(Debug, Clone, clap::Args)]
pub struct TenantOptions {
    /// Address to listen on (plain HTTP; loopback unless --allow-remote).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Allow listening on a non-loopback address (the tenant has no TLS).
    #[arg(long)]
    pub allow_remote: bool,
    /// SQLite file to keep the tenant in, so a restart keeps it (in memory otherwise).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// A verified domain (repeatable; the first is the default domain).
    #[arg(long = "domain", default_values = DEFAULT_DOMAINS)]
    pub domains: Vec<String>,
    /// A subscribed SKU as PARTNUMBER=COUNT (repeatable).
    #[arg(long = "sku", default_values = DEFAULT_SKUS)]
    pub skus: Vec<SkuSpec>,
    /// The tenant (directory) id.
    #[arg(long, default_value = DEFAULT_TENANT_ID)]
    pub tenant_id: TenantId,
    /// The registered application's client id.
    #[arg(long, default_value = DEFAULT_CLIENT_ID)]
    pub client_id: ClientId,
    /// Environment variable holding the client secret (a fixed local secret when unset).
    #[arg(long, default_value = DEFAULT_SECRET_ENV)]
    pub client_secret_env: String,
    /// The client secret itself, for in-process use (never a flag: secrets stay out of argv).
    #[arg(skip)]
    pub client_secret: Option<Secret>,
    /// The app's certificate (PEM or DER, RSA): token requests may then sign in with a client
    /// assertion signed by its key, as with a certificate uploaded to an Entra app. The
    /// client secret keeps working alongside.
    #[arg(long, value_name = "FILE")]
    pub certificate: Option<PathBuf>,
    /// Seconds an access token lives.
    #[arg(long, default_value_t = DEFAULT_TOKEN_LIFETIME)]
    pub token_lifetime_secs: u64,
    /// Throttling time compression: 100 makes a 150 s budget window last 1.5 s.
    #[arg(long, default_value_t = 1.0, value_parser = positive)]
    pub time_scale: f64,
    /// Milliseconds a new object stays invisible (404) to reads and references.
    #[arg(long, default_value_t = 0)]
    pub replication_lag_ms: u64,
    /// Share of Graph requests answered 429 with Retry-After (0..1).
    #[arg(long = "fault-rate-429", default_value_t = 0.0, value_parser = share)]
    pub fault_rate_429: f64,
    /// Share of Graph requests answered 503 with Retry-After (0..1).
    #[arg(long = "fault-rate-503", default_value_t = 0.0, value_parser = share)]
    pub fault_rate_503: f64,
    /// Share of Graph requests whose connection is dropped without a response (0..1).
    #[arg(long = "fault-rate-drop", default_value_t = 0.0, value_parser = share)]
    pub fault_rate_drop: f64,
    /// Seed of ids, faults and $batch ordering: the same seed gives the same run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Start with the Temporary Access Pass policy switched off (a new tenant's policy is
    /// enabled otherwise; a state file keeps the policy it was last given).
    #[arg(long)]
    pub tap_disabled: bool,
    /// A user given a directory role at start, as ROLE=USERPRINCIPALNAME ("Global
    /// Administrator=anna@bjuv.se"; repeatable). The user must be in the --state file; the
    /// role stays there.
    #[arg(long = "role-holder", value_name = "ROLE=UPN")]
    pub role_holders: Vec<String>,
}

/// A flag's value out of its range (clap prints it after the flag's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum FlagError {
    #[error("'{0}' is not a positive number")]
    NotPositive(String),
    #[error("'{0}' is not a share between 0 and 1")]
    NotAShare(String),
}

fn positive(s: &str) -> Result<f64, FlagError> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(FlagError::NotPositive(s.to_string())),
    }
}

fn share(s: &str) -> Result<f64, FlagError> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(FlagError::NotAShare(s.to_string())),
    }
}

impl Default for TenantOptions {
    fn default() -> TenantOptions {
        let guid = |s: &str| s.parse::<ids::Guid>().unwrap_or(ids::Guid::from_words(0, 0));
        TenantOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            allow_remote: false,
            state: None,
            domains: DEFAULT_DOMAINS.iter().map(|d| (*d).to_string()).collect(),
            skus: DEFAULT_SKUS.iter().filter_map(|s| s.parse().ok()).collect(),
            tenant_id: TenantId(guid(DEFAULT_TENANT_ID)),
            client_id: ClientId(guid(DEFAULT_CLIENT_ID)),
            client_secret_env: DEFAULT_SECRET_ENV.to_string(),
            client_secret: None,
            certificate: None,
            token_lifetime_secs: DEFAULT_TOKEN_LIFETIME,
            time_scale: 1.0,
            replication_lag_ms: 0,
            fault_rate_429: 0.0,
            fault_rate_503: 0.0,
            fault_rate_drop: 0.0,
            seed: 0,
            tap_disabled: false,
            role_holders: Vec::new(),
        }
    }
}

/// Why the tenant could not start.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("refusing to listen on {0}: the test tenant serves plain HTTP on loopback only (--allow-remote overrides)")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("test tenant options: {0}")]
    Options(String),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Persist(#[from] PersistError),
    #[error("tenant state: {0}")]
    State(#[from] InvalidObject),
    #[error("test tenant server: {0}")]
    Serve(std::io::Error),
}

impl Classified for TenantError {
    /// The test tenant could not start or its state could not be read.
    fn exit_class(&self) -> ExitClass {
        ExitClass::Work
    }
}

/// A tenant running in this process. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningTenant {
    base: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningTenant {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The token endpoint: `http://127.0.0.1:PORT/{tenant-id}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.base, self.shared.creds.tenant_id)
    }

    /// Graph's root: `http://127.0.0.1:PORT/v1.0`.
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.base)
    }

    pub fn client_id(&self) -> ClientId {
        self.shared.creds.client_id
    }

    pub fn tenant_id(&self) -> TenantId {
        self.shared.creds.tenant_id
    }

    /// The client secret the token endpoint accepts (redacted in Debug and Display).
    pub fn client_secret(&self) -> &Secret {
        &self.shared.creds.secret
    }

    /// The whole tenant as canonical JSON: users, groups, members, owners, managers,
    /// licences, deleted items; sorted, without timestamps or secrets.
    pub fn dump(&self) -> serde_json::Value {
        self.shared.lock().dir.dump()
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningTenant {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The checked settings derived from the options.
fn settings(opts: &TenantOptions, own_base: String) -> Result<Settings, TenantError> {
    let mut domains: Vec<String> = Vec::new();
    for d in &opts.domains {
        let d = d.trim().to_ascii_lowercase();
        let ok = !d.is_empty()
            && d.len() <= 48
            && d.contains('.')
            && d.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if !ok {
            return Err(TenantError::Options(format!("'{d}' is not a domain name")));
        }
        if !domains.contains(&d) {
            domains.push(d);
        }
    }
    let Some(first) = domains.first() else {
        return Err(TenantError::Options("at least one --domain is needed".into()));
    };
    // Every tenant also has its initial domain.
    let initial = format!("{}.onmicrosoft.com", first.split('.').next().unwrap_or("samla"));
    if !domains.contains(&initial) {
        domains.push(initial);
    }
    let mut skus: Vec<Sku> = Vec::new();
    for spec in &opts.skus {
        let sku = Sku::from_spec(spec);
        if skus.iter().any(|s| s.id == sku.id) {
            return Err(TenantError::Options(format!("SKU {} is given twice", spec.part)));
        }
        skus.push(sku);
    }
    if opts.replication_lag_ms > MAX_LAG_MS {
        return Err(TenantError::Options(format!("--replication-lag-ms is at most {MAX_LAG_MS} (a day)")));
    }
    if !(1..=86_400).contains(&opts.token_lifetime_secs) {
        return Err(TenantError::Options("--token-lifetime-secs is between 1 and 86400 (Entra's range)".into()));
    }
    if opts.fault_rate_429 + opts.fault_rate_503 + opts.fault_rate_drop > 1.0 {
        return Err(TenantError::Options("the fault rates add up to more than 1".into()));
    }
    Ok(Settings { domains, skus, lag: Duration::from_millis(opts.replication_lag_ms), own_base })
}

/// The client secret: the in-process override, the environment variable, or the fallback.
fn client_secret(opts: &TenantOptions) -> Secret {
    if let Some(s) = &opts.client_secret {
        return s.clone();
    }
    match std::env::var(&opts.client_secret_env) {
        Ok(v) if !v.is_empty() => Secret::new(v),
        _ => Secret::new(FALLBACK_SECRET),
    }
}

/// Builds the tenant's state (directory loaded from the state file if any).
/// Whether a tenant kept in a file is served (with the domains and SKUs its flags give, which
/// the file then records) or only read (with those it recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    Serve,
    Read,
}

fn build(opts: &TenantOptions, base: String, usage: Use) -> Result<Shared, TenantError> {
    let schema = schema::graph_schema()?;
    let (store, loaded) = match &opts.state {
        Some(path) => {
            let (store, loaded) = Store::open(path, opts.tenant_id)?;
            (Some(store), loaded)
        }
        None => (None, persist::Loaded::default()),
    };
    let recorded = match (usage, &loaded.subscription) {
        (Use::Read, Some(sub)) => Some(TenantOptions {
            domains: sub.domains.clone(),
            skus: sub
                .skus
                .iter()
                .map(|s| s.parse())
                .collect::<Result<_, _>>()
                .map_err(|e| TenantError::Options(format!("the state file's SKUs: {e}")))?,
            ..opts.clone()
        }),
        _ => None,
    };
    let opts = recorded.as_ref().unwrap_or(opts);
    let settings = settings(opts, base.clone())?;
    let mut store = store;
    if let (Use::Serve, Some(store)) = (usage, store.as_mut()) {
        let skus = opts.skus.iter().map(ToString::to_string).collect();
        store.record_subscription(&persist::Subscription { domains: opts.domains.clone(), skus })?;
    }
    // The state file's policy wins: it is the tenant's own setting, changed by PATCH. A new
    // file records the one the flags give.
    let policy = loaded.tap_policy.unwrap_or_else(|| auth_methods::TapPolicy::initial(opts.tap_disabled));
    if let (Use::Serve, Some(store), None) = (usage, store.as_mut(), loaded.tap_policy) {
        store.record_tap_policy(&policy)?;
    }
    let ids = IdStream::new(opts.seed, "objects", loaded.id_counter);
    let mut dir = Directory::new(schema, settings.clone(), loaded.objects, ids)?;
    dir.set_tap_policy(policy);
    dir.take_policy_change();
    if usage == Use::Serve {
        for spec in &opts.role_holders {
            let (role, upn) = spec.split_once('=').unwrap_or((spec.as_str(), ""));
            let role = roles::ROLES
                .iter()
                .find(|r| r.name.eq_ignore_ascii_case(role.trim()))
                .ok_or_else(|| TenantError::Options(format!("--role-holder {spec}: no such directory role")))?;
            dir.grant_role(role, upn.trim())
                .map_err(|e| TenantError::Options(format!("--role-holder {spec}: {}", e.message)))?;
        }
        if let Some(store) = store.as_mut() {
            let counter = dir.id_counter();
            store.save(&dir.take_dirty(), counter)?;
        }
    }
    let certificate = match &opts.certificate {
        Some(path) => Some(AppCertificate::from_file(path).map_err(|e| TenantError::Options(e.to_string()))?),
        None => None,
    };
    let creds = Credentials {
        tenant_id: opts.tenant_id,
        client_id: opts.client_id,
        secret: client_secret(opts),
        lifetime: opts.token_lifetime_secs,
        domains: settings.domains.clone(),
        certificate,
        login_base: base.clone(),
    };
    let rates = Rates { throttle: opts.fault_rate_429, unavailable: opts.fault_rate_503, drop: opts.fault_rate_drop };
    let state = State {
        dir,
        budgets: Budgets::default(),
        faults: Faults::new(opts.seed, rates),
        store,
        request_ids: IdStream::new(opts.seed, "requests", 0),
    };
    Ok(Shared { creds, clock: Clock::new(opts.time_scale), seed: opts.seed, base, state: Mutex::new(state) })
}

/// Starts the tenant in this process (tests, demo); it serves until dropped or shut down.
pub async fn start(opts: TenantOptions) -> Result<RunningTenant, TenantError> {
    if !opts.allow_remote && !opts.listen.ip().is_loopback() {
        return Err(TenantError::NotLoopback(opts.listen));
    }
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| TenantError::Bind { addr: opts.listen, source })?;
    let addr = server::local_addr(&listener).map_err(|source| TenantError::Bind { addr: opts.listen, source })?;
    let base = format!("http://{addr}");
    let shared = Arc::new(build(&opts, base.clone(), Use::Serve)?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::run(listener, shared.clone(), async {
        let _ = stopped.await;
    }));
    tracing::info!("test tenant listening on {base}");
    Ok(RunningTenant { base, shared, stop: Some(stop), task: Some(task) })
}

/// `samla test-tenant serve`: starts the tenant, prints its URLs as one JSON line on stdout
/// (never the secret), and serves until Ctrl-C.
pub async fn serve(opts: TenantOptions) -> Result<(), TenantError> {
    let secret_env = opts.client_secret_env.clone();
    let state = opts.state.clone();
    let certificate = opts.certificate.clone();
    let tenant = start(opts).await?;
    let line = serde_json::json!({
        "url": tenant.url(),
        "graph_url": tenant.graph_url(),
        "token_url": tenant.token_url(),
        "tenant_id": tenant.tenant_id(),
        "client_id": tenant.client_id(),
        "client_secret_env": secret_env,
        "certificate": certificate,
        "state": state,
    });
    println!("{line}");
    tokio::signal::ctrl_c().await.map_err(TenantError::Serve)?;
    tenant.shutdown().await;
    Ok(())
}

/// `samla test-tenant dump --state FILE`: the canonical dump of a persisted tenant, read
/// without serving it (the file may be in use by a running `serve`).
pub fn dump_state_file(opts: &TenantOptions) -> Result<serde_json::Value, TenantError> {
    let Some(path) = &opts.state else {
        return Err(TenantError::Options("dump needs --state FILE".into()));
    };
    if !path.exists() {
        return Err(TenantError::Options(format!("{} does not exist", path.display())));
    }
    let shared = build(opts, "http://127.0.0.1".into(), Use::Read)?;
    Ok(shared.lock().dir.dump())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        opts: TenantOptions,
    }

    #[test]
    fn flags_default_to_the_same_options_as_default() {
        let parsed = Cli::try_parse_from(["serve"]).unwrap().opts;
        let default = TenantOptions::default();
        assert_eq!(parsed.listen, default.listen);
        assert_eq!(parsed.domains, default.domains);
        assert_eq!(parsed.skus, default.skus);
        assert_eq!(parsed.tenant_id, default.tenant_id);
        assert_eq!(parsed.client_id, default.client_id);
        assert_eq!(parsed.client_secret_env, default.client_secret_env);
        assert_eq!(parsed.token_lifetime_secs, default.token_lifetime_secs);
        assert_eq!((parsed.time_scale, parsed.seed, parsed.replication_lag_ms), (1.0, 0, 0));
        assert_eq!((parsed.certificate, default.certificate), (None, None));
        let with_cert = Cli::try_parse_from(["serve", "--certificate", "app.crt"]).unwrap().opts;
        assert_eq!(with_cert.certificate, Some(PathBuf::from("app.crt")));
        assert!(!parsed.tap_disabled && !default.tap_disabled, "passes are allowed unless said otherwise");
        assert!(Cli::try_parse_from(["serve", "--tap-disabled"]).unwrap().opts.tap_disabled);
    }

    #[test]
    fn flags_are_checked() {
        let parsed = Cli::try_parse_from([
            "serve",
            "--domain",
            "bjuv.se",
            "--sku",
            "SPE_E3=10",
            "--sku",
            "DESKLESSPACK=3",
            "--time-scale",
            "100",
            "--fault-rate-429",
            "0.1",
            "--seed",
            "9",
        ])
        .unwrap()
        .opts;
        assert_eq!(parsed.domains, ["bjuv.se"]);
        assert_eq!(parsed.skus[1], SkuSpec { part: "DESKLESSPACK".into(), units: 3 });
        let s = settings(&parsed, "http://127.0.0.1:1".into()).unwrap();
        assert_eq!(s.domains, ["bjuv.se", "bjuv.onmicrosoft.com"], "the initial domain is added");
        for (bad, says) in [
            (vec!["serve", "--sku", "SPE_E3"], "'SPE_E3' is not PARTNUMBER=COUNT"),
            (vec!["serve", "--sku", "E3=x"], "'x' is not a count"),
            (vec!["serve", "--time-scale", "0"], "'0' is not a positive number"),
            (vec!["serve", "--fault-rate-503", "1.5"], "'1.5' is not a share between 0 and 1"),
            (vec!["serve", "--tenant-id", "not-a-guid"], "is not a GUID"),
        ] {
            let e = Cli::try_parse_from(&bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        let twice = TenantOptions {
            skus: vec!["SPE_E3=1".parse().unwrap(), "spe_e3=2".parse().unwrap()],
            ..TenantOptions::default()
        };
        assert!(settings(&twice, String::new()).is_err());
        let rates = TenantOptions { fault_rate_429: 0.6, fault_rate_drop: 0.6, ..TenantOptions::default() };
        assert!(settings(&rates, String::new()).is_err());
        let domain = TenantOptions { domains: vec!["not a domain".into()], ..TenantOptions::default() };
        assert!(settings(&domain, String::new()).is_err());
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let opts = TenantOptions { client_secret: Some(Secret::new("hunter2")), ..TenantOptions::default() };
        assert!(!format!("{opts:?}").contains("hunter2"));
    }
}
