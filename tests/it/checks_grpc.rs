//! Health checks over gRPC (CatalogService) against a real one-node server: definitions
//! with defaults filled in, UpdateTtlCheck / ListChecks / ServiceChecks, `passing_only` on
//! the listing and query calls, ALREADY_EXISTS for a taken check id, `catalog_index`, bad
//! input rejected with INVALID_ARGUMENT while nothing is written, and check statuses
//! surviving a restart from snapshot plus log.

use crate::common;

mod bad_input;

use openraft::async_runtime::WatchReceiver;
use std::collections::BTreeMap;

use common::{TestNode, start_with, test_config_with, wait_until};
use konsul_proto::v1 as pb;
use konsul_proto::v1::catalog_service_client::CatalogServiceClient;
use konsul_proto::v1::check_definition::Kind;
use tonic::Code;
use tonic::transport::Channel;

type Client = CatalogServiceClient<Channel>;

fn svc(name: &str, id: Option<&str>, checks: Vec<pb::CheckDefinition>) -> pb::Service {
    pb::Service {
        name: name.into(),
        id: id.map(str::to_owned),
        address: "10.0.0.1".into(),
        port: 8080,
        tags: vec!["http".into()],
        meta: [("env".to_owned(), "prod".to_owned())].into(),
        ttl_ms: 0,
        checks,
    }
}

fn check(id: &str, kind: Kind) -> pb::CheckDefinition {
    pb::CheckDefinition {
        id: id.into(),
        kind: Some(kind),
        ..Default::default()
    }
}

fn ttl(id: &str, ttl_ms: u64) -> pb::CheckDefinition {
    check(id, Kind::Ttl(pb::TtlCheck { ttl_ms }))
}

fn tcp(id: &str, address: &str) -> pb::CheckDefinition {
    check(
        id,
        Kind::Tcp(pb::TcpCheck {
            address: address.into(),
        }),
    )
}

fn http(id: &str, url: &str, method: &str) -> pb::CheckDefinition {
    check(
        id,
        Kind::Http(pb::HttpCheck {
            url: url.into(),
            method: method.into(),
            ..Default::default()
        }),
    )
}

async fn register(c: &mut Client, s: pb::Service) -> pb::ServiceEntry {
    c.register(pb::RegisterRequest {
        service: Some(s),
        cas: None,
    })
    .await
    .unwrap()
    .into_inner()
    .entry
    .unwrap()
}

async fn report(
    c: &mut Client,
    id: &str,
    status: pb::CheckStatus,
    output: &str,
) -> Result<pb::Check, tonic::Status> {
    c.update_ttl_check(pb::UpdateTtlCheckRequest {
        check_id: id.into(),
        status: status as i32,
        output: output.into(),
    })
    .await
    .map(|r| r.into_inner().check.unwrap())
}

async fn list_checks(c: &mut Client) -> pb::ListChecksResponse {
    c.list_checks(pb::ListChecksRequest::default())
        .await
        .unwrap()
        .into_inner()
}

async fn find(c: &mut Client, id: &str) -> Option<pb::Check> {
    list_checks(c)
        .await
        .checks
        .into_iter()
        .find(|ch| ch.definition.as_ref().unwrap().id == id)
}

fn status(ch: &pb::Check) -> pb::CheckStatus {
    pb::CheckStatus::try_from(ch.status).unwrap()
}

fn keys(entries: &[pb::ServiceEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            let s = e.service.as_ref().unwrap();
            match &s.id {
                Some(id) => format!("{}/{id}", s.name),
                None => s.name.clone(),
            }
        })
        .collect()
}

