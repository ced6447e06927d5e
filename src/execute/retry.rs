//! How often and after how long a run looks again at what failed.

use std::time::Duration;

/// Rounds of looking again at what failed, after the first pass.
pub const RETRY_PASSES: u32 = 5;
/// The first wait before a retry pass; it doubles each round (0.25 + 0.5 + ... + 4 s: Graph's
/// replication lag is seconds).
pub const FIRST_WAIT: Duration = Duration::from_millis(250);

/// The wait before retry pass `n` (1-based).
pub fn wait_before(pass: u32) -> Duration {
    FIRST_WAIT * 2u32.saturating_pow(pass.saturating_sub(1)).min(64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_and_stay_bounded() {
        assert_eq!(wait_before(1), Duration::from_millis(250));
        assert_eq!(wait_before(3), Duration::from_secs(1));
        assert!(wait_before(40) <= Duration::from_secs(32));
    }
}
