//! Reading a log's segments back on open: every record in order, a torn tail of the newest
//! segment zeroed, anything else that does not check out refused (see `segments.rs`'s
//! module docs for why that errs on the side of refusing).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::record::{Location, Record, parse};
use super::{HEADER, MAGIC};

/// Opening failed because a segment does not read back as written.
fn corrupt(path: &Path, offset: u64, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "raft log segment {} is corrupt at byte {offset}: {what}; refusing to start \
             (restore the node's data dir or wipe it and let the node rejoin)",
            path.display()
        ),
    )
}

/// Reads one segment's records into `out` and answers where the next record goes. In the
/// `newest` segment a torn tail is zeroed; everything else that does not check out fails.
pub(super) fn scan(
    path: &Path,
    file: &File,
    number: u64,
    newest: bool,
    out: &mut Vec<(Location, Record)>,
) -> io::Result<u64> {
    let data = std::fs::read(path)?;
    if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
        return Err(corrupt(path, 0, "no segment header"));
    }
    let mut at = MAGIC.len();
    loop {
        let rest = &data[at..];
        if rest.len() < 4 || rest[..4] == [0; 4] {
            // The end marker: past it nothing may have been written.
            if let Some(junk) = rest.iter().position(|&b| b != 0) {
                if !newest {
                    return Err(corrupt(
                        path,
                        (at + junk) as u64,
                        "data after the end marker",
                    ));
                }
                return torn(path, file, &data, at);
            }
            return Ok(at as u64);
        }
        match parse(rest) {
            Some((record, len)) => {
                out.push((
                    Location {
                        segment: number,
                        offset: at as u64,
                        len: len as u32,
                    },
                    record,
                ));
                at += len as usize;
            }
            None if newest => return torn(path, file, &data, at),
            None => return Err(corrupt(path, at as u64, "a record fails its checksum")),
        }
    }
}

/// The newest segment's data stops checking out at `at`. A torn write leaves one partial
/// record and zeros after it; then the partial record is zeroed (so a later record cannot
/// run into its leftovers) and appends resume at `at`. Anything else is corruption.
fn torn(path: &Path, file: &File, data: &[u8], at: usize) -> io::Result<u64> {
    let rest = &data[at..];
    // How far the partial record can reach: its length field, if that lies inside the file.
    let claimed = rest
        .get(0..4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
        .map_or(rest.len(), |len| (HEADER as usize + len).min(rest.len()));
    if let Some(junk) = rest[claimed..].iter().position(|&b| b != 0) {
        return Err(corrupt(
            path,
            (at + claimed + junk) as u64,
            "a damaged record followed by more data",
        ));
    }
    let last = rest.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    if last > 0 {
        tracing::warn!(
            segment = %path.display(),
            offset = at,
            bytes = last,
            "raft log: a torn write at the end of the log (a crash during an append); its \
             bytes are cleared, nothing acknowledged was in it"
        );
        file.write_all_at(&vec![0; last], at as u64)?;
        file.sync_data()?;
    }
    Ok(at as u64)
}
