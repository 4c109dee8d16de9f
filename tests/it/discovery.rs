//! Discovery and auto-join (server/discovery): `KONSUL_RAFT_JOIN` entries resolved through a
//! real DNS server started in the test (A and SRV records), `exec:` commands, and the join
//! loop's retries, redirects and exits, against fake ClusterService members that record the
//! Join calls they get. The last tests start a real server and check that it runs the loop.

use crate::common;
mod dns_server;
mod entries;
mod fake_cluster;

use openraft::async_runtime::WatchReceiver;
use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use dns_server::{Rec, TestDns};
use fake_cluster::{Answer, FakeMember};
use konsul::config::JoinEntry;
use konsul::deps::{Deps, MemoryDisk, SeededEntropy};
use konsul::discovery::{DnsResolver, JoinLoop, JoinOutcome, JoinSettings};
use konsul::raft::Member;
use konsul::{Listeners, Server};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Bound on every loop run in these tests.
const LIMIT: Duration = Duration::from_secs(30);

fn me() -> Member {
    Member {
        name: "joiner".into(),
        raft_addr: "127.0.0.1:7999".into(),
        client_addr: "127.0.0.1:8999".into(),
        incarnation: 0,
    }
}

/// Short pauses and timeouts, so retries happen within a test's patience.
fn fast() -> JoinSettings {
    JoinSettings {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        connect_timeout: Duration::from_secs(1),
        call_timeout: Duration::from_secs(2),
        exec_timeout: Duration::from_secs(5),
    }
}

fn join_loop(entries: &[&str], dns: Option<&TestDns>) -> JoinLoop {
    let entries = entries
        .iter()
        .map(|e| JoinEntry::parse(e).unwrap())
        .collect();
    JoinLoop::new(
        entries,
        me(),
        DnsResolver::new(dns.map(|d| d.addr)),
        Arc::new(SeededEntropy::from_seed(42)),
        fast(),
    )
}

/// Runs `join` with a membership flag and a stop flag that never change.
async fn run(join: JoinLoop) -> JoinOutcome {
    let (_member, member_rx) = watch::channel(false);
    let (_stop, stop_rx) = watch::channel(false);
    tokio::time::timeout(LIMIT, join.run(member_rx, |m| *m, stop_rx))
        .await
        .expect("join loop did not finish")
}

fn assert_joined_as_me(member: &FakeMember) {
    let joins = member.joins();
    assert_eq!(joins.len(), 1, "{joins:?}");
    let me = me();
    assert_eq!(
        (
            joins[0].node_id.as_str(),
            joins[0].address.as_str(),
            joins[0].client_address.as_str()
        ),
        (
            me.name.as_str(),
            me.raft_addr.as_str(),
            me.client_addr.as_str()
        )
    );
}

// ---------------------------------------------------------------- DNS

#[tokio::test]
async fn a_records_of_a_name_lead_to_the_member() {
    let member = FakeMember::start(Answer::Accept).await;
    let dns = TestDns::start(vec![Rec::A("members.cluster.test", Ipv4Addr::LOCALHOST)]).await;
    let entry = format!("members.cluster.test:{}", member.addr.port());

    let outcome = run(join_loop(&[&entry], Some(&dns))).await;

    assert_eq!(
        outcome,
        JoinOutcome::Joined {
            via: member.addr.to_string(),
            already_member: false,
            rounds: 1
        }
    );
    assert_joined_as_me(&member);
}

#[tokio::test]
async fn srv_records_lead_to_a_follower_which_redirects_to_the_leader() {
    let leader = FakeMember::start(Answer::Accept).await;
    let follower = FakeMember::start(Answer::NotLeader(leader.addr.to_string())).await;
    let dns = TestDns::start(vec![
        Rec::Srv(
            "_konsul._tcp.cluster.test",
            follower.addr.port(),
            "follower.cluster.test",
        ),
        Rec::A("follower.cluster.test", Ipv4Addr::LOCALHOST),
    ])
    .await;

    let outcome = run(join_loop(&["srv:_konsul._tcp.cluster.test"], Some(&dns))).await;

    assert_eq!(
        outcome,
        JoinOutcome::Joined {
            via: leader.addr.to_string(),
            already_member: false,
            rounds: 1
        }
    );
    assert_joined_as_me(&follower);
    assert_joined_as_me(&leader);
}

