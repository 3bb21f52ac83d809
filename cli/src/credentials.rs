//! `netraven credential disable`, `enable` and `remove`: a credential's life after import.
//!
//! Disabling is the dispatcher's business: its resolution loads enabled credentials only,
//! so a job dispatched after the command never tries a disabled one (tasks already
//! published carry their credentials and may still). Removing deletes the row and its
//! sealed secret; the deletion's trigger leaves a tombstone (`removed_credentials`,
//! migration V12) that keeps naming its past attempts and results.
//!
//! Each command is idempotent: doing it again changes nothing and says so, exit 0. A name
//! that is not a credential is an error (exit 1), with what to do about it.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What a command did to one credential.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub credential: String,
    /// `disabled`, `enabled`, `removed`, or `unchanged` when it already was.
    pub action: &'static str,
    /// Its state now: `disabled`, `enabled` or `removed`.
    pub state: &'static str,
    /// `remove`: the login attempts of the credential kept in the history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_kept: Option<i64>,
    /// `remove`: devices it was the last to log in to, which now try their others first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affinity_devices: Option<i64>,
    /// `remove` of one removed before: when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<DateTime<Utc>>,
}

/// The error for a name that is no credential: it says whether the name was removed.
async fn missing(client: &deadpool_postgres::Client, name: &str) -> anyhow::Error {
    match removed_at(client, name).await {
        Ok(Some(at)) => anyhow::anyhow!(
            "credential {name:?} was removed on {}: import it again (netraven inventory \
             import) to bring it back",
            at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        Ok(None) => {
            anyhow::anyhow!("no credential named {name:?} (netraven credential list shows them)")
        }
        Err(e) => e,
    }
}

async fn removed_at(
    client: &deadpool_postgres::Client,
    name: &str,
) -> Result<Option<DateTime<Utc>>> {
    Ok(client
        .query_one(
            "SELECT max(removed_at) FROM removed_credentials WHERE name = $1",
            &[&name],
        )
        .await
        .context("cannot read the removed credentials")?
        .get(0))
}

/// Enables or disables the credential named `name`.
pub async fn set_enabled(
    client: &deadpool_postgres::Client,
    name: &str,
    enabled: bool,
) -> Result<Change> {
    let state = if enabled { "enabled" } else { "disabled" };
    let row = client
        .query_opt(
            // The old value, read in the same statement: `updated_at` moves only on a change.
            "WITH old AS (SELECT id, enabled FROM credentials WHERE name = $1 FOR UPDATE)
             UPDATE credentials c
             SET enabled = $2,
                 updated_at = CASE WHEN old.enabled = $2 THEN c.updated_at ELSE now() END
             FROM old WHERE c.id = old.id
             RETURNING old.enabled AS was",
            &[&name, &enabled],
        )
        .await
        .with_context(|| format!("cannot change credential {name:?}"))?;
    let Some(row) = row else {
        return Err(missing(client, name).await);
    };
    let was: bool = row.get("was");
    Ok(Change {
        credential: name.to_string(),
        action: if was == enabled { "unchanged" } else { state },
        state,
        attempts_kept: None,
        affinity_devices: None,
        removed_at: None,
    })
}

/// Removes the credential named `name`: its row, sealed secret, tags and affinities; its
/// attempts and results stay, named by its tombstone.
pub async fn remove(client: &mut deadpool_postgres::Client, name: &str) -> Result<Change> {
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            "SELECT c.id,
                    (SELECT count(*) FROM credential_attempts a WHERE a.credential_id = c.id)
                        AS attempts,
                    (SELECT count(*) FROM device_credential_affinity a
                     WHERE a.credential_id = c.id) AS affinity
             FROM credentials c WHERE c.name = $1 FOR UPDATE",
            &[&name],
        )
        .await
        .with_context(|| format!("cannot read credential {name:?}"))?;
    let Some(row) = row else {
        drop(tx);
        return match removed_at(client, name).await? {
            Some(at) => Ok(Change {
                credential: name.to_string(),
                action: "unchanged",
                state: "removed",
                attempts_kept: None,
                affinity_devices: None,
                removed_at: Some(at),
            }),
            None => Err(missing(client, name).await),
        };
    };
    let id: i64 = row.get("id");
    let jumps: Vec<String> = tx
        .query(
            "SELECT name FROM jump_hosts WHERE credential_id = $1 ORDER BY name",
            &[&id],
        )
        .await
        .with_context(|| format!("cannot read credential {name:?}"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !jumps.is_empty() {
        anyhow::bail!(
            "credential {name:?} is the credential of jump host{} {}: give {} another \
             credential (inventory import) before removing it",
            if jumps.len() == 1 { "" } else { "s" },
            jumps.join(", "),
            if jumps.len() == 1 { "it" } else { "them" }
        );
    }
    tx.execute("DELETE FROM credentials WHERE id = $1", &[&id])
        .await
        .with_context(|| format!("cannot remove credential {name:?}"))?;
    tx.commit()
        .await
        .with_context(|| format!("cannot remove credential {name:?}"))?;
    Ok(Change {
        credential: name.to_string(),
        action: "removed",
        state: "removed",
        attempts_kept: Some(row.get("attempts")),
        affinity_devices: Some(row.get("affinity")),
        removed_at: None,
    })
}

/// The change in words.
pub fn render(c: &Change, _style: crate::views::Style) -> String {
    let name = crate::views::shown(&c.credential);
    match (c.action, c.state) {
        ("disabled", _) => format!(
            "credential {name:?} disabled: jobs dispatched from now on do not try it (tasks \
             already sent may); `netraven credential enable {name}` undoes it\n"
        ),
        ("enabled", _) => {
            format!("credential {name:?} enabled: jobs dispatched from now on try it again\n")
        }
        ("removed", _) => format!(
            "credential {name:?} removed with its secret; its {} login attempts stay in the \
             history, and the {} devices it last logged in to try their others first. Take it \
             out of the inventory file too: the next import would bring it back, as a new \
             credential\n",
            c.attempts_kept.unwrap_or_default(),
            c.affinity_devices.unwrap_or_default()
        ),
        (_, "removed") => format!(
            "credential {name:?} was already removed{}\n",
            c.removed_at
                .map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M:%S UTC")))
                .unwrap_or_default()
        ),
        (_, state) => format!("credential {name:?} was already {state}\n"),
    }
}
