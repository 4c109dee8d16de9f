//! `exec:` entries of `raft.join`: a command prints the members, one `host:port` a line.
//!
//! ```text
//!  join_loop.rs ── run(command) ──► sh -c <command> ──► stdout lines ──► JoinEntry::Address
//! ```
//!
//! This is how cloud inventories plug in: the operator's command calls the `aws`, `gcloud` or
//! `az` CLI (docs/operations.md has examples) and Konsul links no cloud SDK. The command runs
//! once per join round, so it sees instances started since the last round. A command that
//! fails or hangs fails that round only; the loop tries again after its backoff.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::config::{JoinEntry, parse_address};

/// How long a command may run before it is killed and the round counts as failed.
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(10);

/// What one run of a command printed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// The lines that were `host:port`, in order.
    pub addresses: Vec<JoinEntry>,
    /// The non-empty lines that were not, quoted in the log so a broken `--query` is visible.
    pub rejected: Vec<String>,
}

/// Runs `command` through `sh -c` with stdin closed and returns the `host:port` lines of its
/// stdout. A non-zero exit, a failure to start, or running past `timeout` (the child is then
/// killed) is an error carrying the first line of stderr.
pub async fn run(command: &str, timeout: Duration) -> Result<ExecOutput, String> {
    let child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start sh: {e}"))?;
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(format!("waiting for the command: {e}")),
        Err(_) => return Err(format!("still running after {timeout:?}; killed")),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first_stderr = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no stderr)");
    if !output.status.success() {
        return Err(format!("{}: {first_stderr}", output.status));
    }
    let mut result = ExecOutput::default();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match parse_address(line) {
            Some(entry) => result.addresses.push(entry),
            None => result.rejected.push(line.to_string()),
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_become_addresses() {
        let out = run(
            "printf '127.0.0.1:8888\\n\\n  db2.example:8888 \\nNone\\n[::1]:9\\n'",
            DEFAULT_EXEC_TIMEOUT,
        )
        .await
        .unwrap();
        let shown: Vec<String> = out.addresses.iter().map(|a| a.to_string()).collect();
        assert_eq!(shown, ["127.0.0.1:8888", "db2.example:8888", "[::1]:9"]);
        assert_eq!(out.rejected, ["None"]);
    }

    #[tokio::test]
    async fn failure_reports_exit_status_and_first_stderr_line() {
        let err = run(
            "echo; echo 'inventory unavailable' >&2; echo second >&2; exit 3",
            DEFAULT_EXEC_TIMEOUT,
        )
        .await
        .unwrap_err();
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(err.ends_with(": inventory unavailable"), "{err}");
    }

    #[tokio::test]
    async fn a_hanging_command_is_killed() {
        let err = run("sleep 30", Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(err.contains("still running"), "{err}");
    }
}
