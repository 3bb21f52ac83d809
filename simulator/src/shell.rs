//! Interactive PTY shell: echo, line editing, prompts, `--More--` paging, per platform.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::device::Device;
use crate::platform::{self, LineResult, ShellState, PAGE_LINES};
use crate::{Fault, Platform};

enum Mode {
    Line,
    Pager(VecDeque<String>),
    /// A fault took over the output: typed input is ignored.
    Busy,
}

/// One shell channel.
pub(crate) struct Shell {
    device: Arc<Device>,
    state: ShellState,
    line: Vec<u8>,
    after_cr: bool,
    mode: Mode,
}

/// Bytes to send, and whether the channel ends after them.
#[derive(Debug, Default)]
pub(crate) struct ShellOutput {
    pub(crate) bytes: Vec<u8>,
    pub(crate) close: bool,
    /// [`Fault::EndlessOutput`]: after `bytes`, send this again and again.
    pub(crate) endless: Option<Vec<u8>>,
    /// [`Fault::DropMidOutput`]: after `bytes` (half a config), cut the connection.
    pub(crate) cut: bool,
    /// A command (or a page of one) was answered, not just keys echoed: what
    /// [`crate::Latency`]'s think time and output rate apply to.
    pub(crate) answered: bool,
}

impl Shell {
    pub(crate) fn new(device: Arc<Device>, user: &str) -> Self {
        let paging = !matches!(
            device.spec.platform,
            Platform::Linux | Platform::MikrotikRouteros
        );
        Shell {
            device,
            state: ShellState {
                paging,
                user: user.to_string(),
                ..ShellState::default()
            },
            line: Vec::new(),
            after_cr: false,
            mode: Mode::Line,
        }
    }

    /// Banner and first prompt (or the platform's `Press any key to continue`).
    pub(crate) fn start(&mut self) -> Vec<u8> {
        let mut out = crlf(&platform::banner(&self.device));
        if let Some(key) = platform::press_any_key(self.device.spec.platform) {
            // Answered like a pager prompt: the prompt comes once a key is pressed.
            out.extend_from_slice(key.as_bytes());
            self.mode = Mode::Pager(VecDeque::new());
            return out;
        }
        out.extend_from_slice(self.prompt().as_bytes());
        out
    }

    fn prompt(&self) -> String {
        platform::prompt(&self.device, &self.state)
    }

    /// Feeds typed bytes; returns echo, command output and prompts.
    pub(crate) fn input(&mut self, data: &[u8]) -> ShellOutput {
        let mut out = ShellOutput::default();
        for &b in data {
            if out.close || matches!(self.mode, Mode::Busy) {
                break;
            }
            let lf_after_cr = b == b'\n' && self.after_cr;
            self.after_cr = b == b'\r';
            if lf_after_cr {
                continue;
            }
            if let Mode::Pager(rest) = &mut self.mode {
                match b {
                    b' ' | b'\r' | b'\n' => {
                        out.answered = true;
                        let rest = std::mem::take(rest);
                        out.bytes.extend_from_slice(self.erase_more());
                        self.show(rest, &mut out.bytes);
                    }
                    b'q' | b'Q' | 0x03 => {
                        out.bytes.extend_from_slice(self.erase_more());
                        self.mode = Mode::Line;
                        out.bytes.extend_from_slice(self.prompt().as_bytes());
                    }
                    _ => {}
                }
                continue;
            }
            match b {
                b'\r' | b'\n' => {
                    out.bytes.extend_from_slice(b"\r\n");
                    let line =
                        String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
                    self.run_line(&line, &mut out);
                }
                0x7f | 0x08 => {
                    if self.line.pop().is_some() && !self.state.awaiting_secret {
                        out.bytes.extend_from_slice(b"\x08 \x08");
                    }
                }
                0x03 => {
                    self.line.clear();
                    self.state.awaiting_secret = false;
                    out.bytes.extend_from_slice(b"^C\r\n");
                    out.bytes.extend_from_slice(self.prompt().as_bytes());
                }
                0x04 if self.line.is_empty() => {
                    out.close = true;
                }
                _ => {
                    self.line.push(b);
                    if !self.state.awaiting_secret {
                        out.bytes.push(b);
                    }
                }
            }
        }
        out
    }

    fn run_line(&mut self, line: &str, out: &mut ShellOutput) {
        out.answered = true;
        let secret = self.state.awaiting_secret;
        if !secret && !line.trim().is_empty() {
            self.device.truth.record_command(line.trim());
        }
        let LineResult {
            output,
            pageable,
            no_prompt,
            close,
            config,
        } = platform::line(&self.device, &mut self.state, line, secret);
        if config {
            match self.device.fault() {
                Some(Fault::EndlessOutput) => {
                    out.endless = Some(crlf(&output));
                    self.mode = Mode::Busy;
                    return;
                }
                Some(Fault::DropMidOutput) => {
                    let all = crlf(&output);
                    out.bytes.extend_from_slice(&all[..all.len() / 2]);
                    out.cut = true;
                    self.mode = Mode::Busy;
                    return;
                }
                _ => {}
            }
        }
        if close {
            out.bytes.extend_from_slice(&crlf(&output));
            out.close = true;
            return;
        }
        if pageable && self.state.paging {
            let lines: VecDeque<String> =
                output.split_inclusive('\n').map(str::to_string).collect();
            self.show(lines, &mut out.bytes);
        } else {
            out.bytes.extend_from_slice(&crlf(&output));
            if !no_prompt {
                out.bytes.extend_from_slice(self.prompt().as_bytes());
            }
        }
    }

    fn erase_more(&self) -> &'static [u8] {
        platform::pager(self.device.spec.platform).1.as_bytes()
    }

    /// Prints up to a page of `lines`, then either ` --More-- ` or the prompt.
    fn show(&mut self, mut lines: VecDeque<String>, out: &mut Vec<u8>) {
        for _ in 0..PAGE_LINES {
            match lines.pop_front() {
                Some(l) => out.extend_from_slice(&crlf(&l)),
                None => break,
            }
        }
        if lines.is_empty() {
            self.mode = Mode::Line;
            out.extend_from_slice(self.prompt().as_bytes());
        } else {
            out.extend_from_slice(platform::pager(self.device.spec.platform).0.as_bytes());
            self.mode = Mode::Pager(lines);
        }
    }
}

/// `\n` → `\r\n`, as a terminal sees it.
pub(crate) fn crlf(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + s.len() / 32);
    for b in s.bytes() {
        if b == b'\n' {
            v.push(b'\r');
        }
        v.push(b);
    }
    v
}
