//! Rotating the sealing key mid-job, step by step (`secrets add-key`, the workers load it,
//! `secrets reseal`, `secrets retire`), with two worker processes, one of them on "another
//! machine" (a key file of its own) that restarts during the rotation: no device fails,
//! reseal waits for the worker that lacks the new key and names it, retire waits for the
//! credentials and the open job still sealed with the old key, and the key file keeps its
//! mode.

mod key_credentials;
mod keys;
mod mid_job;
mod refusals;
