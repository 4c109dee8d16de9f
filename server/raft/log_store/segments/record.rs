//! One record of a segment file: what it says ([`Record`]), its bytes on disk (length,
//! CRC32 via `crc32fast`, kind, body) and where it lies ([`Location`]). Used by the
//! segments' writer (`segments.rs`), recovery (`recover.rs`) and readers.

use super::HEADER;

/// What a record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An encoded log entry (its log id is inside).
    Entry(Vec<u8>),
    /// The encoded vote.
    Vote(Vec<u8>),
    /// The encoded committed log id; empty for none.
    Committed(Vec<u8>),
    /// Every entry from this index on is gone.
    Truncate(u64),
    /// The encoded last purged log id.
    Purge(Vec<u8>),
}

impl Record {
    fn kind(&self) -> u8 {
        match self {
            Record::Entry(_) => 1,
            Record::Vote(_) => 2,
            Record::Committed(_) => 3,
            Record::Truncate(_) => 4,
            Record::Purge(_) => 5,
        }
    }

    pub(super) fn body(&self) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Record::Entry(b) | Record::Vote(b) | Record::Committed(b) | Record::Purge(b) => {
                std::borrow::Cow::Borrowed(b)
            }
            Record::Truncate(i) => std::borrow::Cow::Owned(i.to_le_bytes().to_vec()),
        }
    }

    pub(super) fn decode(kind: u8, body: &[u8]) -> Option<Record> {
        Some(match kind {
            1 => Record::Entry(body.to_vec()),
            2 => Record::Vote(body.to_vec()),
            3 => Record::Committed(body.to_vec()),
            4 => Record::Truncate(u64::from_le_bytes(body.try_into().ok()?)),
            5 => Record::Purge(body.to_vec()),
            _ => return None,
        })
    }

    /// Its bytes on disk: header, kind, body.
    pub(super) fn encode(&self) -> Vec<u8> {
        let body = self.body();
        let len = u32::try_from(body.len() + 1).expect("a record is far below 4 GiB");
        let mut out = Vec::with_capacity(HEADER as usize + len as usize);
        out.extend_from_slice(&len.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[self.kind()]);
        crc.update(&body);
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        out.push(self.kind());
        out.extend_from_slice(&body);
        out
    }
}

/// Where a record's body lies, for reading an entry back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// The segment's number.
    pub segment: u64,
    /// Offset of the record's header in the segment.
    pub offset: u64,
    /// The record's encoded length (header included).
    pub len: u32,
}

/// The record at the start of `buf` and its encoded length; `None` if it does not check out.
pub(super) fn parse(buf: &[u8]) -> Option<(Record, u64)> {
    let len = u32::from_le_bytes(buf.get(0..4)?.try_into().ok()?) as u64;
    let crc = u32::from_le_bytes(buf.get(4..8)?.try_into().ok()?);
    if len == 0 {
        return None;
    }
    let rest = buf.get(HEADER as usize..(HEADER + len) as usize)?;
    if crc32fast::hash(rest) != crc {
        return None;
    }
    let record = Record::decode(rest[0], &rest[1..])?;
    Some((record, HEADER + len))
}
