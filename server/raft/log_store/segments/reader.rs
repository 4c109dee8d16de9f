//! Reading entry records back by [`Location`], from any thread: what replication and
//! openraft's log reads use once an entry is durable (`index.rs` says where it lies).

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::record::{Location, Record, parse};

/// Reads records back by [`Location`]; holds the segment files it was made with.
#[derive(Clone)]
pub struct SegmentReader {
    pub(super) files: BTreeMap<u64, Arc<File>>,
}

impl SegmentReader {
    /// The body of the entry record at `at`, checked against its CRC.
    pub fn read(&self, at: Location) -> io::Result<Vec<u8>> {
        Ok(self.read_many(&[at])?.remove(0))
    }

    /// The bodies of the entry records at `locations`, in order, each checked against its
    /// CRC. Records that lie back to back in one segment are read with one `pread`.
    pub fn read_many(&self, locations: &[Location]) -> io::Result<Vec<Vec<u8>>> {
        let mut out = Vec::with_capacity(locations.len());
        let mut start = 0;
        while start < locations.len() {
            let first = locations[start];
            let mut end = start + 1;
            let mut bytes = u64::from(first.len);
            while let Some(next) = locations.get(end) {
                if next.segment != first.segment || next.offset != first.offset + bytes {
                    break;
                }
                bytes += u64::from(next.len);
                end += 1;
            }
            let file = self.files.get(&first.segment).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("raft log segment {} is gone", first.segment),
                )
            })?;
            let mut buf = vec![0; bytes as usize];
            file.read_exact_at(&mut buf, first.offset)?;
            let mut at = 0usize;
            for l in &locations[start..end] {
                match parse(&buf[at..at + l.len as usize]) {
                    Some((Record::Entry(body), _)) => out.push(body),
                    _ => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "raft log segment {} does not hold a valid entry at byte {}",
                                l.segment, l.offset
                            ),
                        ));
                    }
                }
                at += l.len as usize;
            }
            start = end;
        }
        Ok(out)
    }
}
