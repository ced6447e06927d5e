//! The Microsoft Graph client for the joint tenant: login, pacing, retries, nothing else.
//!
//! A wave is thousands of writes, and Graph allows one application 3,000 writes per 150 s
//! (graph/README.md). Whoever runs into that limit is punished twice: the refused request is
//! answered 429 with a Retry-After of many seconds, and every request behind it waits too.
//! So the client's first job is to never be the one who runs into it, while still using the
//! whole budget, because a wave's duration is its number of writes divided by the budget.
//! That decides the shape of [`GraphClient`]:
//!
//! - **A mirror of the budget.** The budget is a sliding window (at most `write_budget` writes
//!   in any `budget_window`), and the client keeps its own ledger of the same shape. A batch of
//!   `w` writes is sent only when the ledger has room for `w`. A write counts from the moment it
//!   is sent, and keeps counting until one window (plus a small margin) after its *answer*
//!   arrived: Graph counted it somewhere between the two, so once the answer is a window old,
//!   Graph has certainly forgotten it. Timing the release from the answer rather than from the
//!   sending makes the mirror safe whatever the network delay and however long a batch queues
//!   inside Graph, and costs only one round trip per window (about 1-2% at 150 s). The margin
//!   (0.5% of the window by default, [`ClientOptions::budget_margin`]) absorbs a server that
//!   keeps its clock in whole seconds.
//! - **Adaptive concurrency.** At most `max_concurrency` `$batch` requests are in flight; the
//!   client starts lower, halves on a throttled answer (429 or 503, at most once per round of
//!   batches) and grows by one after a run of clean batches, the AIMD rule that keeps a shared
//!   service busy without overloading it. Graph may answer 429 below the limits when loaded.
//! - **Retries of what is safe, bounded.** Inside a `$batch` every request is throttled on its
//!   own, so one batch can come back with some requests done and some refused. The client
//!   resends exactly the ones that were not done: 429 and 503 after their Retry-After (or an
//!   exponential backoff with jitter), 424 together with the request they depend on, and all
//!   unanswered ones when the envelope itself failed (dropped connection, timeout, 429/5xx of
//!   the `$batch`). Every other answer is final and goes back to the caller as it came: a 400
//!   conflict after a lost answer means the create took effect, a 404 right after a create is
//!   replication lag, and deciding that belongs to the executor, which knows the journal.
//! - **One login, reused.** The client-credentials token is fetched at [`GraphClient::connect`]
//!   (so a bad secret fails there, with Entra's AADSTS code), shared by every request, renewed
//!   before it expires and once more when Graph says 401.
//!
//! Besides batches and reads, the client has typed calls for the cutover's Temporary Access
//! Passes ([`GraphClient::tap_policy`], [`GraphClient::issue_tap`] and its batched
//! [`GraphClient::issue_taps`], [`GraphClient::list_taps`] and [`GraphClient::list_taps_of`],
//! [`GraphClient::delete_tap`]); an issued pass is a [`Secret`] from the moment it is read.
//!
//! Secrets stay secret: the client secret and the token are held as [`Secret`], request
//! bodies (which carry passwords) and headers are never logged or put in an error; the debug
//! log has method, URL and status only.

use crate::client::assertion::AssertionError;
use crate::config::secret::{Secret, SecretSource};
use crate::config::target::{ClientCredential, TenantTarget};
use crate::error::{Classified, ExitClass};
use crate::render::graph::{Batch, BatchBody, BatchItem, MAX_BATCH};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The `status` of an [`Outcome`] that Graph never answered (the connection dropped or timed
/// out on every attempt, or no token could be had). A write with this status may or may not
/// have taken effect: look at the target before sending it again.
pub const NOT_ANSWERED: u16 = 0;

/// The scope of an application's client-credentials token for Graph.
const SCOPE: &str = "https://graph.microsoft.com/.default";

/// Why the client could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Login refused or impossible (bad secret, unknown app/tenant): Entra's error code and
    /// description, never the secret.
    #[error("{url}: login refused: {code}: {description}")]
    Login { url: String, code: String, description: String },
    /// The endpoint could not be reached / TLS failure / timeout after retries.
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    /// Graph answered with an error: status, Graph's error code and message.
    #[error("Graph answered {status} {code}: {message}")]
    Graph { status: u16, code: String, message: String },
    /// The client secret or the certificate's key could not be read (samla.toml's
    /// configuration: exit 2 like every secret that cannot be read).
    #[error("{what}: {error}")]
    Credential { what: &'static str, error: crate::config::secret::SecretError },
    /// An unusable response body, or another failure outside Graph's answers.
    #[error("{0}")]
    Other(String),
    /// Certificate login: the client assertion could not be made (the certificate or its key
    /// is unreadable or wrong, say).
    #[error("certificate login: {0}")]
    Assertion(#[from] AssertionError),
}

impl Classified for ClientError {
    /// The tenant could not be reached, refused the login or failed a request; a client
    /// assertion that could not be made has the class of its reason.
    fn exit_class(&self) -> ExitClass {
        match self {
            ClientError::Assertion(e) => e.exit_class(),
            ClientError::Credential { error, .. } => error.exit_class(),
            ClientError::Login { .. }
            | ClientError::Transport { .. }
            | ClientError::Graph { .. }
            | ClientError::Other(_) => ExitClass::Work,
        }
    }
}

/// A `$batch` answer (HTTP 200) that cannot be read as one: the envelope went unanswered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchAnswerError {
    /// The body is not JSON or holds no `responses` array.
    #[error("the $batch answer holds no responses")]
    NoResponses,
}

/// A request that got no answer: it could not be sent, or its answer broke off. Shown as
/// [`describe`] words it, with its causes and without the URL (the caller names it).
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.0))]
struct TransportError(#[source] reqwest::Error);

/// The final answer to one request of a batch after the client's own retries.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Graph's status, or [`NOT_ANSWERED`].
    pub status: u16,
    pub body: Option<Value>,
    /// How many times it was sent.
    pub attempts: u32,
}

impl Outcome {
    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `body.error.code`.
    pub fn error_code(&self) -> Option<&str> {
        self.body.as_ref()?.get("error")?.get("code")?.as_str()
    }

    /// `body.error.message`.
    pub fn error_message(&self) -> Option<&str> {
        self.body.as_ref()?.get("error")?.get("message")?.as_str()
    }

    /// `body.id` (create responses).
    pub fn id(&self) -> Option<&str> {
        self.body.as_ref()?.get("id")?.as_str()
    }
}

/// Counters for progress and the end-of-run summary. Every attempt counts: `writes_sent` is
/// what the write budget was charged, resends included.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Stats {
    /// Writes (POST/PATCH/PUT/DELETE) sent inside `$batch` requests.
    pub writes_sent: u64,
    /// GETs sent, on their own or inside `$batch` requests.
    pub reads_sent: u64,
    /// `$batch` envelopes posted.
    pub batches_sent: u64,
    /// 429s met, inside or outside batches.
    pub throttled: u64,
    /// 503s met.
    pub unavailable: u64,
    /// Requests or envelopes sent again after a transport failure.
    pub transport_retries: u64,
    /// Requests answered 424 and sent again with the request they depend on.
    pub dependency_resends: u64,
}

/// How the client paces and retries; [`Default`] suits Graph.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// `$batch` requests in flight at the start (adapts between 1 and `max_concurrency`).
    pub initial_concurrency: usize,
    /// The most times one request is sent.
    pub max_attempts: u32,
    /// The first backoff when Graph gives no Retry-After; doubles per attempt, with jitter.
    pub backoff_base: Duration,
    /// The longest backoff without Retry-After.
    pub backoff_cap: Duration,
    /// The longest Retry-After honoured (a longer one is cut to this).
    pub retry_after_cap: Duration,
    /// How much longer than the window a write is held in the budget ledger, as a share of
    /// the window.
    pub budget_margin: f64,
    /// The most attempts at the token endpoint per login (transport failures, 429, 5xx).
    pub login_attempts: u32,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            initial_concurrency: 4,
            max_attempts: 8,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            retry_after_cap: Duration::from_secs(300),
            budget_margin: 0.005,
            login_attempts: 3,
        }
    }
}

/// A Graph client for one tenant: logs in with client credentials, reuses and refreshes the
/// token, paces writes at the app's write budget, retries what is safe.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_url", &self.inner.graph_url)
            .field("tenant_id", &self.inner.target.tenant_id)
            .field("client_id", &self.inner.target.client_id)
            .finish_non_exhaustive()
    }
}

struct Inner {
    target: TenantTarget,
    options: ClientOptions,
    http: reqwest::Client,
    /// The v1.0 root without a trailing slash.
    graph_url: String,
    token_url: String,
    token: tokio::sync::Mutex<Option<Token>>,
    logins: AtomicU64,
    budget: Budget,
    gate: Gate,
    counters: Counters,
}

/// A bearer token and when to fetch the next one.
struct Token {
    value: Secret,
    renew_at: Instant,
    /// Counts logins, so that a 401 renews the token only once however many requests saw it.
    generation: u64,
}

