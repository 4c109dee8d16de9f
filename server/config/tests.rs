//! Tests of the whole configuration path: defaults, the four layers, parsing errors,
//! validation, the openraft mapping, and the docs and sample file staying in step with the
//! code.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

use super::env::{Kind, VARS};
use super::*;

const EXAMPLE_TOML: &str = include_str!("../../docs/konsul.example.toml");
const OPERATIONS_MD: &str = include_str!("../../docs/operations.md");

/// An environment holding exactly `pairs`.
fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn load(flags: &Flags, pairs: &[(&str, &str)]) -> Result<Config> {
    Config::load(flags, &env_of(pairs))
}

fn config_message(result: Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(Error::Config(message)) => message,
        other => panic!("expected Error::Config, got {other:?}"),
    }
}

/// A temporary directory holding `konsul.toml` with `text`.
fn toml_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("konsul.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------- defaults

#[test]
fn defaults_are_a_valid_loopback_single_node() {
    let c = Config::default();
    assert_eq!(c.host, "127.0.0.1");
    assert_eq!(c.port, 8888);
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(c.log_level, LogLevel::Info);
    assert_eq!(c.log_format, LogFormat::Text);
    assert!(!c.forward_to_leader);
    assert_eq!(
        c.limits,
        Limits {
            max_key_bytes: 1024,
            max_value_bytes: 1 << 20,
            max_batch_kv: 1000,
            max_batch_services: 100,
            max_request_bytes: 4 << 20,
            max_queued_writes: 16384,
        }
    );
    assert_eq!(c.request_timeout, ms(10_000));
    assert_eq!(
        c.catalog,
        CatalogConfig {
            service_ttl: ms(30_000),
            cleanup_interval: ms(1000),
        }
    );
    let r = &c.raft;
    assert!(!r.enabled && !r.bootstrap);
    assert_eq!(r.node_id, "");
    assert_eq!(r.bind_addr, "127.0.0.1:7000");
    assert_eq!(r.advertise_addr, "");
    assert_eq!(r.data_dir, None);
    assert_eq!(r.heartbeat_timeout, ms(1000));
    assert_eq!(r.election_timeout, ms(1000));
    assert_eq!(r.leader_lease_timeout, ms(500));
    assert_eq!(r.commit_timeout, ms(50));
    assert_eq!(r.snapshot_interval, ms(120_000));
    assert_eq!(r.snapshot_threshold, 8192);
    assert_eq!(r.snapshot_retention, 2);
    assert_eq!(r.max_append_entries, 64);
    assert_eq!(r.trailing_logs, 10240);
    assert_eq!(r.log_segment_bytes, 64 << 20);
    assert_eq!(r.log_level, LogLevel::Warn);
    assert!(r.join.is_empty());

    assert_eq!(c.client_addr(), "127.0.0.1:8888");
    assert_eq!(c.raft_advertise(), "127.0.0.1:7000");
    assert_eq!(c.raft_data_dir(), Path::new("./data").join("raft"));
    assert_eq!(c.node_id(), "node1");
    c.validate().unwrap();
}

#[test]
fn load_with_nothing_set_gives_the_defaults() {
    assert!(
        !Path::new(DEFAULT_CONFIG_FILE).exists(),
        "a stray konsul.toml in the package root would be read by this test"
    );
    assert_eq!(load(&Flags::default(), &[]).unwrap(), Config::default());
}

// ---------------------------------------------------------------- layering

#[test]
fn each_layer_overrides_the_one_before() {
    let (_dir, path) = toml_file(
        r#"
        host = "10.0.0.1"
        port = 1001
        log_format = "json"
        [raft]
        election_timeout = "3s"
        snapshot_threshold = 100
        node_id = "from-file"
        "#,
    );
    let path_str = path.to_str().unwrap();
    let env = [
        ("KONSUL_CONFIG", path_str),
        ("KONSUL_PORT", "1002"),
        ("KONSUL_RAFT_SNAPSHOT_THRESHOLD", "200"),
        ("KONSUL_RAFT_NODE_ID", "from-env"),
    ];
    let flags = Flags {
        port: Some(1003),
        ..Flags::default()
    };

    // File only.
    let c = load(&Flags::default(), &env[..1]).unwrap();
    assert_eq!((c.host.as_str(), c.port), ("10.0.0.1", 1001));
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.raft.election_timeout, ms(3000));
    assert_eq!(c.raft.snapshot_threshold, 100);
    assert_eq!(c.node_id(), "from-file");

    // File < environment.
    let c = load(&Flags::default(), &env).unwrap();
    assert_eq!(c.port, 1002);
    assert_eq!(c.raft.snapshot_threshold, 200);
    assert_eq!(c.node_id(), "from-env");
    assert_eq!(
        c.host, "10.0.0.1",
        "a key the environment does not set keeps the file's value"
    );

    // Environment < flags.
    let c = load(&flags, &env).unwrap();
    assert_eq!(c.port, 1003);
    assert_eq!(c.raft.snapshot_threshold, 200);
    assert_eq!(c.raft.election_timeout, ms(3000));
}

