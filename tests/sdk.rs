//! The Rust SDK (`konsul-client`) against a real one-node server, used as an application
//! would: every KV and catalog call, CAS conflicts, missing keys and services, service
//! instances, health checks (TTL reports, a TCP probe, passing-only reads), cluster calls;
//! and leader following without a cluster, through small fake KV
//! and catalog servers that answer like a follower (not-leader redirect) or like a cluster in
//! an election ("no leader"), built from the server's own `Error → Status` mapping so that
//! they speak exactly the real wire format.

mod common;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{TestNode, wait_until};
use konsul_client::{
    CasPutItem, Check, CheckStatus, Client, Consistency, Error, ListOptions, PutItem, Service,
    ServiceKey, ServiceQuery, Services,
};
use konsul_proto::v1 as pb;
use konsul_proto::v1::catalog_service_server::{CatalogService, CatalogServiceServer};
use konsul_proto::v1::kv_service_client::KvServiceClient;
use konsul_proto::v1::kv_service_server::{KvService, KvServiceServer};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

async fn client_for(node: &TestNode) -> Client {
    Client::connect([node.server.client_addr().to_string()])
        .await
        .unwrap()
}

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

/// How a fake KV server answers.
#[derive(Clone)]
enum Behaviour {
    /// Like a follower: every call is refused with the leader's address in metadata.
    Follower { leader: SocketAddr },
    /// Like a cluster in an election: "no leader" for the first `failures` calls, then
    /// every call is passed to `upstream`.
    Electing {
        failures: usize,
        upstream: KvServiceClient<Channel>,
    },
}

/// A KV server that never serves anything itself; it counts the calls it receives.
#[derive(Clone)]
struct Fake {
    behaviour: Behaviour,
    calls: Arc<AtomicUsize>,
}

impl Fake {
    async fn answer<Req, Resp, F, Fut>(
        &self,
        request: Request<Req>,
        forward: F,
    ) -> Result<Response<Resp>, Status>
    where
        F: FnOnce(KvServiceClient<Channel>, Req) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        match &self.behaviour {
            Behaviour::Follower { leader } => Err(Status::from(konsul::Error::NotLeader {
                leader_name: "real".into(),
                leader_client_addr: leader.to_string(),
                leader_raft_addr: "127.0.0.1:1".into(),
            })),
            Behaviour::Electing { failures, .. } if n < *failures => {
                Err(Status::from(konsul::Error::NoLeader))
            }
            Behaviour::Electing { upstream, .. } => {
                forward(upstream.clone(), request.into_inner()).await
            }
        }
    }

    /// Serves this fake on a fresh loopback port; returns its address.
    async fn serve(self) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(KvServiceServer::new(self))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        addr
    }
}

#[tonic::async_trait]
impl KvService for Fake {
    async fn get(&self, r: Request<pb::GetRequest>) -> Result<Response<pb::GetResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.get(m).await })
            .await
    }

    async fn list(
        &self,
        r: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.list(m).await })
            .await
    }

    async fn put(&self, r: Request<pb::PutRequest>) -> Result<Response<pb::PutResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.put(m).await })
            .await
    }

    async fn delete(
        &self,
        r: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.delete(m).await })
            .await
    }

    async fn batch_get(
        &self,
        r: Request<pb::BatchGetRequest>,
    ) -> Result<Response<pb::BatchGetResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.batch_get(m).await })
            .await
    }

    async fn batch_put(
        &self,
        r: Request<pb::BatchPutRequest>,
    ) -> Result<Response<pb::BatchPutResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.batch_put(m).await })
            .await
    }

    async fn batch_delete(
        &self,
        r: Request<pb::BatchDeleteRequest>,
    ) -> Result<Response<pb::BatchDeleteResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.batch_delete(m).await })
            .await
    }

    async fn batch_put_cas(
        &self,
        r: Request<pb::BatchPutCasRequest>,
    ) -> Result<Response<pb::BatchPutCasResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.batch_put_cas(m).await })
            .await
    }

    async fn batch_delete_cas(
        &self,
        r: Request<pb::BatchDeleteCasRequest>,
    ) -> Result<Response<pb::BatchDeleteCasResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.batch_delete_cas(m).await })
            .await
    }
}

