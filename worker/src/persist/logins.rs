//! The fleet-wide login budget's statements: a lease per login of a capped credential,
//! taken and released through `netraven_take_login` (migration V19).

use crate::error::WorkerError;
use deadpool_postgres::Pool;
use std::time::Duration;
use uuid::Uuid;

const TAKE: &str = "SELECT netraven_take_login($1, $2, $3, $4, $5, $6)";
const RELEASE: &str = "UPDATE login_leases SET released_at = clock_timestamp() WHERE token = $1";

/// The caps one credential's logins share with the whole fleet; `None` is no cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetCaps {
    pub concurrent: Option<u32>,
    pub per_second: Option<u32>,
}

/// Takes the lease `token` for a login of `credential`, held until released or until
/// `lease` has passed; or answers how long to wait before asking again.
pub async fn take_login(
    pool: &Pool,
    credential: i64,
    token: Uuid,
    holder: &str,
    caps: FleetCaps,
    lease: Duration,
) -> Result<Option<Duration>, WorkerError> {
    let db = pool.get().await?;
    let statement = db.prepare_cached(TAKE).await?;
    let as_int = |n: Option<u32>| n.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    let lease_ms = i32::try_from(lease.as_millis()).unwrap_or(i32::MAX);
    let wait_ms: i32 = db
        .query_one(
            &statement,
            &[
                &credential,
                &token,
                &holder,
                &as_int(caps.concurrent),
                &as_int(caps.per_second),
                &lease_ms,
            ],
        )
        .await?
        .get(0);
    Ok((wait_ms > 0).then(|| Duration::from_millis(u64::from(wait_ms.unsigned_abs()))))
}

/// Releases the lease `token`: its slot is free at once for every worker.
pub async fn release_login(pool: &Pool, token: Uuid) -> Result<(), WorkerError> {
    let db = pool.get().await?;
    let statement = db.prepare_cached(RELEASE).await?;
    db.execute(&statement, &[&token]).await?;
    Ok(())
}
