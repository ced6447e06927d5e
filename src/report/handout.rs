//! The service desk's handout of a cutover, one per municipality: who moves (name, new UPN,
//! unit), their first sign-in (the Temporary Access Pass and when it is valid, the shared AD's
//! initial password where one was set) and the old account to close.
//!
//! It is the one file a pass is ever written to, so it is created readable by its owner only
//! (mode 0600 from the `open`, never widened), in a folder only its owner can enter. The CSV
//! (Excel's UTF-8 with BOM and `;`, cells defused like every CSV report, see
//! [`super::csv_excel`]) is written a row at a time, each row flushed and synced to disk as
//! soon as its pass is issued, before the journal records the issue: a pass the handout lacks
//! was never seen by anyone, and the next cutover replaces it. [`finish`] then rewrites the CSV
//! with one row per person (the newest) and writes the printable HTML page beside it.

use super::csv_excel::defuse;
use super::error::ReportError;
use super::html::esc;
use crate::config::secret::Secret;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The columns, in order.
pub const HEADER: [&str; 9] = [
    "Name",
    "New UPN",
    "Unit",
    "Temporary Access Pass",
    "Valid from",
    "Valid until",
    "Pass id",
    "Initial password (shared AD)",
    "Old account to close (DN)",
];
const UPN: usize = 1;
/// The pass's cells: the pass, its validity and its id.
const PASS_CELLS: std::ops::Range<usize> = 3..7;
const PASS_ID: usize = 6;
const PASSWORD: usize = 7;

/// One person's row.
pub struct Row<'a> {
    pub name: &'a str,
    pub upn: &'a str,
    pub unit: &'a str,
    pub pass: &'a Secret,
    pub pass_id: &'a str,
    pub valid_from: chrono::DateTime<chrono::Utc>,
    pub valid_until: chrono::DateTime<chrono::Utc>,
    pub initial_password: Option<&'a Secret>,
    pub old_dn: &'a str,
}

/// A time as the handout shows it.
fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A pass (or password) as a cell: `'` before one that begins with a formula trigger, always,
/// even one made of digits (Excel would read `+123` as a number and drop the `+`).
fn secret_cell(s: &str) -> Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { Cow::Owned(format!("'{s}")) } else { defuse(s) }
}

impl Row<'_> {
    fn cells(&self) -> Vec<String> {
        let initial = self.initial_password.map(|p| secret_cell(p.expose()).into_owned()).unwrap_or_default();
        vec![
            defuse(self.name).into_owned(),
            defuse(self.upn).into_owned(),
            defuse(self.unit).into_owned(),
            secret_cell(self.pass.expose()).into_owned(),
            when(self.valid_from),
            when(self.valid_until),
            defuse(self.pass_id).into_owned(),
            initial,
            defuse(self.old_dn).into_owned(),
        ]
    }
}

/// Who a shared-AD initial password is for: a row of its own until [`finish`] merges it with
/// the person's pass.
pub struct PasswordRow<'a> {
    pub name: &'a str,
    pub upn: &'a str,
    pub unit: &'a str,
    pub password: &'a Secret,
    pub old_dn: &'a str,
}

impl PasswordRow<'_> {
    fn cells(&self) -> Vec<String> {
        let mut cells = vec![String::new(); HEADER.len()];
        cells[0] = defuse(self.name).into_owned();
        cells[UPN] = defuse(self.upn).into_owned();
        cells[2] = defuse(self.unit).into_owned();
        cells[PASSWORD] = secret_cell(self.password.expose()).into_owned();
        cells[8] = defuse(self.old_dn).into_owned();
        cells
    }
}

/// Creates `dir` (and its parents) for handouts, mode 0700.
fn private_dir(dir: &Path) -> Result<(), ReportError> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(ReportError::io(dir))
}

