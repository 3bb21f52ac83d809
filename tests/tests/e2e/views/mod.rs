//! What people and scripts see: `job watch`, `job list/results/logs/show`, `credential
//! list`, `device show`, the configuration history and `prune`, as real `netraven`
//! processes on real services.

mod device_list;
mod history;
mod job;
pub(crate) mod netraven;
mod prune;
mod prune_versions;
