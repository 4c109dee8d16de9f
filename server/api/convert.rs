//! Conversions between the server's own types and the public protobuf types: one place,
//! one small function per type and direction (the catalog's and health checks' in
//! `convert/catalog.rs`).

mod catalog;

pub use catalog::{
    check_view_to_pb, definition_to_pb, raw_from_pb, registration_from_pb, report_status_from_pb,
    service_view_to_pb, status_to_pb,
};

use konsul_proto::v1 as pb;

use crate::api::ReadOptions;
use crate::api::kv::KeyValue;
use crate::raft::node::{HeaderInfo, ReadConsistency};

/// The response header every call returns.
pub fn header(h: HeaderInfo) -> pb::ResponseHeader {
    pb::ResponseHeader {
        applied_index: h.applied_index,
        term: h.term,
        leader_id: h.leader_name,
        served_by: h.served_by,
        known_leader: h.known_leader,
        last_contact_ms: u64::try_from(h.last_contact.as_millis()).unwrap_or(u64::MAX),
    }
}

/// A key as the protobuf API shows it.
pub fn key_value_to_pb(kv: KeyValue) -> pb::KeyValue {
    pb::KeyValue {
        key: kv.key,
        value: kv.value,
        flags: kv.flags,
        create_index: kv.create_index,
        modify_index: kv.modify_index,
    }
}

/// The freshness a protobuf read asks for.
pub fn read_options(consistency: i32, min_index: u64) -> ReadOptions {
    ReadOptions {
        consistency: self::consistency(consistency),
        min_index,
    }
}

/// The read consistency a client asked for (an unknown number means the default).
pub fn consistency(raw: i32) -> ReadConsistency {
    match pb::Consistency::try_from(raw).unwrap_or(pb::Consistency::Unspecified) {
        pb::Consistency::Stale => ReadConsistency::Stale,
        pb::Consistency::Strong => ReadConsistency::Strong,
        pb::Consistency::Unspecified | pb::Consistency::Leader => ReadConsistency::Leader,
    }
}
