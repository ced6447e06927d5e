//! Throttling with Graph's identity-and-access budgets (graph/README.md):
//!
//! - writes per app per tenant: 3,000 per 150 s;
//! - writes per tenant, all apps together: 18,000 per 300 s;
//! - reads per app per tenant: 3,500 / 5,000 / 8,000 resource units per 10 s for tenants
//!   under 50 / 50-500 / over 500 users (GET a user 1 unit, list users 2, group members 3).
//!
//! Each budget is a sliding window: at most `limit` units in any `span` seconds. That is the
//! stricter of the two shapes that fit "3,000 per 150 s": a token bucket of 3,000 that
//! refills at 20/s also admits the next 3,000 over the following 150 s, so any sequence of
//! requests this admits, such a bucket admits too (stricter than Graph). A refused request
//! costs nothing and gets `Retry-After`: the whole seconds until enough of the window has
//! passed. Throttled or not, requests are counted on their own, including each request
//! inside a `$batch`; the `$batch` envelope itself is not counted.
//!
//! Time runs through a [`Clock`] with a scale: at `--time-scale 100` a 150 s window lasts
//! 1.5 real seconds and Retry-After is given in real seconds (at least 1), so tests run the
//! real budget shape quickly.

use super::ids::ClientId;
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// Graph seconds since the tenant started (real seconds times the time scale).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    scale: f64,
}

impl Clock {
    pub fn new(scale: f64) -> Clock {
        let scale = if scale.is_finite() && scale > 0.0 { scale } else { 1.0 };
        Clock { start: Instant::now(), scale }
    }

    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * self.scale
    }

    /// A wait in Graph seconds as the real whole seconds of a Retry-After header (at least 1).
    pub fn retry_after(&self, graph_seconds: f64) -> u64 {
        let real = (graph_seconds / self.scale).ceil();
        if real.is_finite() && real >= 1.0 { real as u64 } else { 1 }
    }
}

/// At most `limit` units in any `span` seconds.
#[derive(Debug, Clone)]
pub struct Window {
    span: f64,
    log: VecDeque<(f64, u64)>,
    used: u64,
}

impl Window {
    pub fn new(span: f64) -> Window {
        Window { span, log: VecDeque::new(), used: 0 }
    }

    fn expire(&mut self, now: f64) {
        while let Some(&(t, cost)) = self.log.front() {
            if t + self.span > now {
                break;
            }
            self.log.pop_front();
            self.used -= cost;
        }
    }

    /// `Ok` if `cost` more units fit now, else the Graph seconds until they will.
    pub fn room(&mut self, now: f64, cost: u64, limit: u64) -> Result<(), f64> {
        self.expire(now);
        if self.used + cost <= limit {
            return Ok(());
        }
        if cost > limit {
            return Err(self.span);
        }
        // Free entries from the front until the request fits; it fits once the last freed
        // entry leaves the window.
        let mut used = self.used;
        for &(t, c) in &self.log {
            used -= c;
            if used + cost <= limit {
                return Err((t + self.span - now).max(0.0));
            }
        }
        Err(self.span)
    }

    pub fn record(&mut self, now: f64, cost: u64) {
        self.log.push_back((now, cost));
        self.used += cost;
    }

    pub fn used(&self) -> u64 {
        self.used
    }
}

/// What a request costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// One write, whatever it carries (a PATCH binding 20 members costs one).
    Write,
    /// Read resource units.
    Read(u64),
}

pub const APP_WRITES: (u64, f64) = (3_000, 150.0);
pub const TENANT_WRITES: (u64, f64) = (18_000, 300.0);
pub const READ_SPAN: f64 = 10.0;

/// The read budget (resource units per 10 s) for a tenant of `users` users.
pub fn read_limit(users: usize) -> u64 {
    match users {
        0..50 => 3_500,
        50..=500 => 5_000,
        _ => 8_000,
    }
}

/// All budgets of one tenant.
#[derive(Debug, Clone)]
pub struct Budgets {
    app_writes: HashMap<ClientId, Window>,
    tenant_writes: Window,
    app_reads: HashMap<ClientId, Window>,
    /// When each admitted write arrived (Graph seconds), per app: what a benchmark measures a
    /// client's use of its budget by.
    admitted_writes: HashMap<ClientId, Vec<f64>>,
}

