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
#[derive(Debug)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// A schedule name that is not stored.
#[derive(Debug)]
pub struct NotFound(pub String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFound {}

/// A schedule whose name is taken already.
#[derive(Debug)]
pub struct Exists(pub String);

impl std::fmt::Display for Exists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Exists {}
