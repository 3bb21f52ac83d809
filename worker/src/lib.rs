//! The data plane: SSH sessions, platform profiles, credential retries, output storage and
//! metric flushing.

pub mod ssh;
