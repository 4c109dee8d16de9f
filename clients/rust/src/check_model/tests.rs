//! Tests of `check_model.rs`.

use super::*;

#[test]
fn definitions_round_trip_through_the_wire_type() {
    let checks = [
        Check::ttl(Duration::from_secs(15))
            .with_id("t")
            .with_name("n"),
        Check::ttl(Duration::ZERO),
        Check::http("https://h/health")
            .with_method("HEAD")
            .with_headers([("a", "1")])
            .with_header("b", "2")
            .with_tls_skip_verify(true)
            .with_interval(Duration::from_millis(500))
            .with_timeout(Duration::from_secs(2)),
        Check::tcp("h:1"),
        Check::grpc("h:2").with_grpc_service("app").with_tls(true),
    ];
    for c in checks {
        assert_eq!(Check::from(c.clone().into_proto()), c);
    }
    let wire = Check::ttl(Duration::from_secs(15)).into_proto();
    assert_eq!(wire.kind, Some(Kind::Ttl(pb::TtlCheck { ttl_ms: 15_000 })));
    assert_eq!((wire.id.as_str(), wire.interval_ms), ("", 0));
    assert_eq!(
        Check::from(pb::CheckDefinition::default()).kind,
        CheckKind::Ttl { ttl: None },
        "no kind is a TTL check that never expires"
    );
}

#[test]
fn kind_specific_builders_leave_other_kinds_alone() {
    let tcp = Check::tcp("h:1");
    let same = tcp
        .clone()
        .with_method("POST")
        .with_header("a", "b")
        .with_tls_skip_verify(true)
        .with_grpc_service("x")
        .with_tls(true);
    assert_eq!(same, tcp);
}

#[test]
fn states_resolve_zero_times_and_unknown_statuses() {
    let s = CheckState::from(pb::Check {
        definition: Some(Check::tcp("h:1").with_id("c").into_proto()),
        service_key: "web/i1".into(),
        service_name: "web".into(),
        status: 99,
        output: String::new(),
        last_check_ms: 0,
        expires_at_ms: 0,
    });
    assert_eq!(s.id(), "c");
    assert_eq!(s.service_key, ServiceKey::instance("web", "i1"));
    assert_eq!(s.status, CheckStatus::Critical);
    assert_eq!((s.last_check, s.expires_at), (None, None));
    for st in [
        CheckStatus::Passing,
        CheckStatus::Warning,
        CheckStatus::Critical,
    ] {
        assert_eq!(CheckStatus::from_proto(st.to_proto()), st);
    }
    assert_eq!(CheckStatus::Warning.to_string(), "warning");
}
