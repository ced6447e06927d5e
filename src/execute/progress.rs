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
        let style = ProgressStyle::with_template("{prefix:24} {bar:28} {pos:>6}/{len:6} {rate:>10} ETA {eta:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key("rate", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&rate(state.per_sec()));
            });
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

/// Operations per second as people read them: one decimal ("13.2/s"); whole numbers from 100.
pub fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec < 0.0 {
        "-/s".into()
    } else if per_sec >= 100.0 {
        format!("{per_sec:.0}/s")
    } else {
        format!("{per_sec:.1}/s")
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_rate_has_one_decimal_at_most() {
        assert_eq!(super::rate(13.1629003862), "13.2/s");
        assert_eq!(super::rate(0.0), "0.0/s");
        assert_eq!(super::rate(1234.56), "1235/s");
        assert_eq!(super::rate(f64::INFINITY), "-/s");
    }
}
