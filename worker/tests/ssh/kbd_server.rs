//! A small russh server for behaviour the simulator does not have: keyboard-interactive
//! only, an AAA server that never answers, a command that never answers, one that drips.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use russh::server::{Auth, ChannelOpenHandle, Msg, Response, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};

use crate::common::serve;

pub const SECRET: &str = "kbd-secret";
pub const STALL_USER: &str = "stall";

pub struct Conn;

fn kbd_only() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(MethodSet::from(&[MethodKind::KeyboardInteractive][..])),
        partial_success: false,
    }
}

impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_password(&mut self, _: &str, _: &str) -> Result<Auth, Self::Error> {
        Ok(kbd_only())
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        if user == STALL_USER {
            // An AAA server that never answers.
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        match response {
            None => Ok(Auth::Partial {
                name: Cow::Borrowed(""),
                instructions: Cow::Borrowed(""),
                prompts: Cow::Owned(vec![(Cow::Borrowed("Password: "), false)]),
            }),
            Some(answers) => {
                let answers: Vec<_> = answers.collect();
                if answers.len() == 1 && answers[0].as_ref() == SECRET.as_bytes() {
                    Ok(Auth::Accept)
                } else {
                    Ok(kbd_only())
                }
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        drop(channel);
        reply.accept().await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        match data {
            // Never answers.
            b"hang" => {}
            // One line every 300 ms for 2.1 s, then exit 0.
            b"drip" => {
                let handle = session.handle();
                tokio::spawn(async move {
                    for i in 0..7 {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        let _ = handle
                            .data(channel, format!("line {i}\n").into_bytes())
                            .await;
                    }
                    let _ = handle.exit_status_request(channel, 0).await;
                    let _ = handle.eof(channel).await;
                    let _ = handle.close(channel).await;
                });
            }
            _ => {
                session.data(channel, b"ok\n".to_vec())?;
                session.exit_status_request(channel, 0)?;
                session.eof(channel)?;
                session.close(channel)?;
            }
        }
        Ok(())
    }
}

/// Starts the server on a free local port.
pub async fn start() -> SocketAddr {
    serve(MethodKind::KeyboardInteractive, 9, || Conn).await
}
