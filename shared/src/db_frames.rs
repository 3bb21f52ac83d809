//! [`Watched`]: a database connection's stream that fails once the server has been
//! silent too long while a request waits, and just enough of the Postgres wire protocol
//! to know when one does: the client's requests that the server ends with
//! `ReadyForQuery` (the startup message, `Query`, `Sync`) counted against the
//! `ReadyForQuery` messages that come back. [`crate::db_connect`] opens the pool's
//! connections over it.
//!
//! Every message after the first is a type byte and a 4-byte length (which counts itself);
//! the first ones a client sends (`SSLRequest`, the startup message) have no type byte,
//! and the server answers an `SSLRequest` with one bare byte, `S` or `N`.

use crate::db_connect::Liveness;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsStream};

/// The protocol code of `SSLRequest` (in place of a protocol version).
const SSL_REQUEST: u32 = 80_877_103;
/// The protocol code of `CancelRequest`: it gets no answer.
const CANCEL_REQUEST: u32 = 80_877_102;

/// What the next bytes of one direction are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A length and a code, no type byte: the client's first messages.
    Untagged,
    /// A type byte and a length.
    Tagged,
    /// The server's one-byte answer to `SSLRequest`.
    SslAnswer,
}

/// One direction's framing: where its next message starts.
#[derive(Debug, Clone)]
struct Frames {
    expect: Expect,
    header: [u8; 8],
    have: usize,
    /// Body bytes of the current message still to pass over.
    skip: usize,
}

/// A message's start, as far as it matters here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Untagged(u32),
    Tagged(u8),
    SslAnswer(u8),
}

impl Frames {
    fn new(expect: Expect) -> Frames {
        Frames {
            expect,
            header: [0; 8],
            have: 0,
            skip: 0,
        }
    }

    fn header_len(&self) -> usize {
        match self.expect {
            Expect::Untagged => 8,
            Expect::Tagged => 5,
            Expect::SslAnswer => 1,
        }
    }

    /// Feeds `data`, calling `on` with each message that starts in it; `on` says what
    /// the direction expects next.
    fn feed(&mut self, mut data: &[u8], mut on: impl FnMut(Start) -> Option<Expect>) {
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            let want = self.header_len();
            let n = (want - self.have).min(data.len());
            self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have < want {
                return;
            }
            self.have = 0;
            let h = self.header;
            let (start, body) = match self.expect {
                Expect::Untagged => {
                    let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
                    let code = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
                    (Start::Untagged(code), len.saturating_sub(8))
                }
                Expect::Tagged => {
                    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
                    (Start::Tagged(h[0]), len.saturating_sub(4))
                }
                Expect::SslAnswer => (Start::SslAnswer(h[0]), 0),
            };
            self.skip = body;
            if let Some(next) = on(start) {
                self.expect = next;
            }
        }
    }
}

/// Both directions of one connection, and the requests still waiting for their end.
#[derive(Debug, Clone)]
pub(crate) struct Framing {
    client: Frames,
    server: Frames,
    unanswered: u32,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            client: Frames::new(Expect::Untagged),
            server: Frames::new(Expect::Tagged),
            unanswered: 0,
        }
    }
}

impl Framing {
    /// Whether a request waits for the server's answer.
    pub(crate) fn awaiting(&self) -> bool {
        self.unanswered > 0
    }

    /// Bytes the client sent.
    pub(crate) fn client_sent(&mut self, data: &[u8]) {
        let (unanswered, server) = (&mut self.unanswered, &mut self.server);
        self.client.feed(data, |start| match start {
            Start::Untagged(SSL_REQUEST) => {
                server.expect = Expect::SslAnswer;
                Some(Expect::Untagged)
            }
            Start::Untagged(CANCEL_REQUEST) => None,
            // The startup message: authentication ends with ReadyForQuery.
            Start::Untagged(_) => {
                *unanswered += 1;
                Some(Expect::Tagged)
            }
            Start::Tagged(b'Q' | b'S') => {
                *unanswered += 1;
                None
            }
            _ => None,
        });
    }

    /// Bytes the server sent.
    pub(crate) fn server_sent(&mut self, data: &[u8]) {
        let unanswered = &mut self.unanswered;
        self.server.feed(data, |start| match start {
            // `S`: TLS follows, and these bytes are no longer read (`Watched` stands down).
            Start::SslAnswer(_) => Some(Expect::Tagged),
            Start::Tagged(b'Z') => {
                *unanswered = unanswered.saturating_sub(1);
                None
            }
            _ => None,
        });
    }
}