/// A client whose retries are fast, so the tests spend no time sleeping out backoffs.
fn fast_client(endpoints: impl IntoIterator<Item = String>, attempts: u32) -> Client {
    Client::builder(endpoints)
        .max_attempts(attempts)
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .build()
        .unwrap()
}

#[tokio::test]
async fn follows_the_not_leader_redirect_to_the_leader() {
    let node = TestNode::start().await;
    let real = node.server.client_addr();
    let calls = Arc::new(AtomicUsize::new(0));
    let follower = Fake {
        behaviour: Behaviour::Follower { leader: real },
        calls: calls.clone(),
    }
    .serve()
    .await;

    // The client knows only the follower.
    let client = fast_client([follower.to_string()], 10);
    let written = client.put("redirected", "yes").await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one redirect, then the leader"
    );
    assert_eq!(client.leader_hint(), Some(format!("http://{real}")));

    // The write is on the real node.
    let direct = client_for(&node).await;
    let kv = direct.get("redirected").await.unwrap().unwrap();
    assert_eq!(kv.value, b"yes");
    assert_eq!(kv.modify_index, written.modify_index);

    // Later leader-only calls go straight to the remembered leader.
    assert_eq!(
        client.get("redirected").await.unwrap().unwrap().value,
        b"yes"
    );
    client.batch_put([("redirected/2", "x")]).await.unwrap();
    assert!(client.delete("redirected/2").await.unwrap());
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A stale read may be served by any endpoint: it goes to the configured one (the fake,
    // which refuses it), is redirected, and still gets its answer.
    let stale = client
        .get_with("redirected", Consistency::Stale)
        .await
        .unwrap();
    assert_eq!(stale.unwrap().value, b"yes");
}

#[tokio::test]
async fn retries_while_there_is_no_leader_then_succeeds() {
    let node = TestNode::start().await;
    let upstream = node.kv().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let electing = Fake {
        behaviour: Behaviour::Electing {
            failures: 3,
            upstream,
        },
        calls: calls.clone(),
    }
    .serve()
    .await;

    let client = fast_client([electing.to_string()], 10);
    let written = client.put("after-election", "v").await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "three refusals, then the write"
    );
    assert!(written.modify_index > 0);
    let kv = client_for(&node)
        .await
        .get("after-election")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kv.value, b"v");
}

#[tokio::test]
async fn gives_up_with_no_leader_after_the_attempt_budget() {
    let node = TestNode::start().await;
    let upstream = node.kv().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let electing = Fake {
        behaviour: Behaviour::Electing {
            failures: usize::MAX,
            upstream,
        },
        calls: calls.clone(),
    }
    .serve()
    .await;

    let client = fast_client([electing.to_string()], 4);
    let r = client.put("never", "x").await;
    assert!(matches!(r, Err(Error::NoLeader)), "{r:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 4, "bounded by max_attempts");
    assert_eq!(client_for(&node).await.get("never").await.unwrap(), None);
}

/// An address nothing listens on (bound, then released).
async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

#[tokio::test]
async fn skips_an_endpoint_that_refuses_connections() {
    let node = TestNode::start().await;
    let dead = dead_addr().await;
    let client = fast_client(
        [dead.to_string(), node.server.client_addr().to_string()],
        10,
    );
    // Nothing was sent to the dead endpoint, so even a write moves on safely.
    client.put("via-second", "ok").await.unwrap();
    assert_eq!(
        client.get("via-second").await.unwrap().unwrap().value,
        b"ok"
    );

    let only_dead = fast_client([dead.to_string()], 3);
    let r = only_dead.put("x", "y").await;
    assert!(matches!(r, Err(Error::Transport { .. })), "{r:?}");
}

#[tokio::test]
async fn a_write_lost_after_sending_is_resent_with_its_id_and_ends_indeterminate() {
    // A server that accepts connections, reads the request and hangs up without answering.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                drop(socket);
            });
        }
    });

    // Every KV write carries a request id, so the SDK may send it again (the server would
    // apply it once); when no attempt gets an answer the outcome stays unknown.
    let client = fast_client([addr.to_string()], 5);
    let r = client.put("maybe", "x").await;
    assert!(matches!(r, Err(Error::Indeterminate { .. })), "{r:?}");
    assert!(
        accepted.load(Ordering::SeqCst) >= 2,
        "the identified write was sent again"
    );

    // A read has no such risk and is retried until the budget runs out.
    let r = client.get("maybe").await;
    assert!(matches!(r, Err(Error::Transport { .. })), "{r:?}");
}