async fn list(c: &mut Client, passing_only: bool) -> pb::ListServicesResponse {
    c.list_services(pb::ListServicesRequest {
        passing_only,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

#[tokio::test]
async fn registered_checks_get_defaults_and_start_critical() {
    let node = TestNode::start().await;
    let mut c = node.catalog().await;
    let grpc = check(
        "",
        Kind::Grpc(pb::GrpcCheck {
            address: "10.0.0.1:9090".into(),
            service: String::new(),
            use_tls: false,
        }),
    );
    let e = register(
        &mut c,
        svc(
            "web",
            None,
            vec![
                ttl("", 15_000),
                http("", "https://10.0.0.1/health", "head"),
                tcp("", "10.0.0.1:8080"),
                grpc,
            ],
        ),
    )
    .await;
    let defs = &e.service.as_ref().unwrap().checks;
    let want_ids = [
        "service:web:1",
        "service:web:2",
        "service:web:3",
        "service:web:4",
    ];
    assert_eq!(
        defs.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        want_ids
    );
    for d in defs {
        assert_eq!(d.name, "web-health");
        assert_eq!((d.interval_ms, d.timeout_ms), (30_000, 10_000));
    }
    assert!(matches!(&defs[1].kind, Some(Kind::Http(h)) if h.method == "HEAD"));
    assert_eq!(e.checks.len(), 4);
    for ch in &e.checks {
        assert_eq!(status(ch), pb::CheckStatus::Critical);
        assert_eq!(ch.service_key, "web");
        assert_eq!(ch.service_name, "web");
        assert_eq!((ch.last_check_ms, ch.expires_at_ms), (0, 0));
    }

    let got = c
        .get_service(pb::GetServiceRequest {
            name: "web".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(got.service.unwrap().checks, *defs);
    assert_eq!(got.checks, e.checks);

    // One check: service:<key>, an instance's '/' written ':'.
    let e = register(&mut c, svc("api", Some("i-1"), vec![ttl("", 0)])).await;
    assert_eq!(
        e.checks[0].definition.as_ref().unwrap().id,
        "service:api:i-1"
    );
    assert_eq!(e.checks[0].service_key, "api/i-1");
    assert_eq!(list_checks(&mut c).await.checks.len(), 5);
}

#[tokio::test]
async fn ttl_check_flow() {
    let node = TestNode::start().await;
    let mut c = node.catalog().await;
    register(&mut c, svc("web", None, vec![ttl("t", 1_000)])).await;

    let ch = report(&mut c, "t", pb::CheckStatus::Unspecified, "")
        .await
        .unwrap();
    assert_eq!(status(&ch), pb::CheckStatus::Passing);
    assert_eq!(ch.output, "TTL check passed");
    assert!(ch.last_check_ms > 0);
    assert_eq!(ch.expires_at_ms, ch.last_check_ms + 1_000);

    let ch = report(&mut c, "t", pb::CheckStatus::Warning, "slow")
        .await
        .unwrap();
    assert_eq!(status(&ch), pb::CheckStatus::Warning);
    assert_eq!(ch.output, "slow");
    let per_service = c
        .service_checks(pb::ServiceChecksRequest {
            name: "web".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .checks;
    assert_eq!(per_service.len(), 1);

    wait_until("the TTL check to expire", || {
        let mut c = c.clone();
        async move {
            let ch = find(&mut c, "t").await?;
            (status(&ch) == pb::CheckStatus::Critical && ch.output == "TTL expired").then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn passing_only_keeps_only_passing_instances() {
    let node = TestNode::start().await;
    let mut c = node.catalog().await;
    register(&mut c, svc("web", Some("a"), vec![ttl("web-a", 600_000)])).await;
    register(&mut c, svc("web", Some("b"), vec![ttl("web-b", 600_000)])).await;
    register(&mut c, svc("plain", None, vec![])).await;
    report(&mut c, "web-a", pb::CheckStatus::Passing, "")
        .await
        .unwrap();
    report(&mut c, "web-b", pb::CheckStatus::Critical, "down")
        .await
        .unwrap();

    assert_eq!(
        keys(&list(&mut c, false).await.entries),
        ["plain", "web/a", "web/b"]
    );
    let want = ["plain", "web/a"];
    assert_eq!(keys(&list(&mut c, true).await.entries), want);
    let r = c
        .query_tags(pb::QueryTagsRequest {
            tags: vec!["http".into()],
            passing_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(keys(&r.entries), want);
    let r = c
        .query_metadata(pb::QueryMetadataRequest {
            meta: BTreeMap::from([("env".into(), "prod".into())]),
            passing_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(keys(&r.entries), want);
    let r = c
        .query(pb::QueryRequest {
            tags: vec!["http".into()],
            meta: BTreeMap::from([("env".into(), "prod".into())]),
            passing_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(keys(&r.entries), want);
    let r = c
        .service_checks(pb::ServiceChecksRequest {
            name: "web".into(),
            passing_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.checks.len(), 1);
    assert_eq!(r.checks[0].service_key, "web/a");
}

#[tokio::test]
async fn checks_leave_with_their_service() {
    let node = TestNode::start().await;
    let mut c = node.catalog().await;
    register(&mut c, svc("web", None, vec![ttl("x", 0), tcp("y", "h:1")])).await;
    c.deregister(pb::DeregisterRequest {
        name: "web".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(list_checks(&mut c).await.checks.is_empty());
    let err = report(&mut c, "x", pb::CheckStatus::Passing, "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.message(), "check not found");
    let e = register(&mut c, svc("api", None, vec![ttl("x", 0)])).await;
    assert_eq!(e.checks[0].service_key, "api");
}

#[tokio::test]
async fn a_taken_check_id_is_already_exists_and_changes_nothing() {
    let node = TestNode::start().await;
    let mut c = node.catalog().await;
    register(&mut c, svc("web", None, vec![ttl("mine", 0)])).await;
    let before = list(&mut c, false).await.catalog_index;
    let err = c
        .register(pb::RegisterRequest {
            service: Some(svc("api", None, vec![tcp("mine", "h:1")])),
            cas: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(
        err.message().contains("'mine'") && err.message().contains("'web'"),
        "{}",
        err.message()
    );
    let after = list(&mut c, false).await;
    assert_eq!(keys(&after.entries), ["web"]);
    assert_eq!(after.catalog_index, before);
    // A batch with a taken id is refused whole.
    let err = c
        .batch_register(pb::BatchRegisterRequest {
            services: vec![
                svc("ok", None, vec![]),
                svc("api", None, vec![ttl("mine", 0)]),
            ],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(keys(&list(&mut c, false).await.entries), ["web"]);
}

#[tokio::test]
async fn catalog_index_follows_changes_not_heartbeats() {
    let node = TestNode::start().await;
    let mut c = node.catalog().await;
    register(&mut c, svc("web", None, vec![ttl("t", 0)])).await;
    let i1 = list(&mut c, false).await.catalog_index;
    assert!(i1 > 0);
    c.heartbeat(pb::HeartbeatRequest {
        name: "web".into(),
        id: None,
    })
    .await
    .unwrap();
    assert_eq!(list(&mut c, false).await.catalog_index, i1);
    report(&mut c, "t", pb::CheckStatus::Passing, "")
        .await
        .unwrap();
    let i2 = list_checks(&mut c).await.catalog_index;
    assert!(i2 > i1);
    assert_eq!(list(&mut c, false).await.catalog_index, i2);
}

// ---- durability ----

const NO_TRAILING_LOG: &[(&str, &str)] = &[("KONSUL_RAFT_TRAILING_LOGS", "0")];

#[tokio::test]
async fn check_statuses_survive_a_restart_from_snapshot_and_log() {
    // The log the snapshot covers is purged, so the restart has to read the statuses from
    // the snapshot, and the entries after it from the log.
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(test_config_with(dir.path(), NO_TRAILING_LOG))
        .await
        .unwrap();
    let addr = format!("http://{}", server.client_addr());
    let mut c = Client::connect(addr).await.unwrap();
    let mut web = svc(
        "web",
        None,
        vec![ttl("in-snapshot", 0), ttl("in-log", 3_600_000)],
    );
    web.ttl_ms = 3_600_000;
    register(&mut c, web).await;
    report(&mut c, "in-snapshot", pb::CheckStatus::Warning, "disk 91%")
        .await
        .unwrap();
    let snapshot_index = server.node().snapshot().await.unwrap();
    let raft = server.node().raft().clone();
    raft.trigger().purge_log(snapshot_index).await.unwrap();
    wait_until("the log purged behind the snapshot", || {
        let purged = raft.metrics().borrow_watched().purged.map(|l| l.index);
        async move { (purged >= Some(snapshot_index)).then_some(()) }
    })
    .await;
    // After the snapshot: only in the log.
    let logged = report(&mut c, "in-log", pb::CheckStatus::Passing, "")
        .await
        .unwrap();
    let before = list_checks(&mut c).await;
    assert!(before.catalog_index > snapshot_index);
    server.shutdown().await.unwrap();

    let server = start_with(test_config_with(dir.path(), NO_TRAILING_LOG))
        .await
        .unwrap();
    let mut c = Client::connect(format!("http://{}", server.client_addr()))
        .await
        .unwrap();
    let after = list_checks(&mut c).await;
    assert_eq!(after.catalog_index, before.catalog_index);
    let snap = after
        .checks
        .iter()
        .find(|ch| ch.definition.as_ref().unwrap().id == "in-snapshot");
    let snap = snap.unwrap();
    assert_eq!(status(snap), pb::CheckStatus::Warning);
    assert_eq!(snap.output, "disk 91%");
    let log = after
        .checks
        .iter()
        .find(|ch| ch.definition.as_ref().unwrap().id == "in-log");
    let log = log.unwrap();
    assert_eq!(status(log), pb::CheckStatus::Passing);
    assert_eq!(log.output, "TTL check passed");
    assert_eq!(log.last_check_ms, logged.last_check_ms);
    // A restarted leader may push pending TTL deadlines later (grace), never earlier.
    assert!(log.expires_at_ms >= logged.expires_at_ms);
    // The check index was rebuilt: reports still find their checks, and ids stay taken.
    report(&mut c, "in-snapshot", pb::CheckStatus::Passing, "")
        .await
        .unwrap();
    let err = c
        .register(pb::RegisterRequest {
            service: Some(svc("other", None, vec![ttl("in-log", 0)])),
            cas: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    server.shutdown().await.unwrap();
}
