//! Keeps the dead-letter queue people read: no role consumes it, so no consumer's cancel
//! brings it back when it is deleted, and while it is gone the broker drops what it
//! dead-letters there. The aggregator looks for it every sweep interval and declares it
//! again when it is missing (with `amqp.declare_topology`; otherwise `netraven broker
//! setup` owns the topology and nothing is declared).

use super::periodic::Periodic;
use netraven_shared::broker::link::Link;
use netraven_shared::broker::{self, Names};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Looks every `every` until `stop`. A failed look is logged and made again next time.
pub(super) async fn run(link: Arc<Link>, names: Names, every: Duration, stop: CancellationToken) {
    let settings = link.settings().clone();
    if !settings.declare_topology {
        return;
    }
    let mut clock = Periodic::every(every);
    while clock.tick(&stop).await {
        let looked = async {
            // Waits while the broker is away; the look is made again once it is back.
            let Some(connection) = link.connection().await else {
                return Ok(Vec::new());
            };
            broker::restore_unconsumed(&connection, &names, &settings).await
        };
        let looked = tokio::select! {
            _ = stop.cancelled() => return,
            looked = looked => looked,
        };
        match looked {
            Ok(restored) => {
                for queue in restored {
                    tracing::warn!(%queue, "dead-letter queue was missing; declared it again");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "dead-letter queue not checked; trying again next interval")
            }
        }
    }
}
