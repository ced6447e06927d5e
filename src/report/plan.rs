//! The plan report for people: a self-contained HTML page (no network needed to open it) with
//! the waves as a chart (accounts per wave stacked by municipality, and impact per wave) and the
//! table behind it, plus the same tables as CSV for Excel.

use super::csv_excel;
use super::error::ReportError;
use super::html::{esc, px};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Everything the report shows; built by `samla plan` from the planned waves.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlanReport {
    /// When the plan was made (RFC 3339).
    pub planned_at: String,
    /// Inputs the waves were planned from, label -> value (hashes of the unified directory,
    /// the mappings, each snapshot).
    pub inputs: Vec<(String, String)>,
    /// The municipalities, in the order their colours and columns appear.
    pub municipalities: Vec<String>,
    pub waves: Vec<WaveRow>,
    pub units: Vec<UnitRow>,
}

/// One wave.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WaveRow {
    pub number: u32,
    pub name: String,
    /// "planned", "stale: ...", later "executed".
    pub status: String,
    /// Accounts created in the wave, per municipality (every municipality of the report is a key).
    pub accounts: BTreeMap<String, usize>,
    pub units: usize,
    pub groups_created: usize,
    pub memberships: usize,
    pub manager_links: usize,
    /// The sum of its units' impact scores.
    pub impact: f64,
}

/// One unit and the wave it is in.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UnitRow {
    pub wave: u32,
    /// "municipality/unit path", e.g. "bjuv/Socialförvaltningen/Hemtjänst".
    pub unit: String,
    pub municipality: String,
    pub accounts: usize,
    pub impact: f64,
    /// "pinned", "moved", "excluded" or "".
    pub note: String,
}

/// Writes `waves.html`, `waves.csv` and `units.csv` into `dir`; returns the HTML file's path.
pub fn write(report: &PlanReport, dir: &Path) -> Result<PathBuf, ReportError> {
    std::fs::create_dir_all(dir).map_err(ReportError::io(dir))?;
    let municipalities = municipalities(report);

    let mut header: Vec<&str> = vec!["wave", "name", "status"];
    header.extend(municipalities.iter().map(String::as_str));
    header.extend(["accounts", "units", "groups created", "memberships", "manager links", "impact"]);
    let rows = report.waves.iter().map(|w| {
        let mut row = vec![w.number.to_string(), w.name.clone(), w.status.clone()];
        row.extend(municipalities.iter().map(|m| accounts_of(w, m).to_string()));
        row.extend([
            total_accounts(w, &municipalities).to_string(),
            w.units.to_string(),
            w.groups_created.to_string(),
            w.memberships.to_string(),
            w.manager_links.to_string(),
            impact(w.impact),
        ]);
        row
    });
    csv_excel::write(&dir.join("waves.csv"), &header, rows)?;

    let rows = report.units.iter().map(|u| {
        vec![
            u.wave.to_string(),
            u.unit.clone(),
            u.municipality.clone(),
            u.accounts.to_string(),
            impact(u.impact),
            u.note.clone(),
        ]
    });
    csv_excel::write(&dir.join("units.csv"), &["wave", "unit", "municipality", "accounts", "impact", "note"], rows)?;

    let html = dir.join("waves.html");
    std::fs::write(&html, render_html(report)).map_err(ReportError::io(&html))?;
    Ok(html)
}

/// The municipalities in column and colour order: the report's own list (without repeats), then
/// any a wave counts accounts for that the list lacks, so no account goes missing from the totals.
fn municipalities(report: &PlanReport) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(report.municipalities.len());
    let extra = report.waves.iter().flat_map(|w| w.accounts.keys());
    for m in report.municipalities.iter().chain(extra) {
        if !out.contains(m) {
            out.push(m.clone());
        }
    }
    out
}

fn accounts_of(wave: &WaveRow, municipality: &str) -> usize {
    wave.accounts.get(municipality).copied().unwrap_or(0)
}

fn total_accounts(wave: &WaveRow, municipalities: &[String]) -> usize {
    municipalities.iter().map(|m| accounts_of(wave, m)).sum()
}

/// An impact score as the tables show it: one decimal.
fn impact(value: f64) -> String {
    format!("{value:.1}")
}

