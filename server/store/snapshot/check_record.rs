//! The health checks inside a service record (snapshot format version 3): each check's
//! definition and replicated state, written and read through the parent module's
//! checksumming [`Encoder`] and [`Decoder`]. The layout is documented in `snapshot.rs`.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use super::super::{CheckDefinition, CheckKind, CheckState, CheckStatus};
use super::service_record::{put_str, read_count, read_str};
use super::{Blob, Decoder, Encoder, Place, invalid};

const KIND_TTL: u8 = 0;
const KIND_HTTP: u8 = 1;
const KIND_TCP: u8 = 2;
const KIND_GRPC: u8 = 3;

/// Writes one check: its definition, then its state (a never-run state when absent).
pub(super) fn write<W: Write>(
    out: &mut Encoder<W>,
    def: &CheckDefinition,
    state: Option<&CheckState>,
    at: u64,
) -> io::Result<()> {
    put_str(out, &def.id, "check id", at)?;
    put_str(out, &def.name, "check name", at)?;
    match &def.kind {
        CheckKind::Ttl { ttl_ms } => {
            out.put(&[KIND_TTL])?;
            out.put(&ttl_ms.to_le_bytes())?;
        }
        CheckKind::Http {
            url,
            method,
            headers,
            tls_skip_verify,
        } => {
            out.put(&[KIND_HTTP])?;
            put_str(out, url, "check url", at)?;
            put_str(out, method, "check method", at)?;
            let count = super::encodable_len(
                headers.len(),
                super::service_record::MAX_LIST_LEN,
                "header count",
                at,
            )?;
            out.put(&count.to_le_bytes())?;
            for (name, value) in headers {
                put_str(out, name, "check header name", at)?;
                put_str(out, value, "check header value", at)?;
            }
            out.put(&[u8::from(*tls_skip_verify)])?;
        }
        CheckKind::Tcp { address } => {
            out.put(&[KIND_TCP])?;
            put_str(out, address, "check address", at)?;
        }
        CheckKind::Grpc {
            address,
            service,
            use_tls,
        } => {
            out.put(&[KIND_GRPC])?;
            put_str(out, address, "check address", at)?;
            put_str(out, service, "check grpc service", at)?;
            out.put(&[u8::from(*use_tls)])?;
        }
    }
    out.put(&def.interval_ms.to_le_bytes())?;
    out.put(&def.timeout_ms.to_le_bytes())?;
    let fresh = CheckState::new_check();
    let state = state.unwrap_or(&fresh);
    out.put(&[status_byte(state.status)])?;
    put_str(out, &state.output, "check output", at)?;
    out.put(&state.last_check_ms.to_le_bytes())?;
    out.put(&state.expires_at_ms.to_le_bytes())
}

/// Reads one check written by [`write`].
pub(super) fn read<R: Read>(
    input: &mut Decoder<R>,
    at: u64,
) -> io::Result<(CheckDefinition, CheckState)> {
    let id = read_str(input, Blob::Text("check id", "check id length"), at)?;
    let name = read_str(input, Blob::Text("check name", "check name length"), at)?;
    let kind = match input.u8(Place::Entry(at, "check kind"))? {
        KIND_TTL => CheckKind::Ttl {
            ttl_ms: input.u64(Place::Entry(at, "check ttl_ms"))?,
        },
        KIND_HTTP => {
            let url = read_str(input, Blob::Text("check url", "check url length"), at)?;
            let method = read_str(input, Blob::Text("check method", "check method length"), at)?;
            let count = read_count(input, "header count", at)?;
            let mut headers = BTreeMap::new();
            for _ in 0..count {
                let name = read_str(
                    input,
                    Blob::Text("check header name", "check header name length"),
                    at,
                )?;
                let value = read_str(
                    input,
                    Blob::Text("check header value", "check header value length"),
                    at,
                )?;
                headers.insert(name, value);
            }
            let tls_skip_verify = read_bool(input, "check tls_skip_verify", at)?;
            CheckKind::Http {
                url,
                method,
                headers,
                tls_skip_verify,
            }
        }
        KIND_TCP => CheckKind::Tcp {
            address: read_str(
                input,
                Blob::Text("check address", "check address length"),
                at,
            )?,
        },
        KIND_GRPC => CheckKind::Grpc {
            address: read_str(
                input,
                Blob::Text("check address", "check address length"),
                at,
            )?,
            service: read_str(
                input,
                Blob::Text("check grpc service", "check grpc service length"),
                at,
            )?,
            use_tls: read_bool(input, "check use_tls", at)?,
        },
        other => {
            return Err(invalid(format!(
                "unknown check kind {other} in snapshot entry {at}"
            )));
        }
    };
    let interval_ms = input.u64(Place::Entry(at, "check interval_ms"))?;
    let timeout_ms = input.u64(Place::Entry(at, "check timeout_ms"))?;
    let status = match input.u8(Place::Entry(at, "check status"))? {
        0 => CheckStatus::Passing,
        1 => CheckStatus::Warning,
        2 => CheckStatus::Critical,
        other => {
            return Err(invalid(format!(
                "unknown check status {other} in snapshot entry {at}"
            )));
        }
    };
    let output = read_str(input, Blob::Text("check output", "check output length"), at)?;
    let last_check_ms = input.u64(Place::Entry(at, "check last_check_ms"))?;
    let expires_at_ms = input.u64(Place::Entry(at, "check expires_at_ms"))?;
    Ok((
        CheckDefinition {
            id,
            name,
            kind,
            interval_ms,
            timeout_ms,
        },
        CheckState {
            status,
            output,
            last_check_ms,
            expires_at_ms,
        },
    ))
}

fn status_byte(status: CheckStatus) -> u8 {
    match status {
        CheckStatus::Passing => 0,
        CheckStatus::Warning => 1,
        CheckStatus::Critical => 2,
    }
}

fn read_bool<R: Read>(input: &mut Decoder<R>, field: &'static str, at: u64) -> io::Result<bool> {
    match input.u8(Place::Entry(at, field))? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(invalid(format!(
            "the {field} of snapshot entry {at} is {other}, not 0 or 1"
        ))),
    }
}
