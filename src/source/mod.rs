//! Reading each municipality's directory into a snapshot: live over LDAP or from an LDIF
//! export, all municipalities at once.
//!
//! Readers only read: [`ldap`] and [`ldif`] produce raw entries, [`crate::model::convert`]
//! types them, and one writer thread puts them into the state. The writer is single because
//! SQLite has one writer at a time; the readers run concurrently (one task per municipality)
//! and hand over bounded batches, so memory stays flat however large the directory is.
//! Each municipality's snapshot succeeds or fails on its own: a failed read leaves no partial
//! snapshot, and the previous one stays the latest.

pub mod error;
pub mod ldap;
pub mod ldif;
pub mod range;

pub use error::SourceError;

use crate::config::{SourceConfig, SourceKind};
use crate::model::convert::convert;
use crate::model::{ObjectKind, RawEntry};
use crate::state::snapshot::SnapshotRow;
use crate::state::{ShrinkGuard, SnapshotId, SnapshotSummary, State, StateError};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
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
        let mut users = 0u64;
        while let Some(raw) = entries.next_entry().await? {
            bar.inc(1);
            match convert(&raw).map_err(|error| SourceError::Convert { origin: describe(src), error })? {
                Some(obj) => {
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
        // An empty export (a failed ldifde, a base DN without people) is never a directory.
        if users == 0 {
            return Err(SourceError::Empty { origin: describe(src) });
        }
        send(tx, WriterMsg::Rows { id, rows: batch }).await?;
        ask(tx, |reply| WriterMsg::Finish { id, skipped, guard, reply }).await
    };
    let result = read.await;
    if result.is_err() {
        send(tx, WriterMsg::Abort { id }).await?;
    }
    result
}

/// Where raw entries come from: an LDAP stream, or an LDIF file parsed on a blocking thread.
enum EntrySource {
    Ldap(Box<ldap::LdapReader>),
    Ldif(mpsc::Receiver<Result<RawEntry, SourceError>>),
}

impl EntrySource {
    async fn open(kind: &SourceKind) -> Result<EntrySource, SourceError> {
        match kind {
            SourceKind::Ldap(cfg) => Ok(EntrySource::Ldap(Box::new(ldap::LdapReader::open(cfg).await?))),
            SourceKind::Ldif(path) => {
                let file =
                    std::fs::File::open(path).map_err(|source| SourceError::Io { path: path.clone(), source })?;
                let (tx, rx) = mpsc::channel(BATCH);
                let path = path.clone();
                tokio::task::spawn_blocking(move || read_ldif(&path, file, &tx));
                Ok(EntrySource::Ldif(rx))
            }
        }
    }

    async fn next_entry(&mut self) -> Result<Option<RawEntry>, SourceError> {
        match self {
            EntrySource::Ldap(reader) => reader.next_entry().await,
            EntrySource::Ldif(rx) => rx.recv().await.transpose(),
        }
    }
}

fn read_ldif(path: &Path, file: std::fs::File, tx: &mpsc::Sender<Result<RawEntry, SourceError>>) {
    let reader = ldif::LdifReader::new(std::io::BufReader::with_capacity(1 << 16, file));
    for item in reader {
        let item = item.map_err(|e| SourceError::Ldif { path: path.to_path_buf(), line: e.line, reason: e.reason });
        let stop = item.is_err();
        if tx.blocking_send(item).is_err() || stop {
            return;
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
            WriterMsg::Finish { id, skipped, guard, reply } => {
                let result = match failed.iter().position(|(f, _)| *f == id) {
                    Some(i) => {
                        let (_, e) = failed.swap_remove(i);
                        state.abort_snapshot(id).and(Err(e))
                    }
                    None => state.finish_snapshot(id, skipped, &guard),
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
