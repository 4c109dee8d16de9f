//! The catalogue of write calls the redirect tests send to a follower (every gRPC write,
//! every REST write), the keys each round touches, and the assertions on what a follower
//! must answer (a not-leader status or a 307 naming the leader) and on what was written.

use konsul_proto::v1 as pb;
use konsul_proto::v1::kv_service_client::KvServiceClient;
use reqwest::Method;
use serde_json::{Value, json};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::common::cluster::TestCluster;

/// The answer of one gRPC write, reduced to its response header.
pub(super) type Answer = Result<Option<pb::ResponseHeader>, Status>;

/// The keys one round of writes touches, all under `prefix`. The keys `del`, `bdel` and
/// `bdelcas` exist before the round (written through the leader) so that the delete calls
/// have something to delete; `*_index` are their modify indices for the CAS calls.
pub(super) struct Keys {
    pub(super) prefix: String,
    pub(super) del_index: u64,
    pub(super) bdelcas_index: u64,
}

impl Keys {
    pub(super) fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.prefix)
    }

    /// Keys the round's writes create.
    pub(super) fn created(&self) -> Vec<String> {
        ["put", "bput1", "bput2", "bputcas"]
            .iter()
            .map(|k| self.key(k))
            .collect()
    }

    /// Keys the round's writes delete.
    pub(super) fn deleted(&self) -> Vec<String> {
        ["del", "bdel", "bdelcas"]
            .iter()
            .map(|k| self.key(k))
            .collect()
    }

    /// Writes the keys the round deletes, through the leader, and waits until every node
    /// has applied them.
    pub(super) async fn prepare(c: &TestCluster, prefix: &str) -> Keys {
        let leader = c.leader().await;
        let mut kv = c.node(leader).kv().await;
        let index = |r: Result<tonic::Response<pb::PutResponse>, Status>| {
            r.unwrap().into_inner().kv.unwrap().modify_index
        };
        let put = |k: &str| pb::PutRequest {
            key: format!("{prefix}/{k}"),
            value: b"old".to_vec(),
            flags: 0,
            cas: None,
            request_id: None,
        };
        let del_index = index(kv.put(put("del")).await);
        index(kv.put(put("bdel")).await);
        let bdelcas_index = index(kv.put(put("bdelcas")).await);
        c.wait_applied(bdelcas_index).await;
        Keys {
            prefix: prefix.to_owned(),
            del_index,
            bdelcas_index,
        }
    }
}

/// Every gRPC write, each touching its own keys of `k`.
pub(super) async fn grpc_writes(
    kv: &mut KvServiceClient<Channel>,
    k: &Keys,
) -> Vec<(&'static str, Answer)> {
    vec![
        (
            "Put",
            kv.put(pb::PutRequest {
                key: k.key("put"),
                value: b"v".to_vec(),
                flags: 0,
                cas: None,
                request_id: None,
            })
            .await
            .map(|r| r.into_inner().header),
        ),
        (
            "Delete",
            kv.delete(pb::DeleteRequest {
                key: k.key("del"),
                cas: Some(k.del_index),
                request_id: None,
            })
            .await
            .map(|r| r.into_inner().header),
        ),
        (
            "BatchPut",
            kv.batch_put(pb::BatchPutRequest {
                items: ["bput1", "bput2"]
                    .iter()
                    .map(|n| pb::BatchPutItem {
                        key: k.key(n),
                        value: b"v".to_vec(),
                        flags: 0,
                    })
                    .collect(),
                request_id: None,
            })
            .await
            .map(|r| r.into_inner().header),
        ),
        (
            "BatchDelete",
            kv.batch_delete(pb::BatchDeleteRequest {
                keys: vec![k.key("bdel")],
                request_id: None,
            })
            .await
            .map(|r| r.into_inner().header),
        ),
        (
            "BatchPutCAS",
            kv.batch_put_cas(pb::BatchPutCasRequest {
                items: vec![pb::BatchPutCasItem {
                    key: k.key("bputcas"),
                    value: b"v".to_vec(),
                    expected_index: 0,
                }],
                request_id: None,
            })
            .await
            .map(|r| r.into_inner().header),
        ),
        (
            "BatchDeleteCAS",
            kv.batch_delete_cas(pb::BatchDeleteCasRequest {
                items: vec![pb::BatchDeleteCasItem {
                    key: k.key("bdelcas"),
                    expected_index: k.bdelcas_index,
                }],
                request_id: None,
            })
            .await
            .map(|r| r.into_inner().header),
        ),
    ]
}

/// One REST call: method, path with query, JSON body.
pub(super) struct Call {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) body: Option<Value>,
}

pub(super) fn call(method: Method, path: String, body: Option<Value>) -> Call {
    Call { method, path, body }
}

