//! The grammar of `KONSUL_RAFT_JOIN` (`raft.join`): what each comma-separated entry means.
//! A piece of configuration, so it lives here; `discovery/` acts on the entries.
//!
//! ```text
//!  config/validate.rs ────────── JoinEntry::parse (reject bad entries at startup, naming KONSUL_RAFT_JOIN)
//!  discovery/join_loop.rs ────── JoinEntry::parse → dns.rs / exec.rs → member client addresses
//! ```
//!
//! Parsing happens twice on purpose: `validate` rejects a typo before the node starts, and the
//! join loop re-parses the already-validated strings instead of the config carrying a second,
//! typed copy of the same list.

use std::fmt;
use std::net::IpAddr;

use super::split_host_port;

/// Prefix of an entry whose SRV records list the members.
pub const SRV_PREFIX: &str = "srv:";

/// Prefix of an entry whose command prints the members, one `host:port` per line.
pub const EXEC_PREFIX: &str = "exec:";

/// One entry of `raft.join`: a way to find the client addresses of existing members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinEntry {
    /// `host:port`: an IP literal is used as it is; a DNS name stands for every A and AAAA
    /// record it has (a round-robin name for the whole cluster works), each with `port`.
    Address {
        /// IP literal (without brackets) or DNS name.
        host: String,
        /// Client port of the members.
        port: u16,
    },
    /// `srv:<name>`: every SRV record of `name` is a member (`target:port`), so one DNS name
    /// carries the ports too, as Kubernetes headless services and Consul DNS publish them.
    Srv {
        /// The SRV owner name, e.g. `_konsul._tcp.example.com`.
        name: String,
    },
    /// `exec:<command line>`: a command run through `sh -c` prints the members. It is the
    /// plug for cloud inventories (aws, gcloud, az CLIs) without linking their SDKs.
    Exec {
        /// The command line, given to `sh -c` as it is.
        command: String,
    },
}

impl JoinEntry {
    /// Parses one entry; the error says what is wrong with it and quotes it (the caller adds
    /// the setting's name).
    pub fn parse(entry: &str) -> Result<JoinEntry, String> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err("has an empty entry".to_string());
        }
        if let Some(name) = entry.strip_prefix(SRV_PREFIX) {
            let name = name.trim();
            if name.is_empty() || !is_dns_name(name.trim_end_matches('.')) {
                return Err(format!(
                    "{entry:?} is not srv:<DNS name> (e.g. srv:_konsul._tcp.example.com)"
                ));
            }
            return Ok(JoinEntry::Srv {
                name: name.to_string(),
            });
        }
        if let Some(command) = entry.strip_prefix(EXEC_PREFIX) {
            let command = command.trim();
            if command.is_empty() {
                return Err(format!(
                    "{entry:?} has no command after exec: (e.g. exec:/usr/local/bin/list-members)"
                ));
            }
            return Ok(JoinEntry::Exec {
                command: command.to_string(),
            });
        }
        parse_address(entry).ok_or_else(|| {
            format!(
                "{entry:?} is not host:port, srv:<DNS name> or exec:<command> \
                 (e.g. 10.0.0.5:8888, konsul.example.com:8888, srv:_konsul._tcp.example.com)"
            )
        })
    }
}

/// Parses a `host:port` whose host is an IP literal or a DNS name; also used for the lines an
/// `exec:` command prints.
pub(crate) fn parse_address(addr: &str) -> Option<JoinEntry> {
    let (host, port) = split_host_port(addr.trim())?;
    (host.parse::<IpAddr>().is_ok() || is_dns_name(host.trim_end_matches('.'))).then(|| {
        JoinEntry::Address {
            host: host.to_string(),
            port,
        }
    })
}

/// Letters, digits, `-` and `_` in dot-separated labels of 1–63 bytes; at most 253 bytes.
/// `_` is allowed because SRV owner names (`_konsul._tcp`) use it.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl fmt::Display for JoinEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinEntry::Address { host, port } if host.contains(':') => {
                write!(f, "[{host}]:{port}")
            }
            JoinEntry::Address { host, port } => write!(f, "{host}:{port}"),
            JoinEntry::Srv { name } => write!(f, "{SRV_PREFIX}{name}"),
            JoinEntry::Exec { command } => write!(f, "{EXEC_PREFIX}{command}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(host: &str, port: u16) -> JoinEntry {
        JoinEntry::Address {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn good_entries() {
        for (text, want) in [
            ("10.0.0.5:8888", addr("10.0.0.5", 8888)),
            (" [::1]:8888 ", addr("::1", 8888)),
            ("konsul.example.com:8888", addr("konsul.example.com", 8888)),
            (
                "konsul.example.com.:8888",
                addr("konsul.example.com.", 8888),
            ),
            ("db2:7000", addr("db2", 7000)),
            (
                "srv:_konsul._tcp.example.com",
                JoinEntry::Srv {
                    name: "_konsul._tcp.example.com".into(),
                },
            ),
            (
                "srv:_konsul._tcp.cluster.test.",
                JoinEntry::Srv {
                    name: "_konsul._tcp.cluster.test.".into(),
                },
            ),
            (
                "exec:printf '127.0.0.1:1\\n'",
                JoinEntry::Exec {
                    command: "printf '127.0.0.1:1\\n'".into(),
                },
            ),
            (
                "exec: aws ec2 describe-instances | tr '\\t' '\\n'",
                JoinEntry::Exec {
                    command: "aws ec2 describe-instances | tr '\\t' '\\n'".into(),
                },
            ),
        ] {
            assert_eq!(JoinEntry::parse(text), Ok(want.clone()), "{text}");
            // Display gives back an entry that parses to the same thing.
            assert_eq!(JoinEntry::parse(&want.to_string()), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        for (text, want) in [
            ("", "has an empty entry"),
            (
                "db1",
                "\"db1\" is not host:port, srv:<DNS name> or exec:<command>",
            ),
            ("db1:0", "\"db1:0\" is not host:port"),
            ("db1:99999", "\"db1:99999\" is not host:port"),
            ("::1:8888", "\"::1:8888\" is not host:port"),
            ("db 1:8888", "\"db 1:8888\" is not host:port"),
            ("db..x:8888", "\"db..x:8888\" is not host:port"),
            ("http://db1:8888", "\"http://db1:8888\" is not host:port"),
            ("dns:example.com", "\"dns:example.com\" is not host:port"),
            ("srv:", "\"srv:\" is not srv:<DNS name>"),
            ("srv:a b", "\"srv:a b\" is not srv:<DNS name>"),
            ("srv:host:80", "\"srv:host:80\" is not srv:<DNS name>"),
            ("exec:", "\"exec:\" has no command after exec:"),
            ("exec:   ", "\"exec:\" has no command after exec:"),
        ] {
            let err = JoinEntry::parse(text).expect_err(text);
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
    }
}
