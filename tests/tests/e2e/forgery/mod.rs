//! The broker is not trusted: a device task captured from the queue, altered and published
//! back with an ordinary broker account (retargeted, its host-key policy, pin, credentials
//! or deadline changed) — or forged from scratch — makes no worker open a
//! secret or contact anything (the other SSH servers' ground truth shows no login), and
//! forged results or dead letters change no job, no device result and no credential
//! counter. What is refused is dead-lettered with its reason and counted.

mod messages;
mod results;
mod tasks;
