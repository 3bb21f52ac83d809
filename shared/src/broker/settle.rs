//! Settling deliveries: acks and requeues, alone or many at once.

use super::connect::BROKER_ANSWER_TIMEOUT;

/// How a delivery is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    Ack,
    /// Back to the queue, to be delivered again.
    Requeue,
}

/// Acks or requeues a delivery. Fails, saying why, when it could not be settled: its
/// channel is gone (the broker delivers it again, to this or another consumer), or the
/// broker did not answer in time.
pub async fn settle(acker: &lapin::Acker, how: Settle) -> std::result::Result<(), String> {
    let sent = tokio::time::timeout(BROKER_ANSWER_TIMEOUT, async {
        match how {
            Settle::Ack => acker.ack(lapin::options::BasicAckOptions::default()).await,
            Settle::Requeue => {
                let requeue = lapin::options::BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                };
                acker.nack(requeue).await
            }
        }
    })
    .await;
    match sent {
        Ok(Ok(true)) => Ok(()),
        // lapin's word for an acker whose channel closed.
        Ok(Ok(false)) => Err("its channel is closed; the broker will deliver it again".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer from the broker in {} s",
            BROKER_ANSWER_TIMEOUT.as_secs()
        )),
    }
}

/// Settles many deliveries at once: every settle is handed to the client before any is
/// waited for, so the client's I/O loop sends them together (one write, one wake-up)
/// rather than one round trip each. The answers come in the order of `ackers`.
pub async fn settle_all(
    ackers: &[&lapin::Acker],
    how: Settle,
) -> Vec<std::result::Result<(), String>> {
    futures::future::join_all(ackers.iter().map(|a| settle(a, how))).await
}