/// A file created (or truncated) with mode 0600 from the start.
fn private_file(path: &Path, append: bool) -> Result<File, ReportError> {
    let mut options = OpenOptions::new();
    options.create(true).read(true).mode(0o600);
    if append {
        options.append(true);
    } else {
        options.write(true).truncate(true);
    }
    let file = options.open(path).map_err(ReportError::io(path))?;
    // A file that existed before keeps its mode through `open`: narrow it.
    file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(ReportError::io(path))?;
    Ok(file)
}

/// One CSV record, `;`-separated, quoted where needed.
fn record(cells: &[String], path: &Path) -> Result<Vec<u8>, ReportError> {
    let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(Vec::new());
    w.write_record(cells).map_err(|source| ReportError::Csv { path: path.to_path_buf(), source })?;
    w.into_inner().map_err(|e| ReportError::Io { path: path.to_path_buf(), source: e.into_error() })
}

fn header_bytes(path: &Path) -> Result<Vec<u8>, ReportError> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    out.extend(record(&HEADER.map(String::from), path)?);
    Ok(out)
}

/// Appends `row` to the CSV at `path` (created 0600 with its BOM and header when new), and
/// syncs it to disk before returning.
pub fn append(path: &Path, row: &Row<'_>) -> Result<(), ReportError> {
    append_cells(path, &row.cells())
}

/// Appends the row of a shared-AD initial password (no pass), synced to disk like a pass's.
pub fn append_password(path: &Path, row: &PasswordRow<'_>) -> Result<(), ReportError> {
    append_cells(path, &row.cells())
}

fn append_cells(path: &Path, cells: &[String]) -> Result<(), ReportError> {
    if let Some(dir) = path.parent() {
        private_dir(dir)?;
    }
    let mut file = private_file(path, true)?;
    let len = file.metadata().map_err(ReportError::io(path))?.len();
    let mut bytes = Vec::new();
    if len == 0 {
        bytes = header_bytes(path)?;
    } else {
        // A row cut short by a kill ends without its newline: this row starts on a line of
        // its own (the cut one is dropped when read).
        let mut last = [0u8; 1];
        std::os::unix::fs::FileExt::read_at(&file, &mut last, len - 1).map_err(ReportError::io(path))?;
        if last[0] != b'\n' {
            bytes.push(b'\n');
        }
    }
    bytes.extend(record(cells, path)?);
    file.write_all(&bytes).map_err(ReportError::io(path))?;
    file.sync_all().map_err(ReportError::io(path))
}

/// The rows of the CSV at `path` (none when it does not exist), as their cells are written.
fn rows(path: &Path) -> Result<Vec<Vec<String>>, ReportError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ReportError::io(path)(e)),
    };
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    // A row cut short by a kill while it was written is not a row: `flexible` lets it be read
    // and dropped below.
    let mut reader = csv::ReaderBuilder::new().delimiter(b';').flexible(true).from_reader(body);
    let mut out = Vec::new();
    for r in reader.records() {
        let r = r.map_err(|source| ReportError::Csv { path: path.to_path_buf(), source })?;
        if r.len() == HEADER.len() {
            out.push(r.iter().map(str::to_string).collect());
        }
    }
    Ok(out)
}

/// The pass id the CSV at `path` holds for each new UPN (the newest row with a pass).
pub fn pass_ids(path: &Path) -> Result<BTreeMap<String, String>, ReportError> {
    Ok(rows(path)?
        .into_iter()
        .filter(|r| !r[PASS_ID].is_empty())
        .map(|r| (r[UPN].clone(), r[PASS_ID].clone()))
        .collect())
}

/// The new UPNs the CSV at `path` holds a shared-AD initial password for.
pub fn with_password(path: &Path) -> Result<BTreeSet<String>, ReportError> {
    Ok(rows(path)?.into_iter().filter(|r| !r[PASSWORD].is_empty()).map(|r| r[UPN].clone()).collect())
}

