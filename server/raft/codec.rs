//! The only conversions between the wire types of `konsul.raft.v1` and the openraft / store
//! types, in both directions.
//!
//! ```text
//!  log_store ──encode_entry──► redb bytes          network ──encode_*──► gRPC ──► service
//!  log_store ◄─decode_entry──  redb bytes          service ──decode_*──► openraft::Raft
//! ```
//!
//! Protobuf stays at the edges (DESIGN.md §4): `log_store`, `network` and `service` call these
//! functions and nothing else in the server sees a `pb` type. Encoding cannot fail. Decoding
//! refuses a message that lacks a required field or carries a [`pb::Command`] version this node
//! does not know, instead of guessing a default: a guessed vote or log id would silently break
//! Raft's safety. Fields that openraft itself treats as optional (`last_log_id`, `prev_log_id`,
//! ...) are `Option` on both sides. The [`Command`](crate::store::Command) conversions, one
//! arm per command kind, live in `codec/command.rs`; the StreamAppend messages in
//! `codec/stream.rs`.

use std::collections::{BTreeMap, BTreeSet};

use konsul_proto::raft::v1 as pb;
use konsul_proto::raft::v1::append_entries_response::Result as PbAppendResult;
use konsul_proto::raft::v1::entry::Payload;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, TransferLeaderError, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::{
    CommittedLeaderIdOf, EntryOf, LeaderIdOf, LogIdOf, SnapshotMetaOf, StoredMembershipOf, VoteOf,
};
use openraft::{EntryPayload, LogId, Membership, SnapshotMeta, StoredMembership, Vote};
use prost::Message;

use super::{Member, NodeId, TypeConfig};

mod check;
mod command;
mod stream;

pub use command::{decode_command, encode_command};
pub use stream::{
    decode_stream_request, decode_stream_response, encode_stream_request, encode_stream_response,
};

/// The [`pb::Command::version`] this node writes and the only one it reads.
pub const COMMAND_VERSION: u32 = 1;

/// Why a message from a peer or from disk could not be turned into an openraft or store value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// A field every encoder sets was absent: the sender is broken or the bytes are corrupt.
    #[error("raft codec: required field `{0}` is missing")]
    Missing(&'static str),
    /// A command written by a newer (or broken) node; applying a guess would fork the state.
    #[error(
        "raft codec: command version {0} is not supported (this node reads version {COMMAND_VERSION})"
    )]
    UnknownVersion(u32),
    /// The bytes are not a valid protobuf message of the expected type.
    #[error("raft codec: malformed protobuf: {0}")]
    Malformed(#[from] prost::DecodeError),
    /// A number too large for the field it decodes into (a port above 65535): encoders never
    /// write one, and truncating it would register a different service.
    #[error("raft codec: field `{field}` holds {value}, out of range")]
    OutOfRange {
        /// The field, as `Message.field`.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// A grouped command nested in another, or a wrapped one (Identified) around a group
    /// or another wrapper: encoders never write one.
    #[error("raft codec: a grouped or identified command nested where it cannot be")]
    NestedMulti,
    /// A membership openraft refuses (no voters, or a voter without its node entry).
    #[error("raft codec: invalid membership: {0}")]
    BadMembership(String),
    /// AppendEntries whose entries do not follow `prev_log_id` one index at a time in
    /// non-decreasing terms: no leader sends them.
    #[error(
        "raft codec: entries are not contiguous: expected index {expected} (in a term no lower than the one before), found {found}"
    )]
    NotContiguous {
        /// The index the next entry must have.
        expected: u64,
        /// The index it had.
        found: u64,
    },
}

impl From<CodecError> for crate::Error {
    fn from(e: CodecError) -> Self {
        crate::Error::Internal(e.to_string())
    }
}

/// Result of a decode.
pub type DecodeResult<T> = Result<T, CodecError>;

/// The largest term and log index a message may carry. openraft adds one to both (a new
/// election's term, the next entry's index) and panics on the overflow, so a peer message
/// naming term 2^64-1 would stop the Raft core at its next election. Half the range is more
/// than any cluster will reach (a term per millisecond for 292 million years).
pub const MAX_TERM_OR_INDEX: u64 = u64::MAX / 2;