impl Default for Budgets {
    fn default() -> Budgets {
        Budgets {
            app_writes: HashMap::new(),
            tenant_writes: Window::new(TENANT_WRITES.1),
            app_reads: HashMap::new(),
            admitted_writes: HashMap::new(),
        }
    }
}

impl Budgets {
    /// The arrival times (Graph seconds since the tenant started) of `app`'s admitted writes.
    pub fn admitted_writes(&self, app: ClientId) -> &[f64] {
        self.admitted_writes.get(&app).map_or(&[], Vec::as_slice)
    }

    /// Admits (and records) a request, or says how many Graph seconds to wait.
    pub fn admit(&mut self, app: ClientId, cost: Cost, now: f64, users: usize) -> Result<(), f64> {
        match cost {
            Cost::Write => {
                let app_window = self.app_writes.entry(app).or_insert_with(|| Window::new(APP_WRITES.1));
                let a = app_window.room(now, 1, APP_WRITES.0);
                let t = self.tenant_writes.room(now, 1, TENANT_WRITES.0);
                match (a, t) {
                    (Ok(()), Ok(())) => {
                        app_window.record(now, 1);
                        self.tenant_writes.record(now, 1);
                        self.admitted_writes.entry(app).or_default().push(now);
                        Ok(())
                    }
                    (a, t) => Err(a.err().unwrap_or(0.0).max(t.err().unwrap_or(0.0))),
                }
            }
            Cost::Read(units) => {
                let window = self.app_reads.entry(app).or_insert_with(|| Window::new(READ_SPAN));
                window.room(now, units, read_limit(users))?;
                window.record(now, units);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_tenant::ids::Guid;

    #[test]
    fn window_admits_the_limit_then_says_when() {
        let mut w = Window::new(150.0);
        for i in 0..3000 {
            assert!(w.room(i as f64 * 0.01, 1, 3000).is_ok());
            w.record(i as f64 * 0.01, 1);
        }
        let wait = w.room(30.0, 1, 3000).unwrap_err();
        assert!((wait - 120.0).abs() < 1e-9, "the first write leaves the window at 150 s: {wait}");
        assert!(w.room(150.0, 1, 3000).is_ok());
        assert_eq!(w.used(), 2999);
    }

    #[test]
    fn budgets_are_per_app_and_per_tenant() {
        let a = ClientId(Guid::from_words(1, 1));
        let b = ClientId(Guid::from_words(2, 2));
        let mut budgets = Budgets::default();
        for _ in 0..3000 {
            budgets.admit(a, Cost::Write, 0.0, 0).unwrap();
        }
        assert!(budgets.admit(a, Cost::Write, 1.0, 0).is_err());
        assert!(budgets.admit(b, Cost::Write, 1.0, 0).is_ok(), "another app has its own budget");
        assert!(budgets.admit(a, Cost::Read(3), 1.0, 0).is_ok(), "reads are a separate budget");
        for _ in 0..5 {
            for app in 10..13u64 {
                for _ in 0..1000 {
                    let _ = budgets.admit(ClientId(Guid::from_words(app, app)), Cost::Write, 2.0, 0);
                }
            }
        }
        // 3,000 + 1 + 9,000 so far; six more apps of 1,000 fill the tenant's 18,000.
        for app in 20..26u64 {
            for _ in 0..1000 {
                let _ = budgets.admit(ClientId(Guid::from_words(app, app)), Cost::Write, 3.0, 0);
            }
        }
        assert!(budgets.admit(ClientId(Guid::from_words(99, 99)), Cost::Write, 4.0, 0).is_err());
    }

    #[test]
    fn retry_after_is_scaled_and_at_least_one() {
        let c = Clock::new(100.0);
        assert_eq!(c.retry_after(120.0), 2);
        assert_eq!(c.retry_after(0.0), 1);
        assert_eq!(Clock::new(1.0).retry_after(2.5), 3);
        assert_eq!(read_limit(10), 3500);
        assert_eq!(read_limit(600), 8000);
    }
}
