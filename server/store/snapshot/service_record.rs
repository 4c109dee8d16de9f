//! One service record of the snapshot format (versions 2 and 3; 3 adds the checks, read
//! and written by `check_record.rs`): how a [`ServiceEntry`] is laid out after its tag, written and read field by field through the parent module's
//! checksumming [`Encoder`] and [`Decoder`]. The layout is documented in `snapshot.rs`.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use super::super::{Service, ServiceEntry};
use super::{Blob, Decoder, Encoder, MAX_SNAPSHOT_KEY_LEN, Place, encodable_len, invalid};

/// Most tags or metadata pairs one service record may hold: far above the API's limits
/// (64 each), small enough that a corrupt count is caught before it costs anything.
pub(super) const MAX_LIST_LEN: usize = 65_536;

/// Writes one service record's fields (the tag is already written); `at` is the record's
/// position, for error messages.
pub(super) fn write<W: Write>(
    out: &mut Encoder<W>,
    entry: &ServiceEntry,
    at: u64,
) -> io::Result<()> {
    let s = &entry.service;
    put_str(out, &s.name, "service name", at)?;
    match &s.id {
        None => out.put(&[0])?,
        Some(id) => {
            out.put(&[1])?;
            put_str(out, id, "service id", at)?;
        }
    }
    put_str(out, &s.address, "service address", at)?;
    out.put(&s.port.to_le_bytes())?;
    out.put(&encodable_len(s.tags.len(), MAX_LIST_LEN, "tag count", at)?.to_le_bytes())?;
    for tag in &s.tags {
        put_str(out, tag, "service tag", at)?;
    }
    out.put(&encodable_len(s.meta.len(), MAX_LIST_LEN, "meta count", at)?.to_le_bytes())?;
    for (key, value) in &s.meta {
        put_str(out, key, "meta key", at)?;
        put_str(out, value, "meta value", at)?;
    }
    for n in [
        s.ttl_ms,
        entry.create_index,
        entry.modify_index,
        entry.expires_at_ms,
    ] {
        out.put(&n.to_le_bytes())?;
    }
    let count = encodable_len(s.checks.len(), MAX_LIST_LEN, "check count", at)?;
    out.put(&count.to_le_bytes())?;
    for def in &s.checks {
        super::check_record::write(out, def, entry.checks.get(&def.id), at)?;
    }
    Ok(())
}

/// Reads one service record's fields (after its tag); `at` is the record's position. Checks
/// are read only when `with_checks` (format version 3 on).
pub(super) fn read<R: Read>(
    input: &mut Decoder<R>,
    at: u64,
    with_checks: bool,
) -> io::Result<ServiceEntry> {
    let name = read_str(input, Blob::Text("service name", "service name length"), at)?;
    let id = match input.u8(Place::Entry(at, "service id flag"))? {
        0 => None,
        1 => Some(read_str(
            input,
            Blob::Text("service id", "service id length"),
            at,
        )?),
        flag => {
            return Err(invalid(format!(
                "the service id flag of snapshot entry {at} is {flag}, not 0 or 1"
            )));
        }
    };
    let address = read_str(
        input,
        Blob::Text("service address", "service address length"),
        at,
    )?;
    let mut port = [0u8; 2];
    input.take_exact(&mut port, Place::Entry(at, "service port"))?;
    let port = u16::from_le_bytes(port);

    let tag_count = read_count(input, "tag count", at)?;
    let mut tags = Vec::new();
    for _ in 0..tag_count {
        tags.push(read_str(
            input,
            Blob::Text("service tag", "service tag length"),
            at,
        )?);
    }
    let meta_count = read_count(input, "meta count", at)?;
    let mut meta = BTreeMap::new();
    for _ in 0..meta_count {
        let key = read_str(input, Blob::Text("meta key", "meta key length"), at)?;
        if let Some((previous, _)) = meta.last_key_value()
            && key.as_str() <= String::as_str(previous)
        {
            return Err(invalid(format!(
                "the meta keys of snapshot entry {at} are not strictly ascending"
            )));
        }
        let value = read_str(input, Blob::Text("meta value", "meta value length"), at)?;
        meta.insert(key, value);
    }
    let ttl_ms = input.u64(Place::Entry(at, "ttl_ms"))?;
    let create_index = input.u64(Place::Entry(at, "create_index"))?;
    let modify_index = input.u64(Place::Entry(at, "modify_index"))?;
    let expires_at_ms = input.u64(Place::Entry(at, "expires_at_ms"))?;
    let mut checks = Vec::new();
    let mut states = BTreeMap::new();
    if with_checks {
        for _ in 0..read_count(input, "check count", at)? {
            let (def, state) = super::check_record::read(input, at)?;
            if states.insert(def.id.clone(), state).is_some() {
                return Err(invalid(format!(
                    "check id {:?} appears twice in snapshot entry {at}",
                    def.id
                )));
            }
            checks.push(def);
        }
    }
    Ok(ServiceEntry {
        service: Service {
            name,
            id,
            address,
            port,
            tags,
            meta,
            ttl_ms,
            checks,
        },
        create_index,
        modify_index,
        expires_at_ms,
        checks: states,
    })
}

/// Writes a `u32` length and the UTF-8 bytes of `text`.
pub(super) fn put_str<W: Write>(
    out: &mut Encoder<W>,
    text: &str,
    field: &str,
    at: u64,
) -> io::Result<()> {
    let len = encodable_len(text.len(), MAX_SNAPSHOT_KEY_LEN, field, at)?;
    out.put(&len.to_le_bytes())?;
    out.put(text.as_bytes())
}

/// Reads a length-prefixed UTF-8 string.
pub(super) fn read_str<R: Read>(input: &mut Decoder<R>, blob: Blob, at: u64) -> io::Result<String> {
    let bytes = input.bytes(blob, at)?;
    String::from_utf8(bytes).map_err(|_| {
        invalid(format!(
            "the {} of snapshot entry {at} is not valid UTF-8",
            blob.name()
        ))
    })
}

/// Reads a tag or meta count, refusing one over [`MAX_LIST_LEN`].
pub(super) fn read_count<R: Read>(
    input: &mut Decoder<R>,
    field: &'static str,
    at: u64,
) -> io::Result<u32> {
    let count = input.u32(Place::Entry(at, field))?;
    if count as usize > MAX_LIST_LEN {
        return Err(invalid(format!(
            "the {field} {count} of snapshot entry {at} exceeds the maximum {MAX_LIST_LEN}"
        )));
    }
    Ok(count)
}
