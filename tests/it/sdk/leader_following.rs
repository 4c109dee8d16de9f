//! Leader following through the fakes of [`super::fakes`]: the SDK follows a not-leader
//! redirect to the leader (KV and catalog) and then calls it directly, retries while there
//! is no leader within its attempt budget, skips an endpoint that refuses connections, and
//! resends a write whose answer was lost with its request id.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use konsul_client::{Consistency, Error, Service};
use tokio::net::TcpListener;

use super::fakes::{Behaviour, CatalogFollower, Fake};
use super::{client_for, fast_client};
use crate::common::TestNode;

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
