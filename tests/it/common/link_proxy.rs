//! `LinkProxy`: a fault-injecting TCP forwarder, part of the fault tooling for tests/common.
//! `TestCluster` and `ProcessCluster` route each node's peer traffic through one `LinkProxy`
//! per ordered pair (A dials B's proxy instead of B), so a test can cut, delay or blackhole
//! either direction of one link while the nodes keep running. "Forward" is what the dialer
//! sends (requests), "backward" what the target sends back (responses); a fault "A cannot
//! reach B" is forward on proxy(A→B) plus backward on proxy(B→A), composed by the caller.
//!
//! Every connection runs in one task: two pumps (one per direction) and a supervisor that
//! wakes on each fault change, so a change applies to open connections at once. A pump reads
//! a chunk, stamps it with the time it may leave (now, or now + delay) and queues it for its
//! writer; the queue is bounded by bytes ([`MAX_HELD_BYTES`]), past which the pump stops
//! reading and TCP flow control pushes back on the sender.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, SemaphorePermit, mpsc, watch};
use tokio::time::Instant;

/// Bytes one direction of one connection may hold back (delayed, not yet written) before
/// the proxy stops reading from the sender; bounds memory under a long `Delay`.
pub const MAX_HELD_BYTES: usize = 8 << 20;

/// Largest chunk a pump reads at once.
const CHUNK: usize = 64 << 10;

/// Which way through a link a fault applies to (and, as a number, its index in arrays).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Bytes the source node sends to the target (its requests).
    Forward = 0,
    /// Bytes the target sends back to the source node (its responses).
    Backward = 1,
}

/// What happens to the bytes of one direction; applies to open and new connections alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    /// Bytes go through untouched.
    #[default]
    Pass,
    /// Every chunk is held back this long before it is forwarded (order preserved; a chunk
    /// read at t goes out at t+d), without holding up the other direction.
    Delay(Duration),
    /// Bytes are read and silently discarded: a blackhole, where the sender sees no error,
    /// just silence, so its HTTP/2 keepalive or RPC deadlines must notice. Discarding breaks
    /// the byte stream, so a connection that discarded anything is poisoned and is closed
    /// when this direction stops being `Drop`.
    Drop,
    /// Connections are reset: open ones are closed at once (both sockets), new ones are
    /// accepted and reset immediately, like a refused dial. TCP cannot usefully close one
    /// way under HTTP/2, so `Cut` on either direction closes the whole connection.
    Cut,
}

/// Counters for one direction of a proxy, summed over all its connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Bytes written to the receiving side.
    pub forwarded: u64,
    /// Bytes discarded by `Drop`.
    pub dropped: u64,
    /// Bytes read but not yet written (waiting out a `Delay`), right now.
    pub held: u64,
}

/// A snapshot of what a proxy has done, so tests can tell a fault actually bit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted from the source, including ones reset by `Cut`.
    pub accepted: u64,
    /// Connections currently open (accepted and not yet closed).
    pub open: u64,
    /// Bytes from the source to the target.
    pub forward: DirectionStats,
    /// Bytes from the target back to the source.
    pub backward: DirectionStats,
}

/// The faults in force; every task watches it. The epochs count transitions, so a task
/// that wakes only after a quick `Cut` then `heal` still sees that a cut happened.
#[derive(Clone, Copy, Debug, Default)]
struct State {
    faults: [Fault; 2],
    shutdown: bool,
    /// Bumped each time a direction becomes `Cut`.
    cuts: u64,
    /// Per direction, bumped each time it stops being `Drop`.
    lifts: [u64; 2],
}

impl State {
    /// Whether every connection must be closed now (and new ones refused).
    fn closes_all(&self) -> bool {
        self.shutdown || self.faults.contains(&Fault::Cut)
    }
}

/// What one connection remembers to decide when it must close.
struct Conn<'a> {
    shared: &'a Shared,
    /// `State::cuts` when the connection was accepted.
    cuts: u64,
    /// Per direction, `State::lifts` when it discarded bytes, or `CLEAN`.
    poisoned: [AtomicU64; 2],
}

const CLEAN: u64 = u64::MAX;

impl Conn<'_> {
    fn must_close(&self, s: &State) -> bool {
        s.closes_all()
            || s.cuts != self.cuts
            || (0..2).any(|i| {
                let at = self.poisoned[i].load(Ordering::SeqCst);
                at != CLEAN && at != s.lifts[i]
            })
    }
}