#[derive(Default)]
struct Counters {
    writes_sent: AtomicU64,
    reads_sent: AtomicU64,
    batches_sent: AtomicU64,
    throttled: AtomicU64,
    unavailable: AtomicU64,
    transport_retries: AtomicU64,
    dependency_resends: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl GraphClient {
    /// Reads the credential, builds the HTTP client (rustls, certificates verified unless the
    /// target says `verify_certificates = false`, `ca_file` added as a root, the target's
    /// timeout) and logs in once, so that bad credentials fail here with a clear error.
    pub async fn connect(target: &TenantTarget) -> Result<GraphClient, ClientError> {
        GraphClient::connect_with(target, ClientOptions::default()).await
    }

    /// [`GraphClient::connect`] with other pacing and retry settings.
    pub async fn connect_with(target: &TenantTarget, options: ClientOptions) -> Result<GraphClient, ClientError> {
        let http = http_client(target)?;
        let graph_url = target.graph_url.trim_end_matches('/').to_string();
        let token_url = format!("{}/{}/oauth2/v2.0/token", target.login_url.trim_end_matches('/'), target.tenant_id);
        let window = target.budget_window;
        let margin = if options.budget_margin.is_finite() { options.budget_margin.clamp(0.0, 1.0) } else { 0.0 };
        let hold = window.saturating_add(window.mul_f64(margin));
        let max = target.max_concurrency.max(1);
        let initial = options.initial_concurrency.clamp(1, max);
        let client = GraphClient {
            inner: Arc::new(Inner {
                target: target.clone(),
                http,
                graph_url,
                token_url,
                token: tokio::sync::Mutex::new(None),
                logins: AtomicU64::new(0),
                budget: Budget::new(u64::from(target.write_budget.max(1)), hold),
                gate: Gate::new(initial, max),
                counters: Counters::default(),
                options,
            }),
        };
        client.token().await?;
        Ok(client)
    }

    /// Sends one `$batch` (as given: at most 20 requests, either all independent or one
    /// `dependsOn` chain), waiting first for room in the write budget; returns one
    /// [`Outcome`] per request, in the batch's order.
    ///
    /// Retries inside, at most [`ClientOptions::max_attempts`] sends per request: 429 and 503
    /// after their Retry-After (or backoff), 424 with the request it depends on, and every
    /// unanswered request when the whole `$batch` failed. A 401 renews the token once. Other
    /// answers, 400 conflicts and 404s among them, are returned as they are.
    pub async fn send_batch(&self, batch: &Batch) -> Vec<Outcome> {
        let items: Vec<Item<'_>> = batch.requests.iter().map(Item::of).collect();
        self.run(&items).await
    }

    /// One GET (path relative to the v1.0 root, e.g. `/users?$filter=...`), retried on 429,
    /// 503, other 5xx and transport failures. A 404 is `Err(ClientError::Graph{status:404,..})`.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.get_url(&self.url_for(path)).await
    }

    /// A GET of a collection, following `@odata.nextLink`: all items of `value`.
    pub async fn get_all(&self, path: &str) -> Result<Vec<Value>, ClientError> {
        let mut url = self.url_for(path);
        let mut all = Vec::new();
        loop {
            let page = self.get_url(&url).await?;
            let (items, next) = read_page(&url, page)?;
            all.extend(items);
            let Some(next) = next else { break };
            self.check_origin(&next)?;
            url = next;
        }
        Ok(all)
    }

