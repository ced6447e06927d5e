//! What a run shows while it sends: a progress bar per municipality.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::{BTreeMap, HashMap};

/// Progress per municipality: done, rate, time left; the message carries throttling.
pub struct Progress {
    bars: HashMap<String, ProgressBar>,
    _multi: MultiProgress,
}

impl Progress {
    /// One bar per municipality with its number of operations; hidden when `hidden` (JSON
    /// output) or when stderr is not a terminal.
    pub fn new(system: &str, totals: &BTreeMap<String, u64>, hidden: bool) -> Progress {
        let multi = MultiProgress::with_draw_target(if hidden {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        });
        let style =
            ProgressStyle::with_template("{prefix:24} {bar:28} {pos:>6}/{len:6} {per_sec:>10} ETA {eta:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bars = totals
            .iter()
            .map(|(m, n)| {
                let bar = multi.add(ProgressBar::new(*n).with_style(style.clone()));
                let name = if m.is_empty() { "(shared)" } else { m.as_str() };
                bar.set_prefix(format!("{system} {name}"));
                (m.clone(), bar)
            })
            .collect();
        Progress { bars, _multi: multi }
    }

    pub fn tick(&self, municipality: &str) {
        if let Some(b) = self.bars.get(municipality) {
            b.inc(1);
        }
    }

    pub fn message(&self, text: &str) {
        for b in self.bars.values() {
            b.set_message(text.to_string());
        }
    }

    pub fn finish(&self) {
        for b in self.bars.values() {
            b.finish();
        }
    }
}

/// Operations per municipality, for progress bars.
pub fn municipality_totals<'a>(items: impl Iterator<Item = &'a str>) -> BTreeMap<String, u64> {
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for m in items {
        *totals.entry(m.to_string()).or_default() += 1;
    }
    totals
}
