//! Configuration history: versions, what changed, the events that say so, and what never
//! counts as a change.

mod events;
mod volatile;
