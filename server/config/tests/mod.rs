//! Tests of the whole configuration path: defaults, the four layers, parsing errors,
//! validation, the openraft mapping, and the docs and sample file staying in step with the
//! code. Defaults and layering here; the environment, the TOML file and validation (with the
//! openraft mapping) in their own files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

use super::env::{Kind, VARS};
use super::*;

mod environment;
mod file;
mod validate;

const EXAMPLE_TOML: &str = include_str!("../../../docs/konsul.example.toml");
const OPERATIONS_MD: &str = include_str!("../../../docs/operations.md");

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
