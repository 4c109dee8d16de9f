//! Partitions on an in-process 3-node cluster through `TestCluster::partition` and `heal`:
//! a follower cut off from the other two falls behind while the majority keeps its leader
//! and acknowledges writes; once the partition heals, it catches up with every write it
//! missed and the three nodes hold the same data under one leader. Nothing is timed; every
//! wait polls with a deadline.

use crate::common;

use common::cluster::TestCluster;
use common::wait_until;
use konsul_proto::v1 as pb;

const DURING: usize = 20;

fn put(key: &str) -> pb::PutRequest {
    pb::PutRequest {
        key: key.into(),
        value: key.as_bytes().to_vec(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_cut_off_by_a_partition_catches_up_once_healed() {
    let c = TestCluster::start_faulty(3, &[]).await;
    let leader = c.leader().await;
    let lone = (0..3).find(|&i| i != leader).unwrap();
    let majority: Vec<usize> = (0..3).filter(|&i| i != lone).collect();
    let mut kv = c.node(leader).kv().await;

    // Step 1: a write every node has.
    let before = kv.put(put("before")).await.unwrap().into_inner();
    c.wait_applied(before.kv.unwrap().modify_index).await;

    // Step 2: the majority writes on without the lone follower.
    c.partition(&[&majority, &[lone]]);
    let mut last = 0;
    for i in 0..DURING {
        last = kv
            .put(put(&format!("during/{i:02}")))
            .await
            .unwrap_or_else(|e| panic!("write {i} on the majority side: {e}"))
            .into_inner()
            .kv
            .unwrap()
            .modify_index;
    }
    assert!(c.leads(leader), "the majority kept its leader");
    let lone_has = c.contents(lone).await;
    assert!(
        lone_has.iter().all(|(k, _)| !k.starts_with("during/")),
        "a write crossed the partition: {lone_has:?}"
    );
    assert!(c.node(lone).server().node().view().applied_index() < last);

    // Step 3: healed, the lone follower catches up and the cluster agrees on one leader.
    c.heal();
    c.wait_applied(last).await;
    let expected = c.contents(leader).await;
    assert_eq!(expected.len(), DURING + 1, "{expected:?}");
    wait_until("the three nodes holding the same data", || async {
        let mut same = true;
        for i in 0..3 {
            same &= c.contents(i).await == expected;
        }
        same.then_some(())
    })
    .await;
    wait_until("exactly one leader", || async {
        ((0..3).filter(|&i| c.leads(i)).count() == 1).then_some(())
    })
    .await;
}
