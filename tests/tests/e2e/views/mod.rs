//! What people and scripts see: `job watch`, `job list/results/logs/show`, `credential
//! list/disable/enable/remove`, `device show`, `device credentials`, the configuration
//! history and `prune`, as real `netraven` processes on real services.

mod credentials;
mod device_list;
mod history;
mod job;
pub(crate) mod netraven;
mod prune;
mod prune_versions;
