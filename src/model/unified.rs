//! The unified directory's vocabulary: what mapping produces and every later stage (planning,
//! rendering, executing, rolling back, reporting) works with. Anchors, people, groups,
//! memberships, findings, the name book, and the rows a unified directory is stored as.
//!
//! It lives here, beside the source-side model, rather than next to the unify algorithm
//! ([`crate::mapping::unify`]), so that a stage that only reads a unified directory depends
//! on these types and not on how they were computed.

use super::attributes::Attributes;
use super::names;
use crate::model::{Dn, ObjectGuid};
use compact_str::CompactString;
use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;
use std::collections::BTreeMap;

/// The kinds of account a municipality has; each kind can be licensed and planned differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    Person,
    Student,
    Admin,
    Service,
    Resource,
}

impl AccountKind {
    pub const ALL: [AccountKind; 5] =
        [AccountKind::Person, AccountKind::Student, AccountKind::Admin, AccountKind::Service, AccountKind::Resource];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Person => "person",
            AccountKind::Student => "student",
            AccountKind::Admin => "admin",
            AccountKind::Service => "service",
            AccountKind::Resource => "resource",
        }
    }
}

/// The stable identity of a unified object: the objectGUID of its primary source object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Anchor(pub ObjectGuid);

impl Anchor {
    /// Graph's `onPremisesImmutableId` and the shared AD's `ms-DS-ConsistencyGuid` value:
    /// base64 of the GUID's bytes in AD order, so a later Entra Connect hard-matches.
    pub fn immutable_id(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.0.to_ad_bytes())
    }
}

/// Name namespaces that must each be unique in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Namespace {
    UpnAlias,
    MailNickname,
    SamAccountName,
    GroupName,
}

impl Namespace {
    pub const ALL: [Namespace; 4] =
        [Namespace::UpnAlias, Namespace::MailNickname, Namespace::SamAccountName, Namespace::GroupName];

    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::UpnAlias => "upn_alias",
            Namespace::MailNickname => "mail_nickname",
            Namespace::SamAccountName => "sam_account_name",
            Namespace::GroupName => "group_name",
        }
    }
}

/// Names already given out: per namespace, lower-cased name -> anchor. Loaded from the state
/// before mapping; the assignments a run adds are saved after it.
///
/// One [`Shelf`] per namespace, keyed by the name itself, so a lookup borrows the candidate
/// instead of building a `(namespace, String)` key; and since namespaces never share names,
/// the people's three namespaces are given out at the same time, each in priority order.
#[derive(Debug, Clone, Default)]
pub struct NameBook {
    /// Per namespace, at its position in [`Namespace::ALL`].
    shelves: [Shelf; 4],
}

/// The names of one namespace. Names are [`CompactString`]s: up to 24 bytes (nearly every
/// alias, nickname and sAMAccountName) they sit in the table itself, so a lookup compares
/// without fetching the name from elsewhere in memory, and a million names are not millions
/// of allocations.
#[derive(Debug, Clone, Default)]
pub struct Shelf {
    /// Lower-cased name -> anchor.
    taken: HashMap<CompactString, Anchor>,
    /// Anchor -> the name as given.
    by_anchor: HashMap<Anchor, CompactString>,
    /// Per lower-cased base name, the counter to try first: every lower one is taken (names
    /// are never given back), so a name held by thousands costs one lookup, not thousands.
    next_counter: HashMap<CompactString, u32>,
    /// Assigned by this run, in order; the names themselves are in `by_anchor`.
    added: Vec<Anchor>,
}

/// `s` in lower case, borrowed when it already is (every generated alias is).
fn lowered(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) { s.into() } else { s.to_lowercase().into() }
}

impl NameBook {
    /// Room for `people` more people's names (one in each of the three people's namespaces),
    /// so that a million names do not grow the tables by doubling (each doubling rehashes and
    /// touches fresh pages).
    pub fn reserve(&mut self, people: usize) {
        for ns in [Namespace::UpnAlias, Namespace::MailNickname, Namespace::SamAccountName] {
            let shelf = &mut self.shelves[ns as usize];
            shelf.taken.reserve(people);
            shelf.by_anchor.reserve(people);
            shelf.added.reserve(people);
        }
    }

    pub fn insert_existing(&mut self, ns: Namespace, name: &str, anchor: Anchor) {
        let shelf = &mut self.shelves[ns as usize];
        shelf.taken.insert(CompactString::from(lowered(name)), anchor);
        shelf.by_anchor.insert(anchor, name.into());
    }

    /// The name `anchor` holds in `ns`.
    pub fn name_of(&self, ns: Namespace, anchor: Anchor) -> Option<&str> {
        self.shelves[ns as usize].by_anchor.get(&anchor).map(CompactString::as_str)
    }