#[test]
fn every_flag_overrides_the_environment() {
    let env = [
        ("KONSUL_HOST", "10.0.0.1"),
        ("KONSUL_PORT", "1"),
        ("KONSUL_ADVERTISE_ADDR", "env:1"),
        ("KONSUL_DATA_DIR", "/env"),
        ("KONSUL_RAFT_NODE_ID", "env"),
        ("KONSUL_RAFT_BIND_ADDR", "10.0.0.1:1"),
        ("KONSUL_RAFT_ADVERTISE_ADDR", "env:1"),
        ("KONSUL_RAFT_ENABLED", "false"),
        ("KONSUL_RAFT_BOOTSTRAP", "false"),
        ("KONSUL_LOG_LEVEL", "error"),
        ("KONSUL_LOG_FORMAT", "text"),
        ("KONSUL_FORWARD_TO_LEADER", "false"),
        ("KONSUL_SERVICE_TTL", "10s"),
        ("KONSUL_CLEANUP_INTERVAL", "5s"),
    ];
    let flags = Flags::try_parse_from([
        "konsul",
        "--host=10.0.0.2",
        "--port=2",
        "--advertise-addr=flag:2",
        "--data-dir=/flag",
        "--node-id=flag",
        "--raft-bind-addr=10.0.0.2:2",
        "--raft-advertise-addr=flag:2",
        "--raft-enabled",
        "--raft-bootstrap=yes",
        "--log-level=DEBUG",
        "--log-format=json",
        "--forward-to-leader=1",
        "--service-ttl=1m",
        "--cleanup-interval=250ms",
    ])
    .unwrap();
    let c = load(&flags, &env).unwrap();
    assert_eq!(c.catalog.service_ttl, ms(60_000));
    assert_eq!(c.catalog.cleanup_interval, ms(250));
    assert_eq!(c.host, "10.0.0.2");
    assert_eq!(c.port, 2);
    assert_eq!(c.advertise_addr, "flag:2");
    assert_eq!(c.data_dir, PathBuf::from("/flag"));
    assert_eq!(c.raft.node_id, "flag");
    assert_eq!(c.raft.bind_addr, "10.0.0.2:2");
    assert_eq!(c.raft.advertise_addr, "flag:2");
    assert!(c.raft.enabled && c.raft.bootstrap && c.forward_to_leader);
    assert_eq!(c.log_level, LogLevel::Debug);
    assert_eq!(c.log_format, LogFormat::Json);
}

#[test]
fn config_flag_beats_konsul_config_and_a_named_file_must_exist() {
    let (_a, file_a) = toml_file("port = 1111\n");
    let (_b, file_b) = toml_file("port = 2222\n");
    let flags = Flags {
        config: Some(file_b.clone()),
        ..Flags::default()
    };
    let env = [("KONSUL_CONFIG", file_a.to_str().unwrap())];
    assert_eq!(load(&Flags::default(), &env).unwrap().port, 1111);
    assert_eq!(load(&flags, &env).unwrap().port, 2222);

    let missing = Flags {
        config: Some(PathBuf::from("/nonexistent/konsul.toml")),
        ..Flags::default()
    };
    let message = config_message(load(&missing, &[]));
    assert!(message.contains("/nonexistent/konsul.toml"), "{message}");
}

#[test]
fn bad_flag_values_are_refused_naming_the_flag() {
    for args in [
        &["konsul", "--port", "abc"][..],
        &["konsul", "--port", "70000"],
        &["konsul", "--raft-enabled=maybe"],
        &["konsul", "--log-level", "loud"],
        &["konsul", "--log-format", "xml"],
        &["konsul", "--no-such-flag"],
    ] {
        let err = Flags::try_parse_from(args).expect_err(args[1]).to_string();
        let flag = args[1].split('=').next().unwrap();
        assert!(err.contains(flag), "{args:?}: {err}");
    }
}

