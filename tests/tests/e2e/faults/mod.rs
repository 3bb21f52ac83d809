//! The worker against every fault the simulator can play, end to end, one module per
//! fault family: each device ends in the outcome an operator expects, with a reason that
//! says what happened, within its timeouts, and with exactly the logins the simulator saw.

mod cases;
mod commands;
mod host_key;
mod hostile_fleet;
mod outcomes;
mod reachability;
mod setup;