    /// Many GETs sent 20 per `$batch` (several batches concurrently, within the concurrency
    /// limit), each with the retries of [`GraphClient::send_batch`]; results in input order
    /// (a 404 is `Err(Graph{404})`).
    pub async fn get_many(&self, paths: &[String]) -> Vec<Result<Value, ClientError>> {
        let mut tasks = tokio::task::JoinSet::new();
        for (n, chunk) in paths.chunks(MAX_BATCH).enumerate() {
            let client = self.clone();
            let chunk = chunk.to_vec();
            tasks.spawn(async move { (n, client.read_chunk(&chunk).await) });
        }
        let mut out: Vec<Option<Result<Value, ClientError>>> = paths.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            if let Ok((n, results)) = joined {
                for (k, r) in results.into_iter().enumerate() {
                    if let Some(slot) = out.get_mut(n * MAX_BATCH + k) {
                        *slot = Some(r);
                    }
                }
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ClientError::Other("the read was interrupted".to_string()))))
            .collect()
    }

    /// Who holds a directory role: user (or other object) id -> the display names of the roles
    /// it holds (`GET /directoryRoles`, then each role's members). The preflight refuses a wave
    /// that would take over a cloud user holding a role; Entra Connect's handover meets the
    /// same users (a cloud user holding a role is not hard-matched).
    pub async fn directory_role_holders(&self) -> Result<BTreeMap<String, Vec<String>>, ClientError> {
        let mut holders: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for role in self.get_all("/directoryRoles?$select=id,displayName").await? {
            let (Some(id), Some(name)) = (role["id"].as_str(), role["displayName"].as_str()) else { continue };
            for member in self.get_all(&format!("/directoryRoles/{id}/members?$select=id")).await? {
                if let Some(m) = member["id"].as_str() {
                    holders.entry(m.to_string()).or_default().push(name.to_string());
                }
            }
        }
        Ok(holders)
    }

    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            writes_sent: get(&c.writes_sent),
            reads_sent: get(&c.reads_sent),
            batches_sent: get(&c.batches_sent),
            throttled: get(&c.throttled),
            unavailable: get(&c.unavailable),
            transport_retries: get(&c.transport_retries),
            dependency_resends: get(&c.dependency_resends),
        }
    }

    /// How many times the client logged in (the first login included).
    pub fn logins(&self) -> u64 {
        self.inner.logins.load(Ordering::Relaxed)
    }

    /// How many `$batch` requests may be in flight right now (the adaptive limit).
    pub fn concurrency(&self) -> usize {
        self.inner.gate.limit()
    }

    /// The v1.0 root this client talks to.
    pub fn graph_url(&self) -> &str {
        &self.inner.graph_url
    }

    fn url_for(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.inner.graph_url)
        } else {
            format!("{}/{path}", self.inner.graph_url)
        }
    }

    /// A next-page link must stay on Graph's host: the token goes with it.
    fn check_origin(&self, link: &str) -> Result<(), ClientError> {
        let origin = |s: &str| url::Url::parse(s).ok().map(|u| u.origin());
        match (origin(link), origin(&self.inner.graph_url)) {
            (Some(a), Some(b)) if a == b => Ok(()),
            _ => Err(ClientError::Other(format!(
                "the next page link {link:?} leaves {}; not following it with the token",
                self.inner.graph_url
            ))),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Login.

    /// The current token, logging in first when there is none or it is due for renewal.
    async fn token(&self) -> Result<(Secret, u64), ClientError> {
        let mut slot = self.inner.token.lock().await;
        if let Some(t) = slot.as_ref()
            && Instant::now() < t.renew_at
        {
            return Ok((t.value.clone(), t.generation));
        }
        let generation = slot.as_ref().map_or(1, |t| t.generation + 1);
        let asked = Instant::now();
        let (value, lifetime) = self.login().await?;
        // Renew five minutes before expiry, or at 90% of a short lifetime.
        let renew = lifetime.saturating_sub(Duration::from_secs(300)).max(lifetime.mul_f64(0.9));
        let renew_at = asked.checked_add(renew).unwrap_or(asked);
        *slot = Some(Token { value: value.clone(), renew_at, generation });
        Ok((value, generation))
    }

    /// Graph refused the token of `generation`: the next caller logs in again.
    async fn renew_token(&self, generation: u64) {
        let mut slot = self.inner.token.lock().await;
        if let Some(t) = slot.as_mut()
            && t.generation == generation
        {
            t.renew_at = Instant::now();
        }
    }

    /// The token request's form body, and the secret in it (to scrub from any answer).
    fn login_form(&self) -> Result<(Secret, Option<Secret>), ClientError> {
        let target = &self.inner.target;
        let read =
            |s: &SecretSource| s.read().map_err(|error| ClientError::Credential { what: "client credential", error });
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &target.client_id)
            .append_pair("scope", SCOPE);
        let secret = match &target.credential {
            ClientCredential::Secret(source) => {
                let secret = read(source)?;
                form.append_pair("client_secret", secret.expose());
                Some(secret)
            }
            ClientCredential::Certificate { certificate, private_key } => {
                let key = private_key
                    .read_all()
                    .map_err(|error| ClientError::Credential { what: "certificate login: private key", error })?;
                let assertion = certificate_assertion(certificate, &key, &target.client_id, &self.inner.token_url)?;
                form.append_pair("client_assertion_type", crate::client::assertion::ASSERTION_TYPE)
                    .append_pair("client_assertion", assertion.expose());
                None
            }
        };
        Ok((Secret::new(form.finish()), secret))
    }

    /// One client-credentials login: the token and its lifetime.
    async fn login(&self) -> Result<(Secret, Duration), ClientError> {
        let url = &self.inner.token_url;
        let (form, secret) = self.login_form()?;
        let opts = &self.inner.options;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= opts.login_attempts.max(1);
            let sent = self
                .inner
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.expose().to_string())
                .send()
                .await;
            let (status, retry_after, bytes) = match read_response(sent).await {
                Ok(r) => r,
                Err(reason) if !last => {
                    tracing::debug!("POST {url}: {reason}; retrying");
                    add(&self.inner.counters.transport_retries, 1);
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
                Err(reason) => return Err(ClientError::Transport { url: url.clone(), reason: reason.to_string() }),
            };
            tracing::debug!("POST {url}: {status}");
            if transient(status) && !last {
                tokio::time::sleep(retry_after.map_or_else(|| self.backoff(attempt), |d| self.cap(d))).await;
                continue;
            }
            let token = read_token(url, status, &bytes, secret.as_ref())?;
            self.inner.logins.fetch_add(1, Ordering::Relaxed);
            return Ok(token);
        }
    }

    // -----------------------------------------------------------------------------------------
    // GETs.

    async fn get_url(&self, url: &str) -> Result<Value, ClientError> {
        let opts = &self.inner.options;
        let counters = &self.inner.counters;
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            attempt += 1;
            let last = attempt >= opts.max_attempts.max(1);
            let (token, generation) = self.token().await?;
            add(&counters.reads_sent, 1);
            let sent = self.inner.http.get(url).bearer_auth(token.expose()).send().await;
            let read = read_response(sent).await.map(|(s, r, b)| (s, r, scrub(b, &token)));
            let (status, retry_after, bytes) = match read {
                Ok(r) => r,
                Err(reason) if !last => {
                    tracing::debug!("GET {url}: {reason}; retrying");
                    add(&counters.transport_retries, 1);
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
                Err(reason) => {
                    return Err(ClientError::Transport { url: url.to_string(), reason: reason.to_string() });
                }
            };
            tracing::debug!("GET {url}: {status}");
            match status {
                429 => add(&counters.throttled, 1),
                503 => add(&counters.unavailable, 1),
                _ => {}
            }
            if status == 401 && !renewed {
                renewed = true;
                self.renew_token(generation).await;
                continue;
            }
            if transient(status) && !last {
                tokio::time::sleep(retry_after.map_or_else(|| self.backoff(attempt), |d| self.cap(d))).await;
                continue;
            }
            return read_answer(url, status, &bytes);
        }
    }

    async fn read_chunk(&self, paths: &[String]) -> Vec<Result<Value, ClientError>> {
        let ids: Vec<String> = (0..paths.len()).map(|i| i.to_string()).collect();
        let items: Vec<Item<'_>> = paths
            .iter()
            .zip(&ids)
            .map(|(path, id)| Item { id, method: "GET", url: path, body: None, prefer: None, depends_on: Vec::new() })
            .collect();
        let batch_url = format!("{}/$batch", self.inner.graph_url);
        self.run(&items)
            .await
            .into_iter()
            .map(|o| match o.status {
                s if (200..300).contains(&s) => Ok(o.body.unwrap_or(Value::Null)),
                NOT_ANSWERED => Err(ClientError::Transport {
                    url: batch_url.clone(),
                    reason: o.error_message().unwrap_or("no answer").to_string(),
                }),
                s => Err(graph_error(s, o.body.as_ref())),
            })
            .collect()
    }

    // -----------------------------------------------------------------------------------------
    // $batch.

    /// Sends `items` as one `$batch` and then resends, in smaller batches, what was not done.
    async fn run(&self, items: &[Item<'_>]) -> Vec<Outcome> {
        let n = items.len();
        let opts = &self.inner.options;
        let counters = &self.inner.counters;
        let max_attempts = opts.max_attempts.max(1);
        let index: HashMap<&str, usize> = items.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        let deps: Vec<Vec<usize>> =
            items.iter().map(|r| r.depends_on.iter().filter_map(|d| index.get(d).copied()).collect()).collect();
        let mut attempts = vec![0u32; n];
        let mut last: Vec<(u16, Option<Value>)> = vec![(NOT_ANSWERED, None); n];
        let mut pending: Vec<usize> = (0..n).collect();
        let mut renewed = false;
        let mut envelope_failures = 0u32;
        while !pending.is_empty() {
            for &i in &pending {
                attempts[i] += 1;
            }
            let sent = self.post_batch(items, &pending).await;
            let mut class: HashMap<usize, Class> = HashMap::with_capacity(pending.len());
            let mut wait = Duration::ZERO;
            let mut transport_failed = false;
            match sent {
                Posted::NotSent(e) => {
                    for &i in &pending {
                        attempts[i] -= 1;
                        last[i] = (NOT_ANSWERED, Some(error_body("notSent", &e.to_string())));
                        class.insert(i, Class::Final);
                    }
                }
                Posted::Failed { reason } => {
                    envelope_failures += 1;
                    transport_failed = true;
                    wait = self.backoff(envelope_failures);
                    for &i in &pending {
                        last[i] = (NOT_ANSWERED, Some(error_body("noAnswer", &reason)));
                        class.insert(i, Class::Retry);
                    }
                }
                Posted::Envelope { status, retry_after, body, generation } => {
                    let retry = if status == 401 && !renewed {
                        renewed = true;
                        self.renew_token(generation).await;
                        true
                    } else {
                        transient(status)
                    };
                    if retry && status != 401 {
                        envelope_failures += 1;
                        wait = retry_after.map_or_else(|| self.backoff(envelope_failures), |d| self.cap(d));
                    }
                    for &i in &pending {
                        last[i] = (status, body.clone());
                        class.insert(i, if retry { Class::Retry } else { Class::Final });
                    }
                }
                Posted::Answers(mut answers) => {
                    for &i in &pending {
                        match answers.remove(items[i].id) {
                            None => {
                                let m = "the $batch answer holds no response for this request";
                                last[i] = (NOT_ANSWERED, Some(error_body("noAnswer", m)));
                                class.insert(i, Class::Retry);
                            }
                            Some(a) => {
                                let c = match a.status {
                                    429 | 503 => {
                                        let d =
                                            a.retry_after.map_or_else(|| self.backoff(attempts[i]), |d| self.cap(d));
                                        wait = wait.max(d);
                                        Class::Retry
                                    }
                                    424 => Class::Dependent,
                                    _ => Class::Final,
                                };
                                last[i] = (a.status, a.body);
                                class.insert(i, c);
                            }
                        }
                    }
                }
            }
            let ids: Vec<&str> = items.iter().map(|r| r.id).collect();
            pending = settle(&pending, &mut class, &deps, &attempts, max_attempts, &mut last, &ids);
            let resent_424 = pending.iter().filter(|&&i| last[i].0 == 424).count() as u64;
            add(&counters.dependency_resends, resent_424);
            if transport_failed && !pending.is_empty() {
                add(&counters.transport_retries, 1);
            }
            if !pending.is_empty() && !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        last.into_iter().zip(attempts).map(|((status, body), attempts)| Outcome { status, body, attempts }).collect()
    }

    /// One `$batch` envelope of the `pending` items: waits for a concurrency slot and room in
    /// the write budget, posts, and reads the answer.
    async fn post_batch<'a>(&self, items: &[Item<'a>], pending: &[usize]) -> Posted<'a> {
        let inner = &self.inner;
        let counters = &inner.counters;
        let sending: std::collections::BTreeSet<&'a str> = pending.iter().map(|&i| items[i].id).collect();
        // A resend leaves out the dependencies already done; one naming no request of the
        // batch at all goes as given, for Graph to refuse.
        let known: std::collections::BTreeSet<&str> = items.iter().map(|r| r.id).collect();
        let wire: Vec<BatchItem<'_>> = pending
            .iter()
            .map(|&i| {
                let r = &items[i];
                let depends_on =
                    r.depends_on.iter().copied().filter(|d| sending.contains(d) || !known.contains(d)).collect();
                BatchItem::new(r.id, r.method, r.url, r.body, r.prefer, depends_on)
            })
            .collect();
        let body = match serde_json::to_vec(&BatchBody { requests: wire }) {
            Ok(b) => b,
            Err(e) => return Posted::NotSent(ClientError::Other(format!("the $batch body: {e}"))),
        };
        let writes = pending.iter().filter(|&&i| is_write(items[i].method)).count() as u64;
        let reads = pending.len() as u64 - writes;
        let url = format!("{}/$batch", inner.graph_url);

        let pass = inner.gate.enter().await;
        let (token, generation) = match self.token().await {
            Ok(t) => t,
            Err(e) => {
                inner.gate.leave(pass, Signal::Neutral);
                return Posted::NotSent(e);
            }
        };
        let reservation = inner.budget.reserve(writes).await;
        add(&counters.batches_sent, 1);
        add(&counters.writes_sent, writes);
        add(&counters.reads_sent, reads);
        let sent = inner
            .http
            .post(&url)
            .bearer_auth(token.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let read = read_response(sent).await.map(|(s, r, b)| (s, r, scrub(b, &token)));
        drop(reservation);

        let (status, retry_after, bytes) = match read {
            Ok(r) => r,
            Err(reason) => {
                tracing::debug!("POST {url}: {reason} ({} requests, {writes} writes)", pending.len());
                inner.gate.leave(pass, Signal::Neutral);
                return Posted::Failed { reason: reason.to_string() };
            }
        };
        tracing::debug!("POST {url}: {status} ({} requests, {writes} writes)", pending.len());
        if status != 200 {
            let body: Option<Value> = serde_json::from_slice(&bytes).ok();
            match status {
                429 => add(&counters.throttled, 1),
                503 => add(&counters.unavailable, 1),
                _ => {}
            }
            let signal = if status == 429 || status == 503 { Signal::Throttled } else { Signal::Neutral };
            inner.gate.leave(pass, signal);
            return Posted::Envelope { status, retry_after, body, generation };
        }
        let responses = match read_batch_answer(&bytes) {
            Ok(responses) => responses,
            Err(reason) => {
                inner.gate.leave(pass, Signal::Neutral);
                return Posted::Failed { reason: reason.to_string() };
            }
        };
        let mut answers: HashMap<&str, Answer> = HashMap::with_capacity(responses.len());
        let mut throttled = false;
        for r in responses {
            let Some(&id) = sending.get(r.id.as_str()) else { continue };
            let status = r.status;
            match status {
                429 => add(&counters.throttled, 1),
                503 => add(&counters.unavailable, 1),
                _ => {}
            }
            throttled |= status == 429 || status == 503;
            if let Some(i) = index_of(items, pending, id) {
                tracing::debug!("  {} {}: {status}", items[i].method, items[i].url);
            }
            answers.insert(id, Answer { status, retry_after: r.retry_after, body: r.body });
        }
        inner.gate.leave(pass, if throttled { Signal::Throttled } else { Signal::Clean });
        Posted::Answers(answers)
    }

    /// Exponential backoff with jitter for the `attempt`-th failure in a row.
    fn backoff(&self, attempt: u32) -> Duration {
        let opts = &self.inner.options;
        let doubled = opts.backoff_base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = doubled.min(opts.backoff_cap);
        // Between half and all of it, so that clients that failed together do not retry together.
        capped.mul_f64(0.5 + 0.5 * jitter())
    }

    fn cap(&self, retry_after: Duration) -> Duration {
        retry_after.min(self.inner.options.retry_after_cap)
    }
}