/// A value as a bar can show it: non-negative and finite.
fn drawable(value: f64) -> f64 {
    if value.is_finite() && value > 0.0 { value } else { 0.0 }
}

/// Municipality colours in legend order: Okabe & Ito's colour-blind-safe palette (and grey), then
/// dark tones from Paul Tol's palettes that stay apart from them; repeats after fourteen.
const PALETTE: [&str; 14] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#7F7F7F", "#332288", "#882255",
    "#44AA99", "#999933", "#661100", "#6699CC",
];
/// The impact chart's single colour, apart from the municipalities' palette.
const IMPACT_COLOUR: &str = "#4B5D73";

fn colour(index: usize) -> &'static str {
    PALETTE[index % PALETTE.len()]
}

/// A value axis from 0 to `top` in round steps.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    top: f64,
    step: f64,
    decimals: usize,
}

impl Scale {
    /// The smallest round axis (steps of 1, 2, 2.5 or 5 times a power of ten, about five of
    /// them) that holds `max`; `integer` axes (counts) never step by a fraction.
    fn of(max: f64, integer: bool) -> Scale {
        let max = drawable(max);
        if max == 0.0 {
            return if integer {
                Scale { top: 1.0, step: 1.0, decimals: 0 }
            } else {
                Scale { top: 1.0, step: 0.5, decimals: 1 }
            };
        }
        let raw = max / 5.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let mut step = 10.0 * magnitude;
        for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
            if integer && m == 2.5 && magnitude < 10.0 {
                continue;
            }
            if raw <= m * magnitude * (1.0 + 1e-9) {
                step = m * magnitude;
                break;
            }
        }
        if integer {
            step = step.max(1.0).round();
        }
        let top = ((max / step) - 1e-9).ceil().max(1.0) * step;
        let decimals = (0..4).find(|&d| (step * 10f64.powi(d)).fract().abs() < 1e-6).unwrap_or(4) as usize;
        Scale { top, step, decimals }
    }

    fn ticks(&self) -> Vec<f64> {
        let n = (self.top / self.step).round() as usize;
        (0..=n).map(|i| i as f64 * self.step).collect()
    }

    fn label(&self, value: f64) -> String {
        format!("{value:.*}", self.decimals)
    }
}

/// Where the bars of a chart go: `n` slots across the plot area.
struct Frame {
    width: f64,
    left: f64,
    right: f64,
    top: f64,
    plot_height: f64,
    bottom: f64,
    n: usize,
}

impl Frame {
    const WIDTH: f64 = 1232.0;

    /// A frame whose left margin holds the longest value label of `scale` beside the axis title.
    fn new(top: f64, plot_height: f64, n: usize, scale: &Scale) -> Frame {
        let chars = scale.ticks().iter().map(|t| scale.label(*t).len()).max().unwrap_or(1);
        let left = (36.0 + chars as f64 * 6.5).max(64.0);
        Frame { width: Self::WIDTH, left, right: 16.0, top, plot_height, bottom: 46.0, n }
    }

    fn height(&self) -> f64 {
        self.top + self.plot_height + self.bottom
    }

    fn plot_width(&self) -> f64 {
        self.width - self.left - self.right
    }

    fn baseline(&self) -> f64 {
        self.top + self.plot_height
    }

    fn slot(&self) -> f64 {
        self.plot_width() / self.n.max(1) as f64
    }

    fn bar_width(&self) -> f64 {
        (self.slot() * 0.72).min(72.0)
    }

    fn centre(&self, i: usize) -> f64 {
        self.left + self.slot() * (i as f64 + 0.5)
    }

    /// The height of `value` on `scale`: proportional, so 0 is no bar at all.
    fn bar_height(&self, value: f64, scale: &Scale) -> f64 {
        drawable(value) / scale.top * self.plot_height
    }

    /// Label every how many waves so that labels of `chars` characters do not overlap:
    /// 1, 2, 5, 10, 20, 50, ...
    fn label_every(&self, chars: usize) -> usize {
        let need = chars as f64 * 7.0 + 8.0;
        let mut base = 1usize;
        loop {
            for m in [1, 2, 5] {
                let k = m * base;
                if self.slot() * k as f64 >= need || k >= self.n {
                    return k;
                }
            }
            base = base.saturating_mul(10);
        }
    }

