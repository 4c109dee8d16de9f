//! What a follower does with a call only the leader can serve, on every write route.
//!
//! - Without forwarding, every write (gRPC Put, Delete and the four batch calls; REST PUT and
//!   DELETE /kv, the four /batch/kv writes, /cluster/join and /cluster/leave) and every
//!   leader-only read answers the same not-leader way: gRPC UNAVAILABLE with the leader's
//!   name, client address and Raft address in `konsul-leader-*` metadata; REST 307 whose
//!   `Location` is the same path and query on the leader's client address, with the
//!   `konsul-leader-addr` header and the contract's body. Nothing is written. Stale reads are
//!   served by the follower itself.
//! - With `KONSUL_FORWARD_TO_LEADER=true` the same calls sent to a follower succeed: the
//!   leader serves them (its name is in the gRPC response header) and its store has the
//!   result.
//! - With no leader at all (a clustered node that nobody has joined yet) writes answer gRPC
//!   UNAVAILABLE "no leader" and REST 503 `no leader`, and the node reports itself not ready
//!   on /health/ready and gRPC health.
//!
//! Nothing is timed; every wait polls with a deadline.

use crate::common;

mod writes;

use common::cluster::TestCluster;
use konsul_proto::v1 as pb;
use openraft::async_runtime::WatchReceiver;
use reqwest::Method;
use serde_json::json;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use writes::{
    Keys, Leader, assert_applied, assert_untouched, call, grpc_writes, rest_writes, send,
};

/// Raft timing that a loaded 2-core machine cannot upset: no election unless a leader is
/// really gone (a test that names the leader must not see it deposed), and a quorum round
/// of a strong read (whose per-peer timeout is the heartbeat interval, a fifth of the
/// heartbeat timeout) with room to spare.
const STEADY: [(&str, &str); 3] = [
    ("KONSUL_RAFT_ELECTION_TIMEOUT", "1500ms"),
    ("KONSUL_RAFT_HEARTBEAT_TIMEOUT", "500ms"),
    ("KONSUL_RAFT_LEADER_LEASE_TIMEOUT", "300ms"),
];

