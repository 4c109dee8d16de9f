//! The checks a fault run must pass besides linearizability (which `konsul_lincheck`
//! decides per round): no node's reads go back in index while the node's process lives, and
//! every acknowledged write of a unique key is present on every node at the end.

use std::collections::BTreeMap;

use super::history::{IndexedRead, Insert, Restart};

/// Pairs of reads on one node where the later one (sent after the earlier one was
/// answered, with no kill of that node in between) reflected a lower index. Empty is good.
pub fn index_regressions(reads: &[IndexedRead], restarts: &[Restart]) -> Vec<String> {
    let mut by_node: BTreeMap<usize, Vec<&IndexedRead>> = BTreeMap::new();
    for r in reads {
        by_node.entry(r.node).or_default().push(r);
    }
    let mut found = Vec::new();
    for (node, mut reads) in by_node {
        let kills: Vec<u64> = restarts
            .iter()
            .filter(|k| k.node == node)
            .map(|k| k.at)
            .collect();
        reads.sort_by_key(|r| r.call);
        // Reads answered so far, by answer time, in the current process lifetime.
        let mut done: Vec<&IndexedRead> = Vec::new();
        for r in reads {
            let lifetime_start = kills.iter().copied().filter(|&k| k <= r.call).max();
            let earlier = done
                .iter()
                .filter(|d| d.ret < r.call && lifetime_start.is_none_or(|k| d.call > k))
                .max_by_key(|d| d.index);
            if let Some(d) = earlier
                && d.index > r.index
            {
                found.push(format!(
                    "n{}: read by {} at {} ms reflected index {} after a read by {} answered at \
                     {} ms had reflected {}",
                    node + 1,
                    r.note,
                    r.call / 1_000_000,
                    r.index,
                    d.note,
                    d.ret / 1_000_000,
                    d.index
                ));
            }
            done.push(r);
        }
    }
    found
}

/// The acknowledged inserts missing (or wrong) in `contents` (key → value) of one node.
pub fn lost_inserts(inserts: &[Insert], contents: &BTreeMap<String, u64>) -> Vec<String> {
    inserts
        .iter()
        .filter(|i| i.acked && contents.get(&i.key) != Some(&i.value))
        .map(|i| {
            format!(
                "{} = {} was acknowledged but the node has {:?}",
                i.key,
                i.value,
                contents.get(&i.key)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(node: usize, index: u64, call: u64, ret: u64) -> IndexedRead {
        IndexedRead {
            node,
            index,
            call,
            ret,
            note: String::new(),
        }
    }

    #[test]
    fn an_index_going_back_is_found_unless_the_node_restarted() {
        let reads = [read(0, 10, 0, 5), read(0, 9, 6, 8), read(1, 3, 7, 9)];
        assert_eq!(index_regressions(&reads, &[]).len(), 1);
        let kill = Restart { node: 0, at: 5 };
        assert!(index_regressions(&reads, &[kill]).is_empty());
        // Overlapping reads may come back in any order.
        let overlapping = [read(0, 10, 0, 5), read(0, 9, 4, 8)];
        assert!(index_regressions(&overlapping, &[]).is_empty());
    }

    #[test]
    fn acknowledged_inserts_must_be_present() {
        let inserts = [
            Insert {
                key: "a".into(),
                value: 1,
                acked: true,
            },
            Insert {
                key: "b".into(),
                value: 2,
                acked: false,
            },
        ];
        let mut contents = BTreeMap::new();
        assert_eq!(lost_inserts(&inserts, &contents).len(), 1);
        contents.insert("a".to_owned(), 1);
        assert!(lost_inserts(&inserts, &contents).is_empty());
    }
}
