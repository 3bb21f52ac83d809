//! `--prune`: removing what the inventory no longer lists, after the import's writes and
//! in its transaction.
//!
//! - A device is marked removed (migration V20), never deleted: `removed_at` set,
//!   `enabled` cleared, its tags, credential affinity and jump host dropped. Its results,
//!   attempts, outputs, configuration versions and host key pin stay, under its name; no
//!   job targets it again. Importing its name again brings it back, same id.
//! - A jump host is deleted. One still used by a device, a tag or a jump host that stays
//!   is a problem: nothing is written.
//! - A credential is deleted as `credential remove` does: V12's tombstone keeps its name
//!   for the history. One still used by a jump host that stays is a problem.
//! - Tags are never removed: a tag is a name that schedules and job requests may target.

use super::parse::Problem;
use super::plan::Plan;
use anyhow::Result;
use deadpool_postgres::GenericClient;

/// Removes what `plan` says; the problems that forbid it (rows still in use), if any, in
/// which case the caller rolls back.
pub async fn remove<C: GenericClient>(db: &C, plan: &Plan) -> Result<Vec<Problem>> {
    let devices = &plan.devices.removed;
    let jumps = &plan.jump_hosts.removed;
    let credentials = &plan.credentials.removed;
    if !devices.is_empty() {
        db.execute(
            "WITH gone AS (
                 UPDATE devices SET removed_at = now(), enabled = false, jump_host_id = NULL,
                        updated_at = now()
                 WHERE name = ANY($1) AND removed_at IS NULL RETURNING id
             ), untagged AS (
                 DELETE FROM device_tags WHERE device_id IN (SELECT id FROM gone)
             )
             DELETE FROM device_credential_affinity WHERE device_id IN (SELECT id FROM gone)",
            &[devices],
        )
        .await?;
    }
    let mut problems = Vec::new();
    let mut refuse = |message: String| {
        problems.push(Problem {
            line: 0,
            column: 0,
            message,
        })
    };
    if !jumps.is_empty() {
        for r in db
            .query(
                "SELECT 'device', d.name, j.name FROM devices d
                 JOIN jump_hosts j ON j.id = d.jump_host_id WHERE j.name = ANY($1)
                 UNION ALL
                 SELECT 'tag', t.name, j.name FROM tags t
                 JOIN jump_hosts j ON j.id = t.jump_host_id WHERE j.name = ANY($1)
                 UNION ALL
                 SELECT 'jump host', v.name, j.name FROM jump_hosts v
                 JOIN jump_hosts j ON j.id = v.via_id
                 WHERE j.name = ANY($1) AND NOT v.name = ANY($1)
                 ORDER BY 3, 1, 2",
                &[jumps],
            )
            .await?
        {
            let (kind, user, jump): (&str, &str, &str) = (r.get(0), r.get(1), r.get(2));
            refuse(format!(
                "jump host {jump:?} is not listed, but {kind} {user:?} still uses it: list \
                 the jump host, or stop the {kind} using it"
            ));
        }
    }
    if !credentials.is_empty() {
        for r in db
            .query(
                "SELECT j.name, c.name FROM jump_hosts j
                 JOIN credentials c ON c.id = j.credential_id
                 WHERE c.name = ANY($1) AND NOT j.name = ANY($2) ORDER BY 2, 1",
                &[credentials, jumps],
            )
            .await?
        {
            let (jump, credential): (&str, &str) = (r.get(0), r.get(1));
            refuse(format!(
                "credential {credential:?} is not listed, but jump host {jump:?} still logs \
                 in with it: list the credential, or remove the jump host too"
            ));
        }
    }
    if !problems.is_empty() {
        return Ok(problems);
    }
    if !jumps.is_empty() {
        db.execute(
            "UPDATE jump_hosts SET via_id = NULL WHERE name = ANY($1) AND via_id IS NOT NULL",
            &[jumps],
        )
        .await?;
        db.execute("DELETE FROM jump_hosts WHERE name = ANY($1)", &[jumps])
            .await?;
    }
    if !credentials.is_empty() {
        db.execute(
            "DELETE FROM credentials WHERE name = ANY($1)",
            &[credentials],
        )
        .await?;
    }
    Ok(problems)
}
