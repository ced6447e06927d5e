//! Reading each municipality's directory into a snapshot: live over LDAP or from an LDIF
//! export, all municipalities at once.
//!
//! Readers only read: [`ldap`] and [`ldif`] produce raw entries, [`crate::model::convert`]
//! types them, and one writer thread puts them into the state. The writer is single because
//! SQLite has one writer at a time; the readers run concurrently (one task per municipality)
//! and hand over bounded batches, so memory stays flat however large the directory is.
//! Each municipality's snapshot succeeds or fails on its own: a failed read leaves no partial
//! snapshot, and the previous one stays the latest.
//!
//! What a reader hands on is checked here, the same for both: values with control characters
//! ([`crate::model::convert::refused_text`]) are listed, every one with its place, and fail the
//! snapshot at the end of the read; a second record of a DN or objectGUID already read fails
//! it at once, naming both places (an LDIF's `file:line`, or the search result's number).
//! Passwords are read before any source is ([`SourceError::SecretOf`], exit 2).

pub mod error;
pub mod ldap;
pub mod ldif;
pub mod range;

pub use error::SourceError;

use crate::config::{SourceConfig, SourceKind};
use crate::model::convert::{convert_counted, refused_text};
use crate::model::{DirectoryObject, Dn, ObjectGuid, ObjectKind, RawEntry};
use crate::state::snapshot::SnapshotRow;
use crate::state::{ShrinkGuard, SnapshotId, SnapshotSummary, State, StateError};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rustc_hash::FxHashMap;
use std::path::Path;
use tokio::sync::{mpsc, oneshot};

/// The outcome for one municipality.
#[derive(Debug)]
pub struct SourceOutcome {
    pub municipality: String,
    pub result: Result<SnapshotSummary, SourceError>,
}

impl SourceOutcome {
    /// Why this municipality has no new snapshot in use: its read failed, or what it read
    /// shrank beyond the source's limit and is held.
    pub fn failure(&self) -> Option<String> {
        match &self.result {
            Ok(summary) => summary.held().map(|held| held.to_string()),
            Err(e) => Some(e.to_string()),
        }
    }
}

/// What discover does with a snapshot that shrank beyond its source's `max_shrink`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnShrink {
    /// Store it held, for someone to check and accept (`samla snapshots accept`).
    Hold,
    /// Accept it at once (`--accept-shrink`), recording who did.
    AcceptBy(String),
}

/// Objects handed to the writer at a time: large enough to amortise a transaction,
/// small enough that five readers in flight stay well under a few MB.
const BATCH: usize = 2000;

/// Reads the given sources concurrently, each into a new snapshot. A source without users is
/// refused; a snapshot that shrank beyond its source's limit is held unless `on_shrink`
/// accepts it.
pub fn discover(
    mut state: State,
    sources: &[&SourceConfig],
    on_shrink: &OnShrink,
    progress: bool,
) -> Result<Vec<SourceOutcome>, SourceError> {
    check_secrets(sources)?;
    state.discard_unfinished()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| SourceError::Internal(format!("cannot start the async runtime: {e}")))?;
    let (tx, rx) = mpsc::channel::<WriterMsg>(8);
    let writer = std::thread::spawn(move || run_writer(state, rx));
    let bars = MultiProgress::new();
    if !progress {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let outcomes = runtime.block_on(async {
        let tasks: Vec<_> = sources
            .iter()
            .map(|src| {
                let bar = bars.add(ProgressBar::no_length());
                bar.set_style(progress_style());
                bar.set_prefix(src.name.clone());
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                let src = (*src).clone();
                let tx = tx.clone();
                let guard = ShrinkGuard {
                    limit: src.max_shrink,
                    accept_by: match on_shrink {
                        OnShrink::Hold => None,
                        OnShrink::AcceptBy(who) => Some(who.clone()),
                    },
                };
                tokio::spawn(async move {
                    let result = read_source(&src, guard, &tx, &bar).await;
                    match &result {
                        Ok(s) if s.acceptance.is_held() => {
                            bar.abandon_with_message(format!("held: {} users, {} groups", s.users, s.groups))
                        }
                        Ok(s) => bar.finish_with_message(format!("done: {} users, {} groups", s.users, s.groups)),
                        Err(_) => bar.abandon_with_message("failed"),
                    }
                    SourceOutcome { municipality: src.name, result }
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.map_err(|e| SourceError::Internal(e.to_string()))?);
        }
        Ok::<_, SourceError>(outcomes)
    });
    drop(tx);
    writer.join().map_err(|_| SourceError::Internal("the state writer stopped".into()))?;
    outcomes
}

/// One line per municipality: name, spinner, entries read, entries per second, elapsed time.
fn progress_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>12} {spinner} {human_pos:>9} entries {rate:>9} {elapsed:>4} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .with_key("rate", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0}/s", state.per_sec());
        })
}

/// Reads every selected LDAP source's password before any source is read, so that a missing
/// variable or file is a configuration error said first, not one municipality's failure
/// among the others' results.
fn check_secrets(sources: &[&SourceConfig]) -> Result<(), SourceError> {
    for src in sources {
        if let SourceKind::Ldap(ldap) = &src.kind {
            ldap.password.read().map_err(|error| SourceError::SecretOf { municipality: src.name.clone(), error })?;
        }
    }
    Ok(())
}

