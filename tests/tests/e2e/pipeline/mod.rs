//! The whole pipeline on real services: a job message in, dispatcher, RabbitMQ, workers
//! over SSH against simulated devices, aggregator, Postgres — checked against the
//! simulator's own record of every login.

mod mixed;
mod platforms;
mod statuses;
mod truth;
mod vendors;