#[tokio::test]
async fn catalog_calls_through_the_sdk() {
    let node = TestNode::start().await;
    let client = client_for(&node).await;

    // Two instances of one name, and a service registered without an id.
    let i1 = Service::new("web", "10.0.0.1", 8001)
        .with_id("i1")
        .with_tags(["http", "v1"])
        .with_meta([("env", "prod")])
        .with_ttl(Duration::from_secs(20));
    let i2 = Service::new("web", "10.0.0.2", 8002)
        .with_id("i2")
        .with_tags(["http"])
        .with_meta([("env", "dev")]);
    let r1 = client.register(i1.clone()).await.unwrap();
    assert_eq!(r1.entry.service, i1, "the entry echoes the registration");
    assert_eq!(r1.entry.key().to_string(), "web/i1");
    assert!(r1.entry.modify_index > 0);
    assert_eq!(r1.entry.create_index, r1.entry.modify_index);
    assert!(r1.entry.expires_at > std::time::UNIX_EPOCH);
    assert!(r1.header.applied_index >= r1.entry.modify_index);
    let r2 = client.register(i2.clone()).await.unwrap();
    assert_eq!(
        r2.entry.service.ttl,
        Some(Duration::from_secs(30)),
        "default TTL"
    );
    client
        .register(Service::new("db", "10.0.0.3", 5432).with_tags(["sql"]))
        .await
        .unwrap();

    // Reads by key: "name/id", (name, id) and a bare name are all keys.
    let got = client.get_service("web/i1").await.unwrap().unwrap();
    assert_eq!(got.service, i1);
    assert_eq!(got.modify_index, r1.entry.modify_index);
    let got = client
        .get_service_with(("web", "i2"), Consistency::Stale)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.service.port, 8002);
    assert!(client.get_service("db").await.unwrap().is_some());
    assert_eq!(
        client.get_service("web").await.unwrap(),
        None,
        "no bare web"
    );
    assert_eq!(client.get_service("web/i9").await.unwrap(), None);

    let all = client.list_services().await.unwrap();
    let keys: Vec<String> = all.entries.iter().map(|e| e.key().to_string()).collect();
    assert_eq!(keys, ["db", "web/i1", "web/i2"]);
    let stale = client.list_services_with(Consistency::Stale).await.unwrap();
    assert_eq!(stale.entries.len(), 3);

    // Queries by tags, by metadata and by both.
    let http = client.query_tags(["http"]).await.unwrap();
    assert_eq!(http.entries.len(), 2);
    let v1 = client
        .query_tags_with(["http", "v1"], Consistency::Strong)
        .await
        .unwrap();
    assert_eq!(v1.entries.len(), 1);
    assert_eq!(v1.entries[0].service.id.as_deref(), Some("i1"));
    let dev = client.query_metadata([("env", "dev")]).await.unwrap();
    assert_eq!(dev.entries.len(), 1);
    assert_eq!(dev.entries[0].service.id.as_deref(), Some("i2"));
    let both = client
        .query_services(ServiceQuery::new().tag("http").meta("env", "prod"))
        .await
        .unwrap();
    assert_eq!(both.entries.len(), 1);
    assert_eq!(both.entries[0].service.id.as_deref(), Some("i1"));
    let none = client
        .query_services(
            ServiceQuery::new()
                .tag("sql")
                .meta("env", "prod")
                .consistency(Consistency::Stale),
        )
        .await
        .unwrap();
    assert!(none.entries.is_empty());
    let empty = client.query_services(ServiceQuery::new()).await;
    assert!(matches!(empty, Err(Error::InvalidArgument(_))), "{empty:?}");

    // Heartbeats move the deadline, not the indices.
    let hb = client.heartbeat(("web", "i1")).await.unwrap();
    assert!(hb.expires_at >= r1.entry.expires_at);
    let after = client.get_service("web/i1").await.unwrap().unwrap();
    assert_eq!(after.modify_index, r1.entry.modify_index);
    assert_eq!(after.expires_at, hb.expires_at);
    let ghost = client.heartbeat("web/i9").await;
    assert!(matches!(ghost, Err(Error::NotFound(_))), "{ghost:?}");
    let ghost = client.heartbeat("web").await;
    assert!(matches!(ghost, Err(Error::NotFound(_))), "{ghost:?}");

    // CAS registration and deregistration.
    let taken = client.register_cas(i1.clone(), 0).await;
    assert!(
        matches!(&taken, Err(Error::CasConflict { message }) if message.contains("web/i1")),
        "{taken:?}"
    );
    let moved = client
        .register_cas(i1.clone().with_tags(["http", "v2"]), r1.entry.modify_index)
        .await
        .unwrap();
    assert!(moved.entry.modify_index > r1.entry.modify_index);
    assert_eq!(moved.entry.create_index, r1.entry.create_index);
    let absent = client.register_cas(Service::new("new", "h", 1), 5).await;
    assert!(matches!(absent, Err(Error::NotFound(_))), "{absent:?}");
    client
        .register_cas(Service::new("new", "h", 1), 0)
        .await
        .unwrap();
    let wrong = client
        .deregister_cas(("web", "i1"), r1.entry.modify_index)
        .await;
    assert!(matches!(wrong, Err(Error::CasConflict { .. })), "{wrong:?}");
    client
        .deregister_cas(("web", "i1"), moved.entry.modify_index)
        .await
        .unwrap();
    assert_eq!(client.get_service("web/i1").await.unwrap(), None);
    let missing = client.deregister_cas("web/i1", 1).await;
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
    assert!(client.deregister("web/i2").await.unwrap());
    assert!(!client.deregister("web/i2").await.unwrap(), "already gone");
    assert!(client.get_service("web/i2").await.unwrap().is_none());

    // Bad input names the field.
    let bad = client.register(Service::new("a/b", "h", 1)).await;
    assert!(
        matches!(&bad, Err(Error::InvalidArgument(m)) if m.contains("service.name")),
        "{bad:?}"
    );
    let bad = client.register(Service::new("x", "h", 0)).await;
    assert!(matches!(bad, Err(Error::InvalidArgument(_))), "{bad:?}");
    let bad = client.heartbeat(ServiceKey::instance("web", "")).await;
    assert!(
        matches!(&bad, Err(Error::InvalidArgument(m)) if m.starts_with("id")),
        "{bad:?}"
    );
}

