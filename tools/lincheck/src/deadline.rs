//! Wall-clock budgets for the search: the checker is exponential in the worst case, so every
//! search loop polls a [`Deadline`] and gives up with "timed out" rather than hang the fault
//! suite.
//!
//! This file is the one place the crate reads the clock. The workspace's `clippy.toml` bans
//! `Instant::now` so that *server* code goes through its simulated clock; this checker runs
//! after the fact on a recorded history and genuinely means real elapsed time.

use std::time::{Duration, Instant};

/// The instant a piece of work must stop by.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    /// `None` when the budget is too large to represent: never expires.
    end: Option<Instant>,
}

impl Deadline {
    /// A deadline `budget` from now.
    pub(crate) fn after(budget: Duration) -> Self {
        Deadline {
            end: now().checked_add(budget),
        }
    }

    /// True once the deadline has passed.
    pub(crate) fn expired(&self) -> bool {
        self.end.is_some_and(|end| now() >= end)
    }
}

/// Measures how long a phase took, for the report.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts measuring.
    pub(crate) fn start() -> Self {
        Stopwatch(now())
    }

    /// Time since [`Stopwatch::start`].
    pub(crate) fn elapsed(&self) -> Duration {
        now().saturating_duration_since(self.0)
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "the checker measures real time spent searching, not simulated server time"
)]
fn now() -> Instant {
    Instant::now()
}
