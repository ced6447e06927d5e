//! The mapping stage's state: the name book (names given out, never reshuffled) and each
//! unified directory with the inputs it came from.

use super::{SnapshotId, State, StateError, WAL_AUTOCHECKPOINT_PAGES};
use crate::error::{Classified, ExitClass};
use crate::model::ObjectGuid;
use crate::model::ids::IdError;
use crate::model::unified::{Anchor, ContentHash, NameBook, Namespace, UnifiedDirectory};
use rayon::prelude::*;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

// Belongs in state/mod.rs next to StateError; here while that file is being reworked.
impl Classified for StateError {
    /// The state file could not be opened, read or written, or holds something damaged.
    fn exit_class(&self) -> ExitClass {
        ExitClass::Work
    }
}

/// Why one stored line or row could not be used; the [`StateError`] around it names the
/// state file and the chunk.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("a line without its three fields: {0:?}")]
    Fields(String),
    #[error("unknown name namespace {0:?}")]
    Namespace(String),
    #[error(transparent)]
    Anchor(#[from] IdError),
    #[error("an unknown escape \\{escape} in {line:?}")]
    Escape { escape: char, line: String },
    #[error("a row without its key")]
    NoKey,
    /// A row whose JSON the reader could not parse.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A stored person, group or finding that does not decode as one.
    #[error("stored {what} {key}: {source}")]
    Decode { what: &'static str, key: String, source: serde_json::Error },
}

impl RowError {
    /// For `map_err` where a row of `what` with `key` is decoded.
    pub fn decode<'k>(what: &'static str, key: &'k str) -> impl FnOnce(serde_json::Error) -> RowError + 'k {
        move |source| RowError::Decode { what, key: key.to_string(), source }
    }
}

/// A stored `samla map` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnifiedRun {
    pub id: i64,
    pub created_at: String,
    pub snapshots: Vec<SnapshotId>,
    pub mappings_hash: String,
    pub content_hash: String,
    pub blocking: u64,
}

/// One compressed chunk of consecutive rows of one kind, with its text for the content hash.
struct Packed {
    kind: &'static str,
    rows: u64,
    text: Vec<u8>,
    data: Vec<u8>,
}

/// zstd's fastest regular level: on 40 MB of rows of the million-user estate (`zstd -b1` and
/// `zstd -b3 -B1M`) it compresses 1.5 times as fast as the default (3) for 4% more bytes, and
/// compressing was a fifth of storing.
const LEVEL: i32 = 1;
/// Names per chunk: about a megabyte of text (a line is about 60 bytes), large enough for
/// zstd to find the repetition between lines, small enough to read in steps.
const NAME_CHUNK_ROWS: usize = 16_384;

/// Rows per chunk of each kind: about a megabyte of JSON (a person's row is about 1.3 KB, a
/// finding's 200 bytes; groups carry their members), large enough for zstd to find the
/// repetition between rows (field names, municipalities, OU paths), small enough to read in
/// steps.
fn rows_per_chunk(kind: &str) -> usize {
    match kind {
        "person" => 768,
        "finding" => 4096,
        _ => 8,
    }
}

