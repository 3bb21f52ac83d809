//! The outputs of a `command` job, stored as soon as its device is done: the text, and
//! the exact bytes beside it when the output is not text (see [`crate::device_text`]).

use super::connection::retrying;
use crate::error::WorkerError;
use crate::report::CommandOutput;
use deadpool_postgres::Pool;
use uuid::Uuid;

/// Stores every output of a `command` job for one device (a repeat overwrites nothing).
pub async fn store_command_outputs(
    pool: &Pool,
    job_id: Uuid,
    device_id: i64,
    outputs: &[CommandOutput],
) -> Result<(), WorkerError> {
    retrying("storing command outputs", || {
        outputs_once(pool, job_id, device_id, outputs)
    })
    .await
}

async fn outputs_once(
    pool: &Pool,
    job_id: Uuid,
    device_id: i64,
    outputs: &[CommandOutput],
) -> Result<(), WorkerError> {
    let client = pool.get().await?;
    let seq: Vec<i16> = (0..outputs.len())
        .map(|i| i16::try_from(i).unwrap_or(i16::MAX))
        .collect();
    let commands: Vec<&str> = outputs.iter().map(|o| o.command.as_str()).collect();
    let texts: Vec<&str> = outputs.iter().map(|o| o.output.text()).collect();
    // The exact bytes, only where the text is not them (a NUL, bytes that are not UTF-8).
    let exact: Vec<Option<&[u8]>> = outputs.iter().map(|o| o.output.exact()).collect();
    let statuses: Vec<Option<i32>> = outputs.iter().map(|o| o.exit_status).collect();
    client
        .execute(
            "INSERT INTO command_outputs (job_id, device_id, seq, command, output, output_bytes, exit_status)
             SELECT $1, $2, t.seq, t.command, t.output, t.output_bytes, t.exit_status
             FROM unnest($3::smallint[], $4::text[], $5::text[], $6::bytea[], $7::int[])
                  AS t(seq, command, output, output_bytes, exit_status)
             ON CONFLICT (job_id, device_id, seq) DO NOTHING",
            &[&job_id, &device_id, &seq, &commands, &texts, &exact, &statuses],
        )
        .await?;
    Ok(())
}