fn get(key: &str, consistency: pb::Consistency) -> pb::GetRequest {
    pb::GetRequest {
        key: key.into(),
        consistency: consistency as i32,
        min_index: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_route_on_a_follower_names_the_leader_and_writes_nothing() {
    let c = TestCluster::start_with(3, &STEADY).await;
    let grpc = Keys::prepare(&c, "grpc").await;
    let rest = Keys::prepare(&c, "rest").await;
    let l = c.leader().await;
    let f = (l + 1) % 3;
    let leader = Leader::of(&c, l);
    let follower = c.node(f).server().client_addr().to_string();

    // gRPC writes: UNAVAILABLE with the leader in metadata.
    let mut kv = c.node(f).kv().await;
    for (what, answer) in grpc_writes(&mut kv, &grpc).await {
        leader.assert_grpc(what, answer);
    }
    // Reads that only the leader may serve answer the same way; a stale read is local.
    for consistency in [
        pb::Consistency::Unspecified,
        pb::Consistency::Leader,
        pb::Consistency::Strong,
    ] {
        let r = kv.get(get(&grpc.key("del"), consistency)).await;
        leader.assert_grpc(
            &format!("Get {consistency:?}"),
            r.map(|r| r.into_inner().header),
        );
    }
    let local = kv
        .get(get(&grpc.key("del"), pb::Consistency::Stale))
        .await
        .expect("a stale read is served by the follower")
        .into_inner();
    assert_eq!(local.kv.unwrap().value, b"old");
    assert_eq!(local.header.unwrap().served_by, c.node(f).name);

    // REST writes, and the cluster changes: 307 to the leader.
    let mut calls = rest_writes(&rest);
    calls.push(call(
        Method::POST,
        "/cluster/join".into(),
        Some(json!({"node_id": "n9", "address": "127.0.0.1:9", "client_address": "127.0.0.1:8"})),
    ));
    calls.push(call(Method::DELETE, "/cluster/leave/x".into(), None));
    // Leader-only REST reads too, with their query kept in Location.
    for q in [
        "consistency=leader",
        "consistency=strong",
        "consistent=true",
    ] {
        calls.push(call(
            Method::GET,
            format!("/kv/{}?{q}", rest.key("del")),
            None,
        ));
    }
    for c in &calls {
        leader.assert_redirect(&follower, c).await;
    }
    // The default REST read is stale (the contract's behaviour) and served locally.
    let (status, _, body) = send(
        &follower,
        &call(Method::GET, format!("/kv/{}", rest.key("del")), None),
    )
    .await;
    assert_eq!((status, &body["value"]), (200, &json!("old")), "{body}");

    // Nothing was written anywhere: not on the leader, not on the follower.
    for i in [l, f] {
        assert_untouched(&c, i, &grpc);
        assert_untouched(&c, i, &rest);
    }
    let peers = c
        .node(l)
        .server()
        .node()
        .raft()
        .metrics()
        .borrow_watched()
        .membership_config
        .membership()
        .nodes()
        .count();
    assert_eq!(peers, 3, "the redirected join changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_forwarding_on_a_follower_serves_every_write_through_the_leader() {
    let c = TestCluster::start_with(
        3,
        &[
            STEADY[0],
            STEADY[1],
            STEADY[2],
            ("KONSUL_FORWARD_TO_LEADER", "true"),
        ],
    )
    .await;
    let grpc = Keys::prepare(&c, "grpc").await;
    let rest = Keys::prepare(&c, "rest").await;
    let l = c.leader().await;
    let f = (l + 1) % 3;
    let leader = c.node(l).name.clone();
    let follower = c.node(f).server().client_addr().to_string();

    // gRPC: every write succeeds and was served by the leader.
    let mut kv = c.node(f).kv().await;
    for (what, answer) in grpc_writes(&mut kv, &grpc).await {
        let header = answer
            .unwrap_or_else(|s| panic!("{what} through a follower: {s:?}"))
            .expect("a response header");
        assert_eq!(header.served_by, leader, "{what} was served by the leader");
    }
    for consistency in [pb::Consistency::Leader, pb::Consistency::Strong] {
        let r = kv
            .get(get(&grpc.key("put"), consistency))
            .await
            .unwrap_or_else(|s| panic!("Get {consistency:?} through a follower: {s:?}"))
            .into_inner();
        assert_eq!(r.header.unwrap().served_by, leader, "Get {consistency:?}");
        assert_eq!(r.kv.unwrap().value, b"v");
    }
    assert_applied(&c, l, &grpc);

    // REST: every write succeeds; none of them redirects.
    for call in rest_writes(&rest) {
        let (status, _, body) = send(&follower, &call).await;
        assert_eq!(status, 200, "{} {}: {body}", call.method, call.path);
    }
    let (status, _, body) = send(
        &follower,
        &call(
            Method::GET,
            format!("/kv/{}?consistency=strong", rest.key("put")),
            None,
        ),
    )
    .await;
    assert_eq!((status, &body["value"]), (200, &json!("v")), "{body}");
    assert_applied(&c, l, &rest);

    // Cluster changes are answered by the leader too: joining a member again is a no-op
    // there, and only the leader can say that "x" is not a member (a follower would
    // redirect).
    let member = c.node(f).join_request();
    let (status, _, body) = send(
        &follower,
        &call(
            Method::POST,
            "/cluster/join".into(),
            Some(json!({
                "node_id": member.node_id,
                "address": member.address,
                "client_address": member.client_address,
            })),
        ),
    )
    .await;
    assert_eq!(
        (status, &body["already_member"]),
        (200, &json!(true)),
        "{body}"
    );
    let (status, _, body) = send(
        &follower,
        &call(Method::DELETE, "/cluster/leave/x".into(), None),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("not a member")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_leader_writes_answer_no_leader_and_the_node_is_not_ready() {
    // n2 is clustered but nobody has joined it: it knows no leader and never will.
    let mut c = TestCluster::start(1).await;
    let lonely = c.spawn_node().await;
    let addr = c.node(lonely).server().client_addr().to_string();
    let keys = Keys {
        prefix: "lonely".into(),
        del_index: 1,
        bdelcas_index: 1,
    };

    let mut kv = c.node(lonely).kv().await;
    for (what, answer) in grpc_writes(&mut kv, &keys).await {
        let s = answer.expect_err(what);
        assert_eq!(
            (s.code(), s.message()),
            (Code::Unavailable, "no leader"),
            "{what}"
        );
        assert!(s.metadata().get("konsul-leader-addr").is_none(), "{what}");
    }

    for call in rest_writes(&keys) {
        let (status, headers, body) = send(&addr, &call).await;
        let what = format!("{} {}", call.method, call.path);
        assert_eq!(status, 503, "{what}: {body}");
        assert_eq!(body["error"], "no leader", "{what}: {body}");
        assert!(headers.get("location").is_none(), "{what}");
    }

    let r = reqwest::get(format!("http://{addr}/health/ready"))
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    for service in ["", "konsul.v1.KVService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(
            status,
            ServingStatus::NotServing as i32,
            "health of {service:?}"
        );
    }
}

/// `KONSUL_ADVERTISE_ADDR`: a follower sends clients to the address the leader advertises,
/// not to the one its listener happens to have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_send_clients_to_the_address_the_leader_advertises() {
    const ADVERTISED: &str = "clients.example:8443";
    let mut env = STEADY.to_vec();
    env.push(("KONSUL_ADVERTISE_ADDR", ADVERTISED));
    let c = TestCluster::start_with(3, &env).await;
    let l = c.leader().await;
    let f = (l + 1) % 3;
    let leader = Leader {
        client_addr: ADVERTISED.to_owned(),
        ..Leader::of(&c, l)
    };
    let follower = c.node(f).server().client_addr().to_string();
    let put = call(
        Method::PUT,
        "/kv/advertised".into(),
        Some(json!({"value": "v"})),
    );
    leader.assert_redirect(&follower, &put).await;
    let r = c
        .node(f)
        .kv()
        .await
        .put(pb::PutRequest {
            key: "advertised".into(),
            value: b"v".to_vec(),
            flags: 0,
            cas: None,
            request_id: None,
        })
        .await;
    leader.assert_grpc("Put", r.map(|r| r.into_inner().header));
}
