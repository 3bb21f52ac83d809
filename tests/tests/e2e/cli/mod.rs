//! The `netraven` binary as operators use it: real processes, real services.

mod keys;
mod process;
mod roles;
mod setup_commands;
mod tokens;