fn bounded(field: &'static str, value: u64) -> DecodeResult<u64> {
    if value > MAX_TERM_OR_INDEX {
        return Err(CodecError::OutOfRange { field, value });
    }
    Ok(value)
}

fn required<T>(field: Option<T>, name: &'static str) -> DecodeResult<T> {
    field.ok_or(CodecError::Missing(name))
}

// ---- identifiers -------------------------------------------------------------------------

/// Encodes a leader id (term, node); openraft 0.9's default leader id is also what a committed
/// log id carries, so one message serves both.
pub fn encode_leader_id(id: &LeaderIdOf<TypeConfig>) -> pb::LeaderId {
    pb::LeaderId {
        term: id.term,
        node_id: id.node_id,
    }
}

/// Decodes a leader id; a term above [`MAX_TERM_OR_INDEX`] is refused.
pub fn decode_leader_id(id: pb::LeaderId) -> DecodeResult<LeaderIdOf<TypeConfig>> {
    Ok(LeaderIdOf::<TypeConfig> {
        term: bounded("LeaderId.term", id.term)?,
        node_id: id.node_id,
    })
}

/// Encodes a log id.
pub fn encode_log_id(id: &LogIdOf<TypeConfig>) -> pb::LogId {
    pb::LogId {
        leader_id: Some(encode_leader_id(&id.leader_id)),
        index: id.index,
    }
}

/// Decodes a log id; its leader id is required, and neither its term nor its index may be
/// above [`MAX_TERM_OR_INDEX`].
pub fn decode_log_id(id: pb::LogId) -> DecodeResult<LogIdOf<TypeConfig>> {
    let leader: CommittedLeaderIdOf<TypeConfig> =
        decode_leader_id(required(id.leader_id, "LogId.leader_id")?)?;
    Ok(LogId::new(leader, bounded("LogId.index", id.index)?))
}

/// Encodes a log id that openraft allows to be absent (empty log, nothing committed).
pub fn encode_opt_log_id(id: &Option<LogIdOf<TypeConfig>>) -> Option<pb::LogId> {
    id.as_ref().map(encode_log_id)
}

/// Decodes an optional log id: absent stays absent, present must be complete.
pub fn decode_opt_log_id(id: Option<pb::LogId>) -> DecodeResult<Option<LogIdOf<TypeConfig>>> {
    id.map(decode_log_id).transpose()
}

/// Encodes a vote.
pub fn encode_vote(vote: &VoteOf<TypeConfig>) -> pb::Vote {
    pb::Vote {
        leader_id: Some(encode_leader_id(&vote.leader_id)),
        committed: vote.committed,
    }
}

/// Decodes a vote; its leader id is required.
pub fn decode_vote(vote: pb::Vote) -> DecodeResult<VoteOf<TypeConfig>> {
    let leader_id = decode_leader_id(required(vote.leader_id, "Vote.leader_id")?)?;
    Ok(Vote {
        leader_id,
        committed: vote.committed,
    })
}

// ---- membership ----------------------------------------------------------------------------

fn encode_member(m: &Member) -> pb::Node {
    pb::Node {
        name: m.name.clone(),
        raft_addr: m.raft_addr.clone(),
        client_addr: m.client_addr.clone(),
        incarnation: m.incarnation,
    }
}

fn decode_member(n: pb::Node) -> Member {
    Member {
        name: n.name,
        raft_addr: n.raft_addr,
        client_addr: n.client_addr,
        incarnation: n.incarnation,
    }
}

/// Encodes a (possibly joint) membership with every member's addresses.
pub fn encode_membership(m: &Membership<NodeId, Member>) -> pb::Membership {
    pb::Membership {
        configs: m
            .get_joint_config()
            .iter()
            .map(|ids| pb::NodeIdSet {
                ids: ids.iter().copied().collect(),
            })
            .collect(),
        nodes: m.nodes().map(|(id, n)| (*id, encode_member(n))).collect(),
    }
}

