//! Validation of a whole configuration (every problem at once) and its mapping to
//! openraft's own config.

use super::*;

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
            "limits.max_request_bytes (KONSUL_MAX_REQUEST_BYTES) 8388609 is above 8388608",
            Box::new(|c| c.limits.max_request_bytes = (8 << 20) + 1),
        ),
        (
            "limits.max_key_bytes (KONSUL_MAX_KEY_BYTES) 65537 is above 65536",
            Box::new(|c| c.limits.max_key_bytes = 65537),
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
