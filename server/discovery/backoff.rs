//! The pause between join rounds: capped exponential backoff with jitter.
//!
//! ```text
//!  join_loop.rs ── round fails ──► Backoff::next_delay() ──► sleep (tokio time) ──► next round
//! ```
//!
//! Exponential so a node waiting for a cluster that is still coming up does not hammer DNS, the
//! inventory CLI or the members; capped so it notices quickly once they are there; jittered
//! (from the node's one seedable [`Entropy`], never a thread RNG) so nodes started together do
//! not retry in lockstep.

use std::sync::Arc;
use std::time::Duration;

use crate::deps::Entropy;

/// Capped exponential backoff with "equal jitter": each delay is between half and all of the
/// current step, and the step doubles from `initial` up to `max`.
pub struct Backoff {
    step: Duration,
    max: Duration,
    rng: Arc<dyn Entropy>,
}

impl Backoff {
    /// Starts at `initial` (at least 1 ms) and doubles up to `max` (at least `initial`).
    pub fn new(initial: Duration, max: Duration, rng: Arc<dyn Entropy>) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Self {
            step: initial,
            max: max.max(initial),
            rng,
        }
    }

    /// The next pause, never more than `max`: a random point in the upper half of the current
    /// step. Then doubles the step.
    pub fn next_delay(&mut self) -> Duration {
        let step_ms = u64::try_from(self.step.as_millis()).unwrap_or(u64::MAX);
        let half = step_ms / 2;
        let jitter = self.rng.next_u64() % (step_ms - half + 1);
        self.step = (self.step * 2).min(self.max);
        Duration::from_millis(half + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deps::SeededEntropy;

    #[test]
    fn doubles_within_jitter_and_stays_under_the_cap() {
        let max = Duration::from_secs(10);
        let mut b = Backoff::new(
            Duration::from_millis(200),
            max,
            Arc::new(SeededEntropy::from_seed(7)),
        );
        let mut step = Duration::from_millis(200);
        for _ in 0..40 {
            let d = b.next_delay();
            assert!(
                d >= step / 2 && d <= step,
                "{d:?} outside [{:?}, {step:?}]",
                step / 2
            );
            assert!(d <= max);
            step = (step * 2).min(max);
        }
        // Long after the cap was reached, every pause lies in [max/2, max].
        let d = b.next_delay();
        assert!(d >= max / 2 && d <= max, "{d:?}");
    }

    #[test]
    fn seeds_give_different_schedules() {
        let delays = |seed| {
            let mut b = Backoff::new(
                Duration::from_secs(1),
                Duration::from_secs(10),
                Arc::new(SeededEntropy::from_seed(seed)),
            );
            (0..8).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(delays(1), delays(1));
        assert_ne!(delays(1), delays(2));
    }

    #[test]
    fn degenerate_settings_are_clamped() {
        let mut b = Backoff::new(
            Duration::ZERO,
            Duration::ZERO,
            Arc::new(SeededEntropy::from_seed(0)),
        );
        for _ in 0..5 {
            assert!(b.next_delay() <= Duration::from_millis(1));
        }
    }
}