#[test]
fn bool_flags_take_an_optional_value() {
    let parse = |args: &[&str]| Flags::try_parse_from(args).unwrap().raft_enabled;
    assert_eq!(parse(&["konsul"]), None);
    assert_eq!(parse(&["konsul", "--raft-enabled"]), Some(true));
    assert_eq!(parse(&["konsul", "--raft-enabled=false"]), Some(false));
    assert_eq!(parse(&["konsul", "--raft-enabled", "no"]), Some(false));
}

// ---------------------------------------------------------------- environment

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

// ---------------------------------------------------------------- TOML file

#[test]
fn unknown_toml_keys_are_rejected_naming_the_key_and_file() {
    for (text, key) in [
        ("prot = 1\n", "prot"),
        ("[raft]\nheartbeat = \"1s\"\n", "heartbeat"),
        ("[limits]\nmax_keys = 1\n", "max_keys"),
        ("[rafts]\nenabled = true\n", "rafts"),
    ] {
        let message = config_message(Config::from_toml(text, "/etc/konsul.toml"));
        assert!(message.starts_with("/etc/konsul.toml: "), "{message}");
        assert!(message.contains(&format!("`{key}`")), "{message}");
    }
}

#[test]
fn bad_toml_values_name_the_table_key_and_value() {
    let text = "port = 8888\n\n[raft]\nenabled = true\nheartbeat_timeout = \"abc\"\n";
    let message = config_message(Config::from_toml(text, "konsul.toml"));
    assert!(
        message.starts_with("konsul.toml: raft.heartbeat_timeout: invalid duration \"abc\""),
        "{message}"
    );
    assert!(message.ends_with("(line 5)"), "{message}");

    for (text, key) in [
        ("port = \"8888\"\n", "port"),
        ("port = 70000\n", "port"),
        ("log_level = \"loud\"\n", "log_level"),
        ("[raft]\nelection_timeout = 5\n", "raft.election_timeout"),
        ("[raft]\nenabled = \"yes\"\n", "raft.enabled"),
        ("[limits]\nmax_key_bytes = -1\n", "limits.max_key_bytes"),
    ] {
        let message = config_message(Config::from_toml(text, "f.toml"));
        assert!(
            message.starts_with(&format!("f.toml: {key}: ")),
            "{text}: {message}"
        );
    }
    let message = config_message(Config::from_toml("port = = 1", "f.toml"));
    assert!(message.starts_with("f.toml: "), "{message}");
}

#[test]
fn serialized_config_reads_back_unchanged() {
    let mut c = Config::default();
    c.raft.data_dir = Some(PathBuf::from("/r"));
    c.raft.election_timeout = ms(5_400_250);
    c.raft.join = vec!["a:1".into()];
    for config in [Config::default(), c] {
        let text = toml::to_string(&config).unwrap();
        assert_eq!(
            Config::from_toml(&text, "round-trip").unwrap(),
            config,
            "{text}"
        );
    }
}

#[test]
fn the_example_file_parses_to_the_defaults() {
    let example = Config::from_toml(EXAMPLE_TOML, "docs/konsul.example.toml").unwrap();
    assert_eq!(example, Config::default());
    example.validate().unwrap();
}

#[test]
fn the_docs_and_the_example_name_every_setting() {
    for var in VARS {
        assert!(
            OPERATIONS_MD.contains(var.name),
            "operations.md lacks {}",
            var.name
        );
        assert!(
            OPERATIONS_MD.contains(&format!("`{}`", var.key)),
            "operations.md lacks key `{}`",
            var.key
        );
        let field = var.key.rsplit('.').next().unwrap();
        assert!(
            EXAMPLE_TOML.lines().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                l.starts_with(&format!("{field} ="))
            }),
            "konsul.example.toml lacks {}",
            var.key
        );
    }
    assert!(OPERATIONS_MD.contains("KONSUL_CONFIG"));
    for flag in flags::names() {
        assert!(OPERATIONS_MD.contains(&flag), "operations.md lacks {flag}");
    }
}

// ---------------------------------------------------------------- validate

fn problems(edit: impl FnOnce(&mut Config)) -> String {
    let mut c = Config::default();
    edit(&mut c);
    config_message(c.validate())
}

