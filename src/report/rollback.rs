//! The rollback report for one municipality and one wave: every change the wave made in each
//! target system (the tenant over Graph, the shared AD over LDAP), the inverse operation that
//! undoes it, the order in which the inverses run, and whether the target still shows the wave's
//! after-state or has drifted since.
//!
//! It exists so that the municipality's own IT people can check, before anything is undone, what
//! a rollback will do and what it will leave alone: drift comes first, because a change someone
//! made after the wave is never overwritten and needs a person. The same rows are written as CSV
//! for Excel and as JSON for tools, next to a self-contained HTML page (inline style and SVG, no
//! script, nothing fetched).

use super::error::ReportError;
use super::html::{esc, px};
use crate::journal::{RunKind, RunStatus, System};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Everything the report shows for one wave, one target and one municipality.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RollbackReport {
    pub wave: u32,
    pub wave_name: String,
    pub target: String,
    /// "" = objects shared by several municipalities (shown as "(shared)"; file name "shared").
    pub municipality: String,
    /// RFC 3339.
    pub generated_at: String,
    /// Whether the target was read live for the verification column.
    pub verified_live: bool,
    pub runs: Vec<RunLine>,
    pub items: Vec<UndoItem>,
}

/// One run of the wave that made changes.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunLine {
    pub id: i64,
    pub kind: RunKind,
    pub operator: String,
    pub host: String,
    pub command: String,
    pub started_at: String,
    pub status: RunStatus,
    pub wave_hash: String,
}

/// One forward change and its inverse.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UndoItem {
    /// The order in which inverses run: step 1 first (memberships/managers, then licences, then restores, then group deletes, user deletes, OU deletes).
    pub step: u32,
    /// The system the change was made in ("tenant" or "shared_ad").
    pub system: System,
    /// A UPN, a group's mail nickname or a DN.
    pub object: String,
    /// The forward change: "create_user", "create_group", "add_member", "update", "set_manager", "assign_licence", "create_ou"...
    pub change: String,
    pub attribute: String,
    pub before: String,
    pub after: String,
    /// When the change was sent (RFC 3339), by whom (operator), from which run and plan (wave file SHA-256).
    pub when: String,
    pub by: String,
    pub run: i64,
    pub plan_hash: String,
    /// The inverse in words a person can check: "DELETE /users/8f1e…", "delete CN=Åsa Öberg,OU=…", "remove member CN=… from CN=…".
    pub inverse: String,
    pub verification: Verification,
    /// Why: the drift found, the deletion that covers it, why it is kept.
    pub note: String,
}

/// What the target showed for a change when the report was made, and so what the rollback does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// The target shows the wave's after-state: the inverse will run.
    Applied,
    /// The target already shows the before-state (undone earlier, or never took effect).
    Undone,
    /// Someone changed the object since the wave: left for a person, never touched.
    Drifted,
    /// Undone by another inverse (deleting the user removes its memberships).
    Covered,
    /// Deliberately kept (shared with other municipalities, not in this rollback's scope).
    Kept,
    /// The target was not read.
    Unverified,
}

impl Verification {
    /// The name as JSON and the CSV have it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Applied => "applied",
            Verification::Undone => "undone",
            Verification::Drifted => "drifted",
            Verification::Covered => "covered",
            Verification::Kept => "kept",
            Verification::Unverified => "unverified",
        }
    }

    /// A short label for people.
    pub fn label(self) -> &'static str {
        match self {
            Verification::Applied => "will be undone",
            Verification::Undone => "already undone",
            Verification::Drifted => "drifted: left alone",
            Verification::Covered => "covered",
            Verification::Kept => "kept",
            Verification::Unverified => "not verified",
        }
    }

    /// The chart and legend colour: fixed, so every report reads the same (Okabe & Ito's
    /// colour-blind-safe palette; vermillion for drift, grey for not read).
    fn colour(self) -> &'static str {
        match self {
            Verification::Applied => "#0072B2",
            Verification::Undone => "#009E73",
            Verification::Drifted => "#D55E00",
            Verification::Covered => "#56B4E9",
            Verification::Kept => "#CC79A7",
            Verification::Unverified => "#7F7F7F",
        }
    }
}

