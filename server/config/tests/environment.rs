//! `KONSUL_*` variables: every one sets its field, bad values and unknown names are errors
//! naming the variable, bounds are enforced.

use super::*;

#[test]
fn every_raft_variable_sets_its_field() {
    type Check = fn(&RaftConfig) -> bool;
    let cases: &[(&str, &str, Check)] = &[
        ("KONSUL_RAFT_ENABLED", "true", |r| r.enabled),
        ("KONSUL_RAFT_NODE_ID", "n-7", |r| r.node_id == "n-7"),
        ("KONSUL_RAFT_BIND_ADDR", "10.1.2.3:7100", |r| {
            r.bind_addr == "10.1.2.3:7100"
        }),
        ("KONSUL_RAFT_ADVERTISE_ADDR", "db1:7100", |r| {
            r.advertise_addr == "db1:7100"
        }),
        ("KONSUL_RAFT_DATA_DIR", "/srv/raft", |r| {
            r.data_dir.as_deref() == Some(Path::new("/srv/raft"))
        }),
        ("KONSUL_RAFT_BOOTSTRAP", "YES", |r| r.bootstrap),
        ("KONSUL_RAFT_HEARTBEAT_TIMEOUT", "250ms", |r| {
            r.heartbeat_timeout == ms(250)
        }),
        ("KONSUL_RAFT_ELECTION_TIMEOUT", "1h30m", |r| {
            r.election_timeout == ms(5_400_000)
        }),
        ("KONSUL_RAFT_LEADER_LEASE_TIMEOUT", "400ms", |r| {
            r.leader_lease_timeout == ms(400)
        }),
        ("KONSUL_RAFT_COMMIT_TIMEOUT", "20ms", |r| {
            r.commit_timeout == ms(20)
        }),
        ("KONSUL_RAFT_SNAPSHOT_INTERVAL", "3m", |r| {
            r.snapshot_interval == ms(180_000)
        }),
        ("KONSUL_RAFT_SNAPSHOT_THRESHOLD", "4096", |r| {
            r.snapshot_threshold == 4096
        }),
        ("KONSUL_RAFT_SNAPSHOT_RETENTION", "5", |r| {
            r.snapshot_retention == 5
        }),
        ("KONSUL_RAFT_MAX_APPEND_ENTRIES", "32", |r| {
            r.max_append_entries == 32
        }),
        ("KONSUL_RAFT_TRAILING_LOGS", "100", |r| {
            r.trailing_logs == 100
        }),
        ("KONSUL_RAFT_LOG_SEGMENT_BYTES", "33554432", |r| {
            r.log_segment_bytes == 32 << 20
        }),
        ("KONSUL_RAFT_LOG_LEVEL", "Debug", |r| {
            r.log_level == LogLevel::Debug
        }),
        ("KONSUL_RAFT_JOIN", "10.0.0.1:7000, db2:7000", |r| {
            r.join == ["10.0.0.1:7000", "db2:7000"]
        }),
        ("KONSUL_RAFT_JOIN", "srv:_k._tcp.x,exec:a --f=1,2", |r| {
            r.join == ["srv:_k._tcp.x", "exec:a --f=1,2"]
        }),
        ("KONSUL_RAFT_DISCOVERY_DNS_SERVER", "127.0.0.1:5353", |r| {
            r.discovery_dns_server == "127.0.0.1:5353"
        }),
        ("KONSUL_RAFT_ALLOWED_CIDRS", "10.0.0.0/24, fd00::1", |r| {
            r.allowed_cidrs == ["10.0.0.0/24", "fd00::1"]
        }),
    ];
    for (var, value, check) in cases {
        let mut c = Config::default();
        env::apply(&mut c, &env_of(&[(var, value)])).unwrap();
        assert!(
            check(&c.raft),
            "{var}={value} did not reach its field: {:?}",
            c.raft
        );
        assert_ne!(c.raft, RaftConfig::default(), "{var} changed nothing");
    }
    // A new KONSUL_RAFT_* variable must be added to the table above.
    for var in VARS.iter().filter(|v| v.name.starts_with("KONSUL_RAFT_")) {
        assert!(
            cases.iter().any(|(name, _, _)| *name == var.name),
            "{} is not covered",
            var.name
        );
    }
}