#[tokio::test]
async fn catalog_batches_through_the_sdk() {
    let node = TestNode::start().await;
    let client = client_for(&node).await;

    let services: Vec<Service> = (0..3)
        .map(|i| {
            Service::new("api", format!("10.1.0.{i}"), 9000)
                .with_id(format!("n{i}"))
                .with_tags(["grpc"])
        })
        .chain([Service::new("cache", "10.1.1.1", 6379)])
        .collect();
    let reg = client.batch_register(services.clone()).await.unwrap();
    assert_eq!(reg.keys, ["api/n0", "api/n1", "api/n2", "cache"]);
    assert!(reg.index > 0);

    let got = client
        .batch_get_services(["api/n1", "cache", "api/n9"])
        .await
        .unwrap();
    assert_eq!(got.found.len(), 2);
    let default_ttl = services[1].clone().with_ttl(Duration::from_secs(30));
    assert_eq!(got.found[0].service, default_ttl);
    assert!(got.found.iter().all(|e| e.modify_index == reg.index));
    assert_eq!(got.not_found, ["api/n9"]);
    let got = client
        .batch_get_services_with([ServiceKey::instance("api", "n0")], Consistency::Stale)
        .await
        .unwrap();
    assert_eq!(got.found[0].service.address, "10.1.0.0");

    // One invalid service rejects the whole batch.
    let bad = client
        .batch_register([Service::new("ok", "h", 1), Service::new("bad", "h", 0)])
        .await;
    assert!(
        matches!(&bad, Err(Error::InvalidArgument(m)) if m.contains("services[1].port")),
        "{bad:?}"
    );
    assert_eq!(client.get_service("ok").await.unwrap(), None);
    let empty = client.batch_register(Vec::new()).await;
    assert!(matches!(empty, Err(Error::InvalidArgument(_))), "{empty:?}");

    let gone = client
        .batch_deregister(["api/n0", "api/n1", "api/n2", "cache", "nothing"])
        .await
        .unwrap();
    assert_eq!(gone.deleted, 4);
    assert_eq!(gone.keys.len(), 5);
    assert!(client.list_services().await.unwrap().entries.is_empty());
}

