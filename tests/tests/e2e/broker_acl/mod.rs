//! Least privilege on the broker: `netraven broker setup` makes an account per role, and
//! RabbitMQ itself refuses what a role may not do. Real RabbitMQ (users made per test with
//! unique names and deleted on drop), Postgres and SSH devices.

mod accounts;
mod job;
mod refusals;
mod setup;
