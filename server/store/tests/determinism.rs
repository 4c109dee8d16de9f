//! Determinism: the same log gives the same state and responses on every replica, and a
//! snapshot plus the rest of the log equals a full replay.

use super::*;

fn kind(response: &Response) -> &'static str {
    match response {
        Response::None => "none",
        Response::Written { .. } => "written",
        Response::Deleted { .. } => "deleted",
        Response::BatchWritten { .. } => "batch written",
        Response::BatchDeleted { .. } => "batch deleted",
        Response::CasFailed(CasFailure::NotFound { .. }) => "not found",
        Response::CasFailed(CasFailure::Conflict { .. }) => "conflict",
        Response::Registered { .. } => "registered",
        Response::Renewed { .. } => "renewed",
        Response::NotFound { .. } => "absent",
        Response::Expired { .. } => "expired",
        Response::GraceApplied { .. } => "grace",
        Response::CheckIdTaken { .. } => "check id taken",
        Response::CheckUpdated { .. } => "check updated",
        Response::NotTtlCheck { .. } => "not a ttl check",
        Response::CheckResultsApplied { .. } => "check results",
        Response::Multi(_) => "multi",
        Response::RequestIdExpired { .. } => "request id expired",
    }
}

/// A tiny seeded generator (xorshift64*), so the test needs no RNG crate and is repeatable.
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// A mixed stream of every command kind over a small key space, so CAS hits and misses.
fn command_stream(seed: u64, len: usize) -> Vec<Command> {
    let mut rng = Seeded(seed);
    let key = |rng: &mut Seeded| format!("k{}", rng.below(12));
    (0..len)
        .map(|i| {
            let value = format!("v{i}").into_bytes();
            match rng.below(8) {
                0 => Command::KvSet {
                    key: key(&mut rng),
                    value,
                    flags: rng.below(3),
                },
                1 => Command::KvDelete { key: key(&mut rng) },
                2 => Command::KvSetCas {
                    key: key(&mut rng),
                    value,
                    expected_index: rng.below(len as u64),
                },
                3 => Command::KvDeleteCas {
                    key: key(&mut rng),
                    expected_index: rng.below(len as u64),
                },
                4 => Command::KvBatchSet {
                    items: (0..rng.below(4))
                        .map(|_| KvSetItem {
                            key: key(&mut rng),
                            value: value.clone(),
                            flags: rng.below(3),
                        })
                        .collect(),
                },
                5 => Command::KvBatchDelete {
                    keys: (0..rng.below(4)).map(|_| key(&mut rng)).collect(),
                },
                6 => Command::KvBatchSetCas {
                    items: (0..rng.below(3))
                        .map(|_| KvCasItem {
                            key: key(&mut rng),
                            value: value.clone(),
                            expected_index: rng.below(8),
                        })
                        .collect(),
                },
                _ => Command::KvBatchDeleteCas {
                    items: (0..rng.below(3))
                        .map(|_| KvDeleteCasItem {
                            key: key(&mut rng),
                            expected_index: rng.below(len as u64),
                        })
                        .collect(),
                },
            }
        })
        .collect()
}

#[test]
fn two_stores_fed_the_same_log_are_equal() {
    let commands = command_stream(0x5EED, 2000);
    let mut first = Store::new();
    let mut second = Store::new();
    let mut kinds = std::collections::BTreeSet::new();
    for (index, command) in (1..).zip(&commands) {
        let a = first.apply(index, command.clone());
        let b = second.apply(index, command.clone());
        assert_eq!(a, b, "responses differ at index {index}");
        kinds.insert(kind(&a));
    }
    assert_eq!(first, second);
    assert!(!first.is_empty());
    // The stream exercised every kind of response except None.
    assert_eq!(kinds.len(), 6, "the stream produced only {kinds:?}");
    // Every stored index is a log index the stream actually used.
    for (_, entry) in first.range_prefix("") {
        assert!(entry.create_index >= 1 && entry.create_index <= entry.modify_index);
        assert!(entry.modify_index <= commands.len() as u64);
    }
}

#[test]
fn a_snapshot_plus_the_rest_of_the_log_equals_a_full_replay() {
    let commands = command_stream(42, 1000);
    let mut full = Store::new();
    for (index, command) in (1..).zip(&commands) {
        full.apply(index, command.clone());
    }

    let mut early = Store::new();
    for (index, command) in (1..).zip(&commands[..500]) {
        early.apply(index, command.clone());
    }
    let mut image = Vec::new();
    early.write_snapshot(&mut image).unwrap();
    let mut restored = Store::read_snapshot(image.as_slice()).unwrap();
    assert_eq!(restored, early);
    for (index, command) in (501..).zip(&commands[500..]) {
        restored.apply(index, command.clone());
    }
    assert_eq!(restored, full);
}