#[tokio::test]
async fn every_srv_target_is_tried_and_own_address_skipped() {
    // Two SRV records: one is this node itself (skipped), the other a member with no leader
    // yet, then an accepting one; the loop goes through all of them in a round.
    let busy = FakeMember::start(Answer::NoLeader).await;
    let leader = FakeMember::start(Answer::Accept).await;
    let dns = TestDns::start(vec![
        Rec::Srv(
            "_konsul._tcp.cluster.test",
            busy.addr.port(),
            "a.cluster.test",
        ),
        Rec::Srv(
            "_konsul._tcp.cluster.test",
            leader.addr.port(),
            "b.cluster.test",
        ),
        Rec::Srv("_konsul._tcp.cluster.test", 8999, "self.cluster.test"),
        Rec::A("a.cluster.test", Ipv4Addr::LOCALHOST),
        Rec::A("b.cluster.test", Ipv4Addr::LOCALHOST),
        Rec::A("self.cluster.test", Ipv4Addr::LOCALHOST),
    ])
    .await;
    let resolver = DnsResolver::new(Some(dns.addr));
    let mut found = resolver
        .resolve_srv("_konsul._tcp.cluster.test")
        .await
        .unwrap();
    found.sort();
    let mut want = vec![
        busy.addr.to_string(),
        leader.addr.to_string(),
        "127.0.0.1:8999".to_string(),
    ];
    want.sort();
    assert_eq!(found, want);

    let outcome = run(join_loop(&["srv:_konsul._tcp.cluster.test"], Some(&dns))).await;

    assert!(
        matches!(&outcome, JoinOutcome::Joined { via, .. } if *via == leader.addr.to_string()),
        "{outcome:?}"
    );
    assert_joined_as_me(&leader);
}

#[tokio::test]
async fn unknown_names_fail_the_round_not_the_loop() {
    let dns = TestDns::start(vec![]).await;
    let resolver = DnsResolver::new(Some(dns.addr));
    let err = resolver
        .resolve_host("missing.cluster.test", 8888)
        .await
        .unwrap_err();
    assert!(err.contains("missing.cluster.test"), "{err}");
    let err = resolver
        .resolve_srv("_konsul._tcp.cluster.test")
        .await
        .unwrap_err();
    assert!(err.contains("_konsul._tcp.cluster.test"), "{err}");

    // The loop keeps going through failed rounds; a good entry next to a bad one still works.
    let member = FakeMember::start(Answer::Accept).await;
    let outcome = run(join_loop(
        &[
            "missing.cluster.test:8888",
            &format!("127.0.0.1:{}", member.addr.port()),
        ],
        Some(&dns),
    ))
    .await;
    assert!(matches!(outcome, JoinOutcome::Joined { .. }), "{outcome:?}");
}

// ---------------------------------------------------------------- exec

#[tokio::test]
async fn exec_entry_lists_the_member() {
    let member = FakeMember::start(Answer::Accept).await;
    let entry = format!(
        "exec:printf 'not an address\\n\\n127.0.0.1:{}\\n'",
        member.addr.port()
    );

    let outcome = run(join_loop(&[&entry], None)).await;

    assert!(
        matches!(outcome, JoinOutcome::Joined { rounds: 1, .. }),
        "{outcome:?}"
    );
    assert_joined_as_me(&member);
}

/// Every log line of this test binary, from a global subscriber installed on first use. A
/// per-test (thread-local) subscriber would miss events whose callsite another test thread
/// registered first, so tests pick their own lines out by a unique string instead.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        #[derive(Clone)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink(buf.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        buf
    })
    .clone()
}

