//! `netraven export git`: the configuration history as a git repository, one file per
//! device and one commit per job that changed something.

pub mod commit;
pub mod git;
pub mod layout;
pub mod run;
pub mod source;

pub use commit::Author;
pub use layout::Layout;
pub use run::{export, Options, Report};
