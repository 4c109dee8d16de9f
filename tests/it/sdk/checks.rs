//! Health checks through the SDK against one real node: TTL reports, a TCP probe against a
//! port the test opens and closes, passing-only reads, and checks that go with their service.

use std::time::Duration;

use konsul_client::{
    Check, CheckStatus, Client, Consistency, Error, Service, ServiceKey, ServiceQuery,
};
use tokio::net::TcpListener;

use super::catalog::keys;
use super::client_for;
use crate::common::{TestNode, wait_until};

const HOUR: Duration = Duration::from_secs(3600);

/// One scenario in named steps: services with checks are registered, then reported on,
/// probed, warned and failed, listed, and deregistered; each step checks what the one before
/// left.
#[tokio::test]
async fn health_checks_through_the_sdk() {
    let node = TestNode::start().await;
    let client = client_for(&node).await;
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port_addr = port.local_addr().unwrap().to_string();

    new_checks_get_defaults_and_start_critical(&client, &port_addr).await;
    a_lone_check_is_named_after_its_service(&client).await;
    let before = only_services_without_checks_pass(&client).await;
    a_ttl_report_passes_its_check(&client, before).await;
    an_open_port_passes_its_tcp_probe(&client, before).await;
    warnings_and_failures_stop_passing(&client).await;
    unknown_and_probed_checks_take_no_reports(&client).await;
    checks_are_listed_by_service_then_registration(&client).await;
    checks_leave_with_their_service(&client).await;
    drop(port);
}

/// A TTL check and a TCP check, without ids: the server fills in every default.
async fn new_checks_get_defaults_and_start_critical(client: &Client, port_addr: &str) {
    let web = Service::new("web", "127.0.0.1", 8080)
        .with_tags(["http"])
        .with_check(Check::ttl(HOUR))
        .with_check(Check::tcp(port_addr).with_name("web port"));
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
            defaults(Check::ttl(HOUR), "service:web:1", "web-health"),
            defaults(Check::tcp(port_addr), "service:web:2", "web port"),
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
}

/// A service's only check is `service:<key>`, the key's '/' written ':'.
async fn a_lone_check_is_named_after_its_service(client: &Client) {
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
            .with_check(Check::ttl(HOUR).with_id(format!("api-{id}")));
        client.register(api).await.unwrap();
    }
    client
        .register(Service::new("plain", "10.0.0.7", 1).with_tags(["http"]))
        .await
        .unwrap();
}

/// Only the service without checks passes so far.
async fn only_services_without_checks_pass(client: &Client) -> u64 {
    let all = client.list_services().await.unwrap();
    assert_eq!(keys(&all), ["api/a", "api/b", "api/c", "plain", "web"]);
    let before = all.catalog_index.expect("listings carry the catalog index");
    assert!(before > 0);
    let passing = client.list_services_passing().await.unwrap();
    assert_eq!(keys(&passing), ["plain"]);
    assert!(passing.catalog_index.is_some());
    let query = client.query_tags(["http"]).await.unwrap();
    assert_eq!(query.catalog_index, None, "queries do not carry it");
    before
}

/// A TTL report flips the check to passing, with a deadline one TTL after it.
async fn a_ttl_report_passes_its_check(client: &Client, before: u64) {
    let up = client.update_ttl_check("api-a").await.unwrap();
    assert_eq!(up.check.status, CheckStatus::Passing);
    assert_eq!(up.check.output, "TTL check passed");
    assert_eq!(up.check.service_key, ServiceKey::instance("api", "a"));
    let last = up.check.last_check.expect("reported");
    assert_eq!(up.check.expires_at, Some(last + HOUR));
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
}

/// web passes once its TTL is reported and the leader has probed the open port.
async fn an_open_port_passes_its_tcp_probe(client: &Client, before: u64) {
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
}

/// A warning with output: no longer passing.
async fn warnings_and_failures_stop_passing(client: &Client) {
    let http = ServiceQuery::new().tag("http");
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
}

/// Unknown checks are NotFound; probed checks take no reports.
async fn unknown_and_probed_checks_take_no_reports(client: &Client) {
    let unknown = client.update_ttl_check("no-such-check").await;
    assert!(matches!(unknown, Err(Error::NotFound(_))), "{unknown:?}");
    let probe = client.update_ttl_check("service:web:2").await;
    assert!(
        matches!(&probe, Err(Error::InvalidArgument(m)) if m.contains("not a TTL check")),
        "{probe:?}"
    );
}

/// Every check, by service key then registration order, and one service's checks.
async fn checks_are_listed_by_service_then_registration(client: &Client) {
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
}

/// Checks leave with their service.
async fn checks_leave_with_their_service(client: &Client) {
    client.deregister("web").await.unwrap();
    assert_eq!(client.list_checks().await.unwrap().checks.len(), 3);
    let gone = client.update_ttl_check("service:web:1").await;
    assert!(matches!(gone, Err(Error::NotFound(_))), "{gone:?}");
}
