//! Every fault, observed the way a client meets it (raw TCP and russh), and the ground
//! truth each leaves behind.
//!
//! By family: `connection` (refused, silent, slow banner), `auth` (slow answers,
//! keyboard-interactive only, a cap on attempts), `output` (hangs, cuts and floods, on
//! exec and in shells) and `algorithms` (a changed host key, legacy-only servers).

mod algorithms;
mod auth;
mod connection;
mod output;
pub(crate) mod setup;