/// A stream whose reads fail once the server has been silent for `response_timeout`
/// while a request waits for its answer ([`Framing`] knows when one does).
pub(crate) struct Watched<S> {
    inner: S,
    /// `None` once TLS runs above: these bytes are ciphertext.
    framing: Option<Framing>,
    timeout: Duration,
    /// Armed when a read finds nothing while a request is unanswered; disarmed by any
    /// byte either way.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Watched<S> {
    pub(crate) fn new(inner: S, liveness: Liveness) -> Watched<S> {
        Watched {
            inner,
            framing: Some(Framing::default()),
            timeout: liveness.response_timeout,
            deadline: None,
        }
    }

    /// TLS runs above from now on: these bytes are ciphertext, and the stream above is
    /// watched instead.
    pub(crate) fn stand_down(&mut self) {
        self.framing = None;
    }
}

impl<S: TlsStream + Unpin> TlsStream for Watched<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.inner.channel_binding()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if let Some(framing) = &mut this.framing {
                    framing.server_sent(&buf.filled()[before..]);
                }
                this.deadline = None;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if !this.framing.as_ref().is_some_and(Framing::awaiting) {
                    this.deadline = None;
                    return Poll::Pending;
                }
                let timeout = this.timeout;
                let deadline = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the database sent nothing for {} ms while a request waited \
                             (database.response_timeout_ms)",
                            timeout.as_millis()
                        ),
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            if n > 0 {
                if let Some(framing) = &mut this.framing {
                    framing.client_sent(&buf[..n]);
                }
                // A long upload to a server that takes it is progress, not silence. The
                // watch starts now: the connection may not read again until woken, and
                // the timer is what wakes it if the server never answers.
                this.deadline = None;
                if this.framing.as_ref().is_some_and(Framing::awaiting) {
                    let mut deadline = Box::pin(tokio::time::sleep(this.timeout));
                    // Registers this task's waker; a fresh timer is never due yet.
                    let _ = deadline.as_mut().poll(cx);
                    this.deadline = Some(deadline);
                }
            }
        }
        written
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn untagged(code: u32, body: &[u8]) -> Vec<u8> {
        let mut m = (body.len() as u32 + 8).to_be_bytes().to_vec();
        m.extend_from_slice(&code.to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn a_request_waits_from_its_send_to_ready_for_query_whatever_the_chunks() {
        let mut f = Framing::default();
        f.client_sent(&untagged(SSL_REQUEST, &[]));
        assert!(!f.awaiting(), "an SSLRequest is answered by one byte");
        f.server_sent(b"N");
        f.client_sent(&untagged(196_608, b"user\0app\0\0"));
        assert!(f.awaiting(), "startup waits for ReadyForQuery");
        let mut auth = tagged(b'R', &[0, 0, 0, 0]);
        auth.extend(tagged(b'S', b"server_version\x0015\0"));
        auth.extend(tagged(b'Z', b"I"));
        // One byte at a time: a message split across reads is still one message.
        for b in &auth {
            f.server_sent(std::slice::from_ref(b));
        }
        assert!(!f.awaiting(), "idle after authentication");
        // Extended query: Parse, Bind, Execute, Sync; rows; ReadyForQuery.
        let mut q = tagged(b'P', b"\0SELECT 1\0\0\0");
        q.extend(tagged(b'B', &[0; 10]));
        q.extend(tagged(b'E', &[0; 5]));
        q.extend(tagged(b'S', &[]));
        q.extend(tagged(b'Q', b"SELECT 2\0"));
        f.client_sent(&q);
        assert!(f.awaiting());
        let mut rows = tagged(b'1', &[]);
        rows.extend(tagged(b'D', &[0; 300]));
        rows.extend(tagged(b'C', b"SELECT 1\0"));
        rows.extend(tagged(b'Z', b"I"));
        f.server_sent(&rows);
        assert!(f.awaiting(), "the pipelined simple query still waits");
        f.server_sent(&tagged(b'Z', b"I"));
        assert!(!f.awaiting());
    }

    #[test]
    fn after_tls_begins_the_startup_is_read_from_its_own_first_byte() {
        let mut raw = Framing::default();
        raw.client_sent(&untagged(SSL_REQUEST, &[]));
        raw.server_sent(b"S");
        assert!(!raw.awaiting());
        // Above TLS a fresh Framing reads the startup message.
        let mut above = Framing::default();
        above.client_sent(&untagged(196_608, b"user\0u\0\0"));
        assert!(above.awaiting());
    }
}
