//! KV and cluster calls through the SDK against one real node: put, get, list and delete,
//! CAS conflicts and missing keys, batches, and the cluster calls of a standalone node.

use konsul_client::{CasPutItem, Consistency, Error, ListOptions, PutItem};

use super::client_for;
use crate::common::TestNode;

#[tokio::test]
async fn put_get_list_delete_through_the_sdk() {
    let node = TestNode::start().await;
    let client = client_for(&node).await;

    let a = client.put("app/a", "1").await.unwrap();
    assert_eq!(a.key, "app/a");
    assert!(a.modify_index > 0);
    assert_eq!(a.create_index, a.modify_index);
    assert!(a.header.applied_index >= a.modify_index);
    assert!(!a.header.served_by.is_empty());

    let b = client
        .put_with_flags("app/b", vec![0u8, 159, 146, 150], 42)
        .await
        .unwrap();
    assert_eq!(b.flags, 42);
    assert!(b.modify_index > a.modify_index);
    client.put("other/c", "3").await.unwrap();

    let got = client.get("app/b").await.unwrap().expect("app/b exists");
    assert_eq!(got.value, vec![0u8, 159, 146, 150], "values are raw bytes");
    assert_eq!(got.flags, 42);
    assert_eq!(got.modify_index, b.modify_index);
    for c in [
        Consistency::Default,
        Consistency::Stale,
        Consistency::Leader,
        Consistency::Strong,
    ] {
        let kv = client.get_with("app/a", c).await.unwrap().unwrap();
        assert_eq!(kv.value, b"1", "{c:?}");
    }
    assert_eq!(client.get("app/missing").await.unwrap(), None);
    assert_eq!(
        client
            .get_with("app/missing", Consistency::Stale)
            .await
            .unwrap(),
        None
    );

    let listing = client.list("app/").await.unwrap();
    let keys: Vec<_> = listing.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["app/a", "app/b"]);
    assert_eq!(listing.kvs[0].value, b"1");
    assert!(!listing.more);
    assert_eq!(client.list_keys("app/").await.unwrap(), ["app/a", "app/b"]);
    assert_eq!(client.list("").await.unwrap().kvs.len(), 3);
    let limited = client
        .list_with(
            "",
            ListOptions {
                keys_only: true,
                consistency: Consistency::Strong,
                limit: 2,
                min_index: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(limited.kvs.len(), 2);
    assert!(limited.more);
    assert!(limited.kvs.iter().all(|kv| kv.value.is_empty()));

    assert!(client.delete("app/a").await.unwrap());
    assert!(!client.delete("app/a").await.unwrap(), "already gone");
    assert_eq!(client.get("app/a").await.unwrap(), None);
    assert_eq!(client.list_keys("app/").await.unwrap(), ["app/b"]);
}

#[tokio::test]
async fn cas_conflicts_and_missing_keys() {
    let node = TestNode::start().await;
    let client = client_for(&node).await;

    let created = client.put_cas("lock", "me", 0).await.unwrap();
    let again = client.put_cas("lock", "you", 0).await;
    assert!(
        matches!(&again, Err(Error::CasConflict { message }) if message.contains("lock")),
        "{again:?}"
    );
    let stale = client
        .put_cas("lock", "you", created.modify_index + 100)
        .await;
    assert!(matches!(stale, Err(Error::CasConflict { .. })), "{stale:?}");
    assert_eq!(client.get("lock").await.unwrap().unwrap().value, b"me");

    let swapped = client
        .put_cas("lock", "you", created.modify_index)
        .await
        .unwrap();
    assert!(swapped.modify_index > created.modify_index);
    assert_eq!(swapped.create_index, created.create_index);

    let absent = client.put_cas("nothing", "x", 7).await;
    assert!(matches!(absent, Err(Error::NotFound(_))), "{absent:?}");
    let absent = client.delete_cas("nothing", 7).await;
    assert!(matches!(absent, Err(Error::NotFound(_))), "{absent:?}");

    let wrong = client.delete_cas("lock", created.modify_index).await;
    assert!(matches!(wrong, Err(Error::CasConflict { .. })), "{wrong:?}");
    assert!(client.get("lock").await.unwrap().is_some());
    client
        .delete_cas("lock", swapped.modify_index)
        .await
        .unwrap();
    assert_eq!(client.get("lock").await.unwrap(), None);

    let bad = client.put("", "x").await;
    assert!(matches!(bad, Err(Error::InvalidArgument(_))), "{bad:?}");
}

#[tokio::test]
async fn batches_through_the_sdk() {
    let node = TestNode::start().await;
    let client = client_for(&node).await;

    let put = client
        .batch_put([
            PutItem::new("b/1", "one"),
            PutItem::new("b/2", "two").with_flags(7),
            ("b/3", "three").into(),
        ])
        .await
        .unwrap();
    assert_eq!(put.keys, ["b/1", "b/2", "b/3"]);
    assert!(put.index > 0);

    let got = client.batch_get(["b/1", "b/2", "b/9"]).await.unwrap();
    assert_eq!(got.found.len(), 2);
    assert_eq!(got.found[1].flags, 7);
    assert!(got.found.iter().all(|kv| kv.modify_index == put.index));
    assert_eq!(got.not_found, ["b/9"]);
    let stale = client
        .batch_get_with(["b/3"], Consistency::Stale)
        .await
        .unwrap();
    assert_eq!(stale.found[0].value, b"three");

    // One wrong index fails the whole batch and writes nothing.
    let conflict = client
        .batch_put_cas([("b/1", "uno", put.index), ("b/2", "dos", put.index + 1)])
        .await;
    assert!(
        matches!(&conflict, Err(Error::CasConflict { message }) if message.contains("b/2")),
        "{conflict:?}"
    );
    assert_eq!(client.get("b/1").await.unwrap().unwrap().value, b"one");

    let cas = client
        .batch_put_cas([
            CasPutItem::from(("b/1", "uno", put.index)),
            ("b/4", "cuatro", 0).into(),
        ])
        .await
        .unwrap();
    assert_eq!(cas.new_indices.len(), 2);
    let new_index = cas.new_indices["b/1"];
    assert!(new_index > put.index);
    assert_eq!(client.get("b/4").await.unwrap().unwrap().value, b"cuatro");

    let conflict = client
        .batch_delete_cas([("b/1", put.index), ("b/2", put.index)])
        .await;
    assert!(
        matches!(conflict, Err(Error::CasConflict { .. })),
        "{conflict:?}"
    );
    assert!(client.get("b/2").await.unwrap().is_some());
    let missing = client.batch_delete_cas([("b/9", 1)]).await;
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");

    let deleted = client
        .batch_delete_cas([("b/1", new_index), ("b/2", put.index)])
        .await
        .unwrap();
    assert_eq!(deleted.keys, ["b/1", "b/2"]);

    let deleted = client.batch_delete(["b/3", "b/4", "b/9"]).await.unwrap();
    assert_eq!(deleted.keys, ["b/3", "b/4", "b/9"]);
    assert_eq!(deleted.deleted, 2);
    assert!(client.list_keys("b/").await.unwrap().is_empty());
}

#[tokio::test]
async fn cluster_calls_answer_for_a_standalone_node() {
    let node = TestNode::start().await;
    let client = client_for(&node).await;
    let name = node.server.node().member().name.clone();
    let status = client.status().await.expect("status");
    assert_eq!(status.node_id, name);
    let leader = client.leader().await.expect("leader");
    assert!(leader.is_self, "{leader:?}");
    let peers = client.peers().await.expect("peers");
    assert_eq!(peers.len(), 1, "{peers:?}");
}