#[test]
fn every_other_variable_sets_its_field() {
    let c = load(
        &Flags::default(),
        &[
            ("KONSUL_HOST", "::1"),
            ("KONSUL_PORT", "9999"),
            ("KONSUL_DATA_DIR", "/d"),
            ("KONSUL_LOG_LEVEL", "trace"),
            ("KONSUL_LOG_FORMAT", "JSON"),
            ("KONSUL_FORWARD_TO_LEADER", "yes"),
            ("KONSUL_MAX_KEY_BYTES", "10"),
            ("KONSUL_MAX_VALUE_BYTES", "20"),
            ("KONSUL_MAX_BATCH_KV", "30"),
            ("KONSUL_MAX_BATCH_SERVICES", "40"),
            ("KONSUL_MAX_REQUEST_BYTES", "50"),
            ("KONSUL_MAX_QUEUED_WRITES", "60"),
            ("KONSUL_REQUEST_TIMEOUT", "2m"),
            ("KONSUL_SERVICE_TTL", "1h30m"),
            ("KONSUL_CLEANUP_INTERVAL", "250ms"),
        ],
    )
    .unwrap();
    assert_eq!(
        c.catalog,
        CatalogConfig {
            service_ttl: ms(5_400_000),
            cleanup_interval: ms(250),
        }
    );
    assert_eq!(c.client_addr(), "[::1]:9999");
    assert_eq!(c.data_dir, PathBuf::from("/d"));
    assert_eq!(
        (c.log_level, c.log_format),
        (LogLevel::Trace, LogFormat::Json)
    );
    assert!(c.forward_to_leader);
    assert_eq!(
        c.limits,
        Limits {
            max_key_bytes: 10,
            max_value_bytes: 20,
            max_batch_kv: 30,
            max_batch_services: 40,
            max_request_bytes: 50,
            max_queued_writes: 60,
        }
    );
    assert_eq!(c.request_timeout, ms(120_000));
}

#[test]
fn every_unparsable_variable_is_an_error_naming_it() {
    let mut checked = 0;
    for var in VARS {
        let bad_values: &[&str] = match var.kind {
            Kind::Text | Kind::Path | Kind::List => continue,
            Kind::Bool => &["abc", "", "2", "on"],
            Kind::Port => &["abc", "", "-1", "65536", "80.5"],
            Kind::Count => &["abc", "", "-1", "1.5", "1k"],
            Kind::Duration => &["abc", "", "-1s", "1", "1 s"],
            Kind::LogLevel => &["abc", "", "verbose"],
            Kind::LogFormat => &["abc", "", "xml"],
        };
        for bad in bad_values {
            let message = config_message(load(&Flags::default(), &[(var.name, bad)]));
            assert!(
                message.starts_with(&format!("{}: ", var.name)),
                "{}={bad:?}: {message}",
                var.name
            );
            assert!(message.contains(&format!("{bad:?}")), "{message}");
            checked += 1;
        }
    }
    assert!(checked > 80, "only {checked} cases");
    let message = config_message(load(
        &Flags::default(),
        &[("KONSUL_RAFT_HEARTBEAT_TIMEOUT", "abc")],
    ));
    assert_eq!(
        message,
        r#"KONSUL_RAFT_HEARTBEAT_TIMEOUT: invalid duration "abc" (examples: 500ms, 1s, 2m, 1h30m)"#
    );
}

#[test]
fn the_request_timeout_and_the_write_queue_are_bounded() {
    for (var, value, want) in [
        (
            "KONSUL_REQUEST_TIMEOUT",
            "50ms",
            "request_timeout (KONSUL_REQUEST_TIMEOUT) 50ms is out of range: must be between \
             100ms and 10m",
        ),
        (
            "KONSUL_REQUEST_TIMEOUT",
            "11m",
            "request_timeout (KONSUL_REQUEST_TIMEOUT) 11m is out of range",
        ),
        (
            "KONSUL_MAX_QUEUED_WRITES",
            "0",
            "limits.max_queued_writes (KONSUL_MAX_QUEUED_WRITES) must be greater than 0",
        ),
    ] {
        let message = config_message(load(&Flags::default(), &[(var, value)]));
        assert!(message.contains(want), "{var}={value}: {message}");
    }
    for (var, value) in [
        ("KONSUL_REQUEST_TIMEOUT", "100ms"),
        ("KONSUL_REQUEST_TIMEOUT", "10m"),
        ("KONSUL_MAX_QUEUED_WRITES", "1"),
    ] {
        load(&Flags::default(), &[(var, value)]).unwrap_or_else(|e| panic!("{var}={value}: {e}"));
    }
    let flags = Flags::try_parse_from(["konsul", "--request-timeout", "3s"]).unwrap();
    assert_eq!(load(&flags, &[]).unwrap().request_timeout, ms(3000));
}

