//! Device deadlines inside the broker's consumer timeout.
//!
//! RabbitMQ takes a delivery back from a consumer that has not acked it within its
//! `consumer_timeout` (30 minutes by default): it closes the channel and delivers the
//! task again, to another worker, while the first one may still be on the device. A worker
//! acks a task only after the device's deadline has run out at the latest, plus the time
//! its results batch takes to be written and published. So the longest device deadline a
//! job may have is the consumer timeout less that allowance. RabbitMQ 3.10 has no
//! per-queue consumer timeout, and AMQP cannot read the broker's setting: the operator
//! keeps `amqp.consumer_timeout_ms` equal to it.

use super::settings::Settings;

/// The longest device deadline accepted whatever the broker allows (one hour).
pub const MAX_DEVICE_DEADLINE_MS: u64 = 3_600_000;

/// What a worker may take after a device's deadline before it acks the device's task,
/// on top of `worker.flush_interval_ms` (the wait for a fuller results batch): the
/// batch's write to Postgres, which a worker gives up after 12 seconds (`RECORD_WITHIN`
/// in `worker/src/results.rs`), twice over for a batch queued behind another, then the
/// results' publish with its confirm and the acks, with room to spare.
pub const AFTER_DEADLINE_MS: u64 = 60_000;

/// The rule for one configuration: which device deadlines fit inside the broker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlineFit {
    /// `amqp.consumer_timeout_ms`.
    pub consumer_timeout_ms: u64,
    /// [`AFTER_DEADLINE_MS`] plus `worker.flush_interval_ms`.
    pub after_deadline_ms: u64,
}

impl DeadlineFit {
    pub fn of(settings: &Settings) -> DeadlineFit {
        DeadlineFit {
            consumer_timeout_ms: settings.amqp.consumer_timeout_ms,
            after_deadline_ms: AFTER_DEADLINE_MS.saturating_add(settings.worker.flush_interval_ms),
        }
    }

    /// The longest device deadline that fits (at most [`MAX_DEVICE_DEADLINE_MS`]).
    pub fn longest_ms(&self) -> u64 {
        self.consumer_timeout_ms
            .saturating_sub(self.after_deadline_ms)
            .min(MAX_DEVICE_DEADLINE_MS)
    }

    /// Whether a device deadline of `ms` fits; if not, why, naming both numbers.
    pub fn check(&self, ms: u64) -> Result<(), String> {
        if ms <= self.longest_ms() {
            return Ok(());
        }
        if self
            .consumer_timeout_ms
            .saturating_sub(self.after_deadline_ms)
            >= MAX_DEVICE_DEADLINE_MS
        {
            return Err(format!(
                "{ms} ms is over the longest device deadline, {MAX_DEVICE_DEADLINE_MS} ms"
            ));
        }
        Err(format!(
            "{ms} ms does not fit the broker's consumer timeout: amqp.consumer_timeout_ms is \
             {} ms and a worker may take {} ms after a device's deadline to record and ack \
             its task, so the longest device deadline is {} ms (raise RabbitMQ's \
             consumer_timeout and amqp.consumer_timeout_ms together for longer ones)",
            self.consumer_timeout_ms,
            self.after_deadline_ms,
            self.longest_ms()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(consumer_timeout_ms: u64) -> DeadlineFit {
        let mut settings = Settings::default();
        settings.amqp.consumer_timeout_ms = consumer_timeout_ms;
        DeadlineFit::of(&settings)
    }

    #[test]
    fn the_defaults_fit_inside_rabbitmqs_default_consumer_timeout() {
        let settings = Settings::default();
        let f = DeadlineFit::of(&settings);
        assert_eq!(f.consumer_timeout_ms, 1_800_000);
        assert_eq!(f.longest_ms(), 1_800_000 - 60_000 - 100);
        assert!(f
            .check(settings.dispatcher.default_device_deadline_ms)
            .is_ok());
        // The longest deadline plus what a worker adds is still inside the timeout.
        assert!(f.longest_ms() + f.after_deadline_ms <= f.consumer_timeout_ms);
    }

    #[test]
    fn a_deadline_past_the_consumer_timeout_is_refused_naming_both_numbers() {
        let f = fit(1_800_000);
        let longest = f.longest_ms();
        assert!(f.check(longest).is_ok());
        let why = f.check(longest + 1).expect_err("one ms too long");
        assert!(
            why.contains(&format!("{} ms does not fit", longest + 1)),
            "{why}"
        );
        assert!(
            why.contains("amqp.consumer_timeout_ms is 1800000 ms"),
            "{why}"
        );
        assert!(
            why.contains(&format!("longest device deadline is {longest} ms")),
            "{why}"
        );
    }

    #[test]
    fn raising_the_consumer_timeout_raises_the_longest_deadline_up_to_the_hour() {
        assert_eq!(fit(600_000).longest_ms(), 600_000 - 60_100);
        assert_eq!(fit(7_200_000).longest_ms(), MAX_DEVICE_DEADLINE_MS);
        let why = fit(7_200_000)
            .check(MAX_DEVICE_DEADLINE_MS + 1)
            .expect_err("past the hour");
        assert!(why.contains("longest device deadline, 3600000 ms"), "{why}");
        // A consumer timeout shorter than the allowance leaves no deadline at all.
        assert_eq!(fit(30_000).longest_ms(), 0);
        assert!(fit(30_000).check(1_000).is_err());
    }
}
