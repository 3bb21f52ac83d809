//! Configuration history: versions, what changed, the events that say so, and what never
//! counts as a change.

mod drift;
mod events;
mod volatile;