/// A text that says where a snapshot came from.
pub fn describe(src: &SourceConfig) -> String {
    match &src.kind {
        SourceKind::Ldap(l) => format!("{} base={}", l.url, l.base_dn),
        SourceKind::Ldif(p) => format!("ldif:{}", p.display()),
    }
}

async fn read_source(
    src: &SourceConfig,
    guard: ShrinkGuard,
    tx: &mpsc::Sender<WriterMsg>,
    bar: &ProgressBar,
) -> Result<SnapshotSummary, SourceError> {
    let id = ask(tx, |reply| WriterMsg::Begin { municipality: src.name.clone(), source: describe(src), reply }).await?;
    let read = async {
        let mut entries = EntrySource::open(&src.kind).await?;
        let mut batch = Vec::with_capacity(BATCH);
        let mut skipped = 0u64;
        let mut nfc_normalised = 0u64;
        let mut users = 0u64;
        let mut checks = Checks::default();
        let mut refused = Refused::default();
        while let Some((raw, line)) = entries.next_entry().await? {
            bar.inc(1);
            let here = line.map_or(entries.read, |l| l as u64);
            let converted = match convert_counted(&raw) {
                Ok(converted) => converted,
                Err(error) => {
                    // Values with control characters are listed, all of them, before failing.
                    let bad = refused_text(&raw);
                    if bad.is_empty() {
                        return Err(SourceError::Convert { origin: place(&src.kind, here), error });
                    }
                    refused.add(&src.kind, here, bad);
                    continue;
                }
            };
            match converted {
                Some((obj, normalised)) => {
                    nfc_normalised += u64::from(normalised);
                    checks.once(&src.kind, &obj, here)?;
                    users += u64::from(obj.kind == ObjectKind::User);
                    batch.push(SnapshotRow::of(&obj).map_err(|e| SourceError::Internal(e.to_string()))?)
                }
                None => skipped += 1,
            }
            if batch.len() == BATCH {
                send(tx, WriterMsg::Rows { id, rows: std::mem::replace(&mut batch, Vec::with_capacity(BATCH)) })
                    .await?;
            }
        }
        refused.check(src)?;
        // An empty export (a failed ldifde, a base DN without people) is never a directory.
        if users == 0 {
            return Err(SourceError::Empty { origin: describe(src) });
        }
        send(tx, WriterMsg::Rows { id, rows: batch }).await?;
        ask(tx, |reply| WriterMsg::Finish { id, skipped, nfc_normalised, guard, reply }).await
    };
    let result = read.await;
    if result.is_err() {
        send(tx, WriterMsg::Abort { id }).await?;
    }
    result
}

/// An entry as read, with the line of the LDIF where its record starts (none over LDAP).
type Read = (RawEntry, Option<usize>);

/// Where raw entries come from: an LDAP stream, or an LDIF file parsed on a blocking thread.
struct EntrySource {
    from: Stream,
    /// Entries handed out so far.
    read: u64,
}

enum Stream {
    Ldap(Box<ldap::LdapReader>),
    Ldif(mpsc::Receiver<Result<Read, SourceError>>),
}

impl EntrySource {
    async fn open(kind: &SourceKind) -> Result<EntrySource, SourceError> {
        let from = match kind {
            SourceKind::Ldap(cfg) => Stream::Ldap(Box::new(ldap::LdapReader::open(cfg).await?)),
            SourceKind::Ldif(path) => {
                let file =
                    std::fs::File::open(path).map_err(|source| SourceError::Io { path: path.clone(), source })?;
                let (tx, rx) = mpsc::channel(BATCH);
                let path = path.clone();
                tokio::task::spawn_blocking(move || read_ldif(&path, file, &tx));
                Stream::Ldif(rx)
            }
        };
        Ok(EntrySource { from, read: 0 })
    }

    async fn next_entry(&mut self) -> Result<Option<Read>, SourceError> {
        let next = match &mut self.from {
            Stream::Ldap(reader) => reader.next_entry().await?.map(|raw| (raw, None)),
            Stream::Ldif(rx) => rx.recv().await.transpose()?,
        };
        self.read += u64::from(next.is_some());
        Ok(next)
    }
}

fn read_ldif(path: &Path, file: std::fs::File, tx: &mpsc::Sender<Result<Read, SourceError>>) {
    let mut reader = ldif::LdifReader::new(std::io::BufReader::with_capacity(1 << 16, file));
    while let Some(item) = reader.next() {
        let item = item.map(|raw| (raw, Some(reader.record_line()))).map_err(|e| SourceError::Ldif {
            path: path.to_path_buf(),
            line: e.line,
            reason: e.reason,
        });
        let stop = item.is_err();
        if tx.blocking_send(item).is_err() || stop {
            return;
        }
    }
}