/// Every verification, in stacking, legend and column order.
const VERIFICATIONS: [Verification; 6] = [
    Verification::Applied,
    Verification::Undone,
    Verification::Drifted,
    Verification::Covered,
    Verification::Kept,
    Verification::Unverified,
];

/// Writes `<name>.csv`, `<name>.json` and `<name>.html` into `dir` (created if missing), where name is the municipality or "shared"; returns the three paths (HTML first).
///
/// Characters a file name cannot hold on Windows or Unix (`/ \ : * ? " < > |`, control
/// characters) become `_`; å, ä and ö stay.
pub fn write(report: &RollbackReport, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(ReportError::io(dir))?;
    let name = file_stem(&report.municipality);
    let items = in_step_order(&report.items);

    let csv = dir.join(format!("{name}.csv"));
    let rows = items.iter().map(|i| {
        vec![
            i.step.to_string(),
            i.system.as_str().to_string(),
            i.object.clone(),
            i.change.clone(),
            i.attribute.clone(),
            i.before.clone(),
            i.after.clone(),
            i.inverse.clone(),
            i.verification.as_str().to_string(),
            i.note.clone(),
            i.when.clone(),
            i.by.clone(),
            i.run.to_string(),
            i.plan_hash.clone(),
        ]
    });
    crate::report::csv_excel::write(&csv, &CSV_HEADER, rows)?;

    let json = dir.join(format!("{name}.json"));
    let mut text =
        serde_json::to_string_pretty(report).map_err(|source| ReportError::Json { path: json.clone(), source })?;
    text.push('\n');
    std::fs::write(&json, text).map_err(ReportError::io(&json))?;

    let html = dir.join(format!("{name}.html"));
    std::fs::write(&html, render_html(report, &name)).map_err(ReportError::io(&html))?;
    Ok(vec![html, csv, json])
}

const CSV_HEADER: [&str; 14] = [
    "step",
    "system",
    "object",
    "change",
    "attribute",
    "before",
    "after",
    "inverse",
    "verification",
    "note",
    "when",
    "by",
    "run",
    "plan hash",
];

/// The file name without extension: the municipality, or "shared" for the shared objects.
fn file_stem(municipality: &str) -> String {
    if municipality.is_empty() {
        return "shared".into();
    }
    let cleaned: String =
        municipality.chars().map(|c| if c.is_control() || "/\\:*?\"<>|".contains(c) { '_' } else { c }).collect();
    // Windows drops trailing dots and spaces; a leading dot hides the file on Unix.
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() { "_".into() } else { trimmed.into() }
}

/// The municipality as people read it.
fn shown(municipality: &str) -> &str {
    if municipality.is_empty() { "(shared)" } else { municipality }
}

/// The items in the order the inverses run: by step, then system (by its text: the shared AD's
/// before the tenant's), object and attribute; items equal in all four keep the order they came
/// in.
fn in_step_order(items: &[UndoItem]) -> Vec<&UndoItem> {
    let mut sorted: Vec<&UndoItem> = items.iter().collect();
    sorted.sort_by(|a, b| {
        (a.step, a.system.as_str(), &a.object, &a.attribute).cmp(&(b.step, b.system.as_str(), &b.object, &b.attribute))
    });
    sorted
}

/// Items per kind of change and verification, the kinds in the order they first appear among
/// `items` (so in step order when the items are).
fn counts(items: &[&UndoItem]) -> Vec<(String, [usize; 6])> {
    let mut out: Vec<(String, [usize; 6])> = Vec::new();
    for item in items {
        let column = VERIFICATIONS.iter().position(|v| *v == item.verification).unwrap_or(0);
        match out.iter_mut().find(|(change, _)| *change == item.change) {
            Some((_, row)) => row[column] += 1,
            None => {
                let mut row = [0; 6];
                row[column] = 1;
                out.push((item.change.clone(), row));
            }
        }
    }
    out
}