    fn svg_open(&self, out: &mut String, id: &str, label: &str) {
        let (w, h) = (px(self.width), px(self.height()));
        let _ = writeln!(
            out,
            "<svg id=\"{id}\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
            esc(label)
        );
    }

    /// Grid lines and value labels of the y axis, wave numbers along the x axis, axis titles.
    fn axes(&self, out: &mut String, scale: &Scale, y_title: &str, waves: &[WaveRow]) {
        let (x0, x1) = (px(self.left), px(self.left + self.plot_width()));
        for tick in scale.ticks() {
            let y = px(self.baseline() - self.bar_height(tick, scale));
            let class = if tick == 0.0 { "axis" } else { "grid" };
            let _ = writeln!(out, "<line class=\"{class}\" x1=\"{x0}\" x2=\"{x1}\" y1=\"{y}\" y2=\"{y}\"/>");
            let _ = writeln!(
                out,
                "<text class=\"yl\" x=\"{}\" y=\"{y}\" dy=\"0.32em\">{}</text>",
                px(self.left - 8.0),
                scale.label(tick)
            );
        }
        let chars = waves.iter().map(|w| w.number.to_string().len()).max().unwrap_or(1);
        let every = self.label_every(chars);
        let y = px(self.baseline() + 16.0);
        for (i, wave) in waves.iter().enumerate() {
            if (i + 1) % every == 0 || (i == 0 && every >= 5) {
                let _ = writeln!(
                    out,
                    "<text class=\"xl\" x=\"{}\" y=\"{y}\">{}<title>Wave {}: {}</title></text>",
                    px(self.centre(i)),
                    wave.number,
                    wave.number,
                    esc(&wave.name)
                );
            }
        }
        let _ = writeln!(
            out,
            "<text class=\"at\" x=\"{}\" y=\"{}\">Wave</text>",
            px(self.left + self.plot_width() / 2.0),
            px(self.baseline() + 38.0)
        );
        let (tx, ty) = (px(16.0), px(self.top + self.plot_height / 2.0));
        let _ = writeln!(
            out,
            "<text class=\"at\" x=\"{tx}\" y=\"{ty}\" transform=\"rotate(-90 {tx} {ty})\">{}</text>",
            esc(y_title)
        );
    }
}

/// The legend above the accounts chart: a swatch and name per municipality, wrapped into rows.
/// Returns the markup and the height it takes.
fn legend(municipalities: &[String], left: f64, width: f64) -> (String, f64) {
    let mut out = String::from("<g class=\"legend\">\n");
    let (mut x, mut y) = (left, 8.0);
    for (i, m) in municipalities.iter().enumerate() {
        let w = 18.0 + m.chars().count() as f64 * 7.0 + 22.0;
        if x + w > width && x > left {
            x = left;
            y += 20.0;
        }
        let _ = writeln!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" rx=\"2\" fill=\"{}\"/>\
             <text class=\"lg\" x=\"{}\" y=\"{}\">{}</text>",
            px(x),
            px(y),
            colour(i),
            px(x + 18.0),
            px(y + 10.0),
            esc(m)
        );
        x += w;
    }
    out.push_str("</g>\n");
    (out, y + 12.0)
}