/// Decodes a membership. A voter without a node entry is refused (openraft 0.10's
/// `Membership::new`); our encoder never produces one.
pub fn decode_membership(m: pb::Membership) -> DecodeResult<Membership<NodeId, Member>> {
    let configs: Vec<BTreeSet<NodeId>> = m
        .configs
        .into_iter()
        .map(|c| c.ids.into_iter().collect())
        .collect();
    let nodes: BTreeMap<NodeId, Member> = m
        .nodes
        .into_iter()
        .map(|(id, n)| (id, decode_member(n)))
        .collect();
    Membership::new(configs, nodes).map_err(|e| CodecError::BadMembership(e.to_string()))
}

/// Encodes a membership with the id of the entry that set it.
pub fn encode_stored_membership(m: &StoredMembershipOf<TypeConfig>) -> pb::StoredMembership {
    pb::StoredMembership {
        log_id: encode_opt_log_id(m.log_id()),
        membership: Some(encode_membership(m.membership())),
    }
}

/// Decodes a stored membership; the membership itself is required, its log id is not.
pub fn decode_stored_membership(
    m: pb::StoredMembership,
) -> DecodeResult<StoredMembershipOf<TypeConfig>> {
    let membership = decode_membership(required(m.membership, "StoredMembership.membership")?)?;
    Ok(StoredMembership::new(
        decode_opt_log_id(m.log_id)?,
        membership,
    ))
}

/// Encodes a snapshot's metadata.
pub fn encode_snapshot_meta(meta: &SnapshotMetaOf<TypeConfig>) -> pb::SnapshotMeta {
    pb::SnapshotMeta {
        last_log_id: encode_opt_log_id(&meta.last_log_id),
        last_membership: Some(encode_stored_membership(&meta.last_membership)),
        // openraft 0.10 dropped the transfer id; the field stays in the message, empty.
        snapshot_id: String::new(),
    }
}

/// Decodes a snapshot's metadata; the membership is required.
pub fn decode_snapshot_meta(meta: pb::SnapshotMeta) -> DecodeResult<SnapshotMetaOf<TypeConfig>> {
    Ok(SnapshotMeta {
        last_log_id: decode_opt_log_id(meta.last_log_id)?,
        last_membership: decode_stored_membership(required(
            meta.last_membership,
            "SnapshotMeta.last_membership",
        )?)?,
    })
}

// ---- commands and entries ------------------------------------------------------------------

/// Encodes one log entry (blank, command or membership).
pub fn encode_entry(entry: EntryOf<TypeConfig>) -> pb::Entry {
    let payload = match entry.payload {
        EntryPayload::Blank => Payload::Blank(pb::Blank {}),
        EntryPayload::Normal(cmd) => Payload::Command(encode_command(cmd)),
        EntryPayload::Membership(m) => Payload::Membership(encode_membership(&m)),
    };
    pb::Entry {
        log_id: Some(encode_log_id(&entry.log_id)),
        payload: Some(payload),
    }
}

/// Decodes one log entry; log id and payload are required.
pub fn decode_entry(entry: pb::Entry) -> DecodeResult<EntryOf<TypeConfig>> {
    let log_id = decode_log_id(required(entry.log_id, "Entry.log_id")?)?;
    let payload = match required(entry.payload, "Entry.payload")? {
        Payload::Blank(_) => EntryPayload::Blank,
        Payload::Command(c) => EntryPayload::Normal(decode_command(c)?),
        Payload::Membership(m) => EntryPayload::Membership(decode_membership(m)?),
    };
    Ok(EntryOf::<TypeConfig> { log_id, payload })
}

/// Serializes an entry for the log store: the protobuf [`pb::Entry`], so the bytes on disk
/// are the same format peers exchange and stay readable across upgrades.
pub fn entry_to_bytes(entry: EntryOf<TypeConfig>) -> Vec<u8> {
    encode_entry(entry).encode_to_vec()
}

/// Parses an entry written by [`entry_to_bytes`].
pub fn entry_from_bytes(bytes: &[u8]) -> DecodeResult<EntryOf<TypeConfig>> {
    decode_entry(pb::Entry::decode(bytes)?)
}

// ---- RPCs ----------------------------------------------------------------------------------

/// Encodes a vote request.
pub fn encode_vote_request(req: &VoteRequest<TypeConfig>) -> pb::VoteRequest {
    pb::VoteRequest {
        vote: Some(encode_vote(&req.vote)),
        last_log_id: encode_opt_log_id(&req.last_log_id),
        leadership_transfer: req.leadership_transfer,
    }
}

