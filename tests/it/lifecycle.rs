//! Process lifecycle: SIGTERM and SIGINT stop the node cleanly with exit code 0, bad
//! configuration stops startup with an error naming the variable, and a Raft core that
//! stops by itself ends the process with a non-zero code and the cause as its last line.

use crate::common;

use common::{spawn_process, spawn_process_logging, wait_until};

async fn stop_with(signal: nix::sys::signal::Signal) {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn_process(dir.path(), &[]).await;
    let pid = p.child.id().unwrap() as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).unwrap();
    let status = tokio::time::timeout(common::DEADLINE, p.child.wait())
        .await
        .expect("exits in time")
        .unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{signal:?} should exit 0, got {status:?}"
    );
}

#[tokio::test]
async fn sigterm_exits_zero() {
    stop_with(nix::sys::signal::Signal::SIGTERM).await;
}

#[tokio::test]
async fn sigint_exits_zero() {
    stop_with(nix::sys::signal::Signal::SIGINT).await;
}

#[tokio::test]
async fn unparsable_environment_stops_startup_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_konsul"))
        .env_clear()
        .env("KONSUL_DATA_DIR", dir.path())
        .env("KONSUL_RAFT_HEARTBEAT_TIMEOUT", "soon")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("KONSUL_RAFT_HEARTBEAT_TIMEOUT"), "{err}");
    assert!(!dir.path().join("raft").exists(), "nothing was created");
}

/// The log's disk fails (failpoint `log.fail`): the Raft core stops with a storage error,
/// and instead of lingering half alive (every write answered "raft stopped"), the process
/// exits 1 with the cause in its last line, so a supervisor restarts it.
#[tokio::test]
async fn a_stopped_raft_core_ends_the_process_non_zero_naming_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut p = spawn_process_logging(&dir.path().join("data"), &[], file.into()).await;
    let c = reqwest::Client::new();
    let faults = c
        .put(format!("http://{}/debug/faults", p.client_addr))
        .json(&serde_json::json!({"failpoints": {"log.fail": "return"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(faults.status(), 200);
    // The write that hits the failing disk is not acknowledged.
    let put = c
        .put(format!("http://{}/kv/doomed", p.client_addr))
        .json(&serde_json::json!({"value": "v"}))
        .send()
        .await;
    assert!(put.map_or(true, |r| !r.status().is_success()));
    let status = tokio::time::timeout(common::DEADLINE, p.child.wait())
        .await
        .expect("the process exits by itself")
        .unwrap();
    assert_eq!(status.code(), Some(1), "{status:?}");
    let text = wait_until("the log's last line", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        async move { text.contains("the Raft core stopped").then_some(text) }
    })
    .await;
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(
        last.contains("the Raft core stopped") && last.contains("log.fail"),
        "last line: {last}"
    );
}

/// `konsul tls init` writes a CA and a key and certificate per node, and refuses to replace
/// them (exit 2, naming the file) unless asked to.
#[tokio::test]
async fn tls_init_writes_a_ca_and_node_certificates_once() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let run = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_konsul"))
            .env_clear()
            .args(["tls", "init", "--nodes", "n1,n2,n3", "--hosts", "10.1.2.3"])
            .arg("--dir")
            .arg(&certs)
            .output()
    };
    let out = run().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "ca.pem",
        "ca-key.pem",
        "n1.pem",
        "n1-key.pem",
        "n3.pem",
        "n3-key.pem",
    ] {
        let text = std::fs::read_to_string(certs.join(file)).unwrap();
        assert!(text.starts_with("-----BEGIN "), "{file}: {text}");
    }
    let again = run().await.unwrap();
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
}