/// Hands the canonical rows of `dir` to `store` as compressed chunks (kind, rows, zstd of
/// `key TAB json` lines), in canonical order, and returns the content hash. Serialising and
/// compressing a million people is most of storing, and each chunk is independent: worker
/// threads (one per core) make chunks in any order while this one hashes and stores them in
/// order, holding only the few that arrived early.
fn store_chunks(
    path: &std::path::Path,
    dir: &UnifiedDirectory,
    mut store: impl FnMut(&'static str, u64, &[u8]) -> Result<(), StateError>,
) -> Result<String, StateError> {
    let jobs: Vec<(&'static str, std::ops::Range<usize>)> = UnifiedDirectory::ROW_KINDS
        .into_iter()
        .flat_map(|kind| {
            let (n, per) = (dir.row_count(kind), rows_per_chunk(kind));
            (0..n).step_by(per).map(move |start| (kind, start..(start + per).min(n)))
        })
        .collect();
    let pack = |(kind, range): &(&'static str, std::ops::Range<usize>)| -> Result<Packed, StateError> {
        let mut text = Vec::new();
        for i in range.clone() {
            // See `warm_row`: the strings of a row a few ahead are fetched while this one is written.
            std::hint::black_box(dir.warm_row(kind, i + crate::model::unified::WARM_AHEAD));
            dir.write_row(kind, i, &mut text)?;
        }
        let data = compress(path, &text)?;
        Ok(Packed { kind, rows: range.len() as u64, text, data })
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 4);
    let (send, receive) = std::sync::mpsc::sync_channel::<(usize, Result<Packed, StateError>)>(2 * workers);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let send = send.clone();
            let (jobs, next, pack) = (&jobs, &next, &pack);
            scope.spawn(move || {
                loop {
                    let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // A closed channel: storing failed and stopped listening.
                    let Some(job) = jobs.get(j) else { break };
                    if send.send((j, pack(job))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(send);
        // Owned here, so that returning early closes the channel before the scope waits for
        // the workers, and a worker blocked on a full channel ends.
        let receive = receive;
        let mut hash = ContentHash::default();
        let mut early = std::collections::BTreeMap::new();
        let mut due = 0;
        for (j, packed) in receive.iter() {
            early.insert(j, packed);
            while let Some(packed) = early.remove(&due) {
                let packed = packed?;
                hash.add_lines(packed.kind, &packed.text);
                store(packed.kind, packed.rows, &packed.data)?;
                due += 1;
            }
        }
        if due != jobs.len() {
            return Err(StateError::Invalid {
                path: path.to_path_buf(),
                message: "a thread serialising the unified directory stopped".into(),
            });
        }
        Ok(hash.finish())
    })
}

fn compress(path: &std::path::Path, text: &[u8]) -> Result<Vec<u8>, StateError> {
    zstd::bulk::compress(text, LEVEL).map_err(|e| StateError::Invalid {
        path: path.to_path_buf(),
        message: format!("cannot compress for the state: {e}"),
    })
}

/// One line of a name chunk: `namespace TAB anchor TAB name`, the name's backslash, tab,
/// newline and carriage return escaped (a group's name is its source CN, which may hold them).
fn push_name_line(text: &mut Vec<u8>, ns: Namespace, anchor: Anchor, name: &str) {
    use std::io::Write as _;
    let _ = write!(text, "{}\t{}\t", ns.as_str(), anchor.0);
    for b in name.bytes() {
        match b {
            b'\\' => text.extend_from_slice(b"\\\\"),
            b'\t' => text.extend_from_slice(b"\\t"),
            b'\n' => text.extend_from_slice(b"\\n"),
            b'\r' => text.extend_from_slice(b"\\r"),
            _ => text.push(b),
        }
    }
    text.push(b'\n');
}

/// A chunk of the name book ready to store: its names, compressed, and their digest.
struct NameChunk {
    rows: usize,
    data: Vec<u8>,
    digest: String,
}

/// SHA-256 (hex) of a name chunk's lines before compression, stored beside it (states from
/// before it have none) and verified by `samla state check`.
pub(crate) fn name_chunk_digest(text: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text))
}

/// The parts of a line [`push_name_line`] wrote, or why it is not one.
fn parse_name_line(line: &str) -> Result<(Namespace, Anchor, std::borrow::Cow<'_, str>), RowError> {
    let mut parts = line.splitn(3, '\t');
    let (Some(ns), Some(anchor), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(RowError::Fields(line.to_string()));
    };
    let ns = namespace(ns)?;
    let anchor = Anchor(ObjectGuid::parse(anchor)?);
    if !name.contains('\\') {
        return Ok((ns, anchor, name.into()));
    }
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('\\') => '\\',
            Some('t') => '\t',
            Some('n') => '\n',
            Some('r') => '\r',
            other => return Err(RowError::Escape { escape: other.unwrap_or(' '), line: line.to_string() }),
        });
    }
    Ok((ns, anchor, out.into()))
}

fn namespace(name: &str) -> Result<Namespace, RowError> {
    Namespace::ALL.into_iter().find(|n| n.as_str() == name).ok_or_else(|| RowError::Namespace(name.to_string()))
}

