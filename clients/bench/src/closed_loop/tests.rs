//! Tests of `closed_loop.rs`.

use super::*;
use std::ops::Range;
use std::sync::Mutex;
use tonic::Code;

/// An in-memory target: puts store, gets look up, and every `fail_every`-th call fails.
#[derive(Clone, Default)]
struct Fake {
    keys: Arc<Mutex<std::collections::HashSet<String>>>,
    calls: Arc<AtomicU64>,
    fail_every: u64,
}

impl Fake {
    fn maybe_fail(&self) -> Result<(), Status> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if self.fail_every > 0 && n.is_multiple_of(self.fail_every) {
            Err(Status::unavailable("injected"))
        } else {
            Ok(())
        }
    }
}

impl Target for Fake {
    async fn put(&mut self, key: &str, _value: &[u8]) -> Result<(), Status> {
        self.maybe_fail()?;
        self.keys.lock().unwrap().insert(key.to_string());
        Ok(())
    }
    async fn get(&mut self, key: &str) -> Result<Read, Status> {
        self.maybe_fail()?;
        Ok(if self.keys.lock().unwrap().contains(key) {
            Read::Hit
        } else {
            Read::Miss
        })
    }
    async fn register(&mut self, n: u64) -> Result<(), Status> {
        self.maybe_fail()?;
        let fresh = self.keys.lock().unwrap().insert(format!("reg/{n}"));
        assert!(fresh, "register numbers are unique");
        Ok(())
    }
    async fn preregister(&mut self, ns: Range<u64>) -> Result<(), Status> {
        self.maybe_fail()?;
        assert!(ns.end - ns.start <= REGISTER_BATCH);
        let mut keys = self.keys.lock().unwrap();
        keys.extend(ns.map(|n| format!("svc/{n}")));
        Ok(())
    }
    async fn heartbeat(&mut self, n: u64) -> Result<Read, Status> {
        self.get(&format!("svc/{n}")).await
    }
    async fn query(&mut self, g: u64) -> Result<Read, Status> {
        self.maybe_fail()?;
        Ok(if g < 3 { Read::Hit } else { Read::Miss })
    }
}

fn workload(mix: OpMix, max_ops: Option<u64>) -> Arc<Workload> {
    Arc::new(Workload {
        mix,
        key_space: 50,
        groups: 3,
        value: vec![7; 16],
        warmup: Duration::ZERO,
        duration: Duration::from_secs(5),
        max_ops,
    })
}

#[tokio::test]
async fn max_ops_bounds_the_run_and_every_call_is_counted() {
    let fake = Fake {
        fail_every: 10,
        ..Fake::default()
    };
    let w = workload(OpMix::Mixed { read_ratio: 0.5 }, Some(1000));
    let tally = run(vec![fake.clone(); 4], vec![1, 2, 3, 4], w)
        .await
        .unwrap();
    let m = &tally.measured;
    assert_eq!(m.answered() + m.failed(), 1000);
    assert_eq!(m.failed(), 100);
    assert_eq!(
        m.errors[&format!("{:?}", Code::Unavailable)].sample,
        "injected"
    );
    assert_eq!(tally.latency_us.len(), m.answered());
    assert!(!tally.aborted);
}

#[tokio::test]
async fn prefill_makes_every_read_a_hit() {
    let fake = Fake::default();
    let w = workload(OpMix::Get, Some(500));
    prefill(&vec![fake.clone(); 3], &w).await.unwrap();
    assert_eq!(fake.keys.lock().unwrap().len(), 50);
    let tally = run(vec![fake; 3], vec![9, 8, 7], w).await.unwrap();
    assert_eq!(tally.measured.ok, 500);
    assert_eq!(tally.measured.misses, 0);
}

#[tokio::test]
async fn preregistered_services_are_all_found_by_heartbeats() {
    let fake = Fake::default();
    let mut w = workload(OpMix::Heartbeat, Some(400));
    Arc::get_mut(&mut w).unwrap().key_space = 250;
    preregister(std::slice::from_ref(&fake), &w, 4)
        .await
        .unwrap();
    assert_eq!(fake.keys.lock().unwrap().len(), 250);
    let tally = run(vec![fake.clone(); 3], vec![1, 2, 3], w).await.unwrap();
    assert_eq!(tally.measured.ok, 400);
    assert_eq!(tally.measured.misses, 0);

    let q = run(vec![fake; 2], vec![4, 5], workload(OpMix::Query, Some(100)))
        .await
        .unwrap();
    assert_eq!(q.measured.ok, 100, "queries pick groups below `groups`");
}

#[tokio::test]
async fn register_numbers_are_unique_across_clients() {
    let fake = Fake::default();
    let w = workload(OpMix::Register, Some(300));
    let tally = run(vec![fake.clone(); 4], vec![1, 2, 3, 4], w)
        .await
        .unwrap();
    assert_eq!(tally.measured.ok, 300);
    assert_eq!(fake.keys.lock().unwrap().len(), 300);
}

#[tokio::test]
async fn a_run_where_everything_fails_aborts_early() {
    let fake = Fake {
        fail_every: 1,
        ..Fake::default()
    };
    let w = workload(OpMix::Put, None);
    let tally = run(vec![fake; 2], vec![1, 2], w).await.unwrap();
    assert!(tally.aborted);
    assert_eq!(tally.measured.answered(), 0);
    // Stopped near the threshold, long before the 5 s deadline.
    assert!(tally.measured.failed() < 200);
}
