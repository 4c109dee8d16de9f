//! `KONSUL_RAFT_ALLOWED_CIDRS`: the peer port closes connections from outside the listed
//! networks before reading a byte, and peers inside them form a cluster as usual. Nothing
//! is timed; every wait has a deadline.

use crate::common;

use common::cluster::TestCluster;
use common::{DEADLINE, TestNode};
use konsul_proto::raft::v1::raft_service_client::RaftServiceClient;
use konsul_proto::v1 as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_outside_the_allowed_networks_is_closed_before_a_byte_is_read() {
    let node =
        TestNode::start_with(&[("KONSUL_RAFT_ALLOWED_CIDRS", "10.9.9.0/24, fd00::/64")]).await;
    let peer_port = node.server.raft_addr();

    // A raw connection from 127.0.0.1 is accepted by the kernel, then closed unread.
    let mut tcp = tokio::net::TcpStream::connect(peer_port).await.unwrap();
    let _ = tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(DEADLINE, tcp.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the peer port answered: {read:?}"
    );

    // So no peer RPC gets through, while the client port serves as usual.
    let mut raft = RaftServiceClient::connect(format!("http://{peer_port}")).await;
    if let Ok(raft) = &mut raft {
        let answer = raft
            .identity(konsul_proto::raft::v1::IdentityRequest {})
            .await;
        assert!(answer.is_err(), "{answer:?}");
    }
    let mut kv = node.kv().await;
    kv.put(pb::PutRequest {
        key: "k".into(),
        value: b"v".to_vec(),
        ..Default::default()
    })
    .await
    .expect("clients are not filtered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_inside_the_allowed_networks_form_a_cluster() {
    let c = TestCluster::start_with(3, &[("KONSUL_RAFT_ALLOWED_CIDRS", "127.0.0.0/8")]).await;
    let leader = c.leader().await;
    let mut kv = c.node(leader).kv().await;
    let put = kv
        .put(pb::PutRequest {
            key: "k".into(),
            value: b"v".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    c.wait_applied(put.kv.unwrap().modify_index).await;
}

#[test]
fn a_bad_network_stops_startup_naming_the_setting() {
    let env = |k: &str| (k == "KONSUL_RAFT_ALLOWED_CIDRS").then(|| "10.0.0.0/33".to_owned());
    let e = konsul::config::Config::load(&Default::default(), &env)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("raft.allowed_cidrs") && e.contains("10.0.0.0/33"),
        "{e}"
    );
}