/// Decodes a vote request; the vote is required.
pub fn decode_vote_request(req: pb::VoteRequest) -> DecodeResult<VoteRequest<TypeConfig>> {
    Ok(VoteRequest {
        vote: decode_vote(required(req.vote, "VoteRequest.vote")?)?,
        last_log_id: decode_opt_log_id(req.last_log_id)?,
        leadership_transfer: req.leadership_transfer,
    })
}

/// Encodes a leadership transfer request.
pub fn encode_transfer_leader_request(
    req: &TransferLeaderRequest<TypeConfig>,
) -> pb::TransferLeaderRequest {
    pb::TransferLeaderRequest {
        from_leader: Some(encode_vote(req.from_leader())),
        to_node_id: *req.to_node_id(),
        last_log_id: req.last_log_id().map(encode_log_id),
    }
}

/// Decodes a leadership transfer request; the leader's vote is required.
pub fn decode_transfer_leader_request(
    req: pb::TransferLeaderRequest,
) -> DecodeResult<TransferLeaderRequest<TypeConfig>> {
    Ok(TransferLeaderRequest::new(
        decode_vote(required(
            req.from_leader,
            "TransferLeaderRequest.from_leader",
        )?)?,
        req.to_node_id,
        decode_opt_log_id(req.last_log_id)?,
    ))
}

/// Encodes the target's answer to a leadership transfer.
pub fn encode_transfer_leader_response(
    resp: &TransferLeaderResponse<TypeConfig>,
) -> pb::TransferLeaderResponse {
    use pb::transfer_leader_response::Refused;
    let refused = match resp {
        Ok(()) => None,
        Err(TransferLeaderError::VoteChanged { expected, actual }) => {
            Some(Refused::VoteChanged(pb::VoteChanged {
                expected: Some(encode_vote(expected)),
                actual: Some(encode_vote(actual)),
            }))
        }
        Err(TransferLeaderError::LogNotFlushed { expected, actual }) => {
            Some(Refused::LogNotFlushed(pb::LogNotFlushed {
                expected: encode_opt_log_id(expected),
                actual: encode_opt_log_id(actual),
            }))
        }
    };
    pb::TransferLeaderResponse { refused }
}

/// Decodes the target's answer to a leadership transfer.
pub fn decode_transfer_leader_response(
    resp: pb::TransferLeaderResponse,
) -> DecodeResult<TransferLeaderResponse<TypeConfig>> {
    use pb::transfer_leader_response::Refused;
    Ok(match resp.refused {
        None => Ok(()),
        Some(Refused::VoteChanged(v)) => Err(TransferLeaderError::VoteChanged {
            expected: decode_vote(required(v.expected, "VoteChanged.expected")?)?,
            actual: decode_vote(required(v.actual, "VoteChanged.actual")?)?,
        }),
        Some(Refused::LogNotFlushed(l)) => Err(TransferLeaderError::LogNotFlushed {
            expected: decode_opt_log_id(l.expected)?,
            actual: decode_opt_log_id(l.actual)?,
        }),
    })
}

/// Encodes a vote response.
pub fn encode_vote_response(resp: &VoteResponse<TypeConfig>) -> pb::VoteResponse {
    pb::VoteResponse {
        vote: Some(encode_vote(&resp.vote)),
        vote_granted: resp.vote_granted,
        last_log_id: encode_opt_log_id(&resp.last_log_id),
    }
}

/// Decodes a vote response; the vote is required.
pub fn decode_vote_response(resp: pb::VoteResponse) -> DecodeResult<VoteResponse<TypeConfig>> {
    Ok(VoteResponse {
        vote: decode_vote(required(resp.vote, "VoteResponse.vote")?)?,
        vote_granted: resp.vote_granted,
        last_log_id: decode_opt_log_id(resp.last_log_id)?,
    })
}

/// Encodes an append-entries request, moving the entries' payloads into the message.
pub fn encode_append_request(req: AppendEntriesRequest<TypeConfig>) -> pb::AppendEntriesRequest {
    pb::AppendEntriesRequest {
        vote: Some(encode_vote(&req.vote)),
        prev_log_id: encode_opt_log_id(&req.prev_log_id),
        entries: req.entries.into_iter().map(encode_entry).collect(),
        leader_commit: encode_opt_log_id(&req.leader_commit),
    }
}