    /// Who holds `name` in `ns` (compared without case).
    pub fn holder(&self, ns: Namespace, name: &str) -> Option<Anchor> {
        self.shelves[ns as usize].taken.get(&*lowered(name)).copied()
    }

    /// The names this run assigned: namespace by namespace, each in the order given (saving
    /// reads them through [`NameBook::added_batches`]).
    #[cfg(test)]
    pub fn added(&self) -> impl Iterator<Item = (Namespace, &str, Anchor)> {
        Namespace::ALL.into_iter().flat_map(move |ns| {
            self.shelves[ns as usize]
                .added
                .iter()
                .map(move |&anchor| (ns, self.name_of(ns, anchor).unwrap_or(""), anchor))
        })
    }

    /// The anchors this run gave names, namespace by namespace and each in the order given, as
    /// slices of at most `per` of one namespace each: batches that can be saved in parallel.
    pub fn added_batches(&self, per: usize) -> Vec<(Namespace, &[Anchor])> {
        Namespace::ALL
            .into_iter()
            .flat_map(|ns| self.shelves[ns as usize].added.chunks(per.max(1)).map(move |batch| (ns, batch)))
            .collect()
    }

    /// The number of names this run assigned.
    #[cfg(test)]
    pub fn added_count(&self) -> usize {
        self.shelves.iter().map(|s| s.added.len()).sum()
    }

    /// The people's three namespaces (UPN aliases, mail nicknames, sAMAccountNames), to be
    /// given out at the same time, each on a thread of its own.
    pub fn people_shelves(&mut self) -> [&mut Shelf; 3] {
        let [upn, nick, sam, _] = &mut self.shelves;
        [upn, nick, sam]
    }

    /// The anchor's name in `ns`: see [`Shelf::assign`].
    pub(crate) fn assign(
        &mut self,
        ns: Namespace,
        anchor: Anchor,
        base: &str,
        suffix: &str,
        max: usize,
    ) -> (String, bool) {
        self.shelves[ns as usize].assign(anchor, base, suffix, max)
    }
}

impl Shelf {
    /// The anchor's name: kept if it has one, else `base` or the first free `base + suffix(n)`
    /// (n = 2, 3, ...). Returns the name and whether it differs from `base` (the same answer
    /// whether the name was given now or in an earlier run).
    pub fn assign(&mut self, anchor: Anchor, base: &str, suffix: &str, max: usize) -> (String, bool) {
        if let Some(name) = self.by_anchor.get(&anchor) {
            return (name.to_string(), !name.eq_ignore_ascii_case(base));
        }
        let base_key = lowered(base);
        let (name, key, n) = if !self.taken.contains_key(&*base_key) {
            (base.to_string(), base_key.into_owned(), 1)
        } else {
            let mut n = self.next_counter.get(&*base_key).copied().unwrap_or(2);
            let (name, key) = loop {
                let name = names::with_suffix(base, &suffix.replace("{n}", &n.to_string()), max);
                let key = lowered(&name).into_owned();
                if !self.taken.contains_key(key.as_str()) {
                    break (name, key);
                }
                n += 1;
            };
            match self.next_counter.get_mut(&*base_key) {
                Some(next) => *next = n + 1,
                None => {
                    self.next_counter.insert(CompactString::from(base_key), n + 1);
                }
            }
            (name, key, n)
        };
        self.taken.insert(key.into(), anchor);
        self.by_anchor.insert(anchor, name.as_str().into());
        self.added.push(anchor);
        (name, n > 1)
    }
}

/// Where a person works: one per municipality account that was matched into them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Affiliation {
    pub municipality: String,
    pub guid: ObjectGuid,
    pub dn: Dn,
    pub kind: AccountKind,
    pub unit: String,
    pub enabled: bool,
}

/// A person (or service, admin, resource account) of the unified directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Person {
    pub anchor: Anchor,
    pub immutable_id: String,
    pub user_principal_name: String,
    pub mail_nickname: String,
    pub sam_account_name: String,
    pub cn: String,
    pub display_name: String,
    pub kind: AccountKind,
    pub licence: String,
    pub usage_location: String,
    /// Attributes bound for the cloud (allow-listed, privacy-checked).
    pub cloud: Attributes,
    /// Attributes that stay in the shared AD only.
    pub on_premises: Attributes,
    pub affiliations: Vec<Affiliation>,
    pub manager: Option<Anchor>,
    /// Whether the source account may sign in: enabled, disabled, or expired (accountExpires
    /// in the past at map time). Stored directories from before it read as enabled.
    #[serde(default)]
    pub source_state: SourceState,
}

