//! Fault injection: a seeded, reproducible share of requests answered 429, 503, or with a
//! dropped connection.
//!
//! A client's retry logic is only as good as the faults it has met. The decision for a
//! request is a keyed hash of (seed, method, URL, body, how many times this same request was
//! seen before), not of arrival order, so the same wave run twice against tenants with the
//! same seed meets the same faults even when its requests interleave differently, and a
//! retry of a faulted request gets a fresh decision (it eventually passes).
//!
//! A dropped connection comes in two flavours, chosen by the same hash: dropped before the
//! request runs, or after it ran (a write took effect but its response was lost). The
//! second is what real networks do and what idempotency checks exist for.

use super::ids::{fnv, hash_words};
use std::collections::HashMap;

/// What happens to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// 429 with Retry-After (real seconds).
    Throttle {
        retry_after: u64,
    },
    /// 503 with Retry-After (real seconds).
    Unavailable {
        retry_after: u64,
    },
    /// Close the connection without a response, before or after running the request.
    Drop {
        after: bool,
    },
}

/// Fault rates, each a probability in 0..=1 (their sum is capped at 1).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    pub throttle: f64,
    pub unavailable: f64,
    pub drop: f64,
}

impl Rates {
    pub fn any(&self) -> bool {
        self.throttle > 0.0 || self.unavailable > 0.0 || self.drop > 0.0
    }
}

/// The injector: rates, seed, and how often each distinct request was seen.
#[derive(Debug, Clone)]
pub struct Faults {
    seed: u64,
    rates: Rates,
    seen: HashMap<u64, u64>,
}

impl Faults {
    pub fn new(seed: u64, rates: Rates) -> Faults {
        Faults { seed, rates, seen: HashMap::new() }
    }

    /// Decides for one request. `may_drop` is false inside a `$batch` (there is no
    /// connection of its own to drop). Retry-After is 1-3 seconds.
    pub fn decide(&mut self, method: &str, url: &str, body: &[u8], may_drop: bool) -> Fault {
        if !self.rates.any() {
            return Fault::None;
        }
        let key = hash_words(self.seed, &[fnv(method.as_bytes()), fnv(url.as_bytes()), fnv(body)]);
        let n = self.seen.entry(key).or_insert(0);
        *n += 1;
        let h = hash_words(key, &[*n]);
        let u = (h >> 11) as f64 / (1u64 << 53) as f64;
        let retry_after = 1 + (h & 0x3) % 3;
        let Rates { throttle, unavailable, drop } = self.rates;
        if u < throttle {
            Fault::Throttle { retry_after }
        } else if u < throttle + unavailable {
            Fault::Unavailable { retry_after }
        } else if may_drop && u < throttle + unavailable + drop {
            Fault::Drop { after: h & 0x100 != 0 }
        } else {
            Fault::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults_and_retries_get_fresh_decisions() {
        let rates = Rates { throttle: 0.2, unavailable: 0.2, drop: 0.2 };
        let run = |seed| {
            let mut f = Faults::new(seed, rates);
            (0..200).map(|i| f.decide("GET", &format!("/v1.0/users/{}", i % 50), b"", true)).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        let faults = run(1);
        let share = faults.iter().filter(|f| **f != Fault::None).count() as f64 / 200.0;
        assert!((0.4..0.8).contains(&share), "about 60% faulted: {share}");
        assert!(faults.contains(&Fault::Drop { after: true }) && faults.contains(&Fault::Drop { after: false }));
        let mut none = Faults::new(1, Rates::default());
        assert_eq!(none.decide("GET", "/", b"", true), Fault::None);
    }
}
