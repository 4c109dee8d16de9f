//! Every acknowledged write survives `kill -9`: the real `konsul` binary acknowledges N
//! writes, is killed with SIGKILL (no shutdown path runs), restarted on the same data dir,
//! and must return all N. A second round kills it again after a snapshot has been taken, so
//! recovery from snapshot plus log replay is covered too.

use crate::common;

use common::{spawn_process, wait_until};
use konsul_proto::v1 as pb;
use konsul_proto::v1::kv_service_client::KvServiceClient;

const N: usize = 300;

async fn client(addr: &str) -> KvServiceClient<tonic::transport::Channel> {
    KvServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

async fn sigkill(p: &mut common::Process) {
    let pid = p.child.id().expect("running") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let status = p.child.wait().await.unwrap();
    assert!(!status.success(), "SIGKILL ends the process abnormally");
}

async fn read_all(addr: &str, upto: usize) {
    let mut kv = client(addr).await;
    for i in 0..upto {
        let got = kv
            .get(pb::GetRequest {
                key: format!("durable/{i:05}"),
                consistency: pb::Consistency::Stale as i32,
                min_index: 0,
            })
            .await
            .unwrap_or_else(|e| panic!("acknowledged key durable/{i:05} lost: {e}"))
            .into_inner()
            .kv
            .unwrap();
        assert_eq!(got.value, format!("value-{i}").into_bytes());
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    // A low snapshot threshold makes the second round restart from a snapshot + log tail.
    let env = [("KONSUL_RAFT_SNAPSHOT_THRESHOLD", "100")];
    let mut p = spawn_process(dir.path(), &env).await;
    let mut kv = client(&p.client_addr).await;
    for i in 0..N {
        kv.put(pb::PutRequest {
            key: format!("durable/{i:05}"),
            value: format!("value-{i}").into_bytes(),
            flags: 0,
            cas: None,
            request_id: None,
        })
        .await
        .expect("write acknowledged");
    }
    sigkill(&mut p).await;

    let mut p = spawn_process(dir.path(), &env).await;
    read_all(&p.client_addr, N).await;

    // Round two: more writes, a snapshot must exist by now, kill again.
    let mut kv = client(&p.client_addr).await;
    for i in N..2 * N {
        kv.put(pb::PutRequest {
            key: format!("durable/{i:05}"),
            value: format!("value-{i}").into_bytes(),
            flags: 0,
            cas: None,
            request_id: None,
        })
        .await
        .expect("write acknowledged");
    }
    let snapshots = dir.path().join("raft").join("snapshots");
    wait_until("a snapshot file on disk", || {
        let found = std::fs::read_dir(&snapshots)
            .map(|d| {
                d.flatten()
                    .any(|e| e.path().extension().is_some_and(|x| x == "snap"))
            })
            .unwrap_or(false);
        async move { found.then_some(()) }
    })
    .await;
    sigkill(&mut p).await;

    let p = spawn_process(dir.path(), &env).await;
    read_all(&p.client_addr, 2 * N).await;
}