fn keys(services: &Services) -> Vec<String> {
    services
        .entries
        .iter()
        .map(|e| e.key().to_string())
        .collect()
}

#[tokio::test]
async fn health_checks_through_the_sdk() {
    let node = TestNode::start().await;
    let client = client_for(&node).await;
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port_addr = port.local_addr().unwrap().to_string();
    let hour = Duration::from_secs(3600);

    // A TTL check and a TCP check, without ids: the server fills in every default.
    let web = Service::new("web", "127.0.0.1", 8080)
        .with_tags(["http"])
        .with_check(Check::ttl(hour))
        .with_check(Check::tcp(&port_addr).with_name("web port"));
    let reg = client.register(web).await.unwrap();
    let defaults = |c: Check, id: &str, name: &str| {
        c.with_id(id)
            .with_name(name)
            .with_interval(Duration::from_secs(30))
            .with_timeout(Duration::from_secs(10))
    };
    assert_eq!(
        reg.entry.service.checks,
        [
            defaults(Check::ttl(hour), "service:web:1", "web-health"),
            defaults(Check::tcp(&port_addr), "service:web:2", "web port"),
        ]
    );
    assert_eq!(reg.entry.checks.len(), 2);
    for (c, def) in reg.entry.checks.iter().zip(&reg.entry.service.checks) {
        assert_eq!(&c.definition, def);
        assert_eq!(c.status, CheckStatus::Critical, "new checks start critical");
        assert_eq!(c.service_key, ServiceKey::name("web"));
        assert_eq!((c.last_check, c.expires_at), (None, None));
    }
    assert!(!reg.entry.is_passing());

    // A service's only check is `service:<key>`, the key's '/' written ':'.
    let solo = client
        .register(
            Service::new("api", "10.0.0.9", 9000)
                .with_id("c")
                .with_check(Check::ttl(Duration::ZERO)),
        )
        .await
        .unwrap();
    assert_eq!(solo.entry.checks[0].id(), "service:api:c");
    assert_eq!(solo.entry.checks[0].service_key.to_string(), "api/c");
    for id in ["a", "b"] {
        let api = Service::new("api", "10.0.0.8", 9000)
            .with_id(id)
            .with_tags(["http"])
            .with_check(Check::ttl(hour).with_id(format!("api-{id}")));
        client.register(api).await.unwrap();
    }
    client
        .register(Service::new("plain", "10.0.0.7", 1).with_tags(["http"]))
        .await
        .unwrap();

    // Only the service without checks passes so far.
    let all = client.list_services().await.unwrap();
    assert_eq!(keys(&all), ["api/a", "api/b", "api/c", "plain", "web"]);
    let before = all.catalog_index.expect("listings carry the catalog index");
    assert!(before > 0);
    let passing = client.list_services_passing().await.unwrap();
    assert_eq!(keys(&passing), ["plain"]);
    assert!(passing.catalog_index.is_some());
    let query = client.query_tags(["http"]).await.unwrap();
    assert_eq!(query.catalog_index, None, "queries do not carry it");

    // A TTL report flips the check to passing, with a deadline one TTL after it.
    let up = client.update_ttl_check("api-a").await.unwrap();
    assert_eq!(up.check.status, CheckStatus::Passing);
    assert_eq!(up.check.output, "TTL check passed");
    assert_eq!(up.check.service_key, ServiceKey::instance("api", "a"));
    let last = up.check.last_check.expect("reported");
    assert_eq!(up.check.expires_at, Some(last + hour));
    assert!(up.header.applied_index > before);
    assert_eq!(
        keys(&client.list_services_passing().await.unwrap()),
        ["api/a", "plain"]
    );
    let http = ServiceQuery::new().tag("http");
    assert_eq!(
        keys(
            &client
                .query_services(http.clone().passing_only())
                .await
                .unwrap()
        ),
        ["api/a", "plain"]
    );
    assert_eq!(
        keys(&client.query_services(http.clone()).await.unwrap()).len(),
        4
    );

    // web passes once its TTL is reported and the leader has probed the open port.
    client.update_ttl_check("service:web:1").await.unwrap();
    let probed = wait_until("the TCP check to pass", || {
        let client = client.clone();
        async move {
            let web = client.get_service("web").await.unwrap()?;
            web.is_passing().then_some(web)
        }
    })
    .await;
    let tcp = &probed.checks[1];
    assert_eq!(tcp.id(), "service:web:2");
    assert!(tcp.last_check.is_some());
    assert_eq!(tcp.expires_at, None, "only TTL checks expire");
    let passing = client
        .list_services_passing_with(Consistency::Stale)
        .await
        .unwrap();
    assert_eq!(keys(&passing), ["api/a", "plain", "web"]);
    assert!(passing.catalog_index.unwrap() > before);

    // A warning with output: no longer passing.
    let warned = client
        .update_ttl_check_status("service:web:1", CheckStatus::Warning, "slow disk")
        .await
        .unwrap();
    assert_eq!(warned.check.status, CheckStatus::Warning);
    assert_eq!(warned.check.output, "slow disk");
    let web = client.get_service("web").await.unwrap().unwrap();
    assert_eq!(web.checks[0].status, CheckStatus::Warning);
    assert_eq!(web.checks[0].output, "slow disk");
    assert!(!web.is_passing());
    assert_eq!(
        keys(&client.query_services(http.passing_only()).await.unwrap()),
        ["api/a", "plain"]
    );
    let critical = client
        .update_ttl_check_status("api-b", CheckStatus::Critical, "down")
        .await
        .unwrap();
    assert_eq!(critical.check.status, CheckStatus::Critical);

    // Unknown checks are NotFound; probed checks take no reports.
    let unknown = client.update_ttl_check("no-such-check").await;
    assert!(matches!(unknown, Err(Error::NotFound(_))), "{unknown:?}");
    let probe = client.update_ttl_check("service:web:2").await;
    assert!(
        matches!(&probe, Err(Error::InvalidArgument(m)) if m.contains("not a TTL check")),
        "{probe:?}"
    );

    // Every check, by service key then registration order, and one service's checks.
    let checks = client.list_checks().await.unwrap();
    let ids: Vec<&str> = checks.checks.iter().map(|c| c.id()).collect();
    assert_eq!(
        ids,
        [
            "api-a",
            "api-b",
            "service:api:c",
            "service:web:1",
            "service:web:2"
        ]
    );
    assert_eq!(
        checks.catalog_index,
        client.list_services().await.unwrap().catalog_index
    );
    let stale = client.list_checks_with(Consistency::Stale).await.unwrap();
    assert_eq!(stale.checks.len(), 5);
    let api = client.service_checks("api").await.unwrap();
    assert_eq!(api.checks.len(), 3);
    assert_eq!(api.catalog_index, None);
    let statuses: Vec<CheckStatus> = api.checks.iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [
            CheckStatus::Passing,
            CheckStatus::Critical,
            CheckStatus::Critical
        ]
    );
    assert_eq!(api.checks[1].output, "down");
    let api = client.service_checks_passing("api").await.unwrap();
    assert_eq!(api.checks.len(), 1);
    assert_eq!(api.checks[0].id(), "api-a");
    let web = client
        .service_checks_with("web", Consistency::Strong)
        .await
        .unwrap();
    assert_eq!(web.checks.len(), 2);
    assert!(
        client
            .service_checks_passing_with("web", Consistency::Stale)
            .await
            .unwrap()
            .checks
            .is_empty()
    );
    assert!(
        client
            .service_checks("nothing")
            .await
            .unwrap()
            .checks
            .is_empty()
    );

    // Checks leave with their service.
    client.deregister("web").await.unwrap();
    assert_eq!(client.list_checks().await.unwrap().checks.len(), 3);
    let gone = client.update_ttl_check("service:web:1").await;
    assert!(matches!(gone, Err(Error::NotFound(_))), "{gone:?}");
    drop(port);
}

