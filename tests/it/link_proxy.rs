//! Tests of `LinkProxy` (`common/link_proxy.rs`), the fault-injecting forwarder the
//! cluster fault suites put between nodes. The target is a bare TCP listener that hands each
//! accepted socket to the test, so a test holds both ends of a proxied connection and can
//! write and read on either. Waits poll with a deadline; no assertion depends on speed.

use crate::common::link_proxy;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use link_proxy::{Direction, Fault, LinkProxy, MAX_HELD_BYTES, ProxyStats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

const DEADLINE: Duration = Duration::from_secs(30);

/// A listener standing in for a node: every connection it accepts is passed to the test.
struct Target {
    addr: SocketAddr,
    accepted: mpsc::UnboundedReceiver<TcpStream>,
}

impl Target {
    async fn start() -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, accepted) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                if tx.send(stream).is_err() {
                    break;
                }
            }
        });
        Target { addr, accepted }
    }

    /// The target's end of the next connection the proxy makes.
    async fn next(&mut self) -> TcpStream {
        timeout(DEADLINE, self.accepted.recv())
            .await
            .expect("the proxy never dialed the target")
            .unwrap()
    }
}

/// Dials `proxy` and returns both ends: (source side, target side).
async fn open(proxy: &LinkProxy, target: &mut Target) -> (TcpStream, TcpStream) {
    let source = TcpStream::connect(proxy.addr()).await.unwrap();
    (source, target.next().await)
}

async fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    timeout(DEADLINE, stream.read_exact(&mut buf))
        .await
        .expect("bytes did not arrive in time")
        .unwrap();
    buf
}

/// Waits until `stream` ends in EOF or an error (a reset), discarding anything before it.
async fn expect_closed(stream: &mut TcpStream) {
    let mut buf = vec![0; 64 << 10];
    let closed = async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    timeout(DEADLINE, closed)
        .await
        .expect("connection was not closed");
}

/// Asserts nothing is waiting to be read on `stream` right now.
fn assert_nothing_arrived(stream: &TcpStream) {
    let mut buf = [0u8; 16];
    match stream.try_read(&mut buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        other => panic!("expected no bytes, got {other:?}"),
    }
}

/// Polls the proxy's stats until `ok` holds, or fails after the deadline.
async fn wait_stats(proxy: &LinkProxy, what: &str, ok: impl Fn(&ProxyStats) -> bool) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let stats = proxy.stats();
        if ok(&stats) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A recognisable byte stream, so reordering or loss shows up as a content mismatch.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(i as u32 >> 9) as u8 ^ seed)
        .collect()
}