/// The state of a person's source account at map time. A person matched from several
/// accounts is enabled when any of them is; otherwise it has its primary account's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "state", content = "on", rename_all = "snake_case")]
pub enum SourceState {
    #[default]
    Enabled,
    /// userAccountControl has ACCOUNTDISABLE.
    Disabled,
    /// accountExpires passed on this day (UTC).
    Expired(chrono::NaiveDate),
}

impl SourceState {
    /// Of one source account at `now`: disabled wins over expired.
    pub fn of(obj: &super::object::DirectoryObject, now: chrono::DateTime<chrono::Utc>) -> SourceState {
        if obj.user_account_control.is_some_and(|u| u.is_disabled()) {
            return SourceState::Disabled;
        }
        match obj.account_expires.and_then(|t| t.at()) {
            Some(t) if t <= now => SourceState::Expired(t.date_naive()),
            _ => SourceState::Enabled,
        }
    }

    pub fn is_enabled(self) -> bool {
        self == SourceState::Enabled
    }
}

impl std::fmt::Display for SourceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceState::Enabled => f.write_str("enabled"),
            SourceState::Disabled => f.write_str("disabled"),
            SourceState::Expired(on) => write!(f, "expired on {on}"),
        }
    }
}

/// A member of a unified group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "anchor", rename_all = "snake_case")]
pub enum Member {
    Person(Anchor),
    Group(Anchor),
}

impl Member {
    pub fn anchor(&self) -> Anchor {
        match self {
            Member::Person(a) | Member::Group(a) => *a,
        }
    }
}

/// A group of the unified directory; `sources` has several entries when merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Group {
    pub anchor: Anchor,
    pub name: String,
    pub mail_nickname: String,
    pub security: bool,
    pub sources: Vec<(String, ObjectGuid, Dn)>,
    pub members: Vec<Member>,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Nothing may be written until it is resolved.
    Blocking,
    /// Resolved by policy; the team should look.
    Review,
    Info,
}

/// One line of a municipality's conflict report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub municipality: String,
    pub severity: Severity,
    pub category: &'static str,
    pub object: String,
    pub detail: String,
    /// What samla did, or what the team must do (one of a fixed set of phrases).
    pub resolution: &'static str,
}

/// One attribute leaving the premises, for the data-minimisation report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outbound {
    pub attribute: String,
    pub values: usize,
    pub rule: String,
}

/// Per-municipality counts for the terminal summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub people: usize,
    pub groups: usize,
    pub excluded: usize,
    pub collisions: usize,
    pub matches: usize,
    pub merges: usize,
    pub violations: usize,
    pub blocking: usize,
    /// Text values of the municipality's snapshot that were not in Unicode NFC and were
    /// normalised on read (see [`crate::model::convert::convert_counted`]).
    pub nfc_normalised: u64,
}

/// The result of mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnifiedDirectory {
    pub people: Vec<Person>,
    pub groups: Vec<Group>,
    pub findings: Vec<Finding>,
    pub summaries: BTreeMap<String, Summary>,
    pub outbound: BTreeMap<String, Vec<Outbound>>,
}

