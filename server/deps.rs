//! The seams between server code and the outside world (DESIGN.md §4): the wall clock,
//! randomness, blocking work, the disk behind redb (the node identity, and an old redb log
//! read once to move it into segment files), and dialing (peer channels and the
//! address routes that forwarded calls follow too). Production code gets
//! the real ones from [`Deps::production`]; a deterministic simulation (turmoil, planned) will
//! hand [`crate::Server::start`] its own. Nothing here is global: two servers in one process
//! (the in-process test cluster) each own their `Deps`.
//!
//! `clippy.toml` forbids `SystemTime::now`, `Instant::now`, thread RNGs and
//! `tokio::task::spawn_blocking` everywhere else, so this file is the one place they appear.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rand::{RngCore, SeedableRng};

use crate::raft::network::{Dialer, TcpDialer};

/// Everything the server needs from its environment, bundled so tests and a simulator can
/// swap any of it.
#[derive(Clone)]
pub struct Deps {
    /// Wall-clock time (for timestamps shown to humans and, later, TTL deadlines the leader
    /// stamps into commands). Timers use tokio time, which a simulator controls already.
    pub clock: Arc<dyn Clock>,
    /// The single source of randomness of the node.
    pub rng: Arc<dyn Entropy>,
    /// Where blocking calls (log segment writes and fdatasync, redb, snapshot files) run.
    pub blocking: BlockingExecutor,
    /// The disk under redb: the node identity and the one-time move of an old redb log.
    /// (The log's segment files use `std::fs` directly.)
    pub disk: Arc<dyn Disk>,
    /// How peer channels are opened (the dialing seam).
    pub dialer: Arc<dyn Dialer>,
    /// Address rewrites for the connections this node opens itself (peer channels dialed
    /// through a routed [`TcpDialer`], forwarded client calls). Empty in production; fault
    /// tests send each link through its own proxy.
    pub routes: Routes,
    /// The runtime control of this node's faults (`PUT /debug/faults`); test builds only.
    #[cfg(feature = "failpoints")]
    pub faults: Option<crate::faults::FaultControl>,
}

impl Deps {
    /// Real clock, OS-seeded randomness, `spawn_blocking` and real files.
    pub fn production() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            rng: Arc::new(SeededEntropy::from_os()),
            blocking: BlockingExecutor::ThreadPool,
            disk: Arc::new(FileDisk),
            dialer: Arc::new(TcpDialer::default()),
            routes: Routes::default(),
            #[cfg(feature = "failpoints")]
            faults: None,
        }
    }

    /// Production seams whose wall clock is `clock` and whose connections follow `routes`
    /// (peer channels included): what fault tests give each node.
    pub fn routed(clock: Arc<dyn Clock>, routes: Routes) -> Self {
        Self {
            clock,
            dialer: Arc::new(TcpDialer::routed(routes.clone())),
            routes,
            ..Self::production()
        }
    }
}

/// Address rewrites for outgoing connections: `from` (host:port as the cluster knows it)
/// → `to` (where to connect instead). Cheap to clone; clones share the table, and a change
/// applies to every connection opened after it.
#[derive(Clone, Default, Debug)]
pub struct Routes(Arc<RwLock<HashMap<String, String>>>);

impl Routes {
    /// Sends connections for `from` to `to`, or, with `None`, straight to `from` again.
    pub fn set(&self, from: &str, to: Option<&str>) {
        let mut table = self.0.write().unwrap_or_else(|p| p.into_inner());
        match to {
            Some(to) => table.insert(from.to_owned(), to.to_owned()),
            None => table.remove(from),
        };
    }

    /// Where a connection for `addr` goes.
    pub fn resolve(&self, addr: &str) -> String {
        let table = self.0.read().unwrap_or_else(|p| p.into_inner());
        table.get(addr).cloned().unwrap_or_else(|| addr.to_owned())
    }
}

/// Wall-clock time, injectable.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;

    /// The current time in milliseconds since the Unix epoch, as replicated commands carry
    /// it (0 before the epoch, saturating far after it).
    fn now_ms(&self) -> u64 {
        self.now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned wall-clock read
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The system clock shifted by an offset that can change while the node runs: how fault
/// tests skew one node's wall clock by minutes. Only wall-clock uses (timestamps the leader
/// stamps into commands, times shown to people) see it; leases and timers use tokio's
/// monotonic clock and cannot be skewed this way.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_ms: AtomicI64,
}

impl OffsetClock {
    /// A clock `offset_ms` ahead of the system clock (behind it when negative).
    pub fn new(offset_ms: i64) -> Arc<Self> {
        let clock = Self::default();
        clock.set_offset_ms(offset_ms);
        Arc::new(clock)
    }

    /// Changes the offset.
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::SeqCst);
    }

    /// The current offset.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> SystemTime {
        let now = SystemClock.now();
        let offset = self.offset_ms();
        let by = Duration::from_millis(offset.unsigned_abs());
        if offset >= 0 {
            now + by
        } else {
            now.checked_sub(by).unwrap_or(std::time::UNIX_EPOCH)
        }
    }
}

/// A source of random numbers, injectable and seedable.
pub trait Entropy: Send + Sync + 'static {
    /// A uniformly random u64.
    fn next_u64(&self) -> u64;
}

/// A seeded PRNG behind a mutex: deterministic for a given seed.
pub struct SeededEntropy(Mutex<rand::rngs::StdRng>);

impl SeededEntropy {
    /// Deterministic entropy for simulation and tests.
    pub fn from_seed(seed: u64) -> Self {
        Self(Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)))
    }

    /// Entropy seeded from the operating system.
    pub fn from_os() -> Self {
        Self(Mutex::new(rand::rngs::StdRng::from_os_rng()))
    }
}

impl Entropy for SeededEntropy {
    fn next_u64(&self) -> u64 {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).next_u64()
    }
}

/// Runs blocking work (disk I/O) without stalling the async runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockingExecutor {
    /// tokio's blocking thread pool: production.
    ThreadPool,
    /// On the calling task: for a single-threaded deterministic simulation.
    Inline,
}

impl BlockingExecutor {
    /// Runs `f` according to the executor and returns its result.
    #[allow(clippy::disallowed_methods)] // the one sanctioned spawn_blocking
    pub async fn run<F, R>(&self, f: F) -> R
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        match self {
            BlockingExecutor::ThreadPool => match tokio::task::spawn_blocking(f).await {
                Ok(r) => r,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            },
            BlockingExecutor::Inline => f(),
        }
    }
}

/// The disk under redb (the identity file, an old log being moved): real files in
/// production, memory (or a fault-injecting backend) under simulation.
pub trait Disk: Send + Sync + 'static {
    /// Opens (creating if needed) the redb database at `path`.
    fn open_database(&self, path: &Path) -> Result<redb::Database, redb::DatabaseError>;
}

/// Real files through redb's default file backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileDisk;

impl Disk for FileDisk {
    fn open_database(&self, path: &Path) -> Result<redb::Database, redb::DatabaseError> {
        redb::Database::create(path)
    }
}

/// Memory only: for tests and simulation. Nothing survives the process.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryDisk;

impl Disk for MemoryDisk {
    fn open_database(&self, _path: &Path) -> Result<redb::Database, redb::DatabaseError> {
        redb::Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())
    }
}