/// Chart 1: accounts per wave, stacked by municipality.
fn accounts_chart(out: &mut String, report: &PlanReport, municipalities: &[String]) {
    let totals: Vec<usize> = report.waves.iter().map(|w| total_accounts(w, municipalities)).collect();
    let scale = Scale::of(totals.iter().copied().max().unwrap_or(0) as f64, true);
    let mut frame = Frame::new(0.0, 300.0, report.waves.len(), &scale);
    let (legend, legend_height) = legend(municipalities, frame.left, frame.width - frame.right);
    frame.top = legend_height + 28.0;
    frame.svg_open(out, "accounts-chart", "Accounts per wave, stacked by municipality");
    out.push_str(&legend);
    frame.axes(out, &scale, "Accounts", &report.waves);
    let show_totals = frame.slot() >= 9.0 * totals.iter().map(|t| t.to_string().len()).max().unwrap_or(1) as f64;
    let (bar_width, base) = (frame.bar_width(), frame.baseline());
    for (i, (wave, total)) in report.waves.iter().zip(&totals).enumerate() {
        let x = px(frame.centre(i) - bar_width / 2.0);
        let _ = writeln!(out, "<g class=\"wave\" data-wave=\"{}\">", wave.number);
        let mut stacked = 0usize;
        for (m_index, m) in municipalities.iter().enumerate() {
            let accounts = accounts_of(wave, m);
            if accounts == 0 {
                continue;
            }
            // Each segment spans from the stack below it to the stack including it, so the
            // segments meet exactly and the whole bar is proportional to the wave's total.
            let lower = frame.bar_height(stacked as f64, &scale);
            stacked += accounts;
            let upper = frame.bar_height(stacked as f64, &scale);
            let _ = writeln!(
                out,
                "<rect class=\"bar\" data-wave=\"{n}\" data-municipality=\"{me}\" data-accounts=\"{accounts}\" \
                 x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>Wave {n}: {}\n{me}: {accounts} of \
                 {total} accounts</title></rect>",
                px(base - upper),
                px(bar_width),
                px(upper - lower),
                colour(m_index),
                esc(&wave.name),
                n = wave.number,
                me = esc(m),
            );
        }
        if show_totals {
            let y = base - frame.bar_height(*total as f64, &scale) - 6.0;
            let _ = writeln!(out, "<text class=\"val\" x=\"{}\" y=\"{}\">{total}</text>", px(frame.centre(i)), px(y));
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
}

/// Chart 2: the impact score per wave.
fn impact_chart(out: &mut String, report: &PlanReport) {
    let max = report.waves.iter().map(|w| drawable(w.impact)).fold(0.0, f64::max);
    let scale = Scale::of(max, false);
    let frame = Frame::new(24.0, 200.0, report.waves.len(), &scale);
    frame.svg_open(out, "impact-chart", "Impact score per wave");
    frame.axes(out, &scale, "Impact", &report.waves);
    let labels: Vec<String> = report.waves.iter().map(|w| impact(w.impact)).collect();
    let show_values = frame.slot() >= 8.0 * labels.iter().map(String::len).max().unwrap_or(1) as f64;
    let (bar_width, base) = (frame.bar_width(), frame.baseline());
    for (i, (wave, label)) in report.waves.iter().zip(&labels).enumerate() {
        let height = frame.bar_height(wave.impact, &scale);
        let _ = writeln!(
            out,
            "<rect class=\"bar\" data-wave=\"{n}\" data-impact=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" \
             fill=\"{IMPACT_COLOUR}\"><title>Wave {n}: {}\nimpact {label}</title></rect>",
            wave.impact,
            px(frame.centre(i) - bar_width / 2.0),
            px(base - height),
            px(bar_width),
            px(height),
            esc(&wave.name),
            n = wave.number,
        );
        if show_values {
            let _ = writeln!(
                out,
                "<text class=\"val\" x=\"{}\" y=\"{}\">{label}</text>",
                px(frame.centre(i)),
                px(base - height - 6.0)
            );
        }
    }
    out.push_str("</svg>\n");
}

const STYLE: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--line:#d8dee4;--head:#f3f5f7}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif}
main{max-width:1280px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:26px;font-weight:650;margin:0 0 4px;letter-spacing:-.01em}
h2{font-size:17px;font-weight:650;margin:36px 0 2px}
p{margin:0 0 10px}
.meta,.sub,.empty,footer{color:var(--muted)}
.meta b{color:var(--fg);font-weight:600}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin-top:8px;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap;vertical-align:top}
thead th{background:var(--head);font-weight:600;border-bottom:1px solid #c4ccd4}
tfoot th,tfoot td{font-weight:650;border-top:2px solid #c4ccd4;border-bottom:0}
tbody tr:nth-child(even){background:#fafbfc}
.n{text-align:right}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.stale{color:#9a4d00;font-weight:600}
.scroll{overflow-x:auto}
.kv th{font-weight:500;color:var(--muted);background:none;padding-left:0}
.kv td{white-space:normal}
code{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;word-break:break-all}
svg.chart{display:block;width:100%;max-width:1232px;height:auto;margin:10px 0 0}
svg text{font-size:11px;fill:var(--muted)}
svg .yl{text-anchor:end}
svg .xl,svg .val,svg .at{text-anchor:middle}
svg .val{fill:var(--fg);font-weight:600;font-size:10.5px}
svg .lg{font-size:12px;fill:var(--fg)}
svg .at{font-size:12px}
svg .grid{stroke:#e7ebef;stroke-width:1}
svg .axis{stroke:#8c959f;stroke-width:1}
svg .bar:hover{opacity:.82}
#waves-table tbody td:nth-child(2),#waves-table tbody td:nth-child(3){white-space:normal;min-width:7.5em}
#waves-table thead th{white-space:normal;vertical-align:bottom}
#waves-table thead th.m{white-space:nowrap}
#units-table thead th{position:sticky;top:0}
#units-table td:nth-child(1),#units-table td:nth-child(4),#units-table td:nth-child(5){text-align:right}
#units-table td:nth-child(2){white-space:normal;overflow-wrap:anywhere}
footer{margin-top:40px;font-size:12.5px}
"#;

/// The whole page: self-contained (inline style and SVG, no script, nothing fetched).
fn render_html(report: &PlanReport) -> String {
    let municipalities = municipalities(report);
    let totals: Vec<usize> = report.waves.iter().map(|w| total_accounts(w, &municipalities)).collect();
    let all_accounts: usize = totals.iter().sum();
    let mut out = String::with_capacity(16 * 1024 + report.units.len() * 120);
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"sv\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>samla: migration waves</title>\n<style>",
    );
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n<main>\n<h1>samla: migration waves</h1>\n");
    let plural = |n: usize, one: &str, many: &str| format!("<b>{n}</b> {}", if n == 1 { one } else { many });
    let _ = writeln!(
        out,
        "<p class=\"meta\">Planned at <time>{}</time> · {} · {} · {} · {}</p>",
        esc(&report.planned_at),
        plural(report.waves.len(), "wave", "waves"),
        plural(all_accounts, "account", "accounts"),
        plural(report.units.len(), "unit", "units"),
        plural(municipalities.len(), "municipality", "municipalities"),
    );

    out.push_str("<section id=\"inputs\">\n<h2>Inputs</h2>\n");
    if report.inputs.is_empty() {
        out.push_str("<p class=\"empty\">No inputs recorded.</p>\n");
    } else {
        out.push_str("<table class=\"kv\">\n");
        for (label, value) in &report.inputs {
            let _ = writeln!(out, "<tr><th>{}</th><td><code>{}</code></td></tr>", esc(label), esc(value));
        }
        out.push_str("</table>\n");
    }
    out.push_str("</section>\n");

    if report.waves.is_empty() {
        out.push_str("<section id=\"charts\">\n<h2>Waves</h2>\n<p class=\"empty\">No waves planned: nothing to chart.</p>\n</section>\n");
    } else {
        out.push_str("<section id=\"charts\">\n<h2>Accounts per wave</h2>\n");
        out.push_str("<p class=\"sub\">Accounts created in each wave, by municipality.</p>\n");
        accounts_chart(&mut out, report, &municipalities);
        out.push_str("<h2>Impact per wave</h2>\n");
        out.push_str("<p class=\"sub\">The sum of the impact scores of the wave's units.</p>\n");
        impact_chart(&mut out, report);
        out.push_str("</section>\n");
    }

    waves_table(&mut out, report, &municipalities, &totals);
    units_table(&mut out, report);
    out.push_str(
        "<footer>Written by samla. The same tables for Excel: <a href=\"waves.csv\">waves.csv</a> and \
         <a href=\"units.csv\">units.csv</a> (UTF-8, separated by <code>;</code>).</footer>\n</main>\n</body>\n</html>\n",
    );
    out
}

/// The table behind the charts: the columns of waves.csv and a total row.
fn waves_table(out: &mut String, report: &PlanReport, municipalities: &[String], totals: &[usize]) {
    out.push_str("<section>\n<h2>Waves</h2>\n<div class=\"scroll\">\n<table id=\"waves-table\">\n<thead><tr>");
    out.push_str("<th class=\"n\">Wave</th><th>Name</th><th>Status</th>");
    for (i, m) in municipalities.iter().enumerate() {
        let _ = write!(
            out,
            "<th class=\"n m\"><span class=\"sw\" style=\"background:{}\"></span>{}</th>",
            colour(i),
            esc(m)
        );
    }
    out.push_str(
        "<th class=\"n\">Accounts</th><th class=\"n\">Units</th><th class=\"n\">Groups created</th>\
         <th class=\"n\">Memberships</th><th class=\"n\">Manager links</th><th class=\"n\">Impact</th></tr></thead>\n<tbody>\n",
    );
    let cell = |out: &mut String, v: &dyn std::fmt::Display| {
        let _ = write!(out, "<td class=\"n\">{v}</td>");
    };
    for (wave, total) in report.waves.iter().zip(totals) {
        let stale = if wave.status.starts_with("stale") { " class=\"stale\"" } else { "" };
        let _ = write!(
            out,
            "<tr data-wave=\"{}\"><td class=\"n\">{}</td><td>{}</td><td{stale}>{}</td>",
            wave.number,
            wave.number,
            esc(&wave.name),
            esc(&wave.status)
        );
        for m in municipalities {
            cell(out, &accounts_of(wave, m));
        }
        for v in [*total, wave.units, wave.groups_created, wave.memberships, wave.manager_links] {
            cell(out, &v);
        }
        cell(out, &impact(wave.impact));
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n<tfoot><tr><th colspan=\"3\">Total</th>");
    for m in municipalities {
        cell(out, &report.waves.iter().map(|w| accounts_of(w, m)).sum::<usize>());
    }
    let sum = |f: fn(&WaveRow) -> usize| report.waves.iter().map(f).sum::<usize>();
    cell(out, &totals.iter().sum::<usize>());
    cell(out, &sum(|w| w.units));
    cell(out, &sum(|w| w.groups_created));
    cell(out, &sum(|w| w.memberships));
    cell(out, &sum(|w| w.manager_links));
    cell(out, &impact(report.waves.iter().map(|w| w.impact).sum()));
    out.push_str("</tr></tfoot>\n</table>\n</div>\n</section>\n");
}

/// Every unit and its wave; can run to thousands of rows, so the markup stays light (cells
/// without end tags, alignment from the style sheet).
fn units_table(out: &mut String, report: &PlanReport) {
    let _ = writeln!(out, "<section>\n<h2>Units ({})</h2>", report.units.len());
    if report.units.is_empty() {
        out.push_str("<p class=\"empty\">No units.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table id=\"units-table\">\n<thead><tr><th>Wave</th><th>Unit</th><th>Municipality</th><th>Accounts</th>\
         <th>Impact</th><th>Note</th></tr></thead>\n<tbody>\n",
    );
    for u in &report.units {
        let _ = writeln!(
            out,
            "<tr><td>{}<td>{}<td>{}<td>{}<td>{}<td>{}",
            u.wave,
            esc(&u.unit),
            esc(&u.municipality),
            u.accounts,
            impact(u.impact),
            esc(&u.note)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const MUNICIPALITIES: [&str; 3] = ["bjuv", "klippan", "perstorp"];

    fn wave(number: u32, accounts: [usize; 3], impact: f64) -> WaveRow {
        WaveRow {
            number,
            name: format!("Wave <{number}> & \"Åsa\""),
            status: "planned".into(),
            accounts: MUNICIPALITIES.iter().map(|m| m.to_string()).zip(accounts).collect(),
            units: 2,
            groups_created: 3,
            memberships: 40,
            manager_links: 5,
            impact,
        }
    }

    fn report(waves: Vec<WaveRow>) -> PlanReport {
        PlanReport {
            planned_at: "2026-11-20T10:00:00+01:00".into(),
            inputs: vec![("unified directory".into(), "sha256:ab12".into())],
            municipalities: MUNICIPALITIES.iter().map(|m| m.to_string()).collect(),
            waves,
            units: vec![UnitRow {
                wave: 1,
                unit: "bjuv/Teknik <&> Service/Gata & Park \"Väg\" 'Ö'".into(),
                municipality: "bjuv".into(),
                accounts: 12,
                impact: 3.25,
                note: "pinned".into(),
            }],
        }
    }

    type Segment = (u32, String, f64);

    /// (data-wave, data-municipality, height) of every accounts bar segment, and
    /// (data-wave, height) of every impact bar.
    fn bars(html: &str) -> (Vec<Segment>, Vec<(u32, f64)>) {
        let (accounts, impact) = html.split_once("id=\"impact-chart\"").unwrap();
        let segment = regex::Regex::new(
            r#"<rect class="bar" data-wave="(\d+)" data-municipality="([^"]*)" data-accounts="\d+" x="[^"]*" y="[^"]*" width="[^"]*" height="([^"]*)""#,
        )
        .unwrap();
        let segments = segment
            .captures_iter(accounts)
            .map(|c| (c[1].parse().unwrap(), c[2].to_string(), c[3].parse().unwrap()))
            .collect();
        let bar =
            regex::Regex::new(r#"<rect class="bar" data-wave="(\d+)" data-impact="[^"]*" x="[^"]*" y="[^"]*" width="[^"]*" height="([^"]*)""#)
                .unwrap();
        let impacts = bar.captures_iter(impact).map(|c| (c[1].parse().unwrap(), c[2].parse().unwrap())).collect();
        (segments, impacts)
    }

    #[test]
    fn escapes_text_for_html() {
        assert_eq!(esc(r#"a<b>&"c"'d' åäö"#), "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39; åäö");
        let html = render_html(&report(vec![wave(1, [1, 2, 3], 1.0)]));
        assert!(html.contains("bjuv/Teknik &lt;&amp;&gt; Service/Gata &amp; Park &quot;Väg&quot; &#39;Ö&#39;"));
        assert!(html.contains("Wave &lt;1&gt; &amp; &quot;Åsa&quot;"));
        assert!(!html.contains("<1>") && !html.contains("<&>"));
    }

    #[test]
    fn csv_files_have_bom_semicolons_and_the_columns() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = report(vec![wave(1, [10, 0, 5], 12.345), wave(2, [1, 2, 3], 0.0)]);
        r.waves[1].status = "stale: bjuv changed".into();
        let html = write(&r, &dir.path().join("out")).unwrap();
        assert_eq!(html, dir.path().join("out/waves.html"));
        let read = |name: &str| {
            let bytes = std::fs::read(dir.path().join("out").join(name)).unwrap();
            assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "{name} has no BOM");
            String::from_utf8(bytes[3..].to_vec()).unwrap()
        };
        let waves = read("waves.csv");
        let lines: Vec<&str> = waves.lines().collect();
        assert_eq!(
            lines,
            [
                "wave;name;status;bjuv;klippan;perstorp;accounts;units;groups created;memberships;manager links;impact",
                "1;\"Wave <1> & \"\"Åsa\"\"\";planned;10;0;5;15;2;3;40;5;12.3",
                "2;\"Wave <2> & \"\"Åsa\"\"\";stale: bjuv changed;1;2;3;6;2;3;40;5;0.0",
            ]
        );
        assert_eq!(
            read("units.csv"),
            "wave;unit;municipality;accounts;impact;note\n\
             1;\"bjuv/Teknik <&> Service/Gata & Park \"\"Väg\"\" 'Ö'\";bjuv;12;3.2;pinned\n"
        );
    }

    #[test]
    fn bar_heights_are_proportional_to_the_values() {
        let r = report(vec![
            wave(1, [100, 50, 50], 10.0),
            wave(2, [0, 100, 0], 2.5),
            wave(3, [0, 0, 0], 0.0),
            wave(4, [7, 0, 13], 7.5),
        ]);
        let html = render_html(&r);
        let (segments, impacts) = bars(&html);
        // No segment for a municipality (or a wave) without accounts.
        let drawn: Vec<(u32, &str)> = segments.iter().map(|(w, m, _)| (*w, m.as_str())).collect();
        assert_eq!(drawn, [(1, "bjuv"), (1, "klippan"), (1, "perstorp"), (2, "klippan"), (4, "bjuv"), (4, "perstorp")]);
        let per_account = segments[0].2 / 100.0;
        assert!(per_account > 0.5);
        for ((_, _, height), accounts) in segments.iter().zip([100.0, 50.0, 50.0, 100.0, 7.0, 13.0]) {
            assert!((height - accounts * per_account).abs() < 0.02, "{height} for {accounts}");
        }
        let per_point = impacts[0].1 / 10.0;
        for ((_, height), value) in impacts.iter().zip([10.0, 2.5, 0.0, 7.5]) {
            assert!((height - value * per_point).abs() < 0.02, "{height} for {value}");
        }
        assert_eq!(impacts[2].1, 0.0);
    }

    #[test]
    fn segments_stack_without_gaps_on_the_baseline() {
        let html = render_html(&report(vec![wave(1, [3, 3, 3], 1.0)]));
        let re = regex::Regex::new(r#"data-wave="1" data-municipality="[a-z]+" data-accounts="3" x="[^"]*" y="([^"]*)" width="[^"]*" height="([^"]*)""#).unwrap();
        let spans: Vec<(f64, f64)> =
            re.captures_iter(&html).map(|c| (c[1].parse::<f64>().unwrap(), c[2].parse::<f64>().unwrap())).collect();
        assert_eq!(spans.len(), 3);
        for pair in spans.windows(2) {
            assert!((pair[1].0 + pair[1].1 - pair[0].0).abs() < 0.02, "{pair:?}");
        }
    }

    #[test]
    fn empty_plan_has_a_message_and_no_chart() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = report(vec![]);
        r.units.clear();
        r.inputs.clear();
        write(&r, dir.path()).unwrap();
        let html = std::fs::read_to_string(dir.path().join("waves.html")).unwrap();
        assert!(html.contains("No waves planned"));
        assert!(!html.contains("<svg"));
        assert!(html.contains("<table id=\"waves-table\">"));
        assert!(html.contains("No units."));
        let waves = std::fs::read_to_string(dir.path().join("waves.csv")).unwrap();
        assert_eq!(waves.lines().count(), 1);
        let units = std::fs::read_to_string(dir.path().join("units.csv")).unwrap();
        assert_eq!(units.lines().count(), 1);
    }

    #[test]
    fn self_contained_without_scripts_or_fetches() {
        let html = render_html(&report(vec![wave(1, [1, 2, 3], 1.0)]));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("<title>samla: migration waves</title>"));
        for needle in ["<script", "<link", "<img", "@import", "url(", "src=", "http://", "https://"] {
            let found = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            assert!(!found.contains(needle), "{needle}");
        }
    }

    #[test]
    fn many_waves_get_narrow_bars_and_fewer_labels() {
        let waves: Vec<WaveRow> = (1..=150).map(|n| wave(n, [n as usize, 1, 2], n as f64 / 3.0)).collect();
        let html = render_html(&report(waves));
        let (segments, impacts) = bars(&html);
        assert_eq!(segments.len(), 450);
        assert_eq!(impacts.len(), 150);
        let labels = html.matches("<text class=\"xl\"").count() / 2;
        assert!((5..=40).contains(&labels), "{labels} labels per chart");
        assert!(!html.contains("class=\"val\""), "no value labels on narrow bars");
        let one = render_html(&report(vec![wave(1, [1, 2, 3], 1.0)]));
        assert_eq!(one.matches("<text class=\"xl\"").count(), 2);
        assert!(one.contains("width=\"72\""), "one wave gets a bar of bounded width");
    }

    #[test]
    fn accounts_of_a_municipality_missing_from_the_list_still_count() {
        let mut r = report(vec![wave(1, [1, 2, 3], 1.0)]);
        r.waves[0].accounts.insert("astorp".into(), 4);
        assert_eq!(municipalities(&r), ["bjuv", "klippan", "perstorp", "astorp"]);
        assert!(render_html(&r).contains("data-municipality=\"astorp\" data-accounts=\"4\""));
    }

    #[test]
    fn round_axis_scales() {
        let s = Scale::of(1234.0, true);
        assert_eq!((s.top, s.step), (1250.0, 250.0));
        assert_eq!(s.ticks().len(), 6);
        assert_eq!(Scale::of(7.0, true).ticks(), [0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(Scale::of(3.0, true).ticks(), [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(Scale::of(0.0, true).ticks(), [0.0, 1.0]);
        assert_eq!(Scale::of(100.0, true).ticks(), [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let f = Scale::of(1.3, false);
        assert_eq!((f.step, f.top), (0.5, 1.5));
        assert_eq!(f.label(1.5), "1.5");
        assert_eq!(Scale::of(f64::NAN, false).top, 1.0);
        for max in [1.0, 9.0, 11.0, 99.0, 101.0, 4999.0, 123_456.0] {
            let s = Scale::of(max, true);
            assert!(s.top >= max && s.ticks().len() <= 7 && s.ticks().len() >= 2, "{max}: {s:?}");
        }
    }
}