/// One row per person: the newest row's name and accounts, the pass of the newest row with a
/// pass (blank when `current` says it is no longer theirs) and the newest initial password.
/// A person left with neither is dropped.
fn merged(rows: Vec<Vec<String>>, current: impl Fn(&str, &str) -> bool) -> Vec<Vec<String>> {
    let mut newest: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rows {
        let Some(person) = newest.get_mut(&r[UPN]) else {
            newest.insert(r[UPN].clone(), r);
            continue;
        };
        let (pass, password) = (r[PASS_ID].is_empty(), r[PASSWORD].is_empty());
        let mut next = r;
        if pass {
            next[PASS_CELLS].clone_from_slice(&person[PASS_CELLS]);
        }
        if password {
            next[PASSWORD] = std::mem::take(&mut person[PASSWORD]);
        }
        *person = next;
    }
    newest
        .into_values()
        .filter_map(|mut r| {
            if !r[PASS_ID].is_empty() && !current(&r[UPN], &r[PASS_ID]) {
                r[PASS_CELLS].iter_mut().for_each(String::clear);
            }
            (!r[PASS_ID].is_empty() || !r[PASSWORD].is_empty()).then_some(r)
        })
        .collect()
}

/// Rewrites the CSV at `path` with one row per person ([`merged`]: their current pass and
/// their newest initial password), and writes the HTML page beside it (`.html`), both 0600.
/// Returns the two paths.
pub fn finish(
    path: &Path,
    title: &str,
    current: impl Fn(&str, &str) -> bool,
) -> Result<(PathBuf, PathBuf), ReportError> {
    let kept = merged(rows(path)?, current);
    let mut bytes = header_bytes(path)?;
    for r in &kept {
        bytes.extend(record(r, path)?);
    }
    let fresh = path.with_extension("csv.new");
    write_private(&fresh, &bytes)?;
    std::fs::rename(&fresh, path).map_err(ReportError::io(path))?;
    let html = path.with_extension("html");
    write_private(&html, page(title, &kept).as_bytes())?;
    Ok((path.to_path_buf(), html))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let mut file = private_file(path, false)?;
    file.write_all(bytes).map_err(ReportError::io(path))?;
    file.sync_all().map_err(ReportError::io(path))
}

