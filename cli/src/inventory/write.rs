//! The import's writes that take more than one statement: jump hosts (then their `via`,
//! then the tags that name them) and the tags of devices and credentials.

use super::plan::Plan;
use super::Inventory;
use anyhow::Result;
use deadpool_postgres::GenericClient;

/// Locks the stored devices and credentials the import will write, before it writes any,
/// in the order a worker's batch locks them: devices, then credentials, each in id order.
///
/// A batch locks the devices whose configuration it stores first and updates its
/// credentials' counters last (worker/src/persist/results.rs). An import that upserted
/// credentials before devices held what such a batch would wait for last while waiting
/// for what it held first: Postgres broke the cycle by failing one of them, once the
/// import, mid-job. Taken in the same order, the two only wait for each other.
///
/// The locks are the ones the writes take (`NO KEY UPDATE`: no key changes), so a batch's
/// `KEY SHARE` locks and foreign-key checks do not wait on them. A pruned credential is
/// deleted later, which waits for the batches that use it to commit; Postgres' deadlock
/// check stays the last word there.
pub(super) async fn lock_in_batch_order<C: GenericClient>(
    db: &C,
    inv: &Inventory,
    plan: &Plan,
) -> Result<()> {
    let devices: Vec<&str> = inv
        .devices
        .iter()
        .map(|d| d.name.as_str())
        .chain(plan.devices.removed.iter().map(String::as_str))
        .collect();
    if !devices.is_empty() {
        db.execute(
            "SELECT 1 FROM devices WHERE name = ANY($1) ORDER BY id FOR NO KEY UPDATE",
            &[&devices],
        )
        .await?;
    }
    let credentials: Vec<&str> = inv.credentials.iter().map(|c| c.name.as_str()).collect();
    if !credentials.is_empty() {
        db.execute(
            "SELECT 1 FROM credentials WHERE name = ANY($1) ORDER BY id FOR NO KEY UPDATE",
            &[&credentials],
        )
        .await?;
    }
    Ok(())
}

/// Upserts the file's jump hosts, then their `via` (a jump host may name one later in
/// the file), then the jump hosts of the tags the file declares. Postgres refuses a chain
/// that loops or is too long through stored jump hosts; that refusal is the import's
/// error, and nothing is written.
pub(super) async fn write_jump_hosts<C: GenericClient>(db: &C, inv: &Inventory) -> Result<()> {
    if !inv.jump_hosts.is_empty() {
        let names: Vec<&str> = inv.jump_hosts.iter().map(|j| j.name.trim()).collect();
        let hosts: Vec<&str> = inv.jump_hosts.iter().map(|j| j.host.as_str()).collect();
        let ports: Vec<i32> = inv.jump_hosts.iter().map(|j| i32::from(j.port)).collect();
        let creds: Vec<&str> = inv
            .jump_hosts
            .iter()
            .map(|j| j.credential.as_str())
            .collect();
        let keys: Vec<&str> = inv.jump_hosts.iter().map(|j| j.host_key.as_str()).collect();
        let caps: Vec<i32> = inv
            .jump_hosts
            .iter()
            .map(|j| i32::try_from(j.max_channels).unwrap_or(i32::MAX))
            .collect();
        let vias: Vec<Option<&str>> = inv.jump_hosts.iter().map(|j| j.via.as_deref()).collect();
        db.execute(
            "INSERT INTO jump_hosts (name, host, port, credential_id, host_key, max_channels)
             SELECT j.name, j.host, j.port, c.id, j.host_key, j.max_channels
             FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::int[])
                  AS j(name, host, port, credential, host_key, max_channels)
             JOIN credentials c ON c.name = j.credential
             ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, port = EXCLUDED.port,
                 credential_id = EXCLUDED.credential_id, host_key = EXCLUDED.host_key,
                 max_channels = EXCLUDED.max_channels, updated_at = now()",
            &[&names, &hosts, &ports, &creds, &keys, &caps],
        )
        .await?;
        db.execute(
            "UPDATE jump_hosts j SET via_id = v.id
             FROM unnest($1::text[], $2::text[]) AS p(name, via)
             LEFT JOIN jump_hosts v ON v.name = p.via
             WHERE j.name = p.name AND j.via_id IS DISTINCT FROM v.id",
            &[&names, &vias],
        )
        .await
        .map_err(|e| match e.as_db_error() {
            Some(db) => anyhow::anyhow!("jump hosts refused: {}", db.message()),
            None => e.into(),
        })?;
    }
    let tag_names: Vec<&str> = inv.tags.iter().map(|t| t.name.as_str()).collect();
    let tag_jumps: Vec<Option<&str>> = inv.tags.iter().map(|t| t.jump_host.as_deref()).collect();
    db.execute(
        "UPDATE tags t SET jump_host_id = j.id
         FROM unnest($1::text[], $2::text[]) AS p(name, jump)
         LEFT JOIN jump_hosts j ON j.name = p.jump
         WHERE t.name = p.name AND t.jump_host_id IS DISTINCT FROM j.id",
        &[&tag_names, &tag_jumps],
    )
    .await?;
    Ok(())
}

/// Makes the tags of the named rows exactly the given (name, tag) pairs.
pub(super) async fn replace_tags<C: GenericClient>(
    db: &C,
    kind: &str,
    owners: &[&str],
    pair_owner: &[&str],
    pair_tag: &[&str],
) -> Result<()> {
    let (table, link, id) = match kind {
        "device" => ("devices", "device_tags", "device_id"),
        _ => ("credentials", "credential_tags", "credential_id"),
    };
    db.execute(
        &format!("DELETE FROM {link} WHERE {id} IN (SELECT id FROM {table} WHERE name = ANY($1))"),
        &[&owners],
    )
    .await?;
    db.execute(
        &format!(
            "INSERT INTO {link} ({id}, tag_id)
             SELECT o.id, t.id FROM unnest($1::text[], $2::text[]) AS p(owner, tag)
             JOIN {table} o ON o.name = p.owner JOIN tags t ON t.name = p.tag
             ON CONFLICT DO NOTHING"
        ),
        &[&pair_owner, &pair_tag],
    )
    .await?;
    Ok(())
}