#[derive(Default)]
struct Counters {
    forwarded: AtomicU64,
    dropped: AtomicU64,
    held: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> DirectionStats {
        DirectionStats {
            forwarded: self.forwarded.load(Ordering::SeqCst),
            dropped: self.dropped.load(Ordering::SeqCst),
            held: self.held.load(Ordering::SeqCst),
        }
    }
}

/// What the accept loop and the connection tasks share.
struct Shared {
    target: Mutex<SocketAddr>,
    state: watch::Sender<State>,
    accepted: AtomicU64,
    open: AtomicU64,
    dirs: [Counters; 2],
}

/// Owned by the handles only: dropping the last one shuts the proxy down.
struct Handle {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.state.send_modify(|s| s.shutdown = true);
    }
}

/// One link (source node → target address) with switchable faults per direction. Cheap to
/// clone; the listener and all connections stop when the last clone drops or on `shutdown`.
#[derive(Clone)]
pub struct LinkProxy {
    handle: Arc<Handle>,
}

impl LinkProxy {
    /// Listens on `127.0.0.1:0` and forwards each accepted connection to `target`, with
    /// both directions at `Pass`.
    pub async fn start(target: SocketAddr) -> LinkProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind link proxy");
        let addr = listener.local_addr().expect("link proxy address");
        let (state, _) = watch::channel(State::default());
        let shared = Arc::new(Shared {
            target: Mutex::new(target),
            state,
            accepted: AtomicU64::new(0),
            open: AtomicU64::new(0),
            dirs: Default::default(),
        });
        tokio::spawn(accept_loop(listener, shared.clone()));
        LinkProxy {
            handle: Arc::new(Handle { addr, shared }),
        }
    }

    /// The address the source node should dial in place of the target's.
    pub fn addr(&self) -> SocketAddr {
        self.handle.addr
    }

    /// Points new connections at `target` (a restarted node may come back on another port);
    /// open connections stay with the old one.
    pub fn set_target(&self, target: SocketAddr) {
        *self.handle.shared.target.lock().unwrap() = target;
    }

    /// Applies `fault` to one direction, on open connections as well as new ones.
    pub fn set(&self, dir: Direction, fault: Fault) {
        self.change(|faults| faults[dir as usize] = fault);
    }

    /// Applies `fault` to both directions at once.
    pub fn set_both(&self, fault: Fault) {
        self.change(|faults| *faults = [fault; 2]);
    }

    fn change(&self, f: impl FnOnce(&mut [Fault; 2])) {
        self.handle.shared.state.send_modify(|s| {
            let old = s.faults;
            f(&mut s.faults);
            for ((was, now), lifts) in old.into_iter().zip(s.faults).zip(&mut s.lifts) {
                if was == Fault::Drop && now != Fault::Drop {
                    *lifts += 1;
                }
                if was != Fault::Cut && now == Fault::Cut {
                    s.cuts += 1;
                }
            }
        });
    }

    /// Back to `Pass` both ways; connections a `Drop` poisoned are closed, so the nodes
    /// reconnect on a clean byte stream.
    pub fn heal(&self) {
        self.set_both(Fault::Pass);
    }

    /// Stops listening and closes every connection now, without waiting for the last handle
    /// to drop. Faults set afterwards have no effect.
    pub fn shutdown(&self) {
        self.handle.shared.state.send_modify(|s| s.shutdown = true);
    }

    /// What the proxy has forwarded, dropped and held so far.
    pub fn stats(&self) -> ProxyStats {
        let s = &self.handle.shared;
        ProxyStats {
            accepted: s.accepted.load(Ordering::SeqCst),
            open: s.open.load(Ordering::SeqCst),
            forward: s.dirs[0].snapshot(),
            backward: s.dirs[1].snapshot(),
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut changes = shared.state.subscribe();
    while !shared.state.borrow().shutdown {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            r = changes.changed() => match r {
                Ok(()) => continue,
                Err(_) => break,
            },
        };
        match accepted {
            Ok((stream, _)) => {
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                let state = *shared.state.borrow();
                if state.closes_all() {
                    reset(&stream);
                    continue;
                }
                tokio::spawn(serve(stream, shared.clone(), state.cuts));
            }
            Err(e) => {
                // E.g. out of file descriptors: back off instead of spinning.
                tracing::debug!(error = %e, "link proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Closes with an RST instead of a FIN, so the peer sees a reset connection.
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

/// Keeps `ProxyStats::open` right however the connection task ends.
struct OpenGuard<'a>(&'a AtomicU64);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve(mut inbound: TcpStream, shared: Arc<Shared>, cuts: u64) {
    shared.open.fetch_add(1, Ordering::SeqCst);
    let _open = OpenGuard(&shared.open);
    let _ = inbound.set_nodelay(true);
    let mut changes = shared.state.subscribe();
    let target = *shared.target.lock().unwrap();
    let conn = Conn {
        shared: &shared,
        cuts,
        poisoned: [AtomicU64::new(CLEAN), AtomicU64::new(CLEAN)],
    };
    let mut outbound = tokio::select! {
        biased;
        _ = changes.wait_for(|s| conn.must_close(s)) => {
            reset(&inbound);
            return;
        }
        r = TcpStream::connect(target) => match r {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(%target, error = %e, "link proxy: dial failed");
                reset(&inbound);
                return;
            }
        },
    };
    let _ = outbound.set_nodelay(true);

    let finished = {
        let (from_source, to_source) = inbound.split();
        let (from_target, to_target) = outbound.split();
        let forward = pump(Direction::Forward, from_source, to_target, &conn);
        let backward = pump(Direction::Backward, from_target, to_source, &conn);
        tokio::pin!(forward, backward);
        let mut done = [false, false];
        loop {
            if conn.must_close(&shared.state.borrow()) {
                break false;
            }
            let (dir, result) = tokio::select! {
                r = &mut forward, if !done[0] => (0, r),
                r = &mut backward, if !done[1] => (1, r),
                r = changes.changed() => match r {
                    Ok(()) => continue,
                    Err(_) => break false,
                },
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "link proxy: connection failed");
                break false;
            }
            done[dir] = true;
            if done == [true, true] {
                break true;
            }
        }
    };
    if !finished {
        reset(&inbound);
        reset(&outbound);
    }
}

/// A chunk waiting for its time to leave; gives back its share of the budget when dropped,
/// written or not.
struct Held<'a> {
    due: Instant,
    bytes: Vec<u8>,
    _permit: SemaphorePermit<'a>,
    held: &'a AtomicU64,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.held
            .fetch_sub(self.bytes.len() as u64, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` under the fault of `dir` until `from` ends (then shuts `to` down
/// for writing, passing the half-close on) or either side fails.
async fn pump(
    dir: Direction,
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    conn: &Conn<'_>,
) -> io::Result<()> {
    let shared = conn.shared;
    let counters = &shared.dirs[dir as usize];
    let budget = &Semaphore::new(MAX_HELD_BYTES);
    let (queue, mut queued) = mpsc::unbounded_channel::<Held<'_>>();
    let closed = || io::Error::from(io::ErrorKind::ConnectionReset);

    let read = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = from.read(&mut buf).await?;
            if n == 0 {
                return Ok(()); // dropping `queue` lets the writer drain, then shut down
            }
            let state = *shared.state.borrow();
            let due = match state.faults[dir as usize] {
                _ if conn.must_close(&state) => return Err(closed()),
                Fault::Drop => {
                    let lifts = state.lifts[dir as usize];
                    conn.poisoned[dir as usize].store(lifts, Ordering::SeqCst);
                    counters.dropped.fetch_add(n as u64, Ordering::SeqCst);
                    continue;
                }
                Fault::Delay(d) => Instant::now() + d,
                Fault::Pass | Fault::Cut => Instant::now(),
            };
            // Back-pressure: wait for the writer to free room before reading more.
            let permit = budget.acquire_many(n as u32).await.map_err(|_| closed())?;
            counters.held.fetch_add(n as u64, Ordering::SeqCst);
            let chunk = Held {
                due,
                bytes: buf[..n].to_vec(),
                _permit: permit,
                held: &counters.held,
            };
            queue.send(chunk).map_err(|_| closed())?;
        }
    };
    let write = async move {
        while let Some(chunk) = queued.recv().await {
            if chunk.due > Instant::now() {
                tokio::time::sleep_until(chunk.due).await;
            }
            if conn.must_close(&shared.state.borrow()) {
                return Err(closed());
            }
            to.write_all(&chunk.bytes).await?;
            counters
                .forwarded
                .fetch_add(chunk.bytes.len() as u64, Ordering::SeqCst);
        }
        to.shutdown().await
    };
    tokio::try_join!(read, write).map(|_| ())
}