/// A file name as a relative link: every byte but unreserved ASCII percent-encoded, so spaces,
/// `#` and å, ä, ö survive.
fn href(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

const STYLE: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--line:#d8dee4;--head:#f3f5f7;--drift:#fbeee6}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif}
main{max-width:1280px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:24px;font-weight:650;margin:0 0 8px;letter-spacing:-.01em}
h2{font-size:17px;font-weight:650;margin:32px 0 4px}
p{margin:0 0 10px}
.sub,.empty,footer{color:var(--muted)}
.warn{color:#9a4d00;font-weight:600}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin-top:8px;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{background:var(--head);font-weight:600;border-bottom:1px solid #c4ccd4;white-space:nowrap}
tfoot th,tfoot td{font-weight:650;border-top:2px solid #c4ccd4;border-bottom:0}
tbody tr:nth-child(even){background:#fafbfc}
tr.drifted,tr.drifted:nth-child(even){background:var(--drift)}
.kv th{font-weight:500;color:var(--muted);background:none;padding-left:0;border:0}
.kv td{border:0}
.kv tr:nth-child(even){background:none}
td.obj,td.inv{min-width:12em}
.n{text-align:right}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.scroll{overflow-x:auto}
.none{color:var(--muted);font-style:italic}
code,.obj{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;overflow-wrap:anywhere}
td.nw{white-space:nowrap}
svg.chart{display:block;width:100%;max-width:960px;height:auto;margin:10px 0 0}
svg text{font-size:12px;fill:var(--fg)}
svg .cl{text-anchor:end}
svg .val{font-weight:600}
svg .bar:hover{opacity:.82}
footer{margin-top:40px;font-size:12.5px}
"#;

/// The whole page: self-contained (inline style and SVG, no script, nothing fetched).
fn render_html(report: &RollbackReport, name: &str) -> String {
    let items = in_step_order(&report.items);
    let counts = counts(&items);
    let title = format!(
        "Rollback report: wave {} ({}), {}, target {}",
        report.wave,
        report.wave_name,
        shown(&report.municipality),
        report.target
    );
    let mut out = String::with_capacity(8 * 1024 + items.len() * 400);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{t}</h1>\n",
        t = esc(&title)
    );

    header(&mut out, report, &items);
    drift_section(&mut out, report, &items);
    counts_section(&mut out, &counts);
    runs_table(&mut out, &report.runs);
    items_table(&mut out, &items);

    let _ = writeln!(
        out,
        "<footer>Written by samla. The same rows for Excel: <a href=\"{h}.csv\">{n}.csv</a> (UTF-8, separated by \
         <code>;</code>); everything for tools: <a href=\"{h}.json\">{n}.json</a>.</footer>\n</main>\n</body>\n</html>",
        h = href(name),
        n = esc(name)
    );
    out
}

/// Section 1: what the report is about, and whether the verification column was read live.
fn header(out: &mut String, report: &RollbackReport, items: &[&UndoItem]) {
    out.push_str("<section id=\"about\">\n<table class=\"kv\">\n");
    let mut row = |label: &str, value: &str| {
        let _ = writeln!(out, "<tr><th>{}</th><td>{value}</td></tr>", esc(label));
    };
    row("Wave", &format!("{} ({})", report.wave, esc(&report.wave_name)));
    row("Target", &esc(&report.target));
    row("Municipality", &esc(shown(&report.municipality)));
    row("Generated at", &format!("<time>{}</time>", esc(&report.generated_at)));
    row(
        "Verification",
        if report.verified_live {
            "read live from the target when the report was made"
        } else {
            "<span class=\"warn\">not read live: the target was not read</span>"
        },
    );
    let mut summary = format!("{}", items.len());
    let by_verification: Vec<String> = VERIFICATIONS
        .iter()
        .filter_map(|v| {
            let n = items.iter().filter(|i| i.verification == *v).count();
            (n > 0).then(|| format!("{n} {}", v.label()))
        })
        .collect();
    if !by_verification.is_empty() {
        let _ = write!(summary, " ({})", esc(&by_verification.join(", ")));
    }
    row("Changes", &summary);
    out.push_str("</table>\n</section>\n");
}

/// Section 2, the drift first: changes someone made after the wave, which the rollback leaves
/// alone.
fn drift_section(out: &mut String, report: &RollbackReport, items: &[&UndoItem]) {
    let drifted: Vec<&&UndoItem> = items.iter().filter(|i| i.verification == Verification::Drifted).collect();
    let _ = writeln!(out, "<section id=\"drift\">\n<h2>Drifted since the wave ({})</h2>", drifted.len());
    if !report.verified_live {
        out.push_str("<p class=\"warn\">Not verified: the target was not read.</p>\n");
    }
    if drifted.is_empty() {
        if report.verified_live {
            out.push_str("<p>Nothing drifted.</p>\n");
        }
        out.push_str("</section>\n");
        return;
    }
    out.push_str(
        "<p class=\"sub\">Changed by someone after the wave. The rollback does not touch these: a person decides.</p>\n\
         <div class=\"scroll\">\n<table id=\"drift-table\">\n<thead><tr><th>Object</th><th>Change</th>\
         <th>Attribute</th><th>Note</th></tr></thead>\n<tbody>\n",
    );
    for item in drifted {
        let _ = writeln!(
            out,
            "<tr><td class=\"obj\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&item.object),
            esc(&item.change),
            esc(&item.attribute),
            esc(&item.note)
        );
    }
    out.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

/// Section 3: counts per kind of change: a horizontal bar per kind stacked by verification, then the
/// same counts as a table.
fn counts_section(out: &mut String, counts: &[(String, [usize; 6])]) {
    out.push_str("<section id=\"counts\">\n<h2>Changes by kind</h2>\n");
    if counts.is_empty() {
        out.push_str("<p class=\"empty\">No changes recorded: nothing to undo.</p>\n</section>\n");
        return;
    }
    out.push_str("<p class=\"sub\">Each bar is one kind of change, split by what the rollback does with it.</p>\n");
    chart(out, counts);

    out.push_str("<table id=\"counts-table\">\n<thead><tr><th>Change</th>");
    for v in VERIFICATIONS {
        let _ = write!(
            out,
            "<th class=\"n\"><span class=\"sw\" style=\"background:{}\"></span>{}</th>",
            v.colour(),
            esc(v.label())
        );
    }
    out.push_str("<th class=\"n\">Total</th></tr></thead>\n<tbody>\n");
    for (change, row) in counts {
        let _ = write!(out, "<tr><td>{}</td>", esc(change));
        for n in row {
            let _ = write!(out, "<td class=\"n\">{n}</td>");
        }
        let _ = writeln!(out, "<td class=\"n\">{}</td></tr>", row.iter().sum::<usize>());
    }
    out.push_str("</tbody>\n<tfoot><tr><th>Total</th>");
    for column in 0..VERIFICATIONS.len() {
        let _ = write!(out, "<td class=\"n\">{}</td>", counts.iter().map(|(_, row)| row[column]).sum::<usize>());
    }
    let all: usize = counts.iter().map(|(_, row)| row.iter().sum::<usize>()).sum();
    let _ = writeln!(out, "<td class=\"n\">{all}</td></tr></tfoot>\n</table>\n</section>");
}

/// The chart: a legend row, then one `<g class="change">` per kind of change with its label, a
/// segment per verification that has items, and the total at the end of the bar.
fn chart(out: &mut String, counts: &[(String, [usize; 6])]) {
    const WIDTH: f64 = 960.0;
    const BAR: f64 = 18.0;
    const GAP: f64 = 10.0;
    const TOP: f64 = 40.0;
    let longest = counts.iter().map(|(change, _)| change.chars().count()).max().unwrap_or(0);
    let left = (longest as f64 * 7.2 + 20.0).clamp(90.0, 320.0);
    let right = 56.0;
    let plot = WIDTH - left - right;
    let max = counts.iter().map(|(_, row)| row.iter().sum::<usize>()).max().unwrap_or(0).max(1) as f64;
    let height = TOP + counts.len() as f64 * (BAR + GAP) + 4.0;
    let (w, h) = (px(WIDTH), px(height));
    let _ = writeln!(
        out,
        "<svg id=\"counts-chart\" class=\"chart\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"Changes by kind, stacked by verification\">"
    );

    out.push_str("<g class=\"legend\">\n");
    let mut x = left;
    for v in VERIFICATIONS {
        let _ = writeln!(
            out,
            "<rect x=\"{}\" y=\"6\" width=\"12\" height=\"12\" rx=\"2\" fill=\"{}\"/><text x=\"{}\" y=\"16\">{}</text>",
            px(x),
            v.colour(),
            px(x + 17.0),
            esc(v.label())
        );
        x += 17.0 + v.label().chars().count() as f64 * 6.8 + 18.0;
    }
    out.push_str("</g>\n");

    for (i, (change, row)) in counts.iter().enumerate() {
        let y = TOP + i as f64 * (BAR + GAP);
        let middle = px(y + BAR / 2.0);
        let total: usize = row.iter().sum();
        let ce = esc(change);
        let _ = writeln!(out, "<g class=\"change\" data-change=\"{ce}\">");
        let _ = writeln!(out, "<text class=\"cl\" x=\"{}\" y=\"{middle}\" dy=\"0.35em\">{ce}</text>", px(left - 8.0));
        let mut stacked = 0usize;
        for (v, n) in VERIFICATIONS.iter().zip(row) {
            if *n == 0 {
                continue;
            }
            // Each segment spans from the stack before it to the stack including it, so the
            // segments meet exactly and the whole bar is proportional to the total.
            let start = stacked as f64 / max * plot;
            stacked += n;
            let end = stacked as f64 / max * plot;
            let _ = writeln!(
                out,
                "<rect class=\"bar\" data-verification=\"{}\" data-count=\"{n}\" x=\"{}\" y=\"{}\" width=\"{}\" \
                 height=\"{}\" fill=\"{}\"><title>{ce}: {n} {}</title></rect>",
                v.as_str(),
                px(left + start),
                px(y),
                px(end - start),
                px(BAR),
                v.colour(),
                esc(v.label())
            );
        }
        let end = total as f64 / max * plot;
        let _ = writeln!(
            out,
            "<text class=\"val\" x=\"{}\" y=\"{middle}\" dy=\"0.35em\">{total}</text>\n</g>",
            px(left + end + 6.0)
        );
    }
    out.push_str("</svg>\n");
}

/// Section 4: the runs that made the changes.
fn runs_table(out: &mut String, runs: &[RunLine]) {
    let _ = writeln!(out, "<section id=\"runs\">\n<h2>Runs ({})</h2>", runs.len());
    if runs.is_empty() {
        out.push_str("<p class=\"empty\">No runs recorded.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<div class=\"scroll\">\n<table id=\"runs-table\">\n<thead><tr><th class=\"n\">Run</th><th>Kind</th>\
         <th>Operator</th><th>Host</th><th>Command</th><th>Started at</th><th>Status</th><th>Wave file SHA-256</th>\
         </tr></thead>\n<tbody>\n",
    );
    for r in runs {
        let _ = writeln!(
            out,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td>\
             <td class=\"nw\">{}</td><td>{}</td><td><code>{}</code></td></tr>",
            r.id,
            esc(r.kind.as_str()),
            esc(&r.operator),
            esc(&r.host),
            esc(&r.command),
            esc(&r.started_at),
            esc(r.status.as_str()),
            esc(&r.wave_hash)
        );
    }
    out.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

/// A before or after value: "(none)" when empty, so "(none) → x" reads as "created".
fn value(text: &str) -> String {
    if text.is_empty() { "<span class=\"none\">(none)</span>".into() } else { esc(text) }
}

/// Section 5: every change and its inverse, in the order the inverses run.
fn items_table(out: &mut String, items: &[&UndoItem]) {
    let _ = writeln!(out, "<section id=\"items\">\n<h2>All changes, in undo order ({})</h2>", items.len());
    if items.is_empty() {
        out.push_str("<p class=\"empty\">No changes recorded.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<p class=\"sub\">Step 1 runs first. Drifted, covered and kept changes are not undone by their own \
         inverse.</p>\n\
         <div class=\"scroll\">\n<table id=\"items-table\">\n<thead><tr><th class=\"n\">Step</th><th>System</th>\
         <th>Object</th><th>Change</th><th>Attribute</th><th>Before → after</th><th>Inverse</th><th>Verification</th>\
         <th>Note</th><th>When</th><th>By</th></tr></thead>\n<tbody>\n",
    );
    for i in items {
        let class = if i.verification == Verification::Drifted { " class=\"drifted\"" } else { "" };
        let change = if i.before.is_empty() && i.after.is_empty() {
            String::new()
        } else {
            format!("{} → {}", value(&i.before), value(&i.after))
        };
        let _ = writeln!(
            out,
            "<tr{class} data-verification=\"{}\"><td class=\"n\">{}</td><td>{}</td><td class=\"obj\">{}</td><td>{}</td>\
             <td>{}</td><td>{change}</td><td class=\"inv\"><code>{}</code></td><td class=\"nw\"><span class=\"sw\" \
             style=\"background:{}\"></span>{}</td><td>{}</td><td class=\"nw\">{}</td><td>{}</td></tr>",
            i.verification.as_str(),
            i.step,
            esc(i.system.as_str()),
            esc(&i.object),
            esc(&i.change),
            esc(&i.attribute),
            esc(&i.inverse),
            i.verification.colour(),
            esc(i.verification.label()),
            esc(&i.note),
            esc(&i.when),
            esc(&i.by)
        );
    }
    out.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(step: u32, system: System, object: &str, change: &str, attribute: &str, v: Verification) -> UndoItem {
        UndoItem {
            step,
            system,
            object: object.into(),
            change: change.into(),
            attribute: attribute.into(),
            before: String::new(),
            after: String::new(),
            when: "2026-11-21T09:14:03+01:00".into(),
            by: "märta.ek".into(),
            run: 7,
            plan_hash: "sha256:9c0ffee".into(),
            inverse: String::new(),
            verification: v,
            note: String::new(),
        }
    }

    fn report(municipality: &str) -> RollbackReport {
        let mut manager = item(1, System::Tenant, "asa.oberg@bjuv.se", "set_manager", "manager", Verification::Drifted);
        manager.after = "göran.ström@bjuv.se".into();
        manager.note = "manager is now <script>alert('x')</script> & \"Lärka\"".into();
        let mut member = item(
            1,
            System::SharedAd,
            "CN=Hemtjänst,OU=Grupper,DC=skane,DC=local",
            "add_member",
            "member",
            Verification::Applied,
        );
        member.inverse = "remove member CN=Åsa Öberg,OU=Bjuv from CN=Hemtjänst,OU=Grupper".into();
        let mut licence = item(2, System::Tenant, "asa.oberg@bjuv.se", "assign_licence", "E3", Verification::Covered);
        licence.note = "covered by deleting the user".into();
        let mut user = item(5, System::Tenant, "asa.oberg@bjuv.se", "create_user", "", Verification::Applied);
        user.inverse = "DELETE /users/8f1e…".into();
        let mut ad_user = item(
            5,
            System::SharedAd,
            "CN=Åsa Öberg,OU=Bjuv,DC=skane,DC=local",
            "create_user",
            "",
            Verification::Undone,
        );
        ad_user.inverse = "delete CN=Åsa Öberg,OU=Bjuv,DC=skane,DC=local".into();
        let ou = item(6, System::SharedAd, "OU=Bjuv,DC=skane,DC=local", "create_ou", "", Verification::Kept);
        RollbackReport {
            wave: 3,
            wave_name: "Vård & omsorg".into(),
            target: "prod".into(),
            municipality: municipality.into(),
            generated_at: "2026-11-22T10:00:00+01:00".into(),
            verified_live: true,
            runs: vec![RunLine {
                id: 7,
                kind: RunKind::Run,
                operator: "märta.ek".into(),
                host: "adm01".into(),
                command: "samla execute --wave 3".into(),
                started_at: "2026-11-21T09:00:00+01:00".into(),
                status: RunStatus::Completed,
                wave_hash: "sha256:9c0ffee".into(),
            }],
            // Deliberately out of step order.
            items: vec![ou, user, licence, manager, ad_user, member],
        }
    }

    fn read(path: &Path) -> String {
        String::from_utf8(std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn verification_names_and_labels() {
        for v in VERIFICATIONS {
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::Value::String(v.as_str().into()));
            assert!(!v.label().is_empty());
        }
        assert_eq!(Verification::Drifted.label(), "drifted: left alone");
    }

    #[test]
    fn writes_three_files_html_first() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("rollback/wave-3");
        let paths = write(&report("Bjuv"), &out).unwrap();
        assert_eq!(paths, vec![out.join("Bjuv.html"), out.join("Bjuv.csv"), out.join("Bjuv.json")]);
        assert!(paths.iter().all(|p| p.is_file()));
    }

    #[test]
    fn shared_objects_write_files_named_shared() {
        let dir = tempfile::tempdir().unwrap();
        let paths = write(&report(""), dir.path()).unwrap();
        let names: Vec<String> = paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["shared.html", "shared.csv", "shared.json"]);
        let html = read(&paths[0]);
        assert!(html.contains("<title>Rollback report: wave 3 (Vård &amp; omsorg), (shared), target prod</title>"));
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_stem("Höör"), "Höör");
        assert_eq!(file_stem("a/b\\c:d"), "a_b_c_d");
        assert_eq!(file_stem(".."), "_");
        assert_eq!(href("Upplands Väsby"), "Upplands%20V%C3%A4sby");
    }

    #[test]
    fn csv_has_bom_header_swedish_text_and_step_order() {
        let dir = tempfile::tempdir().unwrap();
        let paths = write(&report("Bjuv"), dir.path()).unwrap();
        let bytes = std::fs::read(&paths[1]).unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "step;system;object;change;attribute;before;after;inverse;verification;note;when;by;run;plan hash"
        );
        let keys: Vec<(String, String, String)> = lines
            .map(|l| {
                let f: Vec<&str> = l.split(';').collect();
                (f[0].to_string(), f[1].to_string(), f[3].to_string())
            })
            .collect();
        let expected = [
            ("1", "shared_ad", "add_member"),
            ("1", "tenant", "set_manager"),
            ("2", "tenant", "assign_licence"),
            ("5", "shared_ad", "create_user"),
            ("5", "tenant", "create_user"),
            ("6", "shared_ad", "create_ou"),
        ];
        let expected: Vec<(String, String, String)> =
            expected.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
        assert_eq!(keys, expected);
        assert!(text.contains("CN=Åsa Öberg,OU=Bjuv,DC=skane,DC=local"));
        assert!(text.contains(";;göran.ström@bjuv.se;"));
        assert!(text.contains(";drifted;"));
        assert!(text.contains(";märta.ek;7;sha256:9c0ffee"));
    }

    #[test]
    fn json_round_trips_the_fields() {
        let dir = tempfile::tempdir().unwrap();
        let r = report("Bjuv");
        let paths = write(&r, dir.path()).unwrap();
        let text = read(&paths[2]);
        assert!(text.ends_with("}\n"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["wave"], 3);
        assert_eq!(v["wave_name"], "Vård & omsorg");
        assert_eq!(v["municipality"], "Bjuv");
        assert_eq!(v["verified_live"], true);
        assert_eq!(v["runs"][0]["operator"], "märta.ek");
        assert_eq!(v["items"].as_array().unwrap().len(), r.items.len());
        for (json, item) in v["items"].as_array().unwrap().iter().zip(&r.items) {
            assert_eq!(json["step"], item.step);
            assert_eq!(json["object"], item.object.as_str());
            assert_eq!(json["after"], item.after.as_str());
            assert_eq!(json["run"], item.run);
            assert_eq!(json["verification"], item.verification.as_str());
        }
        assert_eq!(v["items"][3]["verification"], "drifted");
    }

    #[test]
    fn html_puts_drift_first_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let paths = write(&report("Bjuv"), dir.path()).unwrap();
        let html = read(&paths[0]);
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("<title>Rollback report: wave 3 (Vård &amp; omsorg), Bjuv, target prod</title>"));
        let drift = html.find("Drifted since the wave").unwrap();
        let chart = html.find("id=\"counts-chart\"").unwrap();
        let runs = html.find("id=\"runs-table\"").unwrap();
        let table = html.find("id=\"items-table\"").unwrap();
        assert!(drift < chart && chart < runs && runs < table);
        let section = &html[drift..html[drift..].find("</section>").unwrap() + drift];
        assert!(section.contains("asa.oberg@bjuv.se"));
        assert!(section.contains("set_manager"));
        assert!(!section.contains("add_member"), "only drifted items are listed");
        assert!(!html.contains("<script"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Lärka&quot;"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(html.contains("href=\"Bjuv.csv\""));
    }

    #[test]
    fn html_says_when_nothing_drifted_or_nothing_was_read() {
        let mut r = report("Bjuv");
        r.items.retain(|i| i.verification != Verification::Drifted);
        assert!(render_html(&r, "Bjuv").contains("<p>Nothing drifted.</p>"));
        r.verified_live = false;
        for i in &mut r.items {
            i.verification = Verification::Unverified;
        }
        let html = render_html(&r, "Bjuv");
        assert!(html.contains("Not verified: the target was not read."));
        assert!(!html.contains("Nothing drifted."));
    }

    #[test]
    fn chart_has_one_bar_group_per_kind_of_change() {
        let r = report("Bjuv");
        let html = render_html(&r, "Bjuv");
        let svg = &html[html.find("<svg").unwrap()..html.find("</svg>").unwrap()];
        let kinds: std::collections::BTreeSet<&str> = r.items.iter().map(|i| i.change.as_str()).collect();
        assert_eq!(svg.matches("<g class=\"change\"").count(), kinds.len());
        for kind in &kinds {
            assert!(svg.contains(&format!("<g class=\"change\" data-change=\"{kind}\">")));
        }
        // create_user: one applied (tenant) and one undone (shared AD), total 2 at the bar's end.
        let group = svg.split("<g class=\"change\" data-change=\"create_user\">").nth(1).unwrap();
        let group = &group[..group.find("</g>").unwrap()];
        assert_eq!(group.matches("<rect class=\"bar\"").count(), 2);
        assert!(group.contains("data-verification=\"applied\" data-count=\"1\""));
        assert!(group.contains("data-verification=\"undone\" data-count=\"1\""));
        assert!(group.contains(">2</text>"));
        // The legend has every verification; the table has a row per kind.
        for v in VERIFICATIONS {
            assert!(svg.contains(&format!(">{}</text>", esc(v.label()))));
        }
        let table = &html[html.find("id=\"counts-table\"").unwrap()..];
        let table = &table[..table.find("</table>").unwrap()];
        assert_eq!(table.matches("<tr><td>").count(), kinds.len());
    }

    #[test]
    fn empty_report_still_renders() {
        let mut r = report("Bjuv");
        r.items.clear();
        r.runs.clear();
        let html = render_html(&r, "Bjuv");
        assert!(html.contains("Nothing drifted."));
        assert!(html.contains("No changes recorded"));
        assert!(!html.contains("<svg"));
    }
}
