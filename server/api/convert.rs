//! Conversions between the server's own types and the public protobuf types: one place,
//! one small function per type and direction (the catalog's and health checks' in
//! `convert/catalog.rs`).

mod catalog;

pub use catalog::{
    checks_to_pb, definition_to_pb, entry_to_pb, raw_from_pb, service_from_pb, status_to_pb,
};

use konsul_proto::v1 as pb;

use crate::raft::node::{HeaderInfo, ReadConsistency};
use crate::store::KvEntry;

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

/// A stored entry as the API shows it; `with_value == false` leaves the value out.
pub fn key_value(key: &str, e: &KvEntry, with_value: bool) -> pb::KeyValue {
    pb::KeyValue {
        key: key.to_owned(),
        value: if with_value {
            e.value.clone()
        } else {
            Vec::new()
        },
        flags: e.flags,
        create_index: e.create_index,
        modify_index: e.modify_index,
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
