//! KVService over gRPC against a real one-node server: every call, CAS semantics, indices,
//! headers, and bad input rejected with INVALID_ARGUMENT naming the field and the limit
//! while nothing is written.

use crate::common;

use common::TestNode;
use konsul_proto::v1 as pb;
use tonic::Code;

fn put(key: &str, value: &str) -> pb::PutRequest {
    pb::PutRequest {
        key: key.into(),
        value: value.into(),
        flags: 0,
        cas: None,
        request_id: None,
    }
}

async fn count_keys(node: &TestNode) -> usize {
    let mut kv = node.kv().await;
    kv.list(pb::ListRequest::default())
        .await
        .unwrap()
        .into_inner()
        .kvs
        .len()
}

#[tokio::test]
async fn put_get_list_delete_round_trip() {
    let node = TestNode::start().await;
    let mut kv = node.kv().await;

    let r = kv.put(put("app/a", "1")).await.unwrap().into_inner();
    let written = r.kv.unwrap();
    assert_eq!(written.key, "app/a");
    assert!(written.modify_index > 0);
    assert_eq!(written.create_index, written.modify_index);
    let header = r.header.unwrap();
    assert!(header.applied_index >= written.modify_index);
    assert_eq!(header.served_by, "node1");
    assert_eq!(header.leader_id, "node1");
    assert!(header.term >= 1);

    let r2 = kv
        .put(put("app/a", "2"))
        .await
        .unwrap()
        .into_inner()
        .kv
        .unwrap();
    assert_eq!(
        r2.create_index, written.create_index,
        "update keeps create_index"
    );
    assert!(
        r2.modify_index > written.modify_index,
        "indices are log indices and grow"
    );

    kv.put(put("app/b", "3")).await.unwrap();
    kv.put(put("other", "4")).await.unwrap();

    let got = kv
        .get(pb::GetRequest {
            key: "app/a".into(),
            consistency: pb::Consistency::Strong as i32,
            min_index: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .kv
        .unwrap();
    assert_eq!(got.value, b"2");
    assert_eq!(got.modify_index, r2.modify_index);

    let list = kv
        .list(pb::ListRequest {
            prefix: "app/".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let keys: Vec<_> = list.kvs.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(keys, ["app/a", "app/b"]);
    assert_eq!(list.kvs[1].value, b"3");

    let keys_only = kv
        .list(pb::ListRequest {
            prefix: "app/".into(),
            keys_only: true,
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(keys_only.kvs.len(), 1);
    assert!(keys_only.kvs[0].value.is_empty());
    assert!(keys_only.more);

    let del = kv
        .delete(pb::DeleteRequest {
            key: "app/a".into(),
            cas: None,
            request_id: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(del.deleted);
    let missing = kv
        .get(pb::GetRequest {
            key: "app/a".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let again = kv
        .delete(pb::DeleteRequest {
            key: "app/a".into(),
            cas: None,
            request_id: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        !again.deleted,
        "deleting an absent key succeeds without deleting"
    );
}

#[tokio::test]
async fn flags_are_kept_when_omitted() {
    let node = TestNode::start().await;
    let mut kv = node.kv().await;
    kv.put(pb::PutRequest {
        key: "f".into(),
        value: b"v".to_vec(),
        flags: 42,
        cas: None,
        request_id: None,
    })
    .await
    .unwrap();
    let r = kv
        .put(put("f", "w"))
        .await
        .unwrap()
        .into_inner()
        .kv
        .unwrap();
    assert_eq!(r.flags, 42);
}

#[tokio::test]
async fn cas_put_and_delete() {
    let node = TestNode::start().await;
    let mut kv = node.kv().await;
    let mut create = put("c", "1");
    create.cas = Some(0);
    let first = kv
        .put(create.clone())
        .await
        .unwrap()
        .into_inner()
        .kv
        .unwrap();
    let conflict = kv.put(create).await.unwrap_err();
    assert_eq!(conflict.code(), Code::Aborted);
    assert!(
        conflict.message().contains("CAS conflict for key 'c'"),
        "{}",
        conflict.message()
    );

    let mut stale = put("c", "2");
    stale.cas = Some(first.modify_index + 100);
    assert_eq!(kv.put(stale).await.unwrap_err().code(), Code::Aborted);
    let mut missing = put("nope", "2");
    missing.cas = Some(5);
    assert_eq!(kv.put(missing).await.unwrap_err().code(), Code::NotFound);

    let mut good = put("c", "2");
    good.cas = Some(first.modify_index);
    let second = kv.put(good).await.unwrap().into_inner().kv.unwrap();
    assert!(second.modify_index > first.modify_index);

    let bad_del = kv
        .delete(pb::DeleteRequest {
            key: "c".into(),
            cas: Some(first.modify_index),
            request_id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_del.code(), Code::Aborted);
    let ok_del = kv
        .delete(pb::DeleteRequest {
            key: "c".into(),
            cas: Some(second.modify_index),
            request_id: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok_del.deleted);
    let gone = kv
        .delete(pb::DeleteRequest {
            key: "c".into(),
            cas: Some(second.modify_index),
            request_id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn batches_are_atomic() {
    let node = TestNode::start().await;
    let mut kv = node.kv().await;
    let items = (0..10)
        .map(|i| pb::BatchPutItem {
            key: format!("b/{i}"),
            value: format!("{i}").into_bytes(),
            flags: 0,
        })
        .collect();
    let put = kv
        .batch_put(pb::BatchPutRequest {
            items,
            request_id: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.keys.len(), 10);
    let got = kv
        .batch_get(pb::BatchGetRequest {
            keys: vec!["b/1".into(), "b/x".into(), "b/9".into()],
            consistency: 0,
            min_index: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.found.len(), 2);
    assert!(got.found.iter().all(|kv| kv.modify_index == put.index));
    assert_eq!(got.not_found, ["b/x"]);

    // One stale condition: nothing changes.
    let cas = kv
        .batch_put_cas(pb::BatchPutCasRequest {
            items: vec![
                pb::BatchPutCasItem {
                    key: "b/1".into(),
                    value: b"new".to_vec(),
                    expected_index: put.index,
                },
                pb::BatchPutCasItem {
                    key: "b/2".into(),
                    value: b"new".to_vec(),
                    expected_index: put.index + 1,
                },
            ],
            request_id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(cas.code(), Code::Aborted);
    let b1 = kv
        .get(pb::GetRequest {
            key: "b/1".into(),
            consistency: 0,
            min_index: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .kv
        .unwrap();
    assert_eq!(b1.value, b"1", "a failed CAS batch writes nothing");

    let ok = kv
        .batch_put_cas(pb::BatchPutCasRequest {
            items: vec![
                pb::BatchPutCasItem {
                    key: "b/1".into(),
                    value: b"new".to_vec(),
                    expected_index: put.index,
                },
                pb::BatchPutCasItem {
                    key: "b/new".into(),
                    value: b"new".to_vec(),
                    expected_index: 0,
                },
            ],
            request_id: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.new_indices.len(), 2);
    let idx = ok.new_indices["b/1"];

    let del_cas = kv
        .batch_delete_cas(pb::BatchDeleteCasRequest {
            items: vec![
                pb::BatchDeleteCasItem {
                    key: "b/1".into(),
                    expected_index: idx,
                },
                pb::BatchDeleteCasItem {
                    key: "b/missing".into(),
                    expected_index: 1,
                },
            ],
            request_id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(del_cas.code(), Code::NotFound);
    assert!(del_cas.message().contains("b/missing"));
    let del = kv
        .batch_delete(pb::BatchDeleteRequest {
            keys: vec!["b/0".into(), "b/1".into(), "b/absent".into()],
            request_id: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(del.deleted, 2);
    assert_eq!(count_keys(&node).await, 9);
}

#[tokio::test]
async fn bad_input_is_rejected_and_writes_nothing() {
    let node = TestNode::start().await;
    let mut kv = node.kv().await;
    let cases: Vec<(pb::PutRequest, &str)> = vec![
        (put("", "v"), "key: must not be empty"),
        (put(&"k".repeat(1025), "v"), "the limit is 1024 bytes"),
        (
            pb::PutRequest {
                key: "big".into(),
                value: vec![b'x'; 1024 * 1024 + 1],
                flags: 0,
                cas: None,
                request_id: None,
            },
            "the limit is 1048576 bytes",
        ),
    ];
    for (req, want) in cases {
        let err = kv.put(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(
            err.message().contains(want),
            "{} should contain {want}",
            err.message()
        );
    }

    let too_many = (0..1001)
        .map(|i| pb::BatchPutItem {
            key: format!("k{i}"),
            value: vec![],
            flags: 0,
        })
        .collect();
    let err = kv
        .batch_put(pb::BatchPutRequest {
            items: too_many,
            request_id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("items: Maximum 1000 items"),
        "{}",
        err.message()
    );

    let dup = vec![
        pb::BatchPutItem {
            key: "d".into(),
            value: vec![],
            flags: 0,
        };
        2
    ];
    let err = kv
        .batch_put(pb::BatchPutRequest {
            items: dup,
            request_id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("duplicate key 'd'"));

    let err = kv
        .batch_delete(pb::BatchDeleteRequest {
            keys: vec![],
            request_id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("keys: "));

    let err = kv
        .get(pb::GetRequest {
            key: String::new(),
            consistency: 0,
            min_index: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    assert_eq!(count_keys(&node).await, 0, "no bad request wrote anything");
}
