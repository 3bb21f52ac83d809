//! Host keys usable strictly: `netraven device host-key pin` (from an OpenSSH known_hosts
//! file or a fingerprint), `forget` and `list`, run as the real binary against Postgres,
//! then `strict` jobs through the real broker against the simulator, whose ground truth
//! says whether any login (any secret) reached a device. And `ssh-rsa` (SHA-1) host-key
//! signatures: refused by default, accepted by a profile that opts in.
//!
//! The simulated devices listen on ports 25800-25899.

mod devices;
mod late_pin;
mod pins;
mod ssh_rsa;
