//! `ManualClock`: a wall clock that moves only when a test says so, plugged into a node
//! through `Deps::clock` (the `konsul::deps::Clock` seam). Service deadlines are stamped from
//! this clock, so a test decides exactly when a TTL has passed; tokio timers (Raft, the
//! cleanup interval) still run in real time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use konsul::deps::Clock;

/// Where every manual clock starts: a fixed, recognisable instant (2023-11-14T22:13:20Z).
pub const START_MS: u64 = 1_700_000_000_000;

/// A clock shared by every node of a test (hand them clones of the `Arc`).
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicU64,
}

impl ManualClock {
    /// A clock standing at [`START_MS`].
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            now_ms: AtomicU64::new(START_MS),
        })
    }

    /// Moves the clock forward by `by` (whole milliseconds).
    pub fn advance(&self, by: Duration) {
        self.now_ms
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    /// The current time in ms since the Unix epoch, as the server stamps it.
    pub fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.now_ms())
    }
}
