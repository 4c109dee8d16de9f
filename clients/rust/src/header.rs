//! Types shared by the KV and cluster calls: the response header every answer carries and
//! the read consistency a caller asks for.

use konsul_proto::v1 as pb;

/// Who answered a call and how fresh the answer is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseHeader {
    /// Raft log index applied on the node that answered. After a write, reads at this index
    /// or later see it.
    pub applied_index: u64,
    /// Raft term as seen by the node that answered.
    pub term: u64,
    /// Name of the leader as seen by the node that answered; empty when none is known.
    pub leader_id: String,
    /// Name of the node that served the call.
    pub served_by: String,
    /// True when the node that answered knew a leader.
    pub known_leader: bool,
    /// How long before answering that node last heard from the leader; on the leader, how
    /// long since a quorum last acknowledged it.
    pub last_contact: std::time::Duration,
}

impl From<Option<pb::ResponseHeader>> for ResponseHeader {
    fn from(h: Option<pb::ResponseHeader>) -> Self {
        let h = h.unwrap_or_default();
        Self {
            applied_index: h.applied_index,
            term: h.term,
            leader_id: h.leader_id,
            served_by: h.served_by,
            known_leader: h.known_leader,
            last_contact: std::time::Duration::from_millis(h.last_contact_ms),
        }
    }
}

/// How fresh a read must be, and therefore which nodes may serve it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Consistency {
    /// The server's default: the leader answers while its lease is valid.
    #[default]
    Default,
    /// Any node answers from its own state, which may lag behind the leader. The only level
    /// that keeps working while no leader is elected.
    Stale,
    /// The leader answers while its lease is valid (same as `Default`).
    Leader,
    /// The leader confirms its leadership with a quorum round first: linearizable.
    Strong,
}

impl Consistency {
    /// True when only the leader can serve a read at this level.
    pub(crate) fn needs_leader(self) -> bool {
        self != Consistency::Stale
    }

    /// The wire value.
    pub(crate) fn to_proto(self) -> i32 {
        let c = match self {
            Consistency::Default => pb::Consistency::Unspecified,
            Consistency::Stale => pb::Consistency::Stale,
            Consistency::Leader => pb::Consistency::Leader,
            Consistency::Strong => pb::Consistency::Strong,
        };
        c as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stale_reads_may_skip_the_leader() {
        assert!(!Consistency::Stale.needs_leader());
        for c in [
            Consistency::Default,
            Consistency::Leader,
            Consistency::Strong,
        ] {
            assert!(c.needs_leader());
        }
        assert_eq!(
            Consistency::Strong.to_proto(),
            pb::Consistency::Strong as i32
        );
    }

    #[test]
    fn a_missing_header_reads_as_empty() {
        assert_eq!(ResponseHeader::from(None), ResponseHeader::default());
    }
}
