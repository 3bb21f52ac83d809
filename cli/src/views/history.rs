//! The SQL of the configuration history and command outputs (the read model in `netraven_reads::history`).

pub use netraven_reads::history::*;
