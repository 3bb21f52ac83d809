//! `ssh::Session` and `ssh::Shell` against real SSH servers: the simulator fleet (Linux
//! exec channels; `cisco_ios`, `juniper_junos` and `linux` PTY shells), bare TCP listeners,
//! and two small russh servers for what the simulator does not do: keyboard-interactive
//! only, a command that never answers or drips output (`kbd_server`), and output built to
//! look like prompts at the wrong moment (`tricky_server`).

mod common;
mod kbd_server;
mod session;
mod shell;
mod tricky_server;
