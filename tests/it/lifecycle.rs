//! Process lifecycle: SIGTERM and SIGINT stop the node cleanly with exit code 0, and bad
//! configuration stops startup with an error naming the variable.

use crate::common;

use common::spawn_process;

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