/// A cell as a person reads it: without the `'` the CSV put before a formula trigger.
fn shown(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

/// The printable page: one table, the pass in a monospaced font.
fn page(title: &str, rows: &[Vec<String>]) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"sv\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>\
         body{{font-family:sans-serif;font-size:11pt}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #999;padding:4px 6px;text-align:left;vertical-align:top}}\
         td.pass{{font-family:monospace;font-size:13pt}}@media print{{tr{{page-break-inside:avoid}}}}\
         </style></head><body>\n<h1>{t}</h1>\n<p>Confidential: every pass below lets its holder sign in. \
         Hand each person their own row; destroy the page afterwards.</p>\n<table><tr>",
        t = esc(title)
    );
    for h in HEADER {
        html.push_str(&format!("<th>{}</th>", esc(h)));
    }
    html.push_str("</tr>\n");
    for r in rows {
        html.push_str("<tr>");
        for (i, cell) in r.iter().enumerate() {
            let class = if i == 3 || i == 7 { " class=\"pass\"" } else { "" };
            html.push_str(&format!("<td{class}>{}</td>", esc(shown(cell))));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(upn: &'a str, pass: &'a Secret, id: &'a str) -> Row<'a> {
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-07T07:00:00Z").unwrap().with_timezone(&chrono::Utc);
        Row {
            name: "Åsa Öberg",
            upn,
            unit: "=HYPERLINK(\"x\")",
            pass,
            pass_id: id,
            valid_from: t,
            valid_until: t + chrono::Duration::minutes(480),
            initial_password: None,
            old_dn: "CN=Åsa Öberg,OU=Bjuv,DC=bjuv,DC=local",
        }
    }

    #[test]
    fn rows_are_appended_0600_defused_and_finished_to_one_per_person() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("handouts/bjuv.csv");
        let (p1, p2, p3) = (Secret::new("+12345678"), Secret::new("abc-DEF9"), Secret::new("@zz;\"q"));
        append(&path, &row("asa@samverkan.se", &p1, "m1")).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        append(&path, &row("asa@samverkan.se", &p2, "m2")).unwrap();
        append(&path, &row("bo@samverkan.se", &p3, "m3")).unwrap();
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        assert!(text.starts_with("\u{feff}Name;New UPN;"), "{text}");
        assert!(text.contains(";'+12345678;"), "a pass that looks like a number keeps its +: {text}");
        assert!(text.contains("'=HYPERLINK"), "{text}");
        assert!(text.contains("\"'@zz;\"\"q\""), "{text}");
        assert!(text.contains("2026-12-07 07:00 UTC;2026-12-07 15:00 UTC"), "{text}");
        assert_eq!(pass_ids(&path).unwrap()["asa@samverkan.se"], "m2", "the newest row counts");

        // Bo's pass was replaced since: his row goes; Åsa keeps her newest.
        let (csv, html) = finish(&path, "Bjuv", |_, id| id != "m3").unwrap();
        let ids = pass_ids(&csv).unwrap();
        assert_eq!(ids.into_iter().collect::<Vec<_>>(), [("asa@samverkan.se".to_string(), "m2".to_string())]);
        for p in [&csv, &html] {
            assert_eq!(std::fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(page.contains("<td class=\"pass\">abc-DEF9</td>"), "{page}");
        assert!(page.contains("=HYPERLINK(&quot;x&quot;)"), "{page}");
    }

    #[test]
    fn an_initial_password_is_merged_with_the_persons_pass_into_one_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bjuv.csv");
        let (p1, pw1, pw2) = (Secret::new("abcdefgh"), Secret::new("=Pw-one1"), Secret::new("Pw-two22"));
        let password = |upn, pw| PasswordRow { name: "Åsa Öberg", upn, unit: "U", password: pw, old_dn: "CN=x" };
        append_password(&path, &password("asa@samverkan.se", &pw1)).unwrap();
        append_password(&path, &password("bo@samverkan.se", &pw1)).unwrap();
        append_password(&path, &password("bo@samverkan.se", &pw2)).unwrap();
        append(&path, &row("asa@samverkan.se", &p1, "m1")).unwrap();
        append(&path, &row("bo@samverkan.se", &p1, "m2")).unwrap();
        assert_eq!(pass_ids(&path).unwrap().len(), 2);
        assert_eq!(with_password(&path).unwrap().len(), 2);
        // Bo's pass was replaced since: his row keeps his newest password only.
        let (csv, _) = finish(&path, "Bjuv", |_, id| id != "m2").unwrap();
        let rows = rows(&csv).unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!((rows[0][3].as_str(), rows[0][6].as_str(), rows[0][7].as_str()), ("abcdefgh", "m1", "'=Pw-one1"));
        assert_eq!((rows[1][3].as_str(), rows[1][6].as_str(), rows[1][7].as_str()), ("", "", "Pw-two22"));
        assert_eq!(pass_ids(&csv).unwrap().len(), 1);
        assert_eq!(with_password(&csv).unwrap().len(), 2);
    }

    #[test]
    fn a_row_cut_short_by_a_kill_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bjuv.csv");
        let p = Secret::new("abcdefgh");
        append(&path, &row("asa@samverkan.se", &p, "m1")).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"Bo;bo@samverkan.se;Unit;xyz").unwrap();
        assert_eq!(pass_ids(&path).unwrap().len(), 1);
        append(&path, &row("cia@samverkan.se", &p, "m2")).unwrap();
        assert_eq!(pass_ids(&path).unwrap().keys().collect::<Vec<_>>(), ["asa@samverkan.se", "cia@samverkan.se"]);
    }
}
