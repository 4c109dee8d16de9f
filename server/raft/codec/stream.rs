//! The messages of the StreamAppend call (pipelined replication, `network/append_stream.rs`
//! and `service.rs`): each request wraps an AppendEntries request as the unary call carries
//! it, and each answer is openraft's `StreamAppendResult` (flushed up to a log id, or the
//! conflict or higher vote that ends the stream).

use konsul_proto::raft::v1 as pb;
use konsul_proto::raft::v1::stream_append_response::Result as PbStreamResult;
use openraft::raft::{AppendEntriesRequest, StreamAppendError, StreamAppendResult};

use super::{
    DecodeResult, decode_append_request, decode_log_id, decode_opt_log_id, decode_vote,
    encode_append_request, encode_log_id, encode_opt_log_id, encode_vote, required,
};
use crate::raft::TypeConfig;

/// Encodes one request of a StreamAppend stream.
pub fn encode_stream_request(req: AppendEntriesRequest<TypeConfig>) -> pb::StreamAppendRequest {
    pb::StreamAppendRequest {
        append: Some(encode_append_request(req)),
    }
}

/// Decodes one request of a StreamAppend stream; the wrapped request is required.
pub fn decode_stream_request(
    req: pb::StreamAppendRequest,
) -> DecodeResult<AppendEntriesRequest<TypeConfig>> {
    decode_append_request(required(req.append, "StreamAppendRequest.append")?)
}

/// Encodes the answer to one request of a StreamAppend stream.
pub fn encode_stream_response(res: &StreamAppendResult<TypeConfig>) -> pb::StreamAppendResponse {
    let result = match res {
        Ok(flushed) => PbStreamResult::Flushed(pb::Flushed {
            log_id: encode_opt_log_id(flushed),
        }),
        Err(StreamAppendError::Conflict(at)) => PbStreamResult::Conflict(encode_log_id(at)),
        Err(StreamAppendError::HigherVote(v)) => PbStreamResult::HigherVote(encode_vote(v)),
    };
    pb::StreamAppendResponse {
        result: Some(result),
    }
}

/// Decodes the answer to one request of a StreamAppend stream; the outcome is required.
pub fn decode_stream_response(
    resp: pb::StreamAppendResponse,
) -> DecodeResult<StreamAppendResult<TypeConfig>> {
    Ok(
        match required(resp.result, "StreamAppendResponse.result")? {
            PbStreamResult::Flushed(f) => Ok(decode_opt_log_id(f.log_id)?),
            PbStreamResult::Conflict(at) => Err(StreamAppendError::Conflict(decode_log_id(at)?)),
            PbStreamResult::HigherVote(v) => Err(StreamAppendError::HigherVote(decode_vote(v)?)),
        },
    )
}