/// Decides, after one round, which of the `pending` requests go again; the others keep their
/// last answer (in `last`) as final. `class` holds each pending request's class from its own
/// answer. A request out of attempts is final. A 424 goes again with the request it depends on
/// (or alone, should its dependency have succeeded after all), and is final once that
/// dependency's failure is. A request is never resent after a dependency of its failed for good:
/// it becomes 424 itself.
fn settle(
    pending: &[usize],
    class: &mut HashMap<usize, Class>,
    deps: &[Vec<usize>],
    attempts: &[u32],
    max_attempts: u32,
    last: &mut [(u16, Option<Value>)],
    ids: &[&str],
) -> Vec<usize> {
    for (&i, c) in class.iter_mut() {
        if *c == Class::Retry && attempts[i] >= max_attempts {
            *c = Class::Final;
        }
    }
    loop {
        let mut changed = false;
        for &i in pending {
            if class.get(&i) != Some(&Class::Dependent) {
                continue;
            }
            let on: Vec<Class> = deps[i].iter().map(|j| class.get(j).copied().unwrap_or(Class::Final)).collect();
            let decided = if on.contains(&Class::Retry) {
                Class::Retry
            } else if on.contains(&Class::Dependent) {
                continue;
            } else if deps[i].iter().all(|&j| succeeded(j, class, last)) {
                Class::Retry
            } else {
                Class::Final
            };
            let decided = if attempts[i] >= max_attempts { Class::Final } else { decided };
            class.insert(i, decided);
            changed = true;
        }
        if !changed {
            break;
        }
    }
    loop {
        let mut changed = false;
        for &i in pending {
            if class.get(&i) != Some(&Class::Retry) {
                continue;
            }
            let blocked = deps[i].iter().find(|&&j| class.get(&j) != Some(&Class::Retry) && !succeeded(j, class, last));
            if let Some(&j) = blocked {
                if last[i].0 != 424 {
                    let m = format!("The request depends on request '{}', which failed.", ids[j]);
                    last[i] = (424, Some(error_body("FailedDependency", &m)));
                }
                class.insert(i, Class::Final);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    pending.iter().copied().filter(|i| class.get(i) == Some(&Class::Retry)).collect()
}

/// Whether request `j` is done and succeeded (answered 2xx in this round or an earlier one).
fn succeeded(j: usize, class: &HashMap<usize, Class>, last: &[(u16, Option<Value>)]) -> bool {
    matches!(class.get(&j), Some(Class::Final) | None) && (200..300).contains(&last[j].0)
}

fn index_of(items: &[Item<'_>], pending: &[usize], id: &str) -> Option<usize> {
    pending.iter().copied().find(|&i| items[i].id == id)
}

/// A uniform number in [0, 1) from the standard library's randomly keyed hasher.
fn jitter() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5a11_a000);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// An answer that says "not now" rather than "no": throttled, unavailable, a gateway's failure.
fn transient(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

fn is_write(method: &str) -> bool {
    !method.eq_ignore_ascii_case("GET") && !method.eq_ignore_ascii_case("HEAD")
}

/// `Retry-After` in seconds (Graph never sends the date form).
fn parse_retry_after(s: &str) -> Option<Duration> {
    s.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// One request's answer as read from a `$batch` answer's JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResponse {
    pub id: String,
    /// Graph's status; 0 ([`NOT_ANSWERED`]) when the response has none that fits a `u16`.
    pub status: u16,
    /// The response's own `Retry-After` header (seconds, as a string or a number).
    pub retry_after: Option<Duration>,
    pub body: Option<Value>,
}

/// Reads the body of a `$batch` answer (HTTP 200): its responses that name an id, in order.
/// A body that is not JSON or holds no `responses` array is an error: the envelope went
/// unanswered.
pub fn read_batch_answer(bytes: &[u8]) -> Result<Vec<BatchResponse>, BatchAnswerError> {
    let responses = match serde_json::from_slice::<Value>(bytes).ok().as_mut().and_then(|b| b.get_mut("responses")) {
        Some(Value::Array(responses)) => std::mem::take(responses),
        _ => return Err(BatchAnswerError::NoResponses),
    };
    let mut out = Vec::with_capacity(responses.len());
    for mut r in responses {
        let Some(id) = r.get("id").and_then(Value::as_str).map(str::to_string) else { continue };
        let status = r.get("status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok()).unwrap_or(0);
        let retry_after = r.get("headers").and_then(Value::as_object).and_then(|h| {
            let v = h.iter().find(|(k, _)| k.eq_ignore_ascii_case("retry-after")).map(|(_, v)| v)?;
            match v {
                Value::String(s) => parse_retry_after(s),
                Value::Number(n) => n.as_u64().map(Duration::from_secs),
                _ => None,
            }
        });
        let body = r.get_mut("body").map(Value::take);
        out.push(BatchResponse { id, status, retry_after, body });
    }
    Ok(out)
}

/// A GET's final answer: for 2xx its JSON (`null` when empty), otherwise Graph's error.
pub fn read_answer(url: &str, status: u16, bytes: &[u8]) -> Result<Value, ClientError> {
    if (200..300).contains(&status) {
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        return serde_json::from_slice(bytes)
            .map_err(|e| ClientError::Other(format!("GET {url}: the answer is not JSON: {e}")));
    }
    let body: Option<Value> = serde_json::from_slice(bytes).ok();
    Err(graph_error(status, body.as_ref()))
}

/// One page of a collection (`url`'s answer): its `value` items and its `@odata.nextLink`, if
/// any. A page without a `value` array, or whose next link is the page itself, is an error.
pub fn read_page(url: &str, mut page: Value) -> Result<(Vec<Value>, Option<String>), ClientError> {
    let items = match page.get_mut("value").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => return Err(ClientError::Other(format!("{url}: the answer holds no `value` collection"))),
    };
    let next = page.get("@odata.nextLink").and_then(Value::as_str);
    if next == Some(url) {
        return Err(ClientError::Other(format!("{url}: the next page link points to the same page")));
    }
    Ok((items, next.map(str::to_string)))
}

/// The token endpoint's final answer: the access token and its lifetime (3599 s when not
/// given, at most a day), or Entra's refusal with `secret` scrubbed from it.
pub fn read_token(
    url: &str,
    status: u16,
    bytes: &[u8],
    secret: Option<&Secret>,
) -> Result<(Secret, Duration), ClientError> {
    let body: Option<Value> = serde_json::from_slice(bytes).ok();
    if !(200..300).contains(&status) {
        return Err(login_error(url, status, body.as_ref(), secret));
    }
    let token = body.as_ref().and_then(|b| b.get("access_token")).and_then(Value::as_str);
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(ClientError::Other(format!("{url}: the token endpoint's answer holds no access token")));
    };
    let lifetime = body.as_ref().and_then(|b| b.get("expires_in")).and_then(|v| match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    });
    // Entra's tokens live at most a day; anything longer is not believed.
    let lifetime = lifetime.unwrap_or(3599).min(86_400);
    Ok((Secret::new(token), Duration::from_secs(lifetime)))
}

/// A body in Graph's error shape, for answers the client makes up itself.
fn error_body(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

/// Graph's error as a [`ClientError`]: status, code, message; nothing else of the body.
fn graph_error(status: u16, body: Option<&Value>) -> ClientError {
    let error = body.and_then(|b| b.get("error"));
    let field = |k: &str| error.and_then(|e| e.get(k)).and_then(Value::as_str).map(str::to_string);
    ClientError::Graph {
        status,
        code: field("code").unwrap_or_default(),
        message: field("message").unwrap_or_else(|| format!("HTTP {status}")),
    }
}

/// Entra's refusal as a [`ClientError::Login`]: `AADSTSnnnn` and the description, with the
/// secret scrubbed should the endpoint ever echo it.
fn login_error(url: &str, status: u16, body: Option<&Value>, secret: Option<&Secret>) -> ClientError {
    let field = |k: &str| body.and_then(|b| b.get(k)).and_then(Value::as_str).map(str::to_string);
    let number = body.and_then(|b| b.get("error_codes")).and_then(|c| c.get(0)).and_then(Value::as_u64);
    let code = match (number, field("error")) {
        (Some(n), Some(e)) => format!("AADSTS{n} ({e})"),
        (Some(n), None) => format!("AADSTS{n}"),
        (None, Some(e)) => e,
        (None, None) => format!("HTTP {status}"),
    };
    let mut description = field("error_description").unwrap_or_else(|| "the token endpoint gave no reason".to_string());
    if let Some(n) = number {
        let prefix = format!("AADSTS{n}:");
        if let Some(rest) = description.strip_prefix(&prefix) {
            description = rest.trim_start().to_string();
        }
    }
    let scrub = |text: String| match secret.filter(|s| !s.expose().is_empty()) {
        Some(secret) => text.replace(secret.expose(), "[redacted]"),
        None => text,
    };
    ClientError::Login { url: url.to_string(), code: scrub(code), description: scrub(description) }
}

/// `bytes` with every copy of `token` replaced by `[redacted]`: an answer that echoes the bearer
/// token (a proxy's error page, a careless endpoint) must not carry it into an error message, a
/// log line, a report or the journal.
fn scrub(bytes: Vec<u8>, token: &Secret) -> Vec<u8> {
    let t = token.expose().as_bytes();
    if t.is_empty() || !bytes.windows(t.len()).any(|w| w == t) {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        if rest.starts_with(t) {
            out.extend_from_slice(b"[redacted]");
            rest = &rest[t.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

/// Status, Retry-After and the whole body of a response, or why there is none.
async fn read_response(
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<(u16, Option<Duration>, Vec<u8>), TransportError> {
    let resp = sent.map_err(TransportError)?;
    let status = resp.status().as_u16();
    let retry_after =
        resp.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
    let bytes = resp.bytes().await.map_err(TransportError)?;
    Ok((status, retry_after, bytes.to_vec()))
}

/// A transport failure in words, with its causes (reqwest's own message is terse), without
/// the URL (the caller names it).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "no answer"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = s.source();
    }
    if causes.is_empty() { kind.to_string() } else { format!("{kind}: {}", causes.join(": ")) }
}

/// The HTTP client: rustls with ring, the system's roots plus `ca_file`, no redirects (a
/// redirect would carry the token elsewhere), the target's timeout.
fn http_client(target: &TenantTarget) -> Result<reqwest::Client, ClientError> {
    // reqwest is built without a crypto provider of its own; ring is the crate's. Installing it
    // twice (or after another) is harmless: the first stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .timeout(target.timeout)
        .connect_timeout(target.timeout.min(Duration::from_secs(30)))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .user_agent(concat!("samla/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &target.ca_file {
        let pem = std::fs::read(ca).map_err(|e| ClientError::Other(format!("CA file {}: {e}", ca.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| ClientError::Other(format!("CA file {}: {e}", ca.display())))?;
        if certs.is_empty() {
            return Err(ClientError::Other(format!("CA file {} holds no PEM certificate", ca.display())));
        }
        builder = builder.tls_certs_merge(certs);
    }
    if !target.verify_certificates {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| ClientError::Other(format!("the HTTP client for {}: {e}", target.graph_url)))
}

/// Certificate login: the one call site of [`crate::client::assertion::client_assertion`], which
/// signs the assertion with the certificate's key (`private_key` is the whole PEM file).
fn certificate_assertion(
    certificate: &Path,
    private_key: &Secret,
    client_id: &str,
    token_url: &str,
) -> Result<Secret, ClientError> {
    Ok(Secret::new(crate::client::assertion::client_assertion(certificate, private_key, client_id, token_url)?))
}

// ---------------------------------------------------------------------------------------------
// Temporary Access Passes (the cutover's first sign-in).

/// The Temporary Access Pass policy's path under the v1.0 root.
pub const TAP_POLICY_PATH: &str =
    "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass";

/// The tenant's Temporary Access Pass policy: whether passes may be issued, and within which
/// bounds (minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapPolicy {
    pub enabled: bool,
    pub default_lifetime_minutes: u32,
    pub minimum_lifetime_minutes: u32,
    pub maximum_lifetime_minutes: u32,
    /// Every pass is one-time (a multi-use pass is refused).
    pub usable_once: bool,
    pub default_length: u32,
}

/// A pass just issued: the one answer in which Graph shows the pass. The pass is a [`Secret`]
/// (`[redacted]` in Debug and Display), so it cannot reach a log or an error by accident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTap {
    pub method_id: String,
    pub pass: Secret,
    pub start: chrono::DateTime<chrono::Utc>,
    pub lifetime_minutes: u32,
    pub usable_once: bool,
}

/// A user's pass as Graph lists it (without the pass).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapMethod {
    pub method_id: String,
    pub usable: bool,
    /// Graph's `methodUsabilityReason`: `EnabledByPolicy`, `DisabledByPolicy`, `Expired`,
    /// `NotYetValid`, `OneTimeUsed`.
    pub usability_reason: String,
    pub start: chrono::DateTime<chrono::Utc>,
    pub lifetime_minutes: u32,
    pub usable_once: bool,
    pub created: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a delete of a pass found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapRemoval {
    Deleted,
    /// 404: the pass was not there (deleted before, or replaced by a newer one).
    NotThere,
}

/// `/users/{user}/authentication/temporaryAccessPassMethods`, the user's id (or UPN)
/// percent-encoded as one path segment.
pub fn tap_methods_path(user: &str) -> String {
    format!("/users/{}/authentication/temporaryAccessPassMethods", segment(user))
}

/// A path segment with everything but unreserved characters and `@` percent-encoded.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A field of a pass or policy Graph sent, or an error naming the field and `what`.
fn field<'v>(v: &'v Value, name: &str, what: &str) -> Result<&'v Value, ClientError> {
    v.get(name)
        .filter(|x| !x.is_null())
        .ok_or_else(|| ClientError::Other(format!("{what}: Graph's answer has no {name}")))
}

fn minutes(v: &Value, name: &str, what: &str) -> Result<u32, ClientError> {
    field(v, name, what)?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| ClientError::Other(format!("{what}: {name} is not a number of minutes")))
}

fn flag(v: &Value, name: &str, what: &str) -> Result<bool, ClientError> {
    field(v, name, what)?.as_bool().ok_or_else(|| ClientError::Other(format!("{what}: {name} is not true or false")))
}

fn time(v: &Value, name: &str, what: &str) -> Result<chrono::DateTime<chrono::Utc>, ClientError> {
    field(v, name, what)?
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok_or_else(|| ClientError::Other(format!("{what}: {name} is not a date and time")))
}

fn text(v: &Value, name: &str, what: &str) -> Result<String, ClientError> {
    field(v, name, what)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| ClientError::Other(format!("{what}: {name} is not a string")))
}

/// The policy as Graph shows it.
pub fn read_tap_policy(v: &Value) -> Result<TapPolicy, ClientError> {
    let what = "the Temporary Access Pass policy";
    let enabled = match text(v, "state", what)?.as_str() {
        "enabled" => true,
        "disabled" => false,
        other => return Err(ClientError::Other(format!("{what}: unknown state {other:?}"))),
    };
    Ok(TapPolicy {
        enabled,
        default_lifetime_minutes: minutes(v, "defaultLifetimeInMinutes", what)?,
        minimum_lifetime_minutes: minutes(v, "minimumLifetimeInMinutes", what)?,
        maximum_lifetime_minutes: minutes(v, "maximumLifetimeInMinutes", what)?,
        usable_once: flag(v, "isUsableOnce", what)?,
        default_length: minutes(v, "defaultLength", what)?,
    })
}

/// A listed pass method.
pub fn read_tap_method(v: &Value) -> Result<TapMethod, ClientError> {
    let what = "a Temporary Access Pass method";
    Ok(TapMethod {
        method_id: text(v, "id", what)?,
        usable: flag(v, "isUsable", what)?,
        usability_reason: text(v, "methodUsabilityReason", what)?,
        start: time(v, "startDateTime", what)?,
        lifetime_minutes: minutes(v, "lifetimeInMinutes", what)?,
        usable_once: flag(v, "isUsableOnce", what)?,
        created: time(v, "createdDateTime", what).ok(),
    })
}

/// A create's 201 answer. The pass is taken out of the body first, so nothing made from the
/// body afterwards (an error, a Debug print) can hold it.
pub fn read_issued_tap(mut body: Value) -> Result<IssuedTap, ClientError> {
    let what = "the new Temporary Access Pass";
    let pass = match body.get_mut("temporaryAccessPass").map(Value::take) {
        Some(Value::String(p)) if !p.is_empty() => Secret::new(p),
        _ => return Err(ClientError::Other(format!("{what}: Graph's answer has no temporaryAccessPass"))),
    };
    Ok(IssuedTap {
        method_id: text(&body, "id", what)?,
        pass,
        start: time(&body, "startDateTime", what)?,
        lifetime_minutes: minutes(&body, "lifetimeInMinutes", what)?,
        usable_once: flag(&body, "isUsableOnce", what)?,
    })
}

impl GraphClient {
    /// `GET` the tenant's Temporary Access Pass policy.
    pub async fn tap_policy(&self) -> Result<TapPolicy, ClientError> {
        read_tap_policy(&self.get(TAP_POLICY_PATH).await?)
    }

    /// Issues `user` a pass of `lifetime_minutes`, one-time or not, starting now. Graph keeps
    /// one pass per user: this replaces the user's current one. Sent like a write of a
    /// `$batch` (within the write budget, retried on 429/503 and lost answers: a resend after
    /// a lost answer replaces the pass that answer held, so the pass returned is the usable
    /// one). Unanswered after every attempt: [`ClientError::Transport`]; the user may then hold
    /// a pass nobody saw, which [`GraphClient::list_taps`] shows.
    pub async fn issue_tap(
        &self,
        user: &str,
        lifetime_minutes: u32,
        usable_once: bool,
    ) -> Result<IssuedTap, ClientError> {
        let mut issued = self.issue_taps(&[user], lifetime_minutes, usable_once).await;
        issued.pop().unwrap_or_else(|| Err(ClientError::Other("no answer for the pass".to_string())))
    }

    /// [`GraphClient::issue_tap`] for many users, 20 creates per `$batch` (batches in
    /// flight concurrently, within the write budget); results in the order of `users`. A user
    /// named twice gets one pass: the repeats are refused without being sent (a second create
    /// would replace the first pass).
    pub async fn issue_taps(
        &self,
        users: &[&str],
        lifetime_minutes: u32,
        usable_once: bool,
    ) -> Vec<Result<IssuedTap, ClientError>> {
        let body = json!({"lifetimeInMinutes": lifetime_minutes, "isUsableOnce": usable_once});
        let mut seen = std::collections::HashSet::new();
        let (sending, repeats): (Vec<usize>, Vec<usize>) =
            (0..users.len()).partition(|&i| seen.insert(users[i].to_lowercase()));
        let urls: Vec<String> = sending.iter().map(|&i| tap_methods_path(users[i])).collect();
        let mut tasks = tokio::task::JoinSet::new();
        for (n, chunk) in urls.chunks(MAX_BATCH).enumerate() {
            let client = self.clone();
            let chunk = chunk.to_vec();
            let body = body.clone();
            tasks.spawn(async move {
                let ids: Vec<String> = (0..chunk.len()).map(|i| i.to_string()).collect();
                let items: Vec<Item<'_>> = chunk
                    .iter()
                    .zip(&ids)
                    .map(|(url, id)| Item {
                        id,
                        method: "POST",
                        url,
                        body: Some(&body),
                        depends_on: Vec::new(),
                        prefer: None,
                    })
                    .collect();
                let outcomes = client.run(&items).await;
                let issued: Vec<Result<IssuedTap, ClientError>> = chunk
                    .iter()
                    .zip(outcomes)
                    .map(|(url, o)| {
                        client.final_answer(url, o).and_then(|o| read_issued_tap(o.body.unwrap_or(Value::Null)))
                    })
                    .collect();
                (n, issued)
            });
        }
        let mut out: Vec<Option<Result<IssuedTap, ClientError>>> = users.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            if let Ok((n, issued)) = joined {
                for (k, r) in issued.into_iter().enumerate() {
                    if let Some(slot) = sending.get(n * MAX_BATCH + k).and_then(|&i| out.get_mut(i)) {
                        *slot = Some(r);
                    }
                }
            }
        }
        for i in repeats {
            if let Some(slot) = out.get_mut(i) {
                let e = format!("{} is named more than once: one pass is issued", users[i]);
                *slot = Some(Err(ClientError::Other(e)));
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ClientError::Other("the creates were interrupted".to_string()))))
            .collect()
    }

    /// The user's pass methods (at most one), without the pass.
    pub async fn list_taps(&self, user: &str) -> Result<Vec<TapMethod>, ClientError> {
        self.get_all(&tap_methods_path(user)).await?.iter().map(read_tap_method).collect()
    }

    /// [`GraphClient::list_taps`] for many users, read 20 per `$batch`; in the order of
    /// `users`. (A user has one pass at most, so one page holds them all.)
    pub async fn list_taps_of(&self, users: &[&str]) -> Vec<Result<Vec<TapMethod>, ClientError>> {
        let paths: Vec<String> = users.iter().map(|u| tap_methods_path(u)).collect();
        self.get_many(&paths)
            .await
            .into_iter()
            .zip(&paths)
            .map(|(page, path)| {
                let (items, next) = read_page(path, page?)?;
                if next.is_some() {
                    return Err(ClientError::Other(format!("{path}: more than one page of passes")));
                }
                items.iter().map(read_tap_method).collect()
            })
            .collect()
    }

    /// Deletes one of the user's pass methods; a 404 (no such pass, or no such user any
    /// more) is [`TapRemoval::NotThere`], so a resumed rollback can repeat it.
    pub async fn delete_tap(&self, user: &str, method_id: &str) -> Result<TapRemoval, ClientError> {
        let url = format!("{}/{}", tap_methods_path(user), segment(method_id));
        match self.send_one("DELETE", &url, None).await {
            Ok(_) => Ok(TapRemoval::Deleted),
            Err(ClientError::Graph { status: 404, .. }) => Ok(TapRemoval::NotThere),
            Err(e) => Err(e),
        }
    }

    /// `PATCH url` with `body` (a cutover's `accountEnabled`), sent like [`GraphClient::delete_tap`].
    pub async fn patch(&self, url: &str, body: &Value) -> Result<(), ClientError> {
        self.send_one("PATCH", url, Some(body)).await.map(drop)
    }

    /// One request sent as a `$batch` of one, with its retries: the 2xx outcome, or the error.
    async fn send_one(&self, method: &str, url: &str, body: Option<&Value>) -> Result<Outcome, ClientError> {
        let item = Item { id: "1", method, url, body, depends_on: Vec::new(), prefer: None };
        let outcome = self.run(std::slice::from_ref(&item)).await.into_iter().next().unwrap_or(Outcome {
            status: NOT_ANSWERED,
            body: None,
            attempts: 0,
        });
        self.final_answer(url, outcome)
    }

    /// A request's final outcome as a result: 2xx, or the error (unanswered: transport).
    fn final_answer(&self, url: &str, outcome: Outcome) -> Result<Outcome, ClientError> {
        match outcome.status {
            s if (200..300).contains(&s) => Ok(outcome),
            NOT_ANSWERED => Err(ClientError::Transport {
                url: format!("{}{url}", self.inner.graph_url),
                reason: outcome.error_message().unwrap_or("no answer").to_string(),
            }),
            s => Err(graph_error(s, outcome.body.as_ref())),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The wire.

/// One request of a `$batch`, borrowed from the caller.
struct Item<'a> {
    id: &'a str,
    method: &'a str,
    url: &'a str,
    body: Option<&'a Value>,
    /// The `Prefer` header (group upserts).
    prefer: Option<&'static str>,
    depends_on: Vec<&'a str>,
}

impl<'a> Item<'a> {
    fn of(r: &'a crate::render::graph::GraphRequest) -> Item<'a> {
        Item {
            id: &r.id,
            method: &r.method,
            url: &r.url,
            body: r.body.as_ref(),
            prefer: r.prefer(),
            depends_on: r.depends_on.iter().map(String::as_str).collect(),
        }
    }
}

/// One request's answer inside a `$batch` response.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: Option<Value>,
}

/// What came of posting one envelope.
enum Posted<'a> {
    /// Nothing was sent: no token could be had (or the body could not be made).
    NotSent(ClientError),
    /// No usable answer: the connection dropped, timed out, or the body was not a batch answer.
    Failed { reason: String },
    /// The envelope itself was refused (401, 429, 5xx, 400 ...).
    Envelope { status: u16, retry_after: Option<Duration>, body: Option<Value>, generation: u64 },
    /// Each request's answer, by id.
    Answers(HashMap<&'a str, Answer>),
}

/// What becomes of a request after one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Final,
    Retry,
    /// Answered 424: decided by what became of its dependency.
    Dependent,
}

// ---------------------------------------------------------------------------------------------
// Pacing.

/// The client's ledger of the write budget: at most `limit` writes in any `hold`, where a
/// write counts from its sending until `hold` after its answer (see the module documentation).
struct Budget {
    limit: u64,
    hold: Duration,
    ledger: Mutex<Ledger>,
    /// Batches waiting for room queue here, first come first served.
    turn: tokio::sync::Mutex<()>,
    /// Rung when a batch in flight is answered.
    answered: tokio::sync::Notify,
}

#[derive(Default)]
struct Ledger {
    in_flight: u64,
    /// (when answered, writes), oldest first.
    answered: VecDeque<(Instant, u64)>,
    answered_total: u64,
}

impl Ledger {
    /// `Ok` if `w` more writes fit now; else when they will (`None`: only when a batch in
    /// flight is answered).
    fn room(&mut self, now: Instant, hold: Duration, w: u64, limit: u64) -> Result<(), Option<Instant>> {
        while let Some(&(t, c)) = self.answered.front() {
            if t.checked_add(hold).is_none_or(|end| end > now) {
                break;
            }
            self.answered.pop_front();
            self.answered_total -= c;
        }
        let mut used = self.in_flight + self.answered_total;
        if used + w <= limit {
            return Ok(());
        }
        for &(t, c) in &self.answered {
            used -= c;
            if used + w <= limit {
                return Err(t.checked_add(hold));
            }
        }
        Err(None)
    }
}

/// Writes in flight; dropping it records their answer (or loss) now.
struct Reservation<'a> {
    budget: &'a Budget,
    writes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.writes == 0 {
            return;
        }
        let mut ledger = lock(&self.budget.ledger);
        ledger.in_flight -= self.writes;
        ledger.answered.push_back((Instant::now(), self.writes));
        ledger.answered_total += self.writes;
        drop(ledger);
        self.budget.answered.notify_one();
    }
}

