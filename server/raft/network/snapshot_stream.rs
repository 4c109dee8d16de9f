//! The request stream of one outgoing snapshot transfer (`PeerClient::full_snapshot`): the
//! header, then the file in chunks read as the transport asks for them.

use std::sync::Arc;

use futures::{Stream, StreamExt, stream};
use konsul_proto::raft::v1 as pb;
use konsul_proto::raft::v1::install_snapshot_request::Part;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{Notify, oneshot};

use super::SNAPSHOT_CHUNK_BYTES;

/// The request stream of one snapshot transfer: the header, then the file in chunks. It
/// notifies `progress` each time the transport takes a message. On a read error it reports
/// through `failed` and then never ends, so the stream cannot look complete.
pub(super) fn snapshot_stream(
    header: pb::SnapshotHeader,
    file: impl AsyncRead + Unpin + Send + 'static,
    failed: oneshot::Sender<std::io::Error>,
    progress: Arc<Notify>,
) -> impl Stream<Item = pb::InstallSnapshotRequest> + Send + 'static {
    let first = pb::InstallSnapshotRequest {
        part: Some(Part::Header(header)),
    };
    let chunks = stream::unfold((file, Some(failed)), |(mut file, mut failed)| async move {
        match read_chunk(&mut file).await {
            Ok(chunk) if chunk.is_empty() => None,
            Ok(chunk) => {
                let msg = pb::InstallSnapshotRequest {
                    part: Some(Part::Chunk(chunk)),
                };
                Some((msg, (file, failed)))
            }
            Err(e) => {
                if let Some(failed) = failed.take() {
                    let _ = failed.send(e);
                }
                std::future::pending().await
            }
        }
    });
    stream::once(async move { first })
        .chain(chunks)
        .inspect(move |_| progress.notify_one())
}

/// Reads up to [`SNAPSHOT_CHUNK_BYTES`]; empty at the end of the file.
async fn read_chunk(file: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Vec<u8>> {
    let mut chunk = vec![0; SNAPSHOT_CHUNK_BYTES];
    let mut filled = 0;
    while filled < chunk.len() {
        match file.read(&mut chunk[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    chunk.truncate(filled);
    Ok(chunk)
}
