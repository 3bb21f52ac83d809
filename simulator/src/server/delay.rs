//! The network's round trip ([`crate::Latency::rtt_ms`]): a delay line between the client's
//! socket and russh. Each chunk the client sends is read by the device `rtt` after it
//! arrived, in order; what the device writes leaves at once. A request and its answer
//! then take one round trip, as on a real link.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Bytes read from the client at a time, and the most the line holds toward the device
/// before its writer waits (russh reads it as fast as it decrypts).
const CHUNK: usize = 16 * 1024;

/// The device's end of a connection whose client → device direction is `rtt` late. Three
/// small tasks carry the bytes; they end when either side closes (or at `stop`).
pub(crate) fn delayed(
    socket: TcpStream,
    rtt: Duration,
    stop: CancellationToken,
    tracker: &TaskTracker,
) -> DuplexStream {
    let (device, line) = tokio::io::duplex(CHUNK);
    let (mut from_client, mut to_client) = socket.into_split();
    let (mut from_device, mut to_device) = tokio::io::split(line);
    // Unbounded: what is in flight is what the client sent within one round trip, which
    // SSH's window and the client's own waiting for answers keep small.
    let (chunks, mut due) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    // Cancelled once the device's side has closed: nothing more is read from the client.
    let closed = stop.child_token();
    let stop = closed.clone();
    tracker.spawn(async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = tokio::select! {
                _ = stop.cancelled() => return,
                r = from_client.read(&mut buf) => match r {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                },
            };
            if chunks
                .send((Instant::now() + rtt, buf[..n].to_vec()))
                .is_err()
            {
                return;
            }
        }
    });
    tracker.spawn(async move {
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            if to_device.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to_device.shutdown().await;
    });
    tracker.spawn(async move {
        let _ = tokio::io::copy(&mut from_device, &mut to_client).await;
        let _ = to_client.shutdown().await;
        closed.cancel();
    });
    device
}
