//! The openraft glue: the layer between the API and the deterministic store.
//!
//! ```text
//!  api/ ──client_write(Command)──► openraft::Raft ──append──► log_store (segments, fsync)
//!                                      │  replicate ──► network ──gRPC──► peer's service
//!                                      ▼  once committed on a quorum
//!                                 state_machine ──► store::Store::apply(index, Command)
//!                                      │
//!  api/ ◄──────── (log index, Response) ┘
//!
//!  reads: api/ ──► node (stale: local; leader: lease check; strong: ensure_linearizable)
//!         ──► state_machine's Store
//! ```
//!
//! This module owns the type configuration and the member record; the files below it each
//! do one job: `codec` (the only proto ⇄ openraft conversions), `identity` (the node's name
//! and data-dir incarnation, and the check that refuses calls meant for another incarnation),
//! `log_store`, `state_machine`,
//! `network` (outbound peer RPCs), `service` (inbound peer RPCs), `node` (the running Raft
//! node the API talks to), `membership` (join and leave on the leader), `cluster_status`
//! (the cluster as one node sees it, and on-demand snapshots), `snapshot_timer` (a
//! snapshot every `raft.snapshot_interval` when anything changed) and `events` (leader
//! changes and lost peers, for the operator's log).

pub mod allowlist;
pub mod batcher;
pub mod cluster_status;
pub mod codec;
pub mod contact;
pub mod dial;
mod events;
pub mod handover;
pub mod identity;
pub mod log_store;
pub mod membership;
pub mod network;
pub mod node;
pub mod quorum_contact;
pub mod reads;
pub mod service;
mod snapshot_timer;
pub mod stages;
pub mod state_machine;
pub mod writes;

use std::fmt;
use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, ignoring poisoning: every mutex of the Raft layer guards data that stays
/// consistent even if a holder panicked (each critical section is one map, queue or cell
/// operation).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

use serde::{Deserialize, Serialize};

openraft::declare_raft_types!(
    /// Konsul's openraft type configuration.
    pub TypeConfig:
        D = crate::store::Command,
        R = crate::store::Response,
        NodeId = NodeId,
        Node = Member,
);

/// The Raft handle of a Konsul node: openraft 0.10 names the state machine in the type,
/// since the snapshot data type moved there (`RaftStateMachine::SnapshotData`).
pub type KonsulRaft = openraft::Raft<TypeConfig, state_machine::StateMachine>;

/// openraft's numeric node id. Derived from the node's name by [`node_id_for_name`].
pub type NodeId = u64;

/// How to reach a cluster member; stored in the membership, hence in the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The node's name (KONSUL_RAFT_NODE_ID), as shown to operators.
    pub name: String,
    /// Peer (Raft) address, host:port.
    pub raft_addr: String,
    /// Client (gRPC and REST) address, host:port, used for leader redirects.
    pub client_addr: String,
    /// The incarnation of the node's data dir (see [`identity`]): peers send it with every
    /// call, so a node that lost its data dir cannot answer in its old place. 0 = unknown
    /// (recorded before incarnations existed), never checked.
    #[serde(default)]
    pub incarnation: u64,
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{} (client {})",
            self.name, self.raft_addr, self.client_addr
        )
    }
}

/// Maps a node name to openraft's numeric id, the same on every node and across restarts.
///
/// A name that is a decimal number is its own id (so `KONSUL_RAFT_NODE_ID=3` is node 3);
/// any other name is hashed with 64-bit FNV-1a and the top bit set, which keeps hashed ids
/// apart from every small numeric one.
pub fn node_id_for_name(name: &str) -> NodeId {
    if let Ok(n) = name.parse::<u64>()
        && n < (1 << 63)
    {
        return n;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h | (1 << 63)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_names_are_their_own_id_and_others_hash_high() {
        assert_eq!(node_id_for_name("3"), 3);
        assert_eq!(node_id_for_name("node1"), node_id_for_name("node1"));
        assert_ne!(node_id_for_name("node1"), node_id_for_name("node2"));
        assert!(node_id_for_name("node1") >= 1 << 63);
    }

    #[test]
    fn a_member_recorded_before_incarnations_reads_as_unknown() {
        let old = r#"{"name":"n1","raft_addr":"a:7000","client_addr":"a:8888"}"#;
        let m: Member = serde_json::from_str(old).unwrap();
        assert_eq!(m.incarnation, 0);
        assert_eq!(m.name, "n1");
    }
}