#[test]
fn validate_rejects_inconsistent_settings() {
    type Edit = Box<dyn FnOnce(&mut Config)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "raft.election_timeout (KONSUL_RAFT_ELECTION_TIMEOUT) 500ms must be at least \
          raft.heartbeat_timeout (1s)",
            Box::new(|c| {
                c.raft.election_timeout = ms(500);
                c.raft.leader_lease_timeout = ms(300);
            }),
        ),
        (
            "limits.max_key_bytes (KONSUL_MAX_KEY_BYTES) must be greater than 0",
            Box::new(|c| c.limits.max_key_bytes = 0),
        ),
        (
            "limits.max_batch_kv (KONSUL_MAX_BATCH_KV) must be greater than 0",
            Box::new(|c| c.limits.max_batch_kv = 0),
        ),
        (
            "limits.max_request_bytes (KONSUL_MAX_REQUEST_BYTES) must be greater than 0",
            Box::new(|c| c.limits.max_request_bytes = 0),
        ),
        (
            "limits.max_value_bytes (KONSUL_MAX_VALUE_BYTES) 4194304 must be smaller than \
          limits.max_request_bytes",
            Box::new(|c| c.limits.max_value_bytes = 4 << 20),
        ),
        (
            "raft.node_id (KONSUL_RAFT_NODE_ID) is required when raft.enabled is true",
            Box::new(|c| c.raft.enabled = true),
        ),
        (
            "raft.node_id (KONSUL_RAFT_NODE_ID) \"a b\" must be 1 to 64",
            Box::new(|c| c.raft.node_id = "a b".into()),
        ),
        (
            "raft.advertise_addr (KONSUL_RAFT_ADVERTISE_ADDR) must be set to an address peers can \
          dial: the bind address 0.0.0.0:7000",
            Box::new(|c| {
                c.raft.enabled = true;
                c.raft.node_id = "n1".into();
                c.raft.bind_addr = "0.0.0.0:7000".into();
            }),
        ),
        (
            "raft.advertise_addr (KONSUL_RAFT_ADVERTISE_ADDR) must be set",
            Box::new(|c| {
                c.raft.enabled = true;
                c.raft.node_id = "n1".into();
                c.raft.advertise_addr = "[::]:7000".into();
            }),
        ),
        (
            "raft.bind_addr (KONSUL_RAFT_BIND_ADDR) \"localhost:7000\" is not ip:port",
            Box::new(|c| c.raft.bind_addr = "localhost:7000".into()),
        ),
        (
            "advertise_addr (KONSUL_ADVERTISE_ADDR) \"db1:0\" is not host:port",
            Box::new(|c| c.advertise_addr = "db1:0".into()),
        ),
        (
            "raft.advertise_addr (KONSUL_RAFT_ADVERTISE_ADDR) \"db1\" is not host:port",
            Box::new(|c| c.raft.advertise_addr = "db1".into()),
        ),
        (
            "raft.join (KONSUL_RAFT_JOIN) \"db1:0\" is not host:port",
            Box::new(|c| c.raft.join = vec!["db1:7000".into(), "db1:0".into()]),
        ),
        (
            "raft.join (KONSUL_RAFT_JOIN) \"srv:\" is not srv:<DNS name>",
            Box::new(|c| c.raft.join = vec!["srv:".into()]),
        ),
        (
            "raft.join (KONSUL_RAFT_JOIN) \"exec:\" has no command",
            Box::new(|c| c.raft.join = vec!["exec:".into()]),
        ),
        (
            "raft.discovery_dns_server (KONSUL_RAFT_DISCOVERY_DNS_SERVER) \"dns.local:53\" is not \
          ip:port",
            Box::new(|c| c.raft.discovery_dns_server = "dns.local:53".into()),
        ),
        (
            "host (KONSUL_HOST) must not be empty",
            Box::new(|c| c.host = String::new()),
        ),
        (
            "raft.heartbeat_timeout (KONSUL_RAFT_HEARTBEAT_TIMEOUT) 1ms is below the minimum of 5ms",
            Box::new(|c| c.raft.heartbeat_timeout = ms(1)),
        ),
        (
            "raft.leader_lease_timeout (KONSUL_RAFT_LEADER_LEASE_TIMEOUT) 2s must not exceed \
          raft.heartbeat_timeout (1s)",
            Box::new(|c| c.raft.leader_lease_timeout = ms(2000)),
        ),
        (
            "raft.leader_lease_timeout (KONSUL_RAFT_LEADER_LEASE_TIMEOUT) 200ms must be longer than \
          the heartbeat interval (200ms",
            Box::new(|c| c.raft.leader_lease_timeout = ms(200)),
        ),
        (
            "raft.snapshot_retention (KONSUL_RAFT_SNAPSHOT_RETENTION) must be at least 1",
            Box::new(|c| c.raft.snapshot_retention = 0),
        ),
        (
            "raft.snapshot_threshold (KONSUL_RAFT_SNAPSHOT_THRESHOLD) must be at least 1",
            Box::new(|c| c.raft.snapshot_threshold = 0),
        ),
        (
            "raft.max_append_entries (KONSUL_RAFT_MAX_APPEND_ENTRIES) must be at least 1",
            Box::new(|c| c.raft.max_append_entries = 0),
        ),
        (
            "raft.log_segment_bytes (KONSUL_RAFT_LOG_SEGMENT_BYTES) 1048576 must be between \
          16777216 (2 x (4 MiB + limits.max_request_bytes)) and 1073741824 (1 GiB)",
            Box::new(|c| c.raft.log_segment_bytes = 1 << 20),
        ),
        (
            "raft.log_segment_bytes (KONSUL_RAFT_LOG_SEGMENT_BYTES) 2147483648 must be between",
            Box::new(|c| c.raft.log_segment_bytes = 2 << 30),
        ),
        (
            "raft.log_segment_bytes (KONSUL_RAFT_LOG_SEGMENT_BYTES) 33554432 must be between \
          75497472",
            Box::new(|c| {
                c.limits.max_request_bytes = 32 << 20;
                c.raft.log_segment_bytes = 32 << 20;
            }),
        ),
        (
            "raft.data_dir (KONSUL_RAFT_DATA_DIR) must not be empty",
            Box::new(|c| c.raft.data_dir = Some(PathBuf::new())),
        ),
    ];
    for (want, edit) in cases {
        let got = problems(edit);
        assert!(got.contains(want), "want {want:?}\n got {got:?}");
    }
}

