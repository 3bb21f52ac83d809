//! What each command does once parsed: the glue between `crate::args` and the libraries.

mod api;
mod config;
mod connect;
mod dispatch;
mod docs;
mod export;
mod fleet;
mod job;
mod keys;
mod ops;
mod schedule;

pub use dispatch::run;
