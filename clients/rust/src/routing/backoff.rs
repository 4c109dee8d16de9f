//! Capped exponential backoff with jitter between retries, so a crowd of clients waiting out
//! an election does not hammer the new leader in lockstep.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The delays of one call's retries: `initial`, doubling up to `max`, each jittered to
/// somewhere in its upper half.
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// A fresh sequence starting at `initial` and never exceeding `max`.
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            next: initial.min(max),
            max,
        }
    }

    /// The next delay to sleep.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (base * 2).min(self.max);
        let half = base / 2;
        half + half.mul_f64(unit_random())
    }
}

/// A number in [0, 1). The standard library's randomly keyed hasher is enough for jitter
/// and spares the SDK a dependency on an RNG crate.
fn unit_random() -> f64 {
    let bits = RandomState::new().build_hasher().finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_stays_in_the_upper_half() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let bounds = [100, 200, 400, 500, 500, 500];
        for ms in bounds {
            let d = b.next_delay();
            let full = Duration::from_millis(ms);
            assert!(
                d >= full / 2 && d <= full,
                "{d:?} outside [{ms}/2, {ms}] ms"
            );
        }
    }

    #[test]
    fn initial_above_max_is_capped() {
        let mut b = Backoff::new(Duration::from_secs(5), Duration::from_secs(1));
        assert!(b.next_delay() <= Duration::from_secs(1));
    }
}