/// Where the `n`th entry was read, for a message: `file:line` of its LDIF record (`n` is the
/// line), or its place among the search's results.
fn place(kind: &SourceKind, n: u64) -> String {
    match kind {
        SourceKind::Ldif(path) => format!("{}:{n}", path.display()),
        SourceKind::Ldap(l) => format!("{} (search result {n})", l.url),
    }
}

/// Every object once: a second record with a DN or an objectGUID already read is refused
/// with the places of both. Keeps 16 bytes of hash per DN and the GUID per object, each with
/// its place (by its layout some 50 MB per million objects; estimated, not measured).
#[derive(Default)]
struct Checks {
    dns: FxHashMap<[u64; 2], u64>,
    guids: FxHashMap<ObjectGuid, u64>,
}

impl Checks {
    fn once(&mut self, kind: &SourceKind, obj: &DirectoryObject, here: u64) -> Result<(), SourceError> {
        let what = match self.dns.insert(dn_hash(&obj.dn), here) {
            Some(first) => Some(("DN", first)),
            None => self.guids.insert(obj.guid, here).map(|first| ("objectGUID", first)),
        };
        match what {
            None => Ok(()),
            Some((what, first)) => Err(SourceError::Duplicate {
                what,
                dn: obj.dn.to_string(),
                first: place(kind, first),
                second: place(kind, here),
            }),
        }
    }
}

/// 128 bits of hash of a DN's comparison key ([`Dn::key`]): two differently seeded SipHashes,
/// so that two DNs of one directory never meet by chance.
fn dn_hash(dn: &Dn) -> [u64; 2] {
    use std::hash::{Hash, Hasher};
    let key = dn.key();
    let half = |seed: u64| {
        let mut h = std::hash::DefaultHasher::new();
        seed.hash(&mut h);
        key.hash(&mut h);
        h.finish()
    };
    [half(1), half(2)]
}

/// The values [`refused_text`] refused so far: how many, and the first [`error::LISTED`].
#[derive(Default)]
struct Refused {
    total: usize,
    listed: Vec<String>,
}

impl Refused {
    fn add(&mut self, kind: &SourceKind, here: u64, bad: Vec<crate::model::convert::ConvertError>) {
        for e in bad {
            self.total += 1;
            if self.listed.len() < error::LISTED {
                self.listed.push(format!("{}: {e}", place(kind, here)));
            }
        }
    }

    fn check(&mut self, src: &SourceConfig) -> Result<(), SourceError> {
        match self.total {
            0 => Ok(()),
            total => Err(SourceError::ControlCharacters {
                origin: describe(src),
                total,
                listed: std::mem::take(&mut self.listed),
            }),
        }
    }
}

enum WriterMsg {
    Begin {
        municipality: String,
        source: String,
        reply: oneshot::Sender<Result<SnapshotId, StateError>>,
    },
    Rows {
        id: SnapshotId,
        rows: Vec<SnapshotRow>,
    },
    Finish {
        id: SnapshotId,
        skipped: u64,
        /// Text values normalised to NFC on read.
        nfc_normalised: u64,
        guard: ShrinkGuard,
        reply: oneshot::Sender<Result<SnapshotSummary, StateError>>,
    },
    Abort {
        id: SnapshotId,
    },
}

async fn send(tx: &mpsc::Sender<WriterMsg>, msg: WriterMsg) -> Result<(), SourceError> {
    tx.send(msg).await.map_err(|_| SourceError::Internal("the state writer stopped".into()))
}

async fn ask<T>(
    tx: &mpsc::Sender<WriterMsg>,
    msg: impl FnOnce(oneshot::Sender<Result<T, StateError>>) -> WriterMsg,
) -> Result<T, SourceError> {
    let (reply, answer) = oneshot::channel();
    send(tx, msg(reply)).await?;
    Ok(answer.await.map_err(|_| SourceError::Internal("the state writer stopped".into()))??)
}

/// The one thread that writes to SQLite. A failed batch poisons its snapshot: later batches
/// are dropped and `Finish` answers with the first error.
fn run_writer(mut state: State, mut rx: mpsc::Receiver<WriterMsg>) {
    let mut failed: Vec<(SnapshotId, StateError)> = Vec::new();
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            WriterMsg::Begin { municipality, source, reply } => {
                let _ = reply.send(state.begin_snapshot(&municipality, &source));
            }
            WriterMsg::Rows { id, rows } => {
                if failed.iter().all(|(f, _)| *f != id)
                    && let Err(e) = state.add_rows(id, &rows)
                {
                    failed.push((id, e));
                }
            }
            WriterMsg::Finish { id, skipped, nfc_normalised, guard, reply } => {
                let result = match failed.iter().position(|(f, _)| *f == id) {
                    Some(i) => {
                        let (_, e) = failed.swap_remove(i);
                        state.abort_snapshot(id).and(Err(e))
                    }
                    None => state.finish_snapshot(id, skipped, nfc_normalised, &guard),
                };
                let _ = reply.send(result);
            }
            WriterMsg::Abort { id } => {
                failed.retain(|(f, _)| *f != id);
                if let Err(e) = state.abort_snapshot(id) {
                    tracing::error!("{e}");
                }
            }
        }
    }
}
