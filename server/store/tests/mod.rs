//! Tests of `Store::apply`, run on the state machine alone (no Raft, no I/O), exactly as
//! `raft/state_machine.rs` drives it: `single` covers the one-key commands and reads,
//! `batch` the batch commands and CAS all-or-nothing, `catalog` the service catalog's
//! commands, reads and snapshot, `determinism` replays long mixed logs. The shared
//! builders below keep each assertion a concrete value.

mod batch;
mod catalog;
mod checks;
mod determinism;
mod requests;
mod single;

use super::{CasFailure, Command, KvCasItem, KvDeleteCasItem, KvEntry, KvSetItem, Response, Store};

fn set(key: &str, value: &[u8], flags: u64) -> Command {
    Command::KvSet {
        key: key.to_owned(),
        value: value.to_vec(),
        flags,
    }
}

fn set_cas(key: &str, value: &[u8], expected_index: u64) -> Command {
    Command::KvSetCas {
        key: key.to_owned(),
        value: value.to_vec(),
        expected_index,
    }
}

fn delete(key: &str) -> Command {
    Command::KvDelete {
        key: key.to_owned(),
    }
}

fn delete_cas(key: &str, expected_index: u64) -> Command {
    Command::KvDeleteCas {
        key: key.to_owned(),
        expected_index,
    }
}

fn item(key: &str, value: &[u8], flags: u64) -> KvSetItem {
    KvSetItem {
        key: key.to_owned(),
        value: value.to_vec(),
        flags,
    }
}

fn cas_item(key: &str, value: &[u8], expected_index: u64) -> KvCasItem {
    KvCasItem {
        key: key.to_owned(),
        value: value.to_vec(),
        expected_index,
    }
}

fn delete_item(key: &str, expected_index: u64) -> KvDeleteCasItem {
    KvDeleteCasItem {
        key: key.to_owned(),
        expected_index,
    }
}

fn written(key: &str, flags: u64, create_index: u64, modify_index: u64) -> Response {
    Response::Written {
        key: key.to_owned(),
        flags,
        create_index,
        modify_index,
    }
}

fn entry(value: &[u8], flags: u64, create_index: u64, modify_index: u64) -> KvEntry {
    KvEntry {
        value: value.to_vec(),
        flags,
        create_index,
        modify_index,
    }
}

fn conflict(key: &str, expected: u64, current: u64) -> Response {
    Response::CasFailed(CasFailure::Conflict {
        key: key.to_owned(),
        expected,
        current,
    })
}

fn not_found(key: &str) -> Response {
    Response::CasFailed(CasFailure::NotFound {
        key: key.to_owned(),
    })
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// A store holding `a` (created at 3, flags 7) and `b` (created at 4, modified at 6).
fn seeded() -> Store {
    let mut store = Store::new();
    store.apply(3, set("a", b"a1", 7));
    store.apply(4, set("b", b"b1", 0));
    store.apply(6, set("b", b"b2", 0));
    store
}
