//! The wire contract, checked from the outside: the JSON Schemas in `docs/schemas/`, the
//! examples in `docs/examples/` and the JSON blocks of `docs/messages.md` against the Rust
//! decoders in `netraven_shared::messages`, the CloudEvents headers of events, and
//! `docs/asyncapi.yaml` against messages.md, the declared topology and the AsyncAPI parser.
//!
//! The job request schema must give the same verdict as `JobRequest::decode` on every body:
//! the examples, the refused examples, and a deterministic set of mutated requests. The few
//! places where they cannot or do not agree are listed in [`mutations::Known`] and pinned by
//! `documented_differences`, so a change on either side shows up here.

mod asyncapi;
mod common;
mod domain;
mod events;
mod examples;
mod markdown;
mod mutations;