/// Every REST KV write, each touching its own keys of `k`.
pub(super) fn rest_writes(k: &Keys) -> Vec<Call> {
    let (put, bput1, bput2, bputcas) = (
        k.key("put"),
        k.key("bput1"),
        k.key("bput2"),
        k.key("bputcas"),
    );
    let (del, bdel, bdelcas) = (k.key("del"), k.key("bdel"), k.key("bdelcas"));
    vec![
        call(
            Method::PUT,
            format!("/kv/{put}"),
            Some(json!({"value": "v", "flags": 3})),
        ),
        call(
            Method::DELETE,
            format!("/kv/{del}?cas={}", k.del_index),
            None,
        ),
        call(
            Method::POST,
            "/batch/kv/set".into(),
            Some(json!({"items": {bput1: "v", bput2: "v"}})),
        ),
        call(
            Method::POST,
            "/batch/kv/delete".into(),
            Some(json!({"keys": [bdel]})),
        ),
        call(
            Method::POST,
            "/batch/kv/set-cas".into(),
            Some(json!({"items": {&bputcas: "v"}, "expected_indices": {&bputcas: 0}})),
        ),
        call(
            Method::POST,
            "/batch/kv/delete-cas".into(),
            Some(json!({"keys": [&bdelcas], "expected_indices": {&bdelcas: k.bdelcas_index}})),
        ),
    ]
}

/// An HTTP client that never follows redirects: the 307 itself is what is tested.
pub(super) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Status, headers and JSON body of `c` sent to the node with client address `addr`.
pub(super) async fn send(addr: &str, c: &Call) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = http().request(c.method.clone(), format!("http://{addr}{}", c.path));
    if let Some(body) = &c.body {
        req = req.json(body);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

/// The leader a follower must name.
pub(super) struct Leader {
    pub(super) name: String,
    pub(super) client_addr: String,
    pub(super) raft_addr: String,
}

impl Leader {
    pub(super) fn of(c: &TestCluster, i: usize) -> Self {
        let n = c.node(i);
        Leader {
            name: n.name.clone(),
            client_addr: n.server().client_addr().to_string(),
            raft_addr: n.raft_addr().to_string(),
        }
    }

    /// Asserts a gRPC not-leader answer naming this leader.
    pub(super) fn assert_grpc(&self, what: &str, r: Answer) {
        let s = r.expect_err(&format!("{what} on a follower must fail"));
        assert_eq!(s.code(), Code::Unavailable, "{what}: {s:?}");
        let md = |k: &str| {
            s.metadata()
                .get(k)
                .unwrap_or_else(|| panic!("{what}: no {k} in {s:?}"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(md("konsul-leader-id"), self.name, "{what}");
        assert_eq!(md("konsul-leader-addr"), self.client_addr, "{what}");
        assert_eq!(md("konsul-leader-raft-addr"), self.raft_addr, "{what}");
    }

    /// Asserts a REST 307 to this leader for `c`.
    pub(super) async fn assert_redirect(&self, follower: &str, c: &Call) {
        let what = format!("{} {}", c.method, c.path);
        let (status, headers, body) = send(follower, c).await;
        assert_eq!(status, 307, "{what}: {body}");
        let header = |k: &str| {
            headers
                .get(k)
                .unwrap_or_else(|| panic!("{what}: no {k} header"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            header("location"),
            format!("http://{}{}", self.client_addr, c.path),
            "{what}: same path and query on the leader"
        );
        assert_eq!(header("konsul-leader-addr"), self.client_addr, "{what}");
        assert_eq!(body["error"], "not leader", "{what}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(body["leader_addr"], self.raft_addr.as_str(), "{what}");
        assert_eq!(body["leader_id"], self.name.as_str(), "{what}");
        assert_eq!(
            body["leader_client_addr"],
            self.client_addr.as_str(),
            "{what}"
        );
    }
}

/// Whether node `i`'s applied store holds `key`.
pub(super) fn has(c: &TestCluster, i: usize, key: &str) -> bool {
    c.node(i)
        .server()
        .node()
        .view()
        .read(|s| s.get(key).is_some())
}

/// Asserts that no write of round `k` took effect on node `i`.
pub(super) fn assert_untouched(c: &TestCluster, i: usize, k: &Keys) {
    let name = &c.node(i).name;
    for key in k.created() {
        assert!(!has(c, i, &key), "{key} was written on {name}");
    }
    for key in k.deleted() {
        assert!(has(c, i, &key), "{key} was deleted on {name}");
    }
}

/// Asserts that every write of round `k` took effect on node `i`.
pub(super) fn assert_applied(c: &TestCluster, i: usize, k: &Keys) {
    let name = &c.node(i).name;
    for key in k.created() {
        assert!(has(c, i, &key), "{key} missing on {name}");
    }
    for key in k.deleted() {
        assert!(!has(c, i, &key), "{key} still on {name}");
    }
}