impl State {
    /// Every name given out so far: those of earlier samla versions, one row each, then the
    /// chunks in the order they were written.
    pub fn name_book(&self) -> Result<NameBook, StateError> {
        let invalid = |message: String| StateError::Invalid { path: self.path.clone(), message };
        let mut book = NameBook::default();
        let mut stmt =
            self.conn.prepare("SELECT namespace, name, anchor FROM assigned_names").map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (ns, name, anchor) = row.map_err(|e| self.err(e))?;
            let guid = ObjectGuid::parse(&anchor).map_err(|e| invalid(e.to_string()))?;
            book.insert_existing(namespace(&ns).map_err(|e| invalid(e.to_string()))?, &name, Anchor(guid));
        }
        let names: usize = self
            .conn
            .query_row("SELECT coalesce(sum(rows), 0) FROM name_chunks", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        // Most names are people's, one in each of three namespaces.
        book.reserve(names / 3);
        self.read_chunks("SELECT seq, rows, data FROM name_chunks ORDER BY seq", [], "name chunk", |line| {
            let (ns, anchor, name) = parse_name_line(line)?;
            book.insert_existing(ns, &name, anchor);
            Ok(())
        })?;
        Ok(book)
    }

    /// Stores a unified directory and the names it assigned, in one transaction. The commit
    /// leaves the log for [`State::checkpoint`] to copy into the database file, so the caller
    /// can overlap that copy (seconds of disk writes at a million people) with other work; the
    /// connection's automatic checkpoints resume afterwards.
    pub fn save_unified(
        &mut self,
        dir: &UnifiedDirectory,
        book: &NameBook,
        snapshots: &[SnapshotId],
        mappings_hash: &str,
    ) -> Result<UnifiedRun, StateError> {
        self.conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(|e| self.err(e))?;
        let saved = self.save_unified_in_log(dir, book, snapshots, mappings_hash);
        // Resumed whether or not the store succeeded; a failed store's error comes first.
        let resumed = self.conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES);
        let run = saved?;
        resumed.map_err(|e| self.err(e))?;
        Ok(run)
    }

    fn save_unified_in_log(
        &mut self,
        dir: &UnifiedDirectory,
        book: &NameBook,
        snapshots: &[SnapshotId],
        mappings_hash: &str,
    ) -> Result<UnifiedRun, StateError> {
        let path = self.path.clone();
        let sq = |source| StateError::Sqlite { path: path.clone(), source };
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let ids: Vec<i64> = snapshots.iter().map(|s| s.0).collect();
        let ids_json = serde_json::to_string(&ids).unwrap_or_default();
        let blocking =
            dir.findings.iter().filter(|f| f.severity == crate::model::unified::Severity::Blocking).count() as u64;
        let phase = crate::model::stopwatch::Stopwatch::start("save_unified");
        let tx = self.conn.transaction().map_err(sq)?;
        {
            let mut insert = tx
                .prepare("INSERT INTO name_chunks (assigned_at, rows, data, digest) VALUES (?1, ?2, ?3, ?4)")
                .map_err(sq)?;
            // Made and compressed in parallel (a million people are three million names),
            // stored in order.
            let chunks: Vec<Result<NameChunk, StateError>> = book
                .added_batches(NAME_CHUNK_ROWS)
                .into_par_iter()
                .map(|(ns, anchors)| {
                    let mut text = Vec::with_capacity(anchors.len() * 64);
                    for &anchor in anchors {
                        push_name_line(&mut text, ns, anchor, book.name_of(ns, anchor).unwrap_or(""));
                    }
                    Ok(NameChunk {
                        rows: anchors.len(),
                        data: compress(&path, &text)?,
                        digest: name_chunk_digest(&text),
                    })
                })
                .collect();
            for chunk in chunks {
                let NameChunk { rows, data, digest } = chunk?;
                insert.execute(params![now, rows, data, digest]).map_err(sq)?;
            }
        }
        phase.lap("names stored");
        tx.execute(
            "INSERT INTO unified_runs (created_at, snapshots, mappings_hash, content_hash, blocking) VALUES (?1, ?2, ?3, '', ?4)",
            params![now, ids_json, mappings_hash, blocking],
        )
        .map_err(sq)?;
        let id = tx.last_insert_rowid();
        let content_hash = {
            let mut insert = tx
                .prepare("INSERT INTO unified_chunks (run_id, kind, seq, rows, data) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(sq)?;
            let mut seq = 0u64;
            store_chunks(&path, dir, |kind, rows, data| {
                seq += 1;
                insert.execute(params![id, kind, seq, rows, data]).map(drop).map_err(sq)
            })?
        };
        tx.execute("UPDATE unified_runs SET content_hash = ?2 WHERE id = ?1", params![id, content_hash]).map_err(sq)?;
        phase.lap("rows stored");
        tx.commit().map_err(sq)?;
        phase.lap("committed");
        Ok(UnifiedRun {
            id,
            created_at: now,
            snapshots: snapshots.to_vec(),
            mappings_hash: mappings_hash.to_string(),
            content_hash,
            blocking,
        })
    }

    /// The stored rows of one kind (`person`, `group`, `finding`, `summaries`, `outbound`) of a
    /// map run, in their canonical order.
    pub fn unified_rows(&self, run_id: i64, kind: &str) -> Result<Vec<String>, StateError> {
        let mut out = Vec::new();
        self.for_each_unified_row(run_id, kind, |_, json| {
            out.push(json.to_string());
            Ok(())
        })?;
        Ok(out)
    }

    /// Hands each stored row (key, JSON) of one kind of a map run to `f`, in canonical order, without
    /// holding them all (a million people are most of a gigabyte of JSON): one chunk at a time.
    /// A row `f` refuses ends the reading with a [`StateError::Invalid`] naming the chunk.
    pub fn for_each_unified_row(
        &self,
        run_id: i64,
        kind: &str,
        mut f: impl FnMut(&str, &str) -> Result<(), RowError>,
    ) -> Result<(), StateError> {
        let chunked: bool = self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM unified_chunks WHERE run_id = ?1)", params![run_id], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if !chunked {
            return self.for_each_unchunked_row(run_id, kind, f);
        }
        self.read_chunks(
            "SELECT seq, rows, data FROM unified_chunks WHERE run_id = ?1 AND kind = ?2 ORDER BY seq",
            params![run_id, kind],
            &format!("map run {run_id}, {kind} chunk"),
            |line| {
                let (key, json) = line.split_once('\t').ok_or(RowError::NoKey)?;
                f(key, json)
            },
        )
    }

    /// Hands each line of the zstd chunks (seq, rows, data) that `sql` selects to `line`, in
    /// order, one chunk in memory at a time. A chunk that does not decompress, is not UTF-8 or
    /// holds another number of lines than it says is an error naming `what` and its seq.
    fn read_chunks(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
        what: &str,
        mut line: impl FnMut(&str) -> Result<(), RowError>,
    ) -> Result<(), StateError> {
        let invalid = |message: String| StateError::Invalid { path: self.path.clone(), message };
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let mut chunks = stmt.query(args).map_err(|e| self.err(e))?;
        while let Some(chunk) = chunks.next().map_err(|e| self.err(e))? {
            let seq: i64 = chunk.get(0).map_err(|e| self.err(e))?;
            let rows: u64 = chunk.get(1).map_err(|e| self.err(e))?;
            let packed = chunk.get_ref(2).and_then(|v| v.as_blob().map_err(Into::into)).map_err(|e| self.err(e))?;
            let damaged = |problem: &str| invalid(format!("{what} {seq}: {problem}"));
            let text = zstd::stream::decode_all(packed).map_err(|e| damaged(&e.to_string()))?;
            let text = std::str::from_utf8(&text).map_err(|e| damaged(&e.to_string()))?;
            let mut seen = 0u64;
            for l in text.lines() {
                line(l).map_err(|e| damaged(&e.to_string()))?;
                seen += 1;
            }
            if seen != rows {
                return Err(damaged(&format!("{seen} rows where {rows} were stored")));
            }
        }
        Ok(())
    }

    /// The same for a run stored by an earlier samla, one row per object.
    fn for_each_unchunked_row(
        &self,
        run_id: i64,
        kind: &str,
        mut f: impl FnMut(&str, &str) -> Result<(), RowError>,
    ) -> Result<(), StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, data FROM unified_objects WHERE run_id = ?1 AND kind = ?2 ORDER BY key")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query(params![run_id, kind]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let text = |i: usize| row.get_ref(i).and_then(|v| v.as_str().map_err(Into::into)).map_err(|e| self.err(e));
            f(text(0)?, text(1)?)
                .map_err(|e| StateError::Invalid { path: self.path.clone(), message: e.to_string() })?;
        }
        Ok(())
    }

    /// The newest unified directory's record.
    pub fn latest_unified(&self) -> Result<Option<UnifiedRun>, StateError> {
        self.conn
            .query_row(
                "SELECT id, created_at, snapshots, mappings_hash, content_hash, blocking FROM unified_runs ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    let ids: String = r.get(2)?;
                    Ok(UnifiedRun {
                        id: r.get(0)?,
                        created_at: r.get(1)?,
                        snapshots: serde_json::from_str::<Vec<i64>>(&ids).unwrap_or_default().into_iter().map(SnapshotId).collect(),
                        mappings_hash: r.get(3)?,
                        content_hash: r.get(4)?,
                        blocking: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::unified::{Finding, Severity};

    fn directory(findings: usize) -> UnifiedDirectory {
        let finding = |i: usize| Finding {
            municipality: "bjuv".into(),
            severity: Severity::Review,
            category: "name collision",
            object: format!("CN=Åsa Öberg {i},OU=Skola,DC=bjuv,DC=test"),
            detail: format!("asa.oberg is taken; given asa.oberg{i} (UPN)\ttab and \"quote\" {}", "x".repeat(i % 300)),
            resolution: "suffix by policy; kept from now on",
        };
        UnifiedDirectory {
            people: Vec::new(),
            groups: Vec::new(),
            findings: (0..findings).map(finding).collect(),
            summaries: Default::default(),
            outbound: Default::default(),
        }
    }

    #[test]
    fn damaged_name_lines_say_what_is_wrong() {
        let guid = "00000000-0000-0000-0000-000000000001";
        let good = format!("group_name\t{guid}\ta\\tb");
        let (ns, _, name) = parse_name_line(&good).unwrap();
        assert_eq!((ns, name.as_ref()), (Namespace::GroupName, "a\tb"));
        let text = |line: &str| parse_name_line(line).unwrap_err().to_string();
        assert_eq!(text("group_name\tx"), "a line without its three fields: \"group_name\\tx\"");
        assert_eq!(text(&format!("nickname\t{guid}\ta")), "unknown name namespace \"nickname\"");
        assert!(text("group_name\tnot-a-guid\ta").contains("is not a GUID"));
        let line = format!("group_name\t{guid}\ta\\qb");
        assert_eq!(text(&line), format!("an unknown escape \\q in {line:?}"));
    }

    #[test]
    fn chunks_read_back_as_the_canonical_rows_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::open(&dir.path().join("samla.db")).unwrap();
        // Enough findings for several chunks of a megabyte.
        let unified = directory(9_000);
        let run = state.save_unified(&unified, &NameBook::default(), &[], "m").unwrap();
        let (rows, hash) = unified.canonical().unwrap();
        assert_eq!(run.content_hash, hash);
        let chunks: i64 = state.conn.query_row("SELECT count(*) FROM unified_chunks", [], |r| r.get(0)).unwrap();
        assert!(chunks >= 4, "{chunks} chunks");
        for kind in ["finding", "summaries", "outbound", "person"] {
            let mut read = Vec::new();
            state
                .for_each_unified_row(run.id, kind, |key, json| {
                    read.push((key.to_string(), json.to_string()));
                    Ok(())
                })
                .unwrap();
            let stored: Vec<_> =
                rows.iter().filter(|r| r.kind == kind).map(|r| (r.key.clone(), r.data.clone())).collect();
            assert_eq!(read, stored, "{kind}");
        }
    }

    #[test]
    fn a_stored_run_is_readable_before_its_log_is_copied_and_checkpoint_copies_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samla.db");
        let mut state = State::open(&path).unwrap();
        let file_size = || std::fs::metadata(&path).unwrap().len();
        let before = file_size();
        // Enough rows, and rows that compress badly, that SQLite's own checkpoint (at 1000
        // pages, of 16 KiB) would have run in the commit.
        let mut unified = directory(40_000);
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for f in &mut unified.findings {
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                f.detail.push_str(&format!("{x:016x}"));
            }
        }
        let run = state.save_unified(&unified, &NameBook::default(), &[], "m").unwrap();
        let pages: u64 = state.conn.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        assert!(pages > 1000, "{pages} pages");
        assert_eq!(file_size(), before, "the run is in the log only");
        let reader = State::open(&path).unwrap();
        assert_eq!(reader.latest_unified().unwrap().map(|r| r.content_hash), Some(run.content_hash));
        let resumed: i64 = state.conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0)).unwrap();
        assert_eq!(resumed, WAL_AUTOCHECKPOINT_PAGES, "the connection checkpoints by itself again");
        reader.checkpoint().unwrap();
        let page_size: u64 = state.conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        assert_eq!(file_size(), pages * page_size, "the database file holds every page");
    }

    #[test]
    fn the_name_book_reads_back_what_runs_gave_out_and_what_older_samla_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::open(&dir.path().join("samla.db")).unwrap();
        let anchor = |n: u8| Anchor(ObjectGuid::from_ad_bytes(&[n; 16]).unwrap());
        // Names given before name chunks existed, one row each.
        state
            .conn
            .execute(
                "INSERT INTO assigned_names (namespace, name_key, name, anchor, assigned_at) VALUES ('group_name', 'ekonomi', 'Ekonomi', ?1, 'then')",
                params![anchor(9).0.to_string()],
            )
            .unwrap();
        let awkward = ["Tab\there", "Line\nbreak\r", "back\\slash\\t", "Åsa Öberg"];
        let mut book = state.name_book().unwrap();
        for (i, name) in awkward.iter().enumerate() {
            book.assign(Namespace::GroupName, anchor(i as u8 + 1), name, " ({n})", 256);
        }
        // Enough names for several chunks.
        for i in 0..60_000u32 {
            let a = Anchor(ObjectGuid::from_ad_bytes(&[&i.to_le_bytes()[..], &[7; 12]].concat()).unwrap());
            book.assign(Namespace::UpnAlias, a, "anna.andersson", "{n}", 64);
        }
        state.save_unified(&directory(0), &book, &[], "m").unwrap();
        let chunks: i64 = state.conn.query_row("SELECT count(*) FROM name_chunks", [], |r| r.get(0)).unwrap();
        assert!(chunks >= 2, "{chunks} chunks");
        let read = state.name_book().unwrap();
        for (i, name) in awkward.iter().enumerate() {
            assert_eq!(read.name_of(Namespace::GroupName, anchor(i as u8 + 1)), Some(*name));
        }
        assert_eq!(read.holder(Namespace::GroupName, "EKONOMI"), Some(anchor(9)));
        assert!(read.holder(Namespace::UpnAlias, "anna.andersson60000").is_some());
        assert_eq!(read.holder(Namespace::UpnAlias, "anna.andersson60001"), None);

        state.conn.execute("UPDATE name_chunks SET data = x'28b52ffd00' WHERE seq = 2", []).unwrap();
        let err = state.name_book().unwrap_err().to_string();
        assert!(err.contains("name chunk 2"), "{err}");
    }

    #[test]
    fn a_damaged_chunk_is_named_and_an_older_run_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::open(&dir.path().join("samla.db")).unwrap();
        let run = state.save_unified(&directory(10), &NameBook::default(), &[], "m").unwrap();
        state.conn.execute("UPDATE unified_chunks SET data = x'28b52ffd00' WHERE kind = 'finding'", []).unwrap();
        let err = state.unified_rows(run.id, "finding").unwrap_err().to_string();
        assert!(err.contains(&format!("map run {}, finding chunk 1", run.id)), "{err}");

        // A run stored one row per object, as samla did before chunks.
        state
            .conn
            .execute_batch(
                "INSERT INTO unified_runs (id, created_at, snapshots, mappings_hash, content_hash, blocking)
                 VALUES (99, 'then', '[]', 'm', 'h', 0);
                 INSERT INTO unified_objects (run_id, kind, key, data) VALUES
                 (99, 'finding', '000000001', '{\"b\":1}'), (99, 'finding', '000000000', '{\"a\":1}');",
            )
            .unwrap();
        assert_eq!(state.unified_rows(99, "finding").unwrap(), ["{\"a\":1}", "{\"b\":1}"]);
    }
}