impl Budget {
    fn new(limit: u64, hold: Duration) -> Budget {
        Budget {
            limit,
            hold,
            ledger: Mutex::new(Ledger::default()),
            turn: tokio::sync::Mutex::new(()),
            answered: tokio::sync::Notify::new(),
        }
    }

    /// Waits until `writes` more fit in the window, and records them as in flight.
    async fn reserve(&self, writes: u64) -> Reservation<'_> {
        if writes == 0 {
            return Reservation { budget: self, writes: 0 };
        }
        // A batch larger than the whole budget goes once the window is empty.
        let writes = writes.min(self.limit);
        let _turn = self.turn.lock().await;
        loop {
            let next = {
                let mut ledger = lock(&self.ledger);
                match ledger.room(Instant::now(), self.hold, writes, self.limit) {
                    Ok(()) => {
                        ledger.in_flight += writes;
                        return Reservation { budget: self, writes };
                    }
                    Err(next) => next,
                }
            };
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => self.answered.notified().await,
            }
        }
    }
}

/// Adaptive concurrency (AIMD): a semaphore whose size halves on a throttled answer and grows
/// by one after a run of clean batches. Shrinking takes free permits away at once and the rest
/// as batches finish (`debt`).
struct Gate {
    permits: tokio::sync::Semaphore,
    max: usize,
    state: Mutex<GateState>,
}