/// Writes `ping` one way and `pong` back, checking both arrive.
async fn ping_pong(source: &mut TcpStream, target: &mut TcpStream) {
    source.write_all(b"ping").await.unwrap();
    assert_eq!(read_n(target, 4).await, b"ping");
    target.write_all(b"pong").await.unwrap();
    assert_eq!(read_n(source, 4).await, b"pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_through_carries_large_payloads_both_ways() {
    const LEN: usize = 4 << 20;
    let mut target = Target::start().await;
    let proxy = LinkProxy::start(target.addr).await;
    let (source, server) = open(&proxy, &mut target).await;
    let (mut source_rx, mut source_tx) = source.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let (up, down) = (pattern(LEN, 0x11), pattern(LEN, 0x22));

    let send_up = async {
        source_tx.write_all(&up).await.unwrap();
        source_tx.shutdown().await.unwrap();
    };
    let send_down = async {
        server_tx.write_all(&down).await.unwrap();
        server_tx.shutdown().await.unwrap();
    };
    let recv_up = async {
        let mut got = Vec::new();
        server_rx.read_to_end(&mut got).await.unwrap(); // EOF: the half-close came through
        got
    };
    let recv_down = async {
        let mut got = Vec::new();
        source_rx.read_to_end(&mut got).await.unwrap();
        got
    };
    let (_, _, got_up, got_down) = timeout(DEADLINE, async {
        tokio::join!(send_up, send_down, recv_up, recv_down)
    })
    .await
    .expect("payloads did not get through");
    assert!(got_up == up, "forward payload corrupted");
    assert!(got_down == down, "backward payload corrupted");

    wait_stats(&proxy, "byte counts and the connection closing", |s| {
        s.forward.forwarded == LEN as u64 && s.backward.forwarded == LEN as u64 && s.open == 0
    })
    .await;
    let stats = proxy.stats();
    assert_eq!(stats.accepted, 1);
    assert_eq!((stats.forward.dropped, stats.backward.dropped), (0, 0));
    assert_eq!((stats.forward.held, stats.backward.held), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_forward_blackholes_requests_while_responses_flow_and_heal_closes_it() {
    let mut target = Target::start().await;
    let proxy = LinkProxy::start(target.addr).await;
    let (mut source, mut server) = open(&proxy, &mut target).await;
    ping_pong(&mut source, &mut server).await;
    wait_stats(&proxy, "the ping counted", |s| s.forward.forwarded == 4).await;

    proxy.set(Direction::Forward, Fault::Drop);
    source.write_all(b"lost").await.unwrap();
    wait_stats(&proxy, "forward bytes to be dropped", |s| {
        s.forward.dropped == 4
    })
    .await;
    server.write_all(b"still answering").await.unwrap();
    assert_eq!(read_n(&mut source, 15).await, b"still answering");
    assert_eq!(
        proxy.stats().forward.forwarded,
        4,
        "only the ping went forward"
    );
    assert_nothing_arrived(&server);

    // Lifting the blackhole closes the connection whose byte stream it broke...
    proxy.heal();
    expect_closed(&mut source).await;
    expect_closed(&mut server).await;
    wait_stats(&proxy, "the poisoned connection to close", |s| s.open == 0).await;

    // ...and a fresh one works.
    let (mut source, mut server) = open(&proxy, &mut target).await;
    ping_pong(&mut source, &mut server).await;
    assert_eq!(proxy.stats().accepted, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_resets_open_connections_and_new_ones_until_healed() {
    let mut target = Target::start().await;
    let proxy = LinkProxy::start(target.addr).await;
    let (mut source, mut server) = open(&proxy, &mut target).await;
    ping_pong(&mut source, &mut server).await;

    // One direction cut is enough to close the whole connection, on both sides.
    proxy.set(Direction::Backward, Fault::Cut);
    expect_closed(&mut source).await;
    expect_closed(&mut server).await;
    wait_stats(&proxy, "the cut connection to close", |s| s.open == 0).await;

    // New connections are accepted and die at once, without reaching the target.
    for _ in 0..3 {
        if let Ok(mut refused) = TcpStream::connect(proxy.addr()).await {
            expect_closed(&mut refused).await;
        }
    }
    assert!(
        target.accepted.try_recv().is_err(),
        "a cut link dialed the target"
    );
    assert!(proxy.stats().accepted >= 2);

    proxy.heal();
    let (mut source, mut server) = open(&proxy, &mut target).await;
    ping_pong(&mut source, &mut server).await;

    // A cut healed before the connection's task even woke still resets it.
    proxy.set_both(Fault::Cut);
    proxy.heal();
    expect_closed(&mut source).await;
    expect_closed(&mut server).await;
    let (mut source, mut server) = open(&proxy, &mut target).await;
    ping_pong(&mut source, &mut server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_holds_chunks_back_and_preserves_order_across_changes() {
    const DELAY: Duration = Duration::from_secs(1);
    let mut target = Target::start().await;
    let proxy = LinkProxy::start(target.addr).await;
    let (source, mut server) = open(&proxy, &mut target).await;
    let (_source_rx, mut source_tx) = source.into_split();

    // A chunk cannot leave before it was read plus the delay, so this bound is exact
    // whatever the load: load only makes arrival later.
    proxy.set(Direction::Forward, Fault::Delay(DELAY));
    let sent = Instant::now();
    source_tx.write_all(b"first").await.unwrap();
    assert_eq!(read_n(&mut server, 5).await, b"first");
    assert!(
        sent.elapsed() >= DELAY,
        "delivered after {:?}",
        sent.elapsed()
    );

    // Many writes of mixed sizes, with the delay shortened and removed mid-stream (later
    // chunks become due before earlier ones): everything arrives, in order.
    let stream = pattern(3 << 20, 0x5a);
    let (first, second) = stream.split_at(stream.len() / 2);
    proxy.set(Direction::Forward, Fault::Delay(Duration::from_millis(300)));
    for piece in first.chunks(7919) {
        source_tx.write_all(piece).await.unwrap();
    }
    proxy.set(Direction::Forward, Fault::Pass);
    for piece in second.chunks(104_729) {
        source_tx.write_all(piece).await.unwrap();
    }
    assert!(
        read_n(&mut server, stream.len()).await == stream,
        "stream reordered"
    );
    wait_stats(&proxy, "all bytes counted", |s| {
        s.forward.forwarded == 5 + stream.len() as u64 && s.forward.held == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_one_way_does_not_hold_up_the_other_and_shutdown_ends_it() {
    let mut target = Target::start().await;
    let proxy = LinkProxy::start(target.addr).await;
    let (mut source, mut server) = open(&proxy, &mut target).await;

    // Far longer than the test: the forward chunk is still waiting when the test ends.
    proxy.set(Direction::Forward, Fault::Delay(Duration::from_secs(600)));
    source.write_all(b"slow").await.unwrap();
    wait_stats(&proxy, "the forward chunk to be held", |s| {
        s.forward.held == 4
    })
    .await;
    server.write_all(b"fast").await.unwrap();
    assert_eq!(read_n(&mut source, 4).await, b"fast");
    assert_eq!(proxy.stats().forward.forwarded, 0);
    assert_nothing_arrived(&server);

    // Dropping the last handle ends the sleeping pump, the connection and the listener.
    let addr = proxy.addr();
    let clone = proxy.clone();
    drop(proxy);
    source.write_all(b"x").await.unwrap(); // a live handle remains: still open
    assert_eq!(clone.stats().open, 1);
    drop(clone);
    expect_closed(&mut source).await;
    expect_closed(&mut server).await;
    let deadline = Instant::now() + DEADLINE;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "the proxy still listens");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_applies_back_pressure_instead_of_buffering() {
    // More than the proxy's cap plus any kernel socket buffers can hold.
    const TOTAL: u64 = 128 << 20;
    let mut target = Target::start().await;
    let proxy = LinkProxy::start(target.addr).await;
    let (source, _server) = open(&proxy, &mut target).await;
    proxy.set(Direction::Forward, Fault::Delay(Duration::from_secs(600)));

    let written = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn({
        let written = written.clone();
        let mut source = source;
        async move {
            let chunk = pattern(64 << 10, 0x33);
            while written.load(Ordering::SeqCst) < TOTAL {
                if source.write_all(&chunk).await.is_err() {
                    return;
                }
                written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
        }
    });

    let cap = MAX_HELD_BYTES as u64;
    wait_stats(&proxy, "the hold queue to fill", |s| {
        s.forward.held > cap - (64 << 10)
    })
    .await;
    for _ in 0..5 {
        let held = proxy.stats().forward.held;
        assert!(held <= cap, "held {held} bytes, cap {cap}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        written.load(Ordering::SeqCst) < TOTAL,
        "the sender was never pushed back"
    );
    assert!(!writer.is_finished());

    drop(proxy);
    timeout(DEADLINE, writer)
        .await
        .expect("the writer stayed blocked after shutdown")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_target_redirects_new_connections_only() {
    let mut old = Target::start().await;
    let mut new = Target::start().await;
    let proxy = LinkProxy::start(old.addr).await;
    let (mut source_old, mut server_old) = open(&proxy, &mut old).await;

    proxy.set_target(new.addr);
    let (mut source_new, mut server_new) = open(&proxy, &mut new).await;
    ping_pong(&mut source_new, &mut server_new).await;
    ping_pong(&mut source_old, &mut server_old).await;
    assert!(old.accepted.try_recv().is_err());

    // A pump counts a chunk just after writing it, so the reader may be a moment ahead.
    wait_stats(&proxy, "two pings and two pongs counted", |s| {
        s.forward.forwarded == 8 && s.backward.forwarded == 8
    })
    .await;
    let stats = proxy.stats();
    assert_eq!((stats.accepted, stats.open), (2, 2));
}