/// A catalog server that answers every call like a follower: refused, with the leader's
/// address in metadata.
#[derive(Clone)]
struct CatalogFollower {
    leader: SocketAddr,
    calls: Arc<AtomicUsize>,
}

impl CatalogFollower {
    fn refuse<T>(&self) -> Result<Response<T>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(Status::from(konsul::Error::NotLeader {
            leader_name: "real".into(),
            leader_client_addr: self.leader.to_string(),
            leader_raft_addr: "127.0.0.1:1".into(),
        }))
    }

    async fn serve(self) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(CatalogServiceServer::new(self))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        addr
    }
}

macro_rules! refuse_all {
    ($($method:ident($req:ident) -> $resp:ident;)*) => {
        #[tonic::async_trait]
        impl CatalogService for CatalogFollower {
            $(
                async fn $method(
                    &self,
                    _: Request<pb::$req>,
                ) -> Result<Response<pb::$resp>, Status> {
                    self.refuse()
                }
            )*
        }
    };
}

refuse_all! {
    register(RegisterRequest) -> RegisterResponse;
    deregister(DeregisterRequest) -> DeregisterResponse;
    heartbeat(HeartbeatRequest) -> HeartbeatResponse;
    get_service(GetServiceRequest) -> GetServiceResponse;
    list_services(ListServicesRequest) -> ListServicesResponse;
    query_tags(QueryTagsRequest) -> QueryTagsResponse;
    query_metadata(QueryMetadataRequest) -> QueryMetadataResponse;
    query(QueryRequest) -> QueryResponse;
    batch_register(BatchRegisterRequest) -> BatchRegisterResponse;
    batch_deregister(BatchDeregisterRequest) -> BatchDeregisterResponse;
    batch_get_services(BatchGetServicesRequest) -> BatchGetServicesResponse;
    update_ttl_check(UpdateTtlCheckRequest) -> UpdateTtlCheckResponse;
    list_checks(ListChecksRequest) -> ListChecksResponse;
    service_checks(ServiceChecksRequest) -> ServiceChecksResponse;
}