/// The captured log lines that contain `needle`.
fn log_lines(needle: &str) -> Vec<String> {
    let logs = logs();
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    text.lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn a_failing_exec_is_retried_and_logged_until_it_works() {
    logs();
    let member = FakeMember::start(Answer::Accept).await;
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let entry = format!(
        "exec:if [ -e '{}' ]; then echo 127.0.0.1:{}; else echo 'inventory not ready' >&2; exit 1; fi",
        ready.display(),
        member.addr.port()
    );
    let ours = ready.display().to_string();
    let join = join_loop(&[&entry], None);
    let (_member, member_rx) = watch::channel(false);
    let (_stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(join.run(member_rx, |m| *m, stop_rx));

    let failures = common::wait_until("three failed rounds in the log", || {
        let lines: Vec<String> = log_lines(&ours)
            .into_iter()
            .filter(|l| l.contains("WARN") && l.contains("exit status: 1: inventory not ready"))
            .collect();
        async move { (lines.len() >= 3).then_some(lines) }
    })
    .await;
    assert!(member.joins().is_empty(), "{failures:?}");
    std::fs::write(&ready, "").unwrap();
    let outcome = tokio::time::timeout(LIMIT, task).await.unwrap().unwrap();

    match outcome {
        JoinOutcome::Joined { rounds, .. } => assert!(rounds >= 4, "{rounds}"),
        other => panic!("{other:?}"),
    }
    assert_joined_as_me(&member);
    let added = format!("join: {} added this node", member.addr);
    assert_eq!(log_lines(&added).len(), 1, "{:?}", log_lines(""));
}

// ---------------------------------------------------------------- ending the loop

#[tokio::test]
async fn becoming_a_member_ends_the_loop_even_while_members_refuse() {
    let member = FakeMember::start(Answer::NoLeader).await;
    let join = join_loop(&[&member.addr.to_string()], None);
    let (member_tx, member_rx) = watch::channel(false);
    let (_stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(join.run(member_rx, |m| *m, stop_rx));

    common::wait_until("two refused Join calls", || {
        let n = member.joins().len();
        async move { (n >= 2).then_some(()) }
    })
    .await;
    member_tx.send(true).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the loop did not notice membership")
        .unwrap();
    assert_eq!(outcome, JoinOutcome::Member);
}

#[tokio::test]
async fn a_member_at_start_makes_no_calls() {
    let member = FakeMember::start(Answer::Accept).await;
    let join = join_loop(&[&member.addr.to_string()], None);
    let (_member, member_rx) = watch::channel(true);
    let (_stop, stop_rx) = watch::channel(false);
    let outcome = tokio::time::timeout(LIMIT, join.run(member_rx, |m| *m, stop_rx))
        .await
        .unwrap();
    assert_eq!(outcome, JoinOutcome::Member);
    assert!(member.joins().is_empty());
}

#[tokio::test]
async fn shutdown_ends_the_loop_during_a_slow_command() {
    let join = join_loop(&["exec:sleep 20"], None);
    let (_member, member_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(join.run(member_rx, |m| *m, stop_rx));
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop_tx.send(true).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the loop did not stop")
        .unwrap();
    assert_eq!(outcome, JoinOutcome::Stopped);
}

// ---------------------------------------------------------------- the server runs the loop

async fn start_joiner(dir: &std::path::Path, join: &str) -> konsul::RunningServer {
    let config = common::test_config_with(
        dir,
        &[
            ("KONSUL_RAFT_ENABLED", "true"),
            ("KONSUL_RAFT_NODE_ID", "joiner-1"),
            ("KONSUL_RAFT_JOIN", join),
        ],
    );
    let listeners = Listeners {
        client: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        raft: TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let deps = Deps {
        disk: Arc::new(MemoryDisk),
        ..Deps::production()
    };
    Server::start(config, deps, listeners).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_raft_join_asks_the_member_to_add_it() {
    let member = FakeMember::start(Answer::Accept).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start_joiner(dir.path(), &member.addr.to_string()).await;

    let joins = common::wait_until("the Join call", || {
        let joins = member.joins();
        async move { (!joins.is_empty()).then_some(joins) }
    })
    .await;
    assert_eq!(joins[0].node_id, "joiner-1");
    assert_eq!(joins[0].address, server.raft_addr().to_string());
    assert_eq!(joins[0].client_address, server.client_addr().to_string());
    tokio::time::timeout(LIMIT, server.shutdown())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_a_server_still_trying_to_join() {
    let member = FakeMember::start(Answer::NoLeader).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start_joiner(dir.path(), &member.addr.to_string()).await;
    common::wait_until("a refused Join call", || {
        let n = member.joins().len();
        async move { (n >= 1).then_some(()) }
    })
    .await;
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("shutdown waited for the join loop")
        .unwrap();
}

// ---------------------------------------------------------------- end to end

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_raft_join_becomes_a_voter_and_applies_writes() {
    use konsul_proto::v1 as pb;
    use konsul_proto::v1::kv_service_client::KvServiceClient;

    // A real one-node cluster (n1 bootstraps), then a node that only has KONSUL_RAFT_JOIN.
    let cluster = common::cluster::TestCluster::start(1).await;
    let seed = cluster.node(0).server().client_addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let joiner = start_joiner(dir.path(), &seed).await;

    let id = joiner.node().id();
    common::wait_until("the joiner to be a voter", || {
        let voter =
            konsul::discovery::is_voter(&joiner.node().raft().metrics().borrow_watched(), id);
        async move { voter.then_some(()) }
    })
    .await;

    let mut leader = cluster.node(0).kv().await;
    leader
        .put(pb::PutRequest {
            key: "joined/by".into(),
            value: b"discovery".to_vec(),
            flags: 0,
            cas: None,
            request_id: None,
        })
        .await
        .unwrap();
    let local = KvServiceClient::connect(format!("http://{}", joiner.client_addr()))
        .await
        .unwrap();
    let value = common::wait_until("the write on the joiner", || {
        let mut local = local.clone();
        async move {
            let r = local
                .get(pb::GetRequest {
                    key: "joined/by".into(),
                    consistency: pb::Consistency::Stale as i32,
                    min_index: 0,
                })
                .await
                .ok()?;
            r.into_inner().kv.map(|kv| kv.value)
        }
    })
    .await;
    assert_eq!(value, b"discovery");
    tokio::time::timeout(LIMIT, joiner.shutdown())
        .await
        .unwrap()
        .unwrap();
}
