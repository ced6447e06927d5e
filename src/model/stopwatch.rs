//! Phase timings for the benchmark figures (`SAMLA_LOG=samla=debug`): wall time and the
//! process's CPU time (all threads, user and system) since a start. Wall time alone cannot
//! tell a step that got cheaper from one that ran while the machine was quieter; CPU time
//! mostly can, which matters on a shared two-core VM where one binary's runs vary by a third.

use std::time::Instant;

/// Started by [`Stopwatch::start`]; [`Stopwatch::lap`] logs a step at debug level.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    label: &'static str,
    wall: Instant,
    cpu: f64,
}

impl Stopwatch {
    pub fn start(label: &'static str) -> Stopwatch {
        Stopwatch { label, wall: Instant::now(), cpu: process_cpu_seconds() }
    }

    /// Logs `what` at debug level, with the time since the start.
    pub fn lap(&self, what: &str) {
        tracing::debug!("{}: {what} {}", self.label, self.since());
    }

    /// `after W s (C s CPU)`: wall and CPU seconds since the start.
    pub fn since(&self) -> String {
        format!("after {:.2} s ({:.2} s CPU)", self.wall.elapsed().as_secs_f64(), process_cpu_seconds() - self.cpu)
    }
}

/// User and system CPU time of the whole process so far (0 where it cannot be read).
pub fn process_cpu_seconds() -> f64 {
    #[cfg(unix)]
    {
        // SAFETY: getrusage only writes the zeroed struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } == 0 {
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            return secs(usage.ru_utime) + secs(usage.ru_stime);
        }
    }
    0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let before = process_cpu_seconds();
        let mut x = 0u64;
        let spin = Instant::now();
        while spin.elapsed().as_millis() < 50 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(process_cpu_seconds() - before >= 0.02, "{x}");
    }
}
