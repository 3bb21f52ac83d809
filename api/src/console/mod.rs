//! The web console under `/console`: server-rendered pages (askama templates compiled into
//! the binary) that work without JavaScript, made live by one small script and server-sent
//! events where JavaScript runs. Logged in with an API token; every page needs a session.

// Handlers' helpers return `Err(Response)`: the page to send instead, sent at once, so
// boxing it would only add an allocation to the error path.
#![allow(clippy::result_large_err)]

pub mod assets;
pub mod devices;
pub mod fleet;
pub mod jobs;
pub mod live;
pub mod login;
pub mod routes;
pub mod session;
pub mod view;

pub use routes::router;