impl UnifiedDirectory {
    /// The kinds of stored row, in their canonical order.
    pub const ROW_KINDS: [&'static str; 5] = ["person", "group", "finding", "summaries", "outbound"];

    /// How many rows of `kind` there are.
    pub fn row_count(&self, kind: &str) -> usize {
        match kind {
            "person" => self.people.len(),
            "group" => self.groups.len(),
            "finding" => self.findings.len(),
            "summaries" | "outbound" => 1,
            _ => 0,
        }
    }

    /// Fetches the strings of row `i` of `kind` into cache ahead of writing it: see [`Warm`].
    pub fn warm_row(&self, kind: &str, i: usize) -> usize {
        match kind {
            "person" => self.people.get(i).map_or(0, Warm::warm),
            "finding" => self.findings.get(i).map_or(0, Warm::warm),
            _ => 0,
        }
    }

    /// Appends row `i` of `kind` to `out` as the line `key TAB json NEWLINE`. Keys (GUIDs,
    /// numbers) hold no tab, and serde_json escapes every control character, so a line is
    /// always one row. Rows rather than one document, because a million people make a
    /// document larger than SQLite stores in one value.
    pub fn write_row(&self, kind: &str, i: usize, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        use std::io::Write as _;
        let key = |out: &mut Vec<u8>, key: &dyn std::fmt::Display| {
            let _ = write!(out, "{key}\t");
        };
        // A row that does not exist writes nothing, not an empty line.
        match (kind, i) {
            ("person", _) if i < self.people.len() => {
                key(out, &self.people[i].anchor.0);
                serde_json::to_writer(&mut *out, &self.people[i])?
            }
            ("group", _) if i < self.groups.len() => {
                key(out, &self.groups[i].anchor.0);
                serde_json::to_writer(&mut *out, &self.groups[i])?
            }
            ("finding", _) if i < self.findings.len() => {
                key(out, &format_args!("{i:09}"));
                serde_json::to_writer(&mut *out, &self.findings[i])?
            }
            ("summaries", 0) => {
                out.push(b'\t');
                serde_json::to_writer(&mut *out, &self.summaries)?
            }
            ("outbound", 0) => {
                out.push(b'\t');
                serde_json::to_writer(&mut *out, &self.outbound)?
            }
            _ => return Ok(()),
        }
        out.push(b'\n');
        Ok(())
    }

    /// The canonical rows (kind, key, JSON) in their fixed order, and the SHA-256 over them:
    /// equal inputs give byte-identical rows.
    pub fn canonical(&self) -> Result<(Vec<UnifiedRow>, String), serde_json::Error> {
        let mut rows = Vec::new();
        let mut hash = ContentHash::default();
        let mut line = Vec::new();
        for kind in Self::ROW_KINDS {
            for i in 0..self.row_count(kind) {
                line.clear();
                self.write_row(kind, i, &mut line)?;
                hash.add_lines(kind, &line);
                let text = String::from_utf8_lossy(&line);
                let (key, data) = text.trim_end_matches('\n').split_once('\t').unwrap_or_default();
                rows.push(UnifiedRow { kind, key: key.to_string(), data: data.to_string() });
            }
        }
        Ok((rows, hash.finish()))
    }
}

/// The content hash of a unified directory: SHA-256 over `kind NUL key NUL json NEWLINE` for
/// every row in canonical order, fed the lines [`UnifiedDirectory::write_row`] writes.
#[derive(Default)]
pub struct ContentHash(sha2::Sha256);

impl ContentHash {
    /// Adds the rows of `kind` in `lines` (each `key TAB json NEWLINE`).
    pub fn add_lines(&mut self, kind: &str, lines: &[u8]) {
        use sha2::Digest;
        // memchr, not a byte-at-a-time split: the lines of a million people are over a
        // gigabyte, and the scan was as slow as hashing them.
        let mut rest = lines;
        while !rest.is_empty() {
            let (line, tail) = rest.split_at(memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1));
            let tab = memchr::memchr(b'\t', line).unwrap_or(0);
            let (key, data) = (&line[..tab], line.get(tab + 1..).unwrap_or_default());
            for part in [kind.as_bytes(), &[0], key, &[0], data] {
                self.0.update(part);
            }
            rest = tail;
        }
    }

    pub fn finish(self) -> String {
        use sha2::Digest;
        hex::encode(self.0.finalize())
    }
}

/// Reads the first byte of every string a row holds, and returns their sum (for
/// `std::hint::black_box`, so the reads are kept). Each string is an allocation of its own,
/// and writing a million rows waited on memory once per string; touching the strings of a
/// row a few ahead of the one being written lets the processor fetch them all at once, and
/// each row is then written from cache. The `rows stored` step of
/// `SAMLA_LOG=samla=debug samla map` on the 1,000,000-user project of `bash bench/map.sh 145`
/// went from 7.5 s to 4.6 s.
pub trait Warm {
    fn warm(&self) -> usize;
}

/// How many rows ahead of the one being written the strings are touched.
pub const WARM_AHEAD: usize = 4;

/// `items` in order, each handed out once the strings of the one [`WARM_AHEAD`] further on
/// were touched.
pub fn warmed<T: Warm>(items: &[T]) -> impl Iterator<Item = &T> {
    items.iter().enumerate().map(move |(i, item)| {
        std::hint::black_box(items.get(i + WARM_AHEAD).map_or(0, Warm::warm));
        item
    })
}

impl<T: Warm> Warm for &T {
    fn warm(&self) -> usize {
        (**self).warm()
    }
}

fn first_byte(s: &str) -> usize {
    s.as_bytes().first().map_or(0, |b| usize::from(*b))
}

impl Warm for Person {
    fn warm(&self) -> usize {
        let names = [&self.immutable_id, &self.user_principal_name, &self.mail_nickname, &self.sam_account_name];
        let own = names.into_iter().chain([&self.cn, &self.display_name, &self.licence, &self.usage_location]);
        let attrs = self.cloud.iter().chain(self.on_premises.iter()).map(|(_, v)| v);
        let affiliations = self
            .affiliations
            .iter()
            .map(|a| first_byte(&a.municipality) + first_byte(a.dn.as_str()) + first_byte(&a.unit));
        own.chain(attrs).map(|s| first_byte(s)).chain(affiliations).sum()
    }
}

impl Warm for Finding {
    fn warm(&self) -> usize {
        first_byte(&self.municipality) + first_byte(&self.object) + first_byte(&self.detail)
    }
}

/// One stored piece of a unified directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnifiedRow {
    pub kind: &'static str,
    pub key: String,
    pub data: String,
}
