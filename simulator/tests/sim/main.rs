//! The simulator as its clients meet it: a raw russh client, async-ssh2-tokio and OpenSSH's
//! `ssh` against running fleets, every platform and every fault, with the ground truth each
//! leaves behind. One test binary: one link for all of them.
#![allow(clippy::unwrap_used)]

mod auth;
mod common;
mod faults;
mod fleet;
mod latency;
mod lifecycle;
mod linux;
mod network_os;
mod openssh;
mod scenarios;