#[tokio::test]
async fn catalog_calls_follow_the_not_leader_redirect() {
    let node = TestNode::start().await;
    let real = node.server.client_addr();
    let calls = Arc::new(AtomicUsize::new(0));
    let follower = CatalogFollower {
        leader: real,
        calls: calls.clone(),
    }
    .serve()
    .await;

    let client = fast_client([follower.to_string()], 10);
    let svc = Service::new("redirected", "h", 1).with_id("a");
    let reg = client.register(svc.clone()).await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one redirect, then the leader"
    );
    assert_eq!(client.leader_hint(), Some(format!("http://{real}")));
    let direct = client_for(&node).await;
    let stored = direct.get_service("redirected/a").await.unwrap().unwrap();
    assert_eq!(stored.modify_index, reg.entry.modify_index);

    // Leader-only calls now go straight to the remembered leader.
    client.heartbeat("redirected/a").await.unwrap();
    assert!(client.get_service("redirected/a").await.unwrap().is_some());
    assert_eq!(client.query_tags(["x"]).await.unwrap().entries.len(), 0);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Stale reads start at the configured endpoint and are redirected too.
    let stale = client.list_services_with(Consistency::Stale).await.unwrap();
    assert_eq!(stale.entries.len(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let checks = client.list_checks_with(Consistency::Stale).await.unwrap();
    assert!(checks.checks.is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // TTL reports are writes: straight to the leader, which knows no such check.
    let unknown = client.update_ttl_check("none").await;
    assert!(matches!(unknown, Err(Error::NotFound(_))), "{unknown:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(client.deregister(svc.key()).await.unwrap());
}
