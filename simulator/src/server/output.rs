//! Output that misbehaves: a TCP cut in the middle of a reply, and an endless reply.

use std::sync::Arc;
use std::time::Duration;

use russh::server::Msg;
use russh::ChannelWriteHalf;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Time for the first half of a reply to reach the socket before the cut.
const CUT_AFTER: Duration = Duration::from_millis(100);

/// Bytes per write of an endless reply: large enough to be cheap, small enough that a
/// client closing the channel stops it at once.
const ENDLESS_CHUNK: usize = 16 * 1024;

/// A second handle on a connection's socket, to cut it while russh owns the first.
#[derive(Debug, Clone)]
pub(crate) struct Cutter(Arc<std::net::TcpStream>);

impl Cutter {
    /// The socket to give russh, and its cutter.
    pub(crate) fn split(socket: TcpStream) -> std::io::Result<(TcpStream, Cutter)> {
        let std = socket.into_std()?;
        let clone = std.try_clone()?;
        Ok((TcpStream::from_std(std)?, Cutter(Arc::new(clone))))
    }

    /// Shuts the socket down shortly, once what was queued so far has been written:
    /// the client reads a partial reply and then end-of-stream, with no SSH goodbye.
    pub(crate) fn cut_soon(&self, tracker: &TaskTracker) {
        let socket = self.0.clone();
        tracker.spawn(async move {
            tokio::time::sleep(CUT_AFTER).await;
            if let Err(e) = socket.shutdown(std::net::Shutdown::Both) {
                tracing::debug!(error = %e, "mid-output cut: shutdown failed");
            }
        });
    }
}

/// Writes `text` again and again on `channel` until `stop` (channel closed, session gone,
/// fleet stopping) or the channel refuses. Flow-controlled by the SSH window: a client
/// that stops reading stalls the writer, it is never buffered for.
pub(crate) fn endless(
    channel: ChannelWriteHalf<Msg>,
    text: Vec<u8>,
    stop: CancellationToken,
    tracker: &TaskTracker,
) {
    let mut chunk = Vec::with_capacity(ENDLESS_CHUNK + text.len());
    while chunk.len() < ENDLESS_CHUNK && !text.is_empty() {
        chunk.extend_from_slice(&text);
    }
    if chunk.is_empty() {
        chunk = b"\r\n".to_vec();
    }
    tracker.spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                // A copy per write: noise next to encrypting the same bytes.
                r = channel.data_bytes(chunk.clone()) => {
                    if r.is_err() {
                        return;
                    }
                }
            }
        }
    });
}
