//! Schedules, run by every dispatcher: each poll takes the ticks that are due and sends
//! their job requests to `<ns>.jobs`, as any client would, under the dispatcher's broker
//! user. A tick is taken once, whatever number of dispatchers poll ([`take`]); the job it
//! becomes is the intake's business from there (its request id is the tick's).

mod take;

pub use take::{Taken, TickOutcome};

use crate::aggregate::periodic::Periodic;
use crate::error::Result;
use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::Pool;
use netraven_shared::broker::{self, Names, Publisher};
use netraven_shared::config::Settings;
use netraven_shared::schedule::plan::Timing;
use tokio_util::sync::CancellationToken;

/// Takes due schedule ticks; see the module docs.
pub struct Scheduler {
    pool: Pool,
    publisher: Publisher,
    names: Names,
    /// The broker user the requests are published as (their submitter).
    user: String,
    spread: Duration,
    /// Who takes the ticks, as the run rows record it.
    who: String,
}

impl Scheduler {
    pub fn new(
        settings: &Settings,
        pool: Pool,
        publisher: Publisher,
        names: Names,
    ) -> Result<Scheduler> {
        Ok(Scheduler {
            pool,
            publisher,
            names,
            user: broker::user(&settings.amqp)?,
            spread: Duration::milliseconds(
                i64::try_from(settings.dispatcher.schedule_spread_ms).unwrap_or(i64::MAX),
            ),
            who: format!("{}:{}", broker::hostname(), std::process::id()),
        })
    }

    /// Takes every tick due at `now` and returns what was done with each. The clock is an
    /// argument: production passes the time, tests a time of their choosing.
    pub async fn poll(&self, now: DateTime<Utc>) -> Result<Vec<Taken>> {
        let mut client = self.pool.get().await?;
        let mut taken = Vec::new();
        let mut after = None;
        loop {
            let page = take::page(self, &mut client, now, after).await?;
            taken.extend(page.taken);
            match page.last {
                Some(last) if page.full => after = Some(last),
                _ => break,
            }
        }
        Ok(taken)
    }

    fn timing(&self, catch_up: Duration) -> Timing {
        Timing {
            spread: self.spread,
            catch_up,
        }
    }
}

/// Polls every `dispatcher.schedule_poll_ms` until `shutdown`. A failed poll is logged and
/// tried again at the next one: the ticks it did not take are still due.
pub async fn run(scheduler: Scheduler, every: std::time::Duration, shutdown: CancellationToken) {
    let mut clock = Periodic::every(every);
    let mut failing = false;
    while clock.tick(&shutdown).await {
        match scheduler.poll(Utc::now()).await {
            Ok(_) => {
                if failing {
                    tracing::info!("schedules polled again");
                }
                failing = false;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "polling the schedules failed; trying again at each poll");
                }
                failing = true;
            }
        }
    }
}
