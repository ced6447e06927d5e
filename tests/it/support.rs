//! Shared helpers: the samla binary, the real servers' coordinates, temporary projects.

use std::path::{Path, PathBuf};

/// The five municipalities of the sample estate, in order (DC i of Samba is 127.0.0.(i+1)).
pub const IDS: [&str; 5] = ["bjuv", "klippan", "perstorp", "astorp", "orkelljunga"];

pub fn samla() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("samla").unwrap();
    cmd.env_remove("SAMLA_CONFIG").env_remove("SAMLA_LOG");
    cmd
}

/// An environment variable that tests/run.sh exports. Server tests fail loudly without
/// them: a test that silently skips could never fail.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: tests against real LDAP servers need them running; use `bash tests/run.sh`")
    })
}

/// A temporary project folder with a samla.toml made of `sources` (TOML `[[source]]` tables).
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(sources: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("samla.toml"), format!("[state]\npath = \"state/samla.db\"\n\n{sources}"))
            .unwrap();
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("samla.toml")
    }

    /// `samla -c <project>/samla.toml ARGS`.
    pub fn samla(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = samla();
        cmd.arg("-c").arg(self.config()).args(args);
        cmd
    }

    /// Writes a secret into a file of the project and returns its path.
    pub fn secret_file(&self, name: &str, value: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, format!("{value}\n")).unwrap();
        path
    }

    /// Runs `samla discover --json ARGS` and returns the parsed output and exit status.
    pub fn discover(&self, args: &[&str]) -> (serde_json::Value, std::process::Output) {
        let out = self.samla(&["discover", "--json"]).args(args).output().unwrap();
        let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (json, out)
    }

    /// All objects of the newest snapshot of `municipality`.
    pub fn snapshot(&self, municipality: &str) -> Vec<samla::model::DirectoryObject> {
        let state = samla::state::State::open_read(&self.path().join("state/samla.db")).unwrap();
        let id =
            state.latest_snapshot(municipality).unwrap().unwrap_or_else(|| panic!("no snapshot of {municipality}")).id;
        state.snapshot_objects(id).unwrap()
    }
}

/// The objects an LDIF file holds, through samla's own reader and converter.
pub fn objects_of_ldif(path: &Path) -> Vec<samla::model::DirectoryObject> {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    samla::source::ldif::LdifReader::new(file)
        .map(|e| e.unwrap())
        .filter_map(|raw| samla::model::convert::convert(&raw).unwrap())
        .collect()
}

pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes the sample estate in `flavor` at the scale the servers were loaded with, into `dir`.
pub fn generate_estate(flavor: &str, dir: &Path) {
    let scale = std::env::var("SAMLA_TEST_SCALE").unwrap_or_else(|_| "1.0".into());
    samla().args(["estate", "generate", "--flavor", flavor, "--scale", &scale, "--out"]).arg(dir).assert().success();
}

/// The `ldifde` flavour of the loaded estate: the full picture (GUIDs, memberOf, built-ins),
/// read through samla's LDIF reader, per municipality.
pub fn expected_estate() -> std::collections::BTreeMap<String, Vec<samla::model::DirectoryObject>> {
    let dir = tempfile::tempdir().unwrap();
    generate_estate("ldifde", dir.path());
    IDS.iter().map(|id| (id.to_string(), objects_of_ldif(&dir.path().join(format!("{id}.ldif"))))).collect()
}

/// A project reading the ldifde flavour of the sample estate at `scale`, with the
/// repository's mappings, discovered.
pub fn mapped_project(scale: &str) -> Project {
    let sources: String =
        IDS.iter().map(|id| format!("[[source]]\nname = \"{id}\"\nldif = \"estate/{id}.ldif\"\n\n")).collect();
    let p = Project::new(&sources);
    samla()
        .args(["estate", "generate", "--flavor", "ldifde", "--scale", scale, "--out"])
        .arg(p.path().join("estate"))
        .assert()
        .success();
    copy_mappings(p.path());
    p.samla(&["discover", "-q"]).assert().success();
    p
}

pub fn copy_mappings(dir: &Path) {
    let to = dir.join("mappings");
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/mappings")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Tests that write the sample estate's accounts into the shared Samba domain take turns:
/// sAMAccountName is unique domain-wide, and the estate's names are the same in every test.
pub fn shared_domain() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
