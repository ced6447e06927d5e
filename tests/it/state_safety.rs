//! The state is not lost or damaged by samla: one writer at a time (a second one refuses at
//! once, naming the first; a killed writer frees the lock), an empty, missing or damaged state
//! refused by writers instead of recreated or written into, `samla state check` finding what
//! is damaged, read-only commands on a read-only state writing nothing, and backups made
//! before every run that restore.

use crate::support::{Project, mapped_project, samla, stderr};
use serde_json::Value;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

fn db(p: &Project) -> PathBuf {
    p.path().join("state/samla.db")
}

fn ok(p: &Project, args: &[&str]) -> std::process::Output {
    let out = p.samla(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}\n{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    out
}

fn json(p: &Project, args: &[&str]) -> Value {
    serde_json::from_slice(&ok(p, args).stdout).unwrap()
}

/// Refused with exit 1, its message holding every one of `needles`.
fn refused(p: &Project, args: &[&str], needles: &[&str]) -> String {
    let out = p.samla(args).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}{}", String::from_utf8_lossy(&out.stdout));
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected {n:?} in {err}");
    }
    err
}

/// The file's bytes and modification time.
fn fingerprint(path: &Path) -> (Vec<u8>, std::time::SystemTime) {
    (std::fs::read(path).unwrap(), std::fs::metadata(path).unwrap().modified().unwrap())
}

fn sidecars(state: &Path) -> Vec<PathBuf> {
    ["-wal", "-shm"].iter().map(|s| samla::state::sidecar(state, s)).filter(|p| p.exists()).collect()
}

/// A project of the sample estate at a small scale, discovered, mapped and planned.
fn planned() -> Project {
    let p = mapped_project("0.05");
    ok(&p, &["map", "-q"]);
    ok(&p, &["plan", "-q"]);
    p
}

