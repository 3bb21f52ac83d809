//! A shell server with output built to trip prompt detection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use russh::server::{Auth, ChannelOpenHandle, Handle, Msg, Session};
use russh::{Channel, ChannelId, MethodKind};

use crate::common::serve;

pub const PROMPT: &str = "R1#";

#[derive(Default)]
pub struct Conn {
    lines: HashMap<ChannelId, Vec<u8>>,
}

async fn send(h: &Handle, c: ChannelId, s: &str) {
    let _ = h.data(c, s.as_bytes().to_vec()).await;
}

/// Output of a typed line, in timed pieces.
async fn answer(h: Handle, c: ChannelId, line: String) {
    match line.as_str() {
        // A config line equal to the prompt, cut right after it by a pause shorter
        // than the quiet window (300 ms in these tests); colours and a title escape
        // on the way.
        "show tricky" => {
            send(
                &h,
                c,
                "\x1b]0;R1\x07\x1b[1mhostname R1\x1b[0m\r\nbanner\r\nR1#",
            )
            .await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            send(&h, c, "\r\n end of banner\r\n").await;
            send(&h, c, PROMPT).await;
        }
        // Output that keeps coming in 400 ms steps (idle timeout 1 s), then a prompt.
        "show slow" => {
            for i in 0..4 {
                tokio::time::sleep(Duration::from_millis(400)).await;
                send(&h, c, &format!("step {i}\r\n")).await;
            }
            send(&h, c, PROMPT).await;
        }
        // Never comes back.
        "hang" => {}
        _ => send(&h, c, PROMPT).await,
    }
}

impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_password(&mut self, _: &str, _: &str) -> Result<Auth, Self::Error> {
        Ok(Auth::Accept)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.lines.insert(channel.id(), Vec::new());
        drop(channel);
        reply.accept().await;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _: &str,
        _: u32,
        _: u32,
        _: u32,
        _: u32,
        _: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        // A MOTD with a prompt-looking line, then the real prompt.
        session.data(
            channel,
            b"\r\nR1#\r\nAuthorized access only\r\n\r\nR1#".to_vec(),
        )?;
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(buf) = self.lines.get_mut(&channel) else {
            return Ok(());
        };
        for &b in data {
            if b == b'\r' || b == b'\n' {
                let line = String::from_utf8_lossy(&std::mem::take(buf)).into_owned();
                session.data(channel, format!("{line}\r\n").into_bytes())?;
                tokio::spawn(answer(session.handle(), channel, line));
            } else {
                buf.push(b);
            }
        }
        Ok(())
    }
}

/// Starts the server on a free local port.
pub async fn start() -> SocketAddr {
    serve(MethodKind::Password, 3, Conn::default).await
}
