//! The service catalog on a 3-node in-process cluster: registrations replicate with the same
//! indices everywhere, batches are atomic across the cluster, and services expire through
//! replicated commands that the leader proposes (server/leader/expiry.rs): a heartbeat,
//! answered from the leader's memory without a Raft entry (server/leader/heartbeats.rs),
//! keeps a service alive on every node although only the leader knows of it; silence
//! removes it from every node (at the same log index: every node reports the same
//! `catalog_index` afterwards); a leader failover grants a grace period instead of expiring
//! services whose heartbeats went to the old leader; followers forward heartbeats; and a
//! storm of heartbeats writes nothing to the log.
//!
//! Time is a [`ManualClock`] shared by every node, so deadlines move only when a test says
//! so; Raft and the cleanup interval run on real timers. Nothing sleeps and then asserts:
//! every wait polls with a deadline. Where a test must show that an expiry did *not* remove a
//! service, it registers a short-lived "canary" beside it and waits for the canary to go: the
//! expiry that removed the canary ran at the current clock reading and spared the service.

use crate::common;

use std::time::Duration;

use common::clock::{ManualClock, START_MS};
use common::cluster::TestCluster;
use common::wait_until;
use konsul::store::ServiceEntry;
use konsul_proto::v1 as pb;
use tonic::Code;

/// Settings for every node: a fast cleanup interval, and Raft timers calmer than the
/// harness's defaults, so a busy 2-core machine does not hold a spurious election (whose
/// grace entry would move deadlines in the middle of a test).
const SETTINGS: &[(&str, &str)] = &[
    ("KONSUL_CLEANUP_INTERVAL", "100ms"),
    ("KONSUL_RAFT_HEARTBEAT_TIMEOUT", "300ms"),
    ("KONSUL_RAFT_ELECTION_TIMEOUT", "600ms"),
    ("KONSUL_RAFT_LEADER_LEASE_TIMEOUT", "200ms"),
];

const SECOND: u64 = 1_000;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn svc(name: &str, ttl_ms: u64) -> pb::Service {
    pb::Service {
        name: name.into(),
        address: "10.0.0.1".into(),
        port: 8080,
        ttl_ms,
        ..Default::default()
    }
}

/// A 3-node cluster whose nodes all read `clock`.
async fn cluster(clock: &std::sync::Arc<ManualClock>) -> TestCluster {
    TestCluster::start_with_clock(3, SETTINGS, Some(clock.clone())).await
}

/// Registers `s` through node `i` (the leader) and returns the stored entry.
async fn register(c: &TestCluster, i: usize, s: pb::Service) -> pb::ServiceEntry {
    c.node(i)
        .catalog()
        .await
        .register(pb::RegisterRequest {
            service: Some(s),
            cas: None,
        })
        .await
        .expect("register on the leader")
        .into_inner()
        .entry
        .unwrap()
}

