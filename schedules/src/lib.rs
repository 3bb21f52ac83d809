//! Schedules in Postgres, as operators change and read them: the code behind both
//! `netraven schedule` and `/api/schedules`, so a schedule is checked and stored by the
//! same rules whichever front end sends it. The dispatchers take their ticks
//! (`netraven_dispatcher::schedule`).
//!
//! | module | owns |
//! |---|---|
//! | [`write`] | add, pause, resume, remove, export; reading and writing the YAML file |
//! | [`apply`] | the database made to hold a file's schedules, in one transaction |
//! | [`row`] | a `schedules` row, read, inserted, compared column by column |
//! | [`view`] | the list and one schedule with its runs, as people read them |
//!
//! Errors are `anyhow`, with [`Invalid`] in the chain when a schedule is not valid (nothing
//! was changed) and [`NotFound`] when a named schedule is not stored.

pub mod apply;
pub mod row;
pub mod view;
pub mod write;

pub use apply::{apply, Action, Applied, Planned};
pub use row::{columns_changed, load, load_all, Row};
pub use write::{
    add, check, export, next_tick, no_such, read_file, remove, set_paused, to_yaml, StateChange,
};

/// A schedule or a file of them that is not valid: nothing was changed. `netraven` exits
/// with its "invalid" code for it; the API answers 422.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// A schedule name that is not stored.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

/// A schedule whose name is taken already.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Exists(pub String);