#[test]
fn a_second_writer_refuses_at_once_naming_the_first_and_a_killed_writer_frees_the_lock() {
    // discover reads an LDIF that is a named pipe: it holds the lock until the pipe ends.
    let p = Project::new(
        "[[source]]\nname = \"bjuv\"\nldif = \"bjuv.ldif\"\n\n[[source]]\nname = \"slow\"\nldif = \"slow.ldif\"\n",
    );
    samla().args(["estate", "generate", "--scale", "0.05", "--out"]).arg(p.path().join("estate")).assert().success();
    std::fs::copy(p.path().join("estate/bjuv.ldif"), p.path().join("bjuv.ldif")).unwrap();
    let fifo = p.path().join("slow.ldif");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("samla"))
        .arg("-c")
        .arg(p.config())
        .args(["discover", "--source", "slow", "-q"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Opening the pipe's other end returns once discover has opened it: past its lock.
    let pipe = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();

    let started = std::time::Instant::now();
    let pid = format!("pid {}", first.id());
    for writer in [&["discover", "--source", "bjuv"][..], &["map"], &["wave", "run", "1", "--target", "lab", "--yes"]] {
        refused(&p, writer, &["in use by", "`samla -c", "discover --source slow -q`", &pid, "since"]);
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "a refused writer waited");
    // Readers take no lock.
    ok(&p, &["snapshots"]);

    first.kill().unwrap();
    first.wait().unwrap();
    drop(pipe);
    ok(&p, &["discover", "--source", "bjuv", "-q"]);
    assert_eq!(json(&p, &["snapshots", "--json"]).as_array().unwrap().len(), 1);
}

#[test]
fn an_empty_state_file_is_refused_naming_the_newest_backup_and_not_recreated() {
    let p = mapped_project("0.05");
    let backup = json(&p, &["state", "backup", "--json"]);
    std::fs::write(db(&p), b"").unwrap();
    for writer in [&["discover", "-q"][..], &["map", "-q"]] {
        refused(&p, writer, &["is empty (0 bytes)", backup["file"].as_str().unwrap(), "-wal"]);
    }
    assert_eq!(std::fs::metadata(db(&p)).unwrap().len(), 0, "the empty state was written to");
}

#[test]
fn a_missing_state_is_refused_where_the_project_has_waves() {
    let p = planned();
    std::fs::remove_file(db(&p)).unwrap();
    for writer in [&["discover", "-q"][..], &["map", "-q"], &["wave", "run", "1", "--target", "lab", "--yes"]] {
        refused(&p, writer, &["is missing, yet the project has wave files", "no backup"]);
    }
    assert!(!db(&p).exists(), "a new state was created");
}

#[test]
fn random_bytes_in_a_state_stop_every_writer_and_state_check_reports_them() {
    let p = planned();
    let healthy = json(&p, &["state", "check", "--json"]);
    let checks = healthy["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["verdict"]["status"] == "ok"), "{healthy:#}");
    let names: Vec<&str> = checks.iter().map(|c| c["what"].as_str().unwrap()).collect();
    assert!(names.contains(&"SQLite integrity_check") && names.contains(&"name book"), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("snapshot ")) && names.iter().any(|n| n.starts_with("unified")));

    let path = db(&p);
    let len = std::fs::metadata(&path).unwrap().len();
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.seek(SeekFrom::Start(len / 2)).unwrap();
    let noise: Vec<u8> = (0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    file.write_all(&noise).unwrap();
    drop(file);
    let damaged = fingerprint(&path);
    for writer in [&["discover", "-q"][..], &["map", "-q"], &["wave", "run", "1", "--target", "lab", "--yes"]] {
        refused(&p, writer, &["is damaged, nothing was written to it", "samla state check", "no backup"]);
    }
    assert!(fingerprint(&path) == damaged, "a writer wrote into the damaged state");
    let out = p.samla(&["state", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("SQLite integrity_check") && table.contains("FAILED"), "{table}");
}

#[test]
fn state_check_recomputes_the_stored_content_hashes() {
    let p = planned();
    // A valid database whose content no longer matches its hashes: one snapshot object's JSON
    // and one name chunk's bytes changed.
    let conn = rusqlite::Connection::open(db(&p)).unwrap();
    conn.execute(
        "UPDATE snapshot_objects SET data = replace(data, 'a', 'b') WHERE rowid = (SELECT min(rowid) FROM snapshot_objects)",
        [],
    )
    .unwrap();
    let chunk: Vec<u8> = conn.query_row("SELECT data FROM name_chunks ORDER BY seq LIMIT 1", [], |r| r.get(0)).unwrap();
    let mut text = zstd::stream::decode_all(chunk.as_slice()).unwrap();
    text[0] ^= 1;
    conn.execute(
        "UPDATE name_chunks SET data = ?1 WHERE seq = (SELECT min(seq) FROM name_chunks)",
        [zstd::bulk::compress(&text, 1).unwrap()],
    )
    .unwrap();
    drop(conn);
    let report = {
        let out = p.samla(&["state", "check", "--json"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"]["status"] == "failed")
        .map(|c| c["what"].as_str().unwrap())
        .collect();
    assert_eq!(failed.len(), 2, "{report:#}");
    assert!(failed[0].starts_with("snapshot ") && failed[1] == "name book", "{failed:?}");
}

#[test]
fn read_only_commands_write_nothing_to_a_read_only_state() {
    let p = planned();
    let path = db(&p);
    assert!(sidecars(&path).is_empty(), "a writer left its log");
    let lock = samla::state::lock_path(&path);
    let _ = std::fs::remove_file(&lock);
    let mut mode = std::fs::metadata(&path).unwrap().permissions();
    mode.set_readonly(true);
    std::fs::set_permissions(&path, mode).unwrap();
    let before = fingerprint(&path);
    let listed = json(&p, &["snapshots", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 5);
    for reader in [&["waves"][..], &["wave", "status", "1"], &["wave", "dry-run", "1"], &["state", "check"]] {
        ok(&p, reader);
    }
    assert!(fingerprint(&path) == before, "the state file changed");
    assert!(sidecars(&path).is_empty(), "a reader created {:?}", sidecars(&path));
    assert!(!lock.exists(), "a reader took the writer's lock");
}

#[test]
fn a_backup_is_made_before_a_run_and_restores_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = samla().arg("demo").arg("--dir").arg(&demo).args(["--json", "-q"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let config = demo.join("samla.toml");
    let cmd = |args: &[&str]| {
        let out = samla().arg("-c").arg(&config).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let backups = samla::state::backup::list(&demo.join("state/samla.db"));
    assert_eq!(
        backups.len(),
        2,
        "a backup before wave 1 ran and one before its cutover (the rollback was a dry run): {backups:?}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&backups[0]).unwrap().permissions().mode() & 0o777, 0o600);
    let snapshots = cmd(&["snapshots", "--json"]);
    assert_eq!(cmd(&["wave", "status", "1", "--json"]).as_array().map(Vec::len), Some(2), "the run and the cutover");

    // README's restore: copy the backup over the state, remove -wal and -shm.
    let state = demo.join("state/samla.db");
    std::fs::copy(&backups[0], &state).unwrap();
    for s in sidecars(&state) {
        std::fs::remove_file(s).unwrap();
    }
    assert_eq!(cmd(&["snapshots", "--json"]), snapshots);
    assert_eq!(cmd(&["wave", "status", "1", "--json"]).as_array().map(Vec::len), Some(0));

    // --keep prunes, the newest stay.
    let made: Vec<String> = (0..3)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(5));
            cmd(&["state", "backup", "--keep", "2", "--json"])["file"].as_str().unwrap().to_string()
        })
        .collect();
    let kept: Vec<String> = samla::state::backup::list(&state).iter().map(|b| b.display().to_string()).collect();
    assert_eq!(kept, made[1..].to_vec());
}