/// Node `i`'s answer to a stale (local) GetService.
async fn stale_get(
    c: &TestCluster,
    i: usize,
    name: &str,
) -> Result<pb::ServiceEntry, tonic::Status> {
    c.node(i)
        .catalog()
        .await
        .get_service(pb::GetServiceRequest {
            name: name.into(),
            id: None,
            consistency: pb::Consistency::Stale as i32,
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().entry.unwrap())
}

/// What node `i`'s state machine holds under catalog key `key`, hidden or not: a service
/// leaves it only through a replicated CatalogExpire (or a deregister).
fn stored(c: &TestCluster, i: usize, key: &str) -> Option<ServiceEntry> {
    c.node(i)
        .server()
        .node()
        .view()
        .read(|s| s.service(key).cloned())
}

/// Indices of the running nodes.
fn live(c: &TestCluster) -> Vec<usize> {
    (0..c.nodes.len())
        .filter(|&i| c.nodes[i].server.is_some())
        .collect()
}

/// Waits until no running node's state machine holds `key`, then checks every node answers
/// NOT_FOUND for it.
async fn wait_removed_everywhere(c: &TestCluster, key: &str) {
    for i in live(c) {
        wait_until(&format!("{key} removed on {}", c.node(i).name), || {
            let gone = stored(c, i, key).is_none();
            async move { gone.then_some(()) }
        })
        .await;
        let err = stale_get(c, i, key).await.expect_err("removed service");
        assert_eq!(err.code(), Code::NotFound, "{}: {err}", c.node(i).name);
    }
}

/// Checks every running node holds `name` with replicated deadline `replicated_ms` and serves
/// it: with that deadline, or on the leader `leader_ms` (its heartbeat table's).
async fn assert_alive_everywhere(c: &TestCluster, name: &str, replicated_ms: u64, leader_ms: u64) {
    for i in live(c) {
        let who = &c.node(i).name;
        let held = stored(c, i, name).unwrap_or_else(|| panic!("{who} lost {name}"));
        assert_eq!(
            held.expires_at_ms, replicated_ms,
            "{who}: deadline of {name}"
        );
        let got = stale_get(c, i, name)
            .await
            .unwrap_or_else(|e| panic!("{who} does not serve {name}: {e}"));
        let shown = if c.leads(i) { leader_ms } else { replicated_ms };
        assert_eq!(got.expires_at_ms, shown, "{who}");
    }
}

/// A heartbeat for `name` through node `i`.
async fn heartbeat(
    c: &TestCluster,
    i: usize,
    name: &str,
) -> Result<pb::HeartbeatResponse, tonic::Status> {
    c.node(i)
        .catalog()
        .await
        .heartbeat(pb::HeartbeatRequest {
            name: name.into(),
            id: None,
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Node `i`'s last log index.
fn last_log_index(c: &TestCluster, i: usize) -> u64 {
    let metrics = c.node(i).server().node().metrics_watch();
    let last = metrics.borrow().last_log_index;
    last.unwrap_or(0)
}

// Runtime: about 1-2 s (a 3-node start and one write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_on_the_leader_replicates_with_the_same_indices() {
    let clock = ManualClock::new();
    let c = cluster(&clock).await;
    let l = c.leader().await;
    let e = register(&c, l, svc("web", 0)).await;
    assert_eq!(
        e.expires_at_ms,
        START_MS + 30 * SECOND,
        "default TTL, leader time"
    );
    c.wait_applied(e.modify_index).await;
    for i in 0..3 {
        let got = stale_get(&c, i, "web")
            .await
            .unwrap_or_else(|s| panic!("{}: {s}", c.node(i).name));
        assert_eq!(
            (got.create_index, got.modify_index, got.expires_at_ms),
            (e.create_index, e.modify_index, e.expires_at_ms),
            "{}",
            c.node(i).name
        );
        assert_eq!(got.service, e.service, "{}", c.node(i).name);
    }
}

// Runtime: about 2 s (a 3-node start, a few writes, two expiry rounds of 100 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_keeps_a_service_alive_and_silence_expires_it_everywhere() {
    let clock = ManualClock::new();
    let c = cluster(&clock).await;
    let l = c.leader().await;
    let e = register(&c, l, svc("web", 10 * SECOND)).await; // deadline t+10s
    assert_eq!(e.expires_at_ms, START_MS + 10 * SECOND);

    clock.advance(secs(8)); // t+8s
    let hb = heartbeat(&c, l, "web").await.expect("heartbeat");
    assert_eq!(hb.expires_at_ms, START_MS + 18 * SECOND);
    let canary = register(&c, l, svc("canary", SECOND)).await; // deadline t+9s
    c.wait_applied(canary.modify_index).await;

    clock.advance(secs(8)); // t+16s: past the registration's deadline, not the heartbeat's
    // The canary going proves an expiry ran at t+16s; it left web alone. The followers
    // never heard of the heartbeat (their deadline for web is t+10s, passed) and still
    // serve web: only the leader's expiry removes a service.
    wait_removed_everywhere(&c, "canary").await;
    assert_alive_everywhere(&c, "web", START_MS + 10 * SECOND, START_MS + 18 * SECOND).await;

    clock.advance(secs(3)); // t+19s: silence since t+8s
    wait_removed_everywhere(&c, "web").await;
}

// Runtime: about 3-4 s (a 3-node start, one graceful leader stop and election, a few writes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_grants_grace_instead_of_expiring_services_at_once() {
    let clock = ManualClock::new();
    let mut c = cluster(&clock).await;
    let old = c.leader().await;
    let e = register(&c, old, svc("web", 10 * SECOND)).await; // deadline t+10s
    c.wait_applied(e.modify_index).await;

    clock.advance(secs(9)); // t+9s: a heartbeat that only the old leader will ever know of
    let hb = heartbeat(&c, old, "web").await.expect("heartbeat");
    assert_eq!(hb.expires_at_ms, START_MS + 19 * SECOND);
    c.kill(old).await;
    let new = c.leader().await;
    assert_ne!(new, old);

    // The new leader's first entry, CatalogGrace at t+9s, moves the deadline to t+19s on
    // every survivor before anything can expire in its term.
    for i in live(&c) {
        wait_until(&format!("grace applied on {}", c.node(i).name), || {
            let deadline = stored(&c, i, "web").map(|s| s.expires_at_ms);
            async move { (deadline == Some(START_MS + 19 * SECOND)).then_some(()) }
        })
        .await;
    }
    let canary = register(&c, new, svc("canary", SECOND)).await; // deadline t+10s
    c.wait_applied(canary.modify_index).await;

    clock.advance(secs(5)); // t+14s: past web's original deadline, not its grace
    wait_removed_everywhere(&c, "canary").await;
    // A write after the expiry, applied everywhere: web is still there at that index.
    let put = c
        .node(new)
        .kv()
        .await
        .put(pb::PutRequest {
            key: "after-expiry".into(),
            value: b"x".to_vec(),
            ..Default::default()
        })
        .await
        .expect("put through the new leader")
        .into_inner()
        .kv
        .unwrap();
    c.wait_applied(put.modify_index).await;
    assert_alive_everywhere(&c, "web", START_MS + 19 * SECOND, START_MS + 19 * SECOND).await;
    let kept = stale_get(&c, new, "web").await.unwrap();
    assert_eq!(
        (kept.create_index, kept.modify_index),
        (e.create_index, e.modify_index),
        "grace moves the deadline only"
    );

    clock.advance(secs(6)); // t+20s: past the grace too
    wait_removed_everywhere(&c, "web").await;
}

// Runtime: about 1-2 s (a 3-node start, a rejected batch and one write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_one_invalid_service_registers_nothing_on_any_node() {
    let clock = ManualClock::new();
    let c = cluster(&clock).await;
    let l = c.leader().await;
    let err = c
        .node(l)
        .catalog()
        .await
        .batch_register(pb::BatchRegisterRequest {
            services: vec![
                svc("a", 0),
                pb::Service {
                    port: 0,
                    ..svc("b", 0)
                },
                svc("c", 0),
            ],
        })
        .await
        .expect_err("a batch with an invalid service");
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    assert!(err.message().contains("services[1].port"), "{err}");

    // A later write has replicated everywhere, so the batch would have too.
    let after = register(&c, l, svc("after", 0)).await;
    c.wait_applied(after.modify_index).await;
    for i in 0..3 {
        let who = &c.node(i).name;
        let listed: Vec<String> = c
            .node(i)
            .catalog()
            .await
            .list_services(pb::ListServicesRequest {
                consistency: pb::Consistency::Stale as i32,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{who}: {s}"))
            .into_inner()
            .entries
            .into_iter()
            .map(|e| e.service.unwrap().name)
            .collect();
        assert_eq!(listed, ["after"], "{who}");
        for key in ["a", "b", "c"] {
            assert!(stored(&c, i, key).is_none(), "{who} holds {key}");
        }
    }
}

// Runtime: about 1-2 s (a 3-node start, two writes, one expiry round of 100 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_expires_at_the_same_log_index_on_every_node() {
    let clock = ManualClock::new();
    let c = cluster(&clock).await;
    let l = c.leader().await;
    let web = register(&c, l, svc("web", 2 * SECOND)).await;
    let keep = register(&c, l, svc("keep", 60 * SECOND)).await;
    assert!(keep.modify_index > web.modify_index);
    c.wait_applied(keep.modify_index).await;

    clock.advance(secs(3)); // web's deadline passes; keep's does not
    wait_removed_everywhere(&c, "web").await;

    let mut indices = Vec::new();
    for i in 0..3 {
        let who = &c.node(i).name;
        let listed = c
            .node(i)
            .catalog()
            .await
            .list_services(pb::ListServicesRequest {
                consistency: pb::Consistency::Stale as i32,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{who}: {s}"))
            .into_inner();
        let names: Vec<String> = listed
            .entries
            .into_iter()
            .map(|e| e.service.unwrap().name)
            .collect();
        assert_eq!(names, ["keep"], "{who}");

        // REST reads are stale by default: the same index in X-Konsul-Index.
        let rest = reqwest::get(c.node(i).url("/services/")).await.unwrap();
        assert_eq!(rest.status(), 200, "{who}");
        let header: u64 = rest
            .headers()
            .get("X-Konsul-Index")
            .unwrap_or_else(|| panic!("{who}: no X-Konsul-Index"))
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(header, listed.catalog_index, "{who}: REST and gRPC");
        let body: serde_json::Value = rest.json().await.unwrap();
        assert_eq!(body.as_array().map(Vec::len), Some(1), "{who}: {body}");
        indices.push(listed.catalog_index);
    }
    assert!(
        indices.iter().all(|&i| i == indices[0]),
        "catalog_index differs between nodes: {indices:?}"
    );
    assert!(
        indices[0] > keep.modify_index,
        "the expiry entry ({}) comes after the last registration ({})",
        indices[0],
        keep.modify_index
    );
}

// Runtime: about 2-3 s (a 3-node start with forwarding, two writes, 640 heartbeats).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_storm_through_leader_and_followers_writes_no_log_entry() {
    let clock = ManualClock::new();
    let settings: Vec<(&str, &str)> = SETTINGS
        .iter()
        .copied()
        .chain([("KONSUL_FORWARD_TO_LEADER", "true")])
        .collect();
    let c = TestCluster::start_with_clock(3, &settings, Some(clock.clone())).await;
    let l = c.leader().await;
    let names = ["a", "b", "c", "d"];
    let mut last = 0;
    for name in names {
        last = register(&c, l, svc(name, 10 * SECOND)).await.modify_index;
    }
    c.wait_applied(last).await;
    let before: Vec<u64> = (0..3).map(|i| last_log_index(&c, i)).collect();

    clock.advance(secs(5)); // t+5s: every answer is t+15s
    const TASKS: usize = 32;
    const EACH: usize = 20;
    let mut storm = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let via = t % 3; // the leader or a follower, which forwards
        let mut client = c.node(via).catalog().await;
        storm.spawn(async move {
            for k in 0..EACH {
                let name = ["a", "b", "c", "d"][(t + k) % 4];
                let hb = client
                    .heartbeat(pb::HeartbeatRequest {
                        name: name.into(),
                        id: None,
                    })
                    .await
                    .unwrap_or_else(|e| panic!("heartbeat {k} of task {t} via node {via}: {e}"))
                    .into_inner();
                assert_eq!(hb.expires_at_ms, START_MS + 15 * SECOND, "{name}");
            }
        });
    }
    while let Some(done) = tokio::time::timeout(secs(60), storm.join_next())
        .await
        .expect("the storm ends within 60 s")
    {
        done.expect("a heartbeat task");
    }
    let after: Vec<u64> = (0..3).map(|i| last_log_index(&c, i)).collect();
    assert_eq!(before, after, "heartbeats wrote log entries");
    assert_eq!(c.node(l).server().heartbeats().len(), names.len());

    // An unknown service is NOT_FOUND through a follower too, and writes nothing.
    let follower = (l + 1) % 3;
    let err = heartbeat(&c, follower, "ghost").await.expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound, "{err}");
    assert_eq!(last_log_index(&c, l), after[l]);

    // The heartbeats count: at t+12s (past the registrations' t+10s) nothing is removed.
    clock.advance(secs(7));
    let canary = register(&c, l, svc("canary", SECOND)).await;
    c.wait_applied(canary.modify_index).await;
    clock.advance(secs(2)); // t+14s
    wait_removed_everywhere(&c, "canary").await;
    for name in names {
        assert_alive_everywhere(&c, name, START_MS + 10 * SECOND, START_MS + 15 * SECOND).await;
    }
}

// Runtime: about 1-2 s (a 3-node start, one write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_without_forwarding_redirects_a_heartbeat_to_the_leader() {
    let clock = ManualClock::new();
    let c = cluster(&clock).await;
    let l = c.leader().await;
    let e = register(&c, l, svc("web", 10 * SECOND)).await;
    c.wait_applied(e.modify_index).await;
    let follower = (l + 1) % 3;
    let err = heartbeat(&c, follower, "web")
        .await
        .expect_err("not leader");
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    let leader_id = err
        .metadata()
        .get("konsul-leader-id")
        .unwrap_or_else(|| panic!("no konsul-leader-id in {err:?}"));
    assert_eq!(leader_id.to_str().unwrap(), c.node(l).name);
    assert!(c.node(follower).server().heartbeats().is_empty());
    assert!(
        c.node(l).server().heartbeats().is_empty(),
        "nothing reached the leader"
    );
}
