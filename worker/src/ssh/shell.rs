//! Interactive PTY shells: send a line, read until a prompt, answer pagers, enable mode.

use std::time::Duration;

use regex::Regex;
use russh::client::Msg;
use russh::{Channel, ChannelMsg};
use secrecy::{ExposeSecret, SecretString};

use super::error::{Phase, SshError};
use super::output::OutputAllowance;
use super::session::{Session, CLOSE_GRACE};
use super::terminal::{match_at_end, strip_echo, Terminal};

/// Most bytes read before the first prompt (banner, MOTD). Kept with the shell, outside
/// the task's output allowance, so it is small: legal banners run to a few KiB.
const MAX_BANNER: usize = 64 << 10;
/// Most bytes read while entering privileged mode.
const MAX_ENABLE_OUTPUT: usize = 64 << 10;
/// Answers given to repeated password prompts after a wrong enable secret.
const ENABLE_GIVE_UP_TRIES: usize = 3;

/// How to drive a shell.
#[derive(Debug, Clone)]
pub struct ShellOptions {
    /// The device's prompt. Only tried against the current (last, unfinished) line of
    /// output, and only when the match reaches the end of that line; anchor it with `^`
    /// so that it also has to start the line.
    pub prompt: Regex,
    /// A pager prompt (` --More-- `): answered with a space and removed from the output.
    pub pager: Option<Regex>,
    /// How long output must pause, with a prompt at its end, before the prompt counts.
    /// Guards against a config line that looks like a prompt and was cut by a packet
    /// boundary.
    pub prompt_quiet: Duration,
    /// `TERM` of the PTY.
    pub term: String,
    /// PTY width: wide, so that devices do not wrap or scroll long command lines.
    pub cols: u32,
    pub rows: u32,
    /// What ends a typed line.
    pub newline: String,
}

impl ShellOptions {
    /// Defaults around a prompt pattern: no pager, 50 ms quiet window, a 511×24 `vt100`.
    pub fn new(prompt: Regex) -> Self {
        ShellOptions {
            prompt,
            pager: None,
            prompt_quiet: Duration::from_millis(50),
            term: "vt100".to_string(),
            cols: 511,
            rows: 24,
            newline: "\n".to_string(),
        }
    }
}

/// What [`Shell::send_until`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Which of the patterns matched (the first one in the list if several did).
    pub index: usize,
    /// Output before the match, without the echo of the sent line.
    pub output: String,
    /// The matched text (the prompt).
    pub matched: String,
}

/// An interactive shell on a PTY. Lives on its [`Session`]'s connection: keep the session
/// alive while using it.
pub struct Shell {
    channel: Channel<Msg>,
    options: ShellOptions,
    idle: Duration,
    term: Terminal,
    banner: String,
    prompt: String,
    broken: bool,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell")
            .field("prompt", &self.prompt)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Opens a shell: PTY, shell request, then reads the banner up to the first prompt.
    /// Every wait is bounded by `timeouts.command_idle`.
    pub async fn shell(&mut self, options: ShellOptions) -> Result<Shell, SshError> {
        let channel = self
            .idle_bounded(self.handle.channel_open_session())
            .await?;
        self.idle_bounded(channel.request_pty(
            true,
            &options.term,
            options.cols,
            options.rows,
            0,
            0,
            &[],
        ))
        .await?;
        self.idle_bounded(channel.request_shell(true)).await?;
        let mut shell = Shell {
            channel,
            options,
            idle: self.timeouts.command_idle,
            term: Terminal::new(),
            banner: String::new(),
            prompt: String::new(),
            broken: false,
        };
        let prompt = shell.options.prompt.clone();
        let (_, banner, matched) = shell
            .read_until(&[&prompt], &mut OutputAllowance::upto(MAX_BANNER))
            .await?;
        shell.banner = banner;
        shell.prompt = matched.trim_end().to_string();
        Ok(shell)
    }
}

impl Shell {
    /// What the device printed before the first prompt (banner, MOTD).
    pub fn banner(&self) -> &str {
        &self.banner
    }

    /// The last prompt seen, e.g. `R1#`.
    pub fn prompt(&self) -> &str {
        &self.prompt
    }

    /// Changes the prompt pattern (e.g. after entering a mode with another prompt).
    pub fn set_prompt(&mut self, prompt: Regex) {
        self.options.prompt = prompt;
    }

    /// Whether the shell is in sync: no timeout, size limit or closed channel so far.
    pub fn is_usable(&self) -> bool {
        !self.broken
    }

    /// Runs `command` and returns its output: without the echo of the command, pager
    /// prompts, escape sequences and the final prompt; lines end in `\n`. The idle
    /// timeout resets while output arrives; what arrives is admitted to `output`, and past
    /// its limit it fails with [`SshError::OutputTooLarge`].
    pub async fn command(
        &mut self,
        command: &str,
        output: &mut OutputAllowance,
    ) -> Result<String, SshError> {
        let prompt = self.options.prompt.clone();
        Ok(self.send_until(command, &[&prompt], output).await?.output)
    }

    /// Sends `line`, then reads until one of `expect` matches at the end of the output.
    pub async fn send_until(
        &mut self,
        line: &str,
        expect: &[&Regex],
        output: &mut OutputAllowance,
    ) -> Result<Expected, SshError> {
        self.discard_stale();
        let mut typed = Vec::with_capacity(line.len() + self.options.newline.len());
        typed.extend_from_slice(line.as_bytes());
        typed.extend_from_slice(self.options.newline.as_bytes());
        self.send(&typed).await?;
        let (index, text, matched) = self.read_until(expect, output).await?;
        self.remember_prompt(&matched);
        Ok(Expected {
            index,
            output: strip_echo(&text, line).to_string(),
            matched,
        })
    }

