//! Configuration history: versions, what changed, and the events that say so.

mod events;