/// Decodes an append-entries request; the vote and every entry must be complete.
pub fn decode_append_request(
    req: pb::AppendEntriesRequest,
) -> DecodeResult<AppendEntriesRequest<TypeConfig>> {
    let prev_log_id = decode_opt_log_id(req.prev_log_id)?;
    let entries: Vec<EntryOf<TypeConfig>> = req
        .entries
        .into_iter()
        .map(decode_entry)
        .collect::<DecodeResult<_>>()?;
    // Entries follow prev_log_id one index at a time, in non-decreasing terms: what every
    // leader sends, and what openraft's log handling assumes without checking.
    let first = prev_log_id.as_ref().map_or(0, |p| p.index + 1);
    let mut term = prev_log_id.as_ref().map_or(0, |p| p.leader_id.term);
    for (expected, e) in (first..).zip(&entries) {
        if e.log_id.index != expected || e.log_id.leader_id.term < term {
            return Err(CodecError::NotContiguous {
                expected,
                found: e.log_id.index,
            });
        }
        term = e.log_id.leader_id.term;
    }
    Ok(AppendEntriesRequest {
        vote: decode_vote(required(req.vote, "AppendEntriesRequest.vote")?)?,
        prev_log_id,
        entries,
        leader_commit: decode_opt_log_id(req.leader_commit)?,
    })
}

/// Encodes an append-entries response.
pub fn encode_append_response(
    resp: &AppendEntriesResponse<TypeConfig>,
) -> pb::AppendEntriesResponse {
    let result = match resp {
        AppendEntriesResponse::Success => PbAppendResult::Success(pb::Blank {}),
        AppendEntriesResponse::PartialSuccess(m) => {
            PbAppendResult::PartialSuccess(pb::PartialSuccess {
                matching: encode_opt_log_id(m),
            })
        }
        AppendEntriesResponse::Conflict => PbAppendResult::Conflict(pb::Blank {}),
        AppendEntriesResponse::HigherVote(v) => PbAppendResult::HigherVote(encode_vote(v)),
    };
    pb::AppendEntriesResponse {
        result: Some(result),
    }
}

/// Decodes an append-entries response; the outcome is required.
pub fn decode_append_response(
    resp: pb::AppendEntriesResponse,
) -> DecodeResult<AppendEntriesResponse<TypeConfig>> {
    Ok(
        match required(resp.result, "AppendEntriesResponse.result")? {
            PbAppendResult::Success(_) => AppendEntriesResponse::Success,
            PbAppendResult::PartialSuccess(p) => {
                AppendEntriesResponse::PartialSuccess(decode_opt_log_id(p.matching)?)
            }
            PbAppendResult::Conflict(_) => AppendEntriesResponse::Conflict,
            PbAppendResult::HigherVote(v) => AppendEntriesResponse::HigherVote(decode_vote(v)?),
        },
    )
}

/// What opens an InstallSnapshot stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotOffer {
    /// The sending leader's vote.
    pub vote: VoteOf<TypeConfig>,
    /// What the snapshot covers.
    pub meta: SnapshotMetaOf<TypeConfig>,
    /// Exact number of data bytes the stream carries; the receiver checks it, because a
    /// cancelled gRPC client stream ends like a complete one.
    pub size: u64,
}

/// Encodes the header that opens an InstallSnapshot stream.
pub fn encode_snapshot_header(offer: &SnapshotOffer) -> pb::SnapshotHeader {
    pb::SnapshotHeader {
        vote: Some(encode_vote(&offer.vote)),
        meta: Some(encode_snapshot_meta(&offer.meta)),
        size: offer.size,
    }
}

/// Decodes a snapshot header; vote and metadata are required.
pub fn decode_snapshot_header(header: pb::SnapshotHeader) -> DecodeResult<SnapshotOffer> {
    Ok(SnapshotOffer {
        vote: decode_vote(required(header.vote, "SnapshotHeader.vote")?)?,
        meta: decode_snapshot_meta(required(header.meta, "SnapshotHeader.meta")?)?,
        size: header.size,
    })
}

#[cfg(test)]
mod tests;
