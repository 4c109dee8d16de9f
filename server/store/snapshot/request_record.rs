//! The request-log records of the snapshot format (version 4): one record per client of
//! [`RequestLog`], so a node restored from a snapshot answers a retried write exactly like a
//! node that replayed the whole log. Written and read through the parent module's
//! checksumming [`Encoder`] and [`Decoder`]; the layout is documented in `snapshot.rs`.
//!
//! A remembered outcome is a `store::Response`, stored as its serde JSON: responses are plain
//! data with no maps whose order could vary, so the text is the same on every node. A
//! change to `Response` that renames a variant or field must bump the snapshot version.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use super::super::requests::{ClientRequests, Remembered, RequestLog};
use super::service_record::{put_str, read_str};
use super::{Blob, Decoder, Encoder, Place, encodable_len, invalid};
use crate::store::{MAX_PER_CLIENT, Response};

/// Writes one record per client (each after its tag); returns how many were written.
pub(super) fn write_all<W: Write>(
    out: &mut Encoder<W>,
    log: &RequestLog,
    tag: u8,
    mut at: u64,
) -> io::Result<u64> {
    let first = at;
    for (client_id, client) in log.clients() {
        out.put(&[tag])?;
        put_str(out, client_id, "request client id", at)?;
        out.put(&client.floor.to_le_bytes())?;
        out.put(&client.last_ms.to_le_bytes())?;
        let count = encodable_len(client.done.len(), MAX_PER_CLIENT, "request count", at)?;
        out.put(&count.to_le_bytes())?;
        for (seq, r) in &client.done {
            out.put(&seq.to_le_bytes())?;
            out.put(&r.index.to_le_bytes())?;
            out.put(&r.at_ms.to_le_bytes())?;
            let json = serde_json::to_vec(&r.response).map_err(io::Error::other)?;
            let len = encodable_len(
                json.len(),
                super::MAX_SNAPSHOT_VALUE_LEN,
                "request outcome",
                at,
            )?;
            out.put(&len.to_le_bytes())?;
            out.put(&json)?;
        }
        at += 1;
    }
    Ok(at - first)
}

/// Reads one client record (after its tag) into `clients`, refusing a client id that does
/// not sort after the previous one.
pub(super) fn read<R: Read>(
    input: &mut Decoder<R>,
    clients: &mut BTreeMap<String, ClientRequests>,
    at: u64,
) -> io::Result<()> {
    let client_id = read_str(
        input,
        Blob::Text("request client id", "request client id length"),
        at,
    )?;
    if let Some((previous, _)) = clients.last_key_value()
        && client_id.as_str() <= previous.as_str()
    {
        return Err(invalid(format!(
            "the request client of snapshot entry {at} does not sort after the previous one"
        )));
    }
    let floor = input.u64(Place::Entry(at, "request floor"))?;
    let last_ms = input.u64(Place::Entry(at, "request client time"))?;
    let count = input.u32(Place::Entry(at, "request count"))?;
    if count as usize > MAX_PER_CLIENT {
        return Err(invalid(format!(
            "the request count {count} of snapshot entry {at} exceeds the maximum \
             {MAX_PER_CLIENT}"
        )));
    }
    let mut done = BTreeMap::new();
    for _ in 0..count {
        let seq = input.u64(Place::Entry(at, "request seq"))?;
        let index = input.u64(Place::Entry(at, "request index"))?;
        let at_ms = input.u64(Place::Entry(at, "request time"))?;
        let json = input.bytes(Blob::Value, at)?;
        let response: Response = serde_json::from_slice(&json).map_err(|e| {
            invalid(format!(
                "the request outcome of snapshot entry {at} does not decode: {e}"
            ))
        })?;
        if done
            .insert(
                seq,
                Remembered {
                    response,
                    index,
                    at_ms,
                },
            )
            .is_some()
        {
            return Err(invalid(format!(
                "request seq {seq} appears twice in snapshot entry {at}"
            )));
        }
    }
    clients.insert(
        client_id,
        ClientRequests {
            floor,
            done,
            last_ms,
        },
    );
    Ok(())
}
