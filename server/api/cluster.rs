//! The typed cluster API: the cluster's status and membership as methods on domain types.
//!
//! Status, Leader, Peers and Snapshot read `RaftNode::cluster_status` or snapshot locally and
//! answer on any node, standalone or clustered. Join and Leave go to `raft::membership` on
//! the leader; on a follower they fail with `Error::NotLeader`, which the one error mapping
//! of `api::status` turns into UNAVAILABLE plus metadata (a 307 over REST). The gRPC service
//! (`api/grpc/cluster.rs`) and the REST routes (`gateway/cluster.rs`) are thin adapters
//! over these methods.

use std::time::Duration;

use crate::api::Answer;
use crate::error::{Error, Result};
use crate::raft::Member;
use crate::raft::cluster_status::{ClusterStatus, PeerStatus};
use crate::raft::membership::{DEFAULT_CATCH_UP_TIMEOUT, JoinSpec, Joined};
use crate::raft::node::RaftNode;

/// Longest node name accepted by Join (the same limit the configuration enforces).
pub const MAX_NODE_NAME_BYTES: usize = 64;

/// The cluster service over one Raft node.
#[derive(Clone)]
pub struct ClusterApi {
    node: RaftNode,
}

impl ClusterApi {
    /// A cluster service for `node`.
    pub fn new(node: RaftNode) -> Self {
        Self { node }
    }
}

/// The leader a node knows, and whether it is that node.
#[derive(Debug, Clone)]
pub struct LeaderInfo {
    /// The leader's name and addresses.
    pub member: Member,
    /// True when the node that answered leads.
    pub is_self: bool,
}

/// A request to add a node.
#[derive(Debug, Clone)]
pub struct Join {
    /// The new node's name.
    pub node_id: String,
    /// Its Raft address, host:port.
    pub address: String,
    /// Its client address, host:port (may be empty).
    pub client_address: String,
    /// How long it may take to catch up before it is removed again; 0: the default (60 s).
    pub catch_up_timeout_ms: u32,
}

/// Checks a node name as the configuration does: letters, digits, `.`, `_`, `-`.
fn node_name(field: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    if name.len() > MAX_NODE_NAME_BYTES {
        return Err(Error::invalid(
            field,
            format!(
                "is {} bytes, the limit is {MAX_NODE_NAME_BYTES}",
                name.len()
            ),
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(Error::invalid(
            field,
            format!("'{name}' may contain only letters, digits, '.', '_' and '-'"),
        ));
    }
    Ok(())
}

/// Checks a `host:port` address with a non-zero port.
fn host_port(field: &str, addr: &str, required: bool) -> Result<()> {
    if addr.is_empty() {
        return if required {
            Err(Error::invalid(field, "is required"))
        } else {
            Ok(())
        };
    }
    let ok = addr
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("'{addr}' is not host:port (e.g. 10.0.0.5:7000)"),
        ))
    }
}

impl ClusterApi {
    /// This node's view of the cluster.
    pub async fn status(&self) -> Result<Answer<ClusterStatus>> {
        let status = self.node.cluster_status().await?;
        Ok(Answer::now(&self.node, status))
    }

    /// The leader this node knows; `NoLeader` when it knows none.
    pub fn leader(&self) -> Result<Answer<LeaderInfo>> {
        let member = self.node.leader().ok_or(Error::NoLeader)?;
        let is_self = member.name == self.node.member().name;
        Ok(Answer::now(&self.node, LeaderInfo { member, is_self }))
    }

    /// Every member, voters first, then by name.
    pub async fn peers(&self) -> Result<Answer<Vec<PeerStatus>>> {
        let status = self.node.cluster_status().await?;
        Ok(Answer::now(&self.node, status.peers))
    }

    /// Adds a node as a learner, then, once caught up, as a voter. Leader only.
    pub async fn join(&self, join: Join) -> Result<Answer<Joined>> {
        node_name("node_id", &join.node_id)?;
        host_port("address", &join.address, true)?;
        host_port("client_address", &join.client_address, false)?;
        let catch_up_timeout = match join.catch_up_timeout_ms {
            0 => DEFAULT_CATCH_UP_TIMEOUT,
            ms => Duration::from_millis(u64::from(ms)),
        };
        let joined = self
            .node
            .join(JoinSpec {
                name: join.node_id,
                raft_addr: join.address,
                client_addr: join.client_address,
                catch_up_timeout,
            })
            .await?;
        Ok(Answer::now(&self.node, joined))
    }

    /// Removes member `node_id` (a follower or the leader itself). Leader only.
    pub async fn leave(&self, node_id: &str) -> Result<Answer<Member>> {
        if node_id.is_empty() {
            return Err(Error::invalid("node_id", "is required"));
        }
        let member = self.node.leave(node_id).await?;
        Ok(Answer::now(&self.node, member))
    }

    /// Builds a snapshot on this node now; answers the last index it covers.
    pub async fn snapshot(&self) -> Result<Answer<u64>> {
        let index = self.node.snapshot().await?;
        Ok(Answer::now(&self.node, index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_input_names_the_field() {
        assert_eq!(
            node_name("node_id", "").unwrap_err().to_string(),
            "node_id: is required"
        );
        assert!(node_name("node_id", "node-2.a_b").is_ok());
        assert!(node_name("node_id", "bad name").is_err());
        assert_eq!(
            host_port("address", "", true).unwrap_err().to_string(),
            "address: is required"
        );
        assert!(host_port("address", "10.0.0.1:7000", true).is_ok());
        assert!(host_port("address", "[::1]:7000", true).is_ok());
        assert!(host_port("address", "10.0.0.1", true).is_err());
        assert!(host_port("address", "h:0", true).is_err());
        assert!(host_port("client_address", "", false).is_ok());
    }
}
