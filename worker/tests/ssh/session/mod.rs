//! `ssh::Session`: connecting, host keys, authentication and exec channels.

mod auth;
mod exec;
mod host_keys;
mod keys;
mod unreachable;
