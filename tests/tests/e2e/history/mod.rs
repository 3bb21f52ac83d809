//! Configuration history: versions, what changed, and what never counts as a change.

mod volatile;