struct GateState {
    limit: usize,
    debt: usize,
    clean: usize,
    /// Bumped on each decrease: a batch sent before it cannot cause another.
    epoch: u64,
}

struct Pass<'a> {
    permit: Option<tokio::sync::SemaphorePermit<'a>>,
    epoch: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Throttled,
    Clean,
    Neutral,
}

impl Gate {
    fn new(initial: usize, max: usize) -> Gate {
        Gate {
            permits: tokio::sync::Semaphore::new(initial),
            max,
            state: Mutex::new(GateState { limit: initial, debt: 0, clean: 0, epoch: 0 }),
        }
    }

    async fn enter(&self) -> Pass<'_> {
        // The semaphore is never closed; without a permit the batch simply goes.
        let permit = self.permits.acquire().await.ok();
        let epoch = lock(&self.state).epoch;
        Pass { permit, epoch }
    }

    fn leave(&self, pass: Pass<'_>, signal: Signal) {
        let mut st = lock(&self.state);
        match signal {
            Signal::Throttled => {
                st.clean = 0;
                if pass.epoch == st.epoch && st.limit > 1 {
                    let limit = (st.limit / 2).max(1);
                    st.debt += st.limit - limit;
                    st.limit = limit;
                    st.epoch += 1;
                    let taken = self.permits.forget_permits(st.debt);
                    st.debt -= taken;
                }
            }
            Signal::Clean => {
                st.clean += 1;
                if st.clean >= st.limit && st.limit < self.max {
                    st.limit += 1;
                    st.clean = 0;
                    if st.debt > 0 {
                        st.debt -= 1;
                    } else {
                        self.permits.add_permits(1);
                    }
                }
            }
            Signal::Neutral => {}
        }
        if let Some(permit) = pass.permit
            && st.debt > 0
        {
            st.debt -= 1;
            permit.forget();
        }
    }

    fn limit(&self) -> usize {
        lock(&self.state).limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::graph::{Action, GraphRequest};

    fn request(id: &str, method: &str, url: &str, body: Option<Value>, depends_on: &[&str]) -> GraphRequest {
        GraphRequest {
            id: id.to_string(),
            method: method.to_string(),
            url: url.to_string(),
            body,
            depends_on: depends_on.iter().map(|s| s.to_string()).collect(),
            action: Action::CreateUser,
            municipality: "bjuv".into(),
            anchor: None,
            licence_class: None,
        }
    }

    #[test]
    fn the_wire_body_is_the_batch_body() {
        let mut upsert =
            request("d", "PATCH", "/groups(uniqueName='samla-x')", Some(json!({"displayName": "G"})), &["c"]);
        upsert.action = Action::CreateGroup;
        let batch = Batch {
            requests: vec![
                request("a", "POST", "/users", Some(json!({"displayName": "A"})), &[]),
                request("b", "PATCH", "/groups/x", Some(json!({"members@odata.bind": []})), &["a"]),
                request("c", "DELETE", "/groups/x/members/y/$ref", None, &["b"]),
                upsert,
            ],
        };
        let sent = serde_json::to_value(&batch).unwrap();
        assert_eq!(sent["requests"][3]["headers"]["Prefer"], "create-if-missing", "a group create is an upsert");
        assert_eq!(sent["requests"][1]["headers"].get("Prefer"), None);
        let items: Vec<Item<'_>> = batch.requests.iter().map(Item::of).collect();
        let wire: Vec<BatchItem<'_>> = items
            .iter()
            .map(|r| BatchItem::new(r.id, r.method, r.url, r.body, r.prefer, r.depends_on.clone()))
            .collect();
        assert_eq!(serde_json::to_value(BatchBody { requests: wire }).unwrap(), serde_json::to_value(&batch).unwrap());
    }

    #[test]
    fn the_ledger_holds_a_write_until_a_window_after_its_answer() {
        let hold = Duration::from_secs(10);
        let t0 = Instant::now();
        let mut l = Ledger::default();
        assert!(l.room(t0, hold, 20, 30).is_ok());
        l.in_flight = 20;
        // In flight: only an answer can make room.
        assert_eq!(l.room(t0, hold, 20, 30), Err(None));
        l.in_flight = 0;
        l.answered.push_back((t0 + Duration::from_secs(1), 20));
        l.answered_total = 20;
        assert_eq!(l.room(t0 + Duration::from_secs(2), hold, 20, 30), Err(Some(t0 + Duration::from_secs(11))));
        assert!(l.room(t0 + Duration::from_secs(2), hold, 10, 30).is_ok());
        assert!(l.room(t0 + Duration::from_secs(11), hold, 30, 30).is_ok());
        assert_eq!(l.answered_total, 0);
    }

    #[tokio::test]
    async fn the_gate_halves_once_per_round_and_grows_after_clean_runs() {
        let gate = Gate::new(4, 8);
        let passes = vec![gate.enter().await, gate.enter().await, gate.enter().await, gate.enter().await];
        assert_eq!(gate.permits.available_permits(), 0);
        let mut passes = passes.into_iter();
        for p in passes.by_ref().take(2) {
            gate.leave(p, Signal::Throttled);
        }
        assert_eq!(gate.limit(), 2, "two throttled answers of one round halve once");
        for p in passes {
            gate.leave(p, Signal::Neutral);
        }
        assert_eq!(gate.permits.available_permits(), 2);
        for _ in 0..2 {
            let p = gate.enter().await;
            gate.leave(p, Signal::Clean);
        }
        assert_eq!((gate.limit(), gate.permits.available_permits()), (3, 3));
        let p = gate.enter().await;
        gate.leave(p, Signal::Throttled);
        assert_eq!((gate.limit(), gate.permits.available_permits()), (1, 1));
        let p = gate.enter().await;
        gate.leave(p, Signal::Throttled);
        assert_eq!(gate.limit(), 1, "never below one");
    }

    /// One round of a chain a -> b -> c (or of three independent requests without `deps`):
    /// the statuses answered and the attempts so far; the requests that go again, the answers.
    fn round(statuses: [u16; 3], chained: bool, attempts: [u32; 3]) -> (Vec<usize>, Vec<u16>) {
        let deps: Vec<Vec<usize>> = if chained { vec![vec![], vec![0], vec![1]] } else { vec![vec![]; 3] };
        let mut last: Vec<(u16, Option<Value>)> = statuses.iter().map(|&s| (s, None)).collect();
        let mut class: HashMap<usize, Class> = statuses
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                (
                    i,
                    match s {
                        429 | 503 | NOT_ANSWERED => Class::Retry,
                        424 => Class::Dependent,
                        _ => Class::Final,
                    },
                )
            })
            .collect();
        let again = settle(&[0, 1, 2], &mut class, &deps, &attempts, 8, &mut last, &["a", "b", "c"]);
        (again, last.iter().map(|(s, _)| *s).collect())
    }

    #[test]
    fn a_424_goes_again_with_its_dependency_and_never_after_a_final_failure() {
        assert_eq!(round([429, 424, 424], true, [1; 3]), (vec![0, 1, 2], vec![429, 424, 424]));
        assert_eq!(round([204, 503, 424], true, [1; 3]), (vec![1, 2], vec![204, 503, 424]));
        assert_eq!(round([400, 424, 424], true, [1; 3]), (vec![], vec![400, 424, 424]), "a conflict is final");
        assert_eq!(round([429, 424, 424], true, [8, 8, 8]), (vec![], vec![429, 424, 424]), "out of attempts");
        // The envelope was lost: all go again, unless the first is out of attempts.
        let lost = [NOT_ANSWERED; 3];
        assert_eq!(round(lost, true, [1; 3]).0, vec![0, 1, 2]);
        assert_eq!(round(lost, true, [8, 1, 1]), (vec![], vec![NOT_ANSWERED, 424, 424]));
        // Independent requests: only the refused one goes again.
        assert_eq!(round([201, 429, 400], false, [1; 3]).0, vec![1]);
        // A 424 whose dependency succeeded after all goes again alone.
        assert_eq!(round([204, 204, 424], true, [1; 3]).0, vec![2]);
    }

    #[test]
    fn login_errors_name_entras_code_and_never_the_secret() {
        let body = json!({
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided: hunter2. Trace ID: x",
            "error_codes": [7000215],
        });
        let e = login_error("http://login/t/oauth2/v2.0/token", 401, Some(&body), Some(&Secret::new("hunter2")));
        let text = e.to_string();
        assert!(text.contains("AADSTS7000215 (invalid_client)"), "{text}");
        assert!(text.contains("Invalid client secret provided"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(matches!(login_error("u", 502, None, None), ClientError::Login { code, .. } if code == "HTTP 502"));
    }

    #[test]
    fn batch_answers_and_pages_are_read_from_their_json() {
        let body = json!({"responses": [
            {"id": "1", "status": 201, "body": {"id": "x"}},
            {"id": "2", "status": 429, "headers": {"retry-after": "7"}},
            {"status": 200},
            {"id": "3", "status": 70000, "headers": {"Retry-After": 3}},
        ]});
        let read = read_batch_answer(&serde_json::to_vec(&body).unwrap()).unwrap();
        let got: Vec<_> = read.iter().map(|r| (r.id.as_str(), r.status, r.retry_after.map(|d| d.as_secs()))).collect();
        assert_eq!(got, [("1", 201, None), ("2", 429, Some(7)), ("3", NOT_ANSWERED, Some(3))]);
        assert_eq!(read[0].body, Some(json!({"id": "x"})));
        for bad in [&b"<html>"[..], b"{}", b"{\"responses\": {}}"] {
            let e = read_batch_answer(bad).unwrap_err();
            assert_eq!(
                (e.clone(), e.to_string().as_str()),
                (BatchAnswerError::NoResponses, "the $batch answer holds no responses")
            );
        }
        let page = json!({"value": [1, 2], "@odata.nextLink": "https://g/v1.0/users?$skiptoken=a"});
        assert_eq!(
            read_page("u", page).unwrap(),
            (vec![json!(1), json!(2)], Some("https://g/v1.0/users?$skiptoken=a".into()))
        );
        assert!(read_page("u", json!({"value": [], "@odata.nextLink": "u"})).is_err());
        assert!(read_page("u", json!({"values": []})).is_err());
        assert_eq!(read_answer("u", 204, b"").unwrap(), Value::Null);
        let e = read_answer("u", 404, br#"{"error": {"code": "Request_ResourceNotFound"}}"#).unwrap_err();
        assert!(
            matches!(e, ClientError::Graph { status: 404, code, message } if code == "Request_ResourceNotFound" && message == "HTTP 404")
        );
    }

    /// Found by fuzzing (fuzz/corpus/graph_response/secret-in-error-code): only the description
    /// was scrubbed, so a secret echoed in the `error` field showed in the message.
    #[test]
    fn login_errors_never_show_the_secret_whichever_field_echoes_it() {
        let secret = Secret::new("Qx8~s3cr3t.Value_42");
        let body = json!({"error": "invalid Qx8~s3cr3t.Value_42", "error_description": "Given: Qx8~s3cr3t.Value_42"});
        let text = login_error("http://login/t", 401, Some(&body), Some(&secret)).to_string();
        assert!(!text.contains(secret.expose()), "{text}");
        assert!(text.contains("invalid [redacted]") && text.contains("Given: [redacted]"), "{text}");
        let bytes = serde_json::to_vec(&body).unwrap();
        let e = read_token("http://login/t", 400, &bytes, Some(&secret)).unwrap_err().to_string();
        assert!(!e.contains(secret.expose()), "{e}");
    }

    #[test]
    fn a_client_assertion_that_cannot_be_made_keeps_its_words_and_its_class() {
        let e = ClientError::from(AssertionError::KeyMismatch { certificate: "certs/app.crt".into() });
        assert_eq!(e.to_string(), "certificate login: the private key does not belong to certificate certs/app.crt");
        assert_eq!(e.exit_class(), ExitClass::Usage);
        assert_eq!(ClientError::from(AssertionError::Random).exit_class(), ExitClass::Work);
        assert_eq!(ClientError::Other("x".into()).exit_class(), ExitClass::Work);
    }

    #[test]
    fn outcomes_read_graphs_bodies() {
        let o = Outcome { status: 201, body: Some(json!({"id": "x"})), attempts: 1 };
        assert!(o.is_success());
        assert_eq!((o.id(), o.error_code()), (Some("x"), None));
        let e = Outcome { status: 400, body: Some(error_body("Request_BadRequest", "taken")), attempts: 2 };
        assert!(!e.is_success());
        assert_eq!((e.error_code(), e.error_message()), (Some("Request_BadRequest"), Some("taken")));
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert!((0.0..1.0).contains(&jitter()));
    }

    #[test]
    fn a_pass_is_read_out_of_its_answer_and_redacted_and_paths_are_encoded() {
        let answer = json!({
            "id": "6f1967b7-15e8-4935-ac26-d50770ed07a7",
            "temporaryAccessPass": "+drkzqAD",
            "createdDateTime": "2022-06-02T16:21:09.765173Z",
            "startDateTime": "2022-06-05T00:00:00Z",
            "lifetimeInMinutes": 60,
            "isUsableOnce": false,
            "isUsable": false,
            "methodUsabilityReason": "NotYetValid",
        });
        let tap = read_issued_tap(answer.clone()).unwrap();
        assert_eq!(tap.pass.expose(), "+drkzqAD");
        assert_eq!((tap.lifetime_minutes, tap.usable_once), (60, false));
        assert!(!format!("{tap:?} {}", tap.pass).contains("drkzqAD"));
        let listed = read_tap_method(&answer).unwrap();
        assert_eq!((listed.usable, listed.usability_reason.as_str()), (false, "NotYetValid"));
        let mut no_pass = answer;
        no_pass["temporaryAccessPass"] = Value::Null;
        let e = read_issued_tap(no_pass).unwrap_err().to_string();
        assert!(e.contains("no temporaryAccessPass"), "{e}");
        assert_eq!(
            tap_methods_path("a b/c#d@bjuv.se"),
            "/users/a%20b%2Fc%23d@bjuv.se/authentication/temporaryAccessPassMethods"
        );
        let policy = json!({"state": "disabled", "defaultLifetimeInMinutes": 60, "minimumLifetimeInMinutes": 60,
            "maximumLifetimeInMinutes": 480, "isUsableOnce": true, "defaultLength": 8});
        let p = read_tap_policy(&policy).unwrap();
        assert!(!p.enabled && p.usable_once);
        assert!(read_tap_policy(&json!({"state": "maybe"})).is_err());
    }
}
