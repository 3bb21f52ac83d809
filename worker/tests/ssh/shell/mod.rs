//! `ssh::Shell`: PTY shells, prompts, pagers and enable.

mod devices;
mod profiles;
mod prompts;