#[test]
fn validate_reports_every_problem_at_once() {
    let got = problems(|c| {
        c.host = String::new();
        c.limits.max_batch_kv = 0;
        c.raft.enabled = true;
    });
    assert_eq!(got.matches("; ").count(), 2, "{got}");
}

#[test]
fn a_valid_cluster_member_passes() {
    let c = load(
        &Flags::default(),
        &[
            ("KONSUL_HOST", "0.0.0.0"),
            ("KONSUL_RAFT_ENABLED", "true"),
            ("KONSUL_RAFT_NODE_ID", "node-2.dc1"),
            ("KONSUL_RAFT_BIND_ADDR", "0.0.0.0:7000"),
            ("KONSUL_RAFT_ADVERTISE_ADDR", "10.0.0.2:7000"),
            ("KONSUL_RAFT_JOIN", "10.0.0.1:7000,[fd00::3]:7000"),
        ],
    )
    .unwrap();
    assert_eq!(c.raft_advertise(), "10.0.0.2:7000");
    assert_eq!(c.node_id(), "node-2.dc1");
}

#[test]
fn load_validates() {
    let message = config_message(load(&Flags::default(), &[("KONSUL_RAFT_ENABLED", "1")]));
    assert!(message.contains("raft.node_id"), "{message}");
}

// ---------------------------------------------------------------- openraft mapping

#[test]
fn defaults_map_to_openraft_as_documented() {
    let o = Config::default().to_openraft().unwrap();
    assert_eq!(o.cluster_name, "konsul");
    assert_eq!(
        (o.election_timeout_min, o.election_timeout_max),
        (1000, 2000)
    );
    assert_eq!(o.heartbeat_interval, 200);
    assert_eq!(o.max_payload_entries, 64);
    assert_eq!(
        o.snapshot_policy,
        openraft::SnapshotPolicy::LogsSinceLast(8192)
    );
    assert_eq!(o.max_in_snapshot_log_to_keep, 10240);
    assert_eq!(o.purge_batch_size, 256);
    assert_eq!(o.install_snapshot_timeout, 10_000);
    assert!(o.enable_tick && o.enable_heartbeat && o.enable_elect);
    // The commit index is not saved durably (raft_mapping.rs), so no leader restore.
    assert_eq!(o.enable_leader_restore, Some(false));
}

#[test]
fn the_smallest_valid_timers_still_satisfy_openraft() {
    let mut c = Config::default();
    c.raft.heartbeat_timeout = ms(5);
    c.raft.election_timeout = ms(5);
    c.raft.leader_lease_timeout = ms(5);
    c.validate().unwrap();
    let o = c.to_openraft().unwrap();
    assert_eq!(
        (
            o.heartbeat_interval,
            o.election_timeout_min,
            o.election_timeout_max
        ),
        (1, 5, 10)
    );
}

#[test]
fn openraft_rejections_become_config_errors() {
    let mut c = Config::default();
    c.raft.max_append_entries = 0;
    let message = config_message(c.to_openraft());
    assert!(
        message.starts_with("raft settings rejected by openraft"),
        "{message}"
    );
}