#[test]
fn catalog_durations_out_of_range_stop_startup_naming_the_variable() {
    for (var, value, want) in [
        (
            "KONSUL_SERVICE_TTL",
            "500ms",
            "catalog.service_ttl (KONSUL_SERVICE_TTL) 500ms is out of range: must be between 1s \
             and 24h",
        ),
        (
            "KONSUL_SERVICE_TTL",
            "25h",
            "catalog.service_ttl (KONSUL_SERVICE_TTL) 25h is out of range",
        ),
        (
            "KONSUL_SERVICE_TTL",
            "0",
            "catalog.service_ttl (KONSUL_SERVICE_TTL) 0s is out of range",
        ),
        (
            "KONSUL_CLEANUP_INTERVAL",
            "50ms",
            "catalog.cleanup_interval (KONSUL_CLEANUP_INTERVAL) 50ms is out of range: must be \
             between 100ms and 1h",
        ),
        (
            "KONSUL_CLEANUP_INTERVAL",
            "1h1s",
            "catalog.cleanup_interval (KONSUL_CLEANUP_INTERVAL) 1h1s is out of range",
        ),
    ] {
        let message = config_message(load(&Flags::default(), &[(var, value)]));
        assert!(message.contains(want), "{var}={value}: {message}");
    }
    // The bounds themselves are accepted.
    for (var, value) in [
        ("KONSUL_SERVICE_TTL", "1s"),
        ("KONSUL_SERVICE_TTL", "24h"),
        ("KONSUL_CLEANUP_INTERVAL", "100ms"),
        ("KONSUL_CLEANUP_INTERVAL", "1h"),
    ] {
        load(&Flags::default(), &[(var, value)]).unwrap_or_else(|e| panic!("{var}={value}: {e}"));
    }
    let (_dir, path) = toml_file("[catalog]\nservice_ttl = \"2d\"\n");
    let message = config_message(Config::from_file(&path));
    assert!(message.contains("catalog.service_ttl"), "{message}");
}

#[test]
fn counts_that_overflow_their_field_are_errors() {
    let message = config_message(load(
        &Flags::default(),
        &[("KONSUL_RAFT_SNAPSHOT_RETENTION", "4294967296")],
    ));
    assert!(
        message.starts_with("KONSUL_RAFT_SNAPSHOT_RETENTION: "),
        "{message}"
    );
}

#[test]
fn raft_data_dir_follows_data_dir_unless_set() {
    let follows = load(&Flags::default(), &[("KONSUL_DATA_DIR", "/var/lib/konsul")]).unwrap();
    assert_eq!(
        follows.raft_data_dir(),
        PathBuf::from("/var/lib/konsul/raft")
    );

    let flag = Flags {
        data_dir: Some(PathBuf::from("/flag")),
        ..Flags::default()
    };
    assert_eq!(
        load(&flag, &[]).unwrap().raft_data_dir(),
        PathBuf::from("/flag/raft")
    );

    let pinned = load(
        &flag,
        &[
            ("KONSUL_RAFT_DATA_DIR", "/fast-disk/raft"),
            ("KONSUL_DATA_DIR", "/x"),
        ],
    )
    .unwrap();
    assert_eq!(pinned.raft_data_dir(), PathBuf::from("/fast-disk/raft"));

    let empty_means_unset = load(&flag, &[("KONSUL_RAFT_DATA_DIR", "")]).unwrap();
    assert_eq!(
        empty_means_unset.raft_data_dir(),
        PathBuf::from("/flag/raft")
    );

    let by_hand = Config {
        data_dir: PathBuf::from("/tmp/node3"),
        ..Config::default()
    };
    assert_eq!(by_hand.raft_data_dir(), PathBuf::from("/tmp/node3/raft"));
}

#[test]
fn unknown_konsul_variables_are_reported() {
    let names = [
        "PATH",
        "KONSUL_PORT",
        "KONSUL_CONFIG",
        "KONSUL_RAFT_HEARTBEAT",
        "KONSUL_PROT",
    ];
    assert_eq!(
        unknown_env_vars(names),
        ["KONSUL_PROT", "KONSUL_RAFT_HEARTBEAT"]
    );
}
