//! A socket wrapper that fails all I/O once cancelled, so that dropping a [`Session`]
//! or abandoning a timed-out handshake really closes the connection russh's background
//! task still holds, and that remembers whether the server ever sent a byte.
//!
//! [`Session`]: super::Session

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

pub(crate) struct GuardedStream<S> {
    inner: S,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    received_any: Arc<AtomicBool>,
}

impl<S> GuardedStream<S> {
    /// Wraps `inner`; I/O fails once `token` is cancelled. `received_any` is set at the
    /// first byte read.
    pub(crate) fn new(inner: S, token: CancellationToken, received_any: Arc<AtomicBool>) -> Self {
        GuardedStream {
            inner,
            cancelled: Box::pin(token.cancelled_owned()),
            received_any,
        }
    }

    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.cancelled.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection closed locally",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check(cx)?;
        let before = buf.filled().len();
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.received_any.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GuardedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check(cx)?;
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check(cx)?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn pending_read_fails_when_cancelled() {
        let (a, mut b) = tokio::io::duplex(64);
        let token = CancellationToken::new();
        let seen = Arc::new(AtomicBool::new(false));
        let mut g = GuardedStream::new(a, token.clone(), Arc::clone(&seen));
        b.write_all(b"x").await.expect("write");
        let mut buf = [0u8; 8];
        assert_eq!(g.read(&mut buf).await.expect("read"), 1);
        assert!(seen.load(Ordering::Relaxed));
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            g.read(&mut buf).await
        });
        token.cancel();
        let r = reader.await.expect("join");
        assert_eq!(
            r.expect_err("read must fail").kind(),
            io::ErrorKind::ConnectionAborted
        );
    }
}
