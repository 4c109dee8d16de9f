//! The leader counts the services it expires in `konsul_catalog_services_expired_total`.
//!
//! A `metrics` recorder is process-wide, so this binary holds this one test (every other
//! integration test lives in the one binary of `tests/it/`): it installs a
//! recorder that keeps that counter, runs a standalone node (its own leader) on a manual
//! clock, lets two of three services pass their deadline, and reads the counter once the
//! replicated expiry has removed them.

#[path = "it/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::TestNode;
use common::clock::ManualClock;
use common::wait_until;
use konsul::leader::expiry::EXPIRED_TOTAL;
use konsul_proto::v1 as pb;
use metrics::{
    Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

static EXPIRED: AtomicU64 = AtomicU64::new(0);

/// Keeps [`EXPIRED_TOTAL`] in [`EXPIRED`]; every other metric goes nowhere.
struct ExpiredRecorder;

struct ExpiredCounter;

impl CounterFn for ExpiredCounter {
    fn increment(&self, value: u64) {
        EXPIRED.fetch_add(value, Ordering::SeqCst);
    }

    fn absolute(&self, value: u64) {
        EXPIRED.fetch_max(value, Ordering::SeqCst);
    }
}

impl Recorder for ExpiredRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        if key.name() == EXPIRED_TOTAL {
            Counter::from_arc(Arc::new(ExpiredCounter))
        } else {
            Counter::noop()
        }
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

fn svc(name: &str, ttl_ms: u64) -> pb::Service {
    pb::Service {
        name: name.into(),
        address: "10.0.0.1".into(),
        port: 80,
        ttl_ms,
        ..Default::default()
    }
}

// Runtime: well under a second (one node, three writes, one 100 ms sweep).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_counts_the_services_it_expires() {
    metrics::set_global_recorder(ExpiredRecorder).expect("the only recorder in this binary");
    let clock = ManualClock::new();
    let node =
        TestNode::start_with_clock(clock.clone(), &[("KONSUL_CLEANUP_INTERVAL", "100ms")]).await;
    let mut c = node.catalog().await;
    for s in [svc("a", 1_000), svc("b", 1_000), svc("long", 60_000)] {
        c.register(pb::RegisterRequest {
            service: Some(s),
            cas: None,
        })
        .await
        .unwrap();
    }
    assert_eq!(EXPIRED.load(Ordering::SeqCst), 0);

    clock.advance(Duration::from_secs(2));
    let view = node.server.node().view().clone();
    wait_until("a and b expired", || {
        let left = view.read(|s| s.service_count());
        async move { (left == 1).then_some(()) }
    })
    .await;
    assert!(view.read(|s| s.service("long").is_some()));
    // The leader counts once its expiry write has answered, just after the store applied it.
    wait_until("the two expired services counted", || {
        let counted = EXPIRED.load(Ordering::SeqCst);
        async move { (counted >= 2).then_some(()) }
    })
    .await;
    assert_eq!(EXPIRED.load(Ordering::SeqCst), 2);
    node.server.shutdown().await.unwrap();
}