    /// Sends a secret as a line (for a `Password:` prompt) and reads until one of
    /// `expect` matches. The secret is never logged, and scrubbed from the returned text
    /// should the device echo it.
    pub async fn send_secret_until(
        &mut self,
        secret: &SecretString,
        expect: &[&Regex],
        output: &mut OutputAllowance,
    ) -> Result<Expected, SshError> {
        self.discard_stale();
        let mut typed = secret.expose_secret().as_bytes().to_vec();
        typed.extend_from_slice(self.options.newline.as_bytes());
        let sent = self.send(&typed).await;
        typed.fill(0);
        sent?;
        let (index, text, matched) = self.read_until(expect, output).await?;
        self.remember_prompt(&matched);
        let scrub = |s: String| {
            let secret = secret.expose_secret();
            if secret.is_empty() {
                s
            } else {
                s.replace(secret, "********")
            }
        };
        Ok(Expected {
            index,
            output: scrub(text),
            matched: scrub(matched),
        })
    }

    /// Enters privileged mode: sends `command` (`enable`), answers `password_prompt` with
    /// `secret`, and returns whether `privileged_prompt` was reached. A wrong or missing
    /// secret returns `Ok(false)` with the shell back at its normal prompt.
    pub async fn enable(
        &mut self,
        command: &str,
        password_prompt: &Regex,
        privileged_prompt: &Regex,
        secret: Option<&SecretString>,
    ) -> Result<bool, SshError> {
        let prompt = self.options.prompt.clone();
        let expect = [privileged_prompt, password_prompt, &prompt];
        let output = &mut OutputAllowance::upto(MAX_ENABLE_OUTPUT);
        let first = self.send_until(command, &expect, output).await?;
        match first.index {
            0 => return Ok(true),
            1 => {}
            _ => return Ok(false),
        }
        if let Some(secret) = secret {
            let answer = self.send_secret_until(secret, &expect, output).await?;
            match answer.index {
                0 => return Ok(true),
                1 => {}
                _ => return Ok(false),
            }
        }
        // Asked for a password we do not have, or again after a wrong one: empty answers
        // until the device gives up and shows its normal prompt.
        for _ in 0..ENABLE_GIVE_UP_TRIES {
            let r = self.send_until("", &expect, output).await?;
            match r.index {
                0 => return Ok(true),
                1 => {}
                _ => return Ok(false),
            }
        }
        self.broken = true;
        Err(SshError::Protocol(
            "device keeps asking for the enable password".to_string(),
        ))
    }

    /// Ends the shell channel (the session stays open).
    pub async fn close(self) {
        let channel = self.channel;
        let bye = async {
            let _ = channel.eof().await;
            let _ = channel.close().await;
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, bye).await;
    }

    fn remember_prompt(&mut self, matched: &str) {
        if self.options.prompt.is_match(matched) {
            self.prompt = matched.trim_end().to_string();
        }
    }

    /// Output left over from before (late bytes after a prompt) is not the next
    /// command's.
    fn discard_stale(&mut self) {
        let len = self.term.current_line().len();
        let _ = self.term.take_until(len);
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), SshError> {
        match tokio::time::timeout(self.idle, self.channel.data(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                self.broken = true;
                Err(SshError::from_russh(e, Phase::Command))
            }
            Err(_) => {
                self.broken = true;
                Err(SshError::Timeout(Phase::Command))
            }
        }
    }

    /// Reads until one of `expect` matches at the end of the current line and output
    /// then pauses for the quiet window. Returns the pattern's index, the text before
    /// the match, and the matched text. Pagers are answered on the way.
    async fn read_until(
        &mut self,
        expect: &[&Regex],
        output: &mut OutputAllowance,
    ) -> Result<(usize, String, String), SshError> {
        loop {
            if let Some(pager) = &self.options.pager {
                if let Some(m) = match_at_end(self.term.current_line(), pager) {
                    self.term.cut_current_line(m.start);
                    self.send(b" ").await?;
                    continue;
                }
            }
            let line = self.term.current_line();
            let candidate = expect
                .iter()
                .enumerate()
                .find_map(|(i, re)| match_at_end(line, re).map(|m| (i, m)));
            let wait = if candidate.is_some() {
                self.options.prompt_quiet
            } else {
                self.idle
            };
            let msg = match tokio::time::timeout(wait, self.channel.wait()).await {
                Ok(msg) => msg,
                Err(_) => match candidate {
                    Some((index, m)) => {
                        let matched = self
                            .term
                            .current_line()
                            .get(m.clone())
                            .unwrap_or_default()
                            .to_string();
                        let text = self.term.take_until(m.start);
                        return Ok((index, text, matched));
                    }
                    None => {
                        self.broken = true;
                        return Err(SshError::Timeout(Phase::Command));
                    }
                },
            };
            match msg {
                Some(ChannelMsg::Data { data }) | Some(ChannelMsg::ExtendedData { data, .. }) => {
                    if let Err(e) = output.admit(data.len()).await {
                        self.broken = true;
                        return Err(e);
                    }
                    self.term.feed(&data);
                }
                Some(ChannelMsg::Failure) => {
                    self.broken = true;
                    return Err(SshError::Protocol(
                        "the device refused the PTY or shell request".to_string(),
                    ));
                }
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => {
                    self.broken = true;
                    return Err(SshError::Disconnected(
                        Phase::Command,
                        "the device closed the shell".to_string(),
                    ));
                }
                Some(_) => {}
            }
        }
    }
}
