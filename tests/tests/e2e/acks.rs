//! A worker's tasks acked together (`netraven_worker::acks`), on a real quorum queue: a
//! `multiple` ack never covers a task still being worked on, and a task the oldest one
//! holds back is acked alone once it has waited its window.

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use netraven_shared::broker::{self, Settle};
use netraven_shared::domain::Lane;
use netraven_tests::TestEnv;
use netraven_worker::acks::AckBook;
use std::time::Duration;

const WINDOW: Duration = Duration::from_millis(300);

async fn quorum_queue(ch: &lapin::Channel, name: &str) -> anyhow::Result<u32> {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    let q = ch
        .queue_declare(
            name.into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await?;
    Ok(q.message_count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multiple_ack_covers_only_tasks_below_the_oldest_one_still_worked_on(
) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let conn = broker::connect(&env.settings.amqp, "test-acks").await?;
    let ch = conn.create_channel().await?;
    let queue = format!("{}.acks-test", env.names.namespace);
    quorum_queue(&ch, &queue).await?;
    ch.confirm_select(Default::default()).await?;
    for i in 1..=6u8 {
        ch.basic_publish(
            "".into(),
            queue.as_str().into(),
            BasicPublishOptions::default(),
            &[i],
            BasicProperties::default().with_delivery_mode(2),
        )
        .await?
        .await?;
    }
    let consuming = conn.create_channel().await?;
    consuming.basic_qos(10, BasicQosOptions::default()).await?;
    let mut consumer = consuming
        .basic_consume(
            queue.as_str().into(),
            "acks-test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let book = AckBook::new(WINDOW);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        use futures::StreamExt;
        let d = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await?
            .expect("a delivery")?;
        assert_eq!(u64::from(d.data[0]), d.delivery_tag, "in order");
        tasks.push(book.delivered(Lane::Bulk, 0, d.delivery_tag, d.acker.clone()));
    }
    // 2 and 3 recorded while 1 is worked on: nothing may be acked yet.
    assert_eq!(book.ack(&[&tasks[1], &tasks[2]]).await, 0);
    // 1 recorded: 1-3 go in one multiple ack.
    assert_eq!(book.ack(&[&tasks[0]]).await, 3);
    // 5 recorded while 4 is worked on: it waits, then is acked alone after the window.
    assert_eq!(book.ack(&[&tasks[4]]).await, 0);
    assert_eq!(book.tick().await, 0, "not before its window");
    tokio::time::sleep(WINDOW).await;
    assert_eq!(book.tick().await, 1, "alone once its window is out");
    // 4 goes back to the queue; 6 is recorded and, with nothing older unsettled, acked.
    tasks[3]
        .settle(Settle::Requeue)
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(book.ack(&[&tasks[5]]).await, 1);
    assert_eq!(book.held(), 0, "every task settled");
    // What the broker holds: task 4 alone, returned; the channel is still open (no ack
    // named a tag the broker did not know).
    assert!(
        consuming.status().connected(),
        "the channel survived every ack"
    );
    consuming.close(200, "done".into()).await?;
    let check = conn.create_channel().await?;
    let left = quorum_queue(&check, &queue).await?;
    assert_eq!(left, 1, "only the task returned to the queue is left");
    let m = check
        .basic_get(queue.as_str().into(), Default::default())
        .await?
        .expect("task 4");
    assert_eq!(m.delivery.data, vec![4u8]);
    check
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    conn.close(200, "done".into()).await?;
    Ok(())
}
