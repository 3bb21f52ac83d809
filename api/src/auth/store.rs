//! The `api_tokens` table: made by `netraven token create`, listed (never the secret),
//! revoked, and looked up by hash for each request. The only module that writes it.

use super::token::{self, Scope, Token};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;

/// A token to make.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub scope: Scope,
    /// Whose permissions its jobs and cancels run with (`dispatcher.submitters`).
    pub submitter: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token as `token list` shows it: never the secret.
#[derive(Debug, Clone, Serialize)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    /// Its first characters, to tell it apart.
    pub prefix: String,
    pub scope: Scope,
    pub submitter: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Why a presented token is not accepted; each its own `netraven_api_auth_failures_total`
/// reason. The client hears only "invalid token" or "expired", never which token exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Malformed,
    Unknown,
    Revoked,
    Expired,
}

impl Refused {
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Malformed => "malformed",
            Refused::Unknown => "unknown",
            Refused::Revoked => "revoked",
            Refused::Expired => "expired",
        }
    }
}

/// Who a valid token speaks for.
#[derive(Debug, Clone)]
pub struct Holder {
    pub id: i64,
    pub name: String,
    pub scope: Scope,
    pub submitter: String,
}

/// Makes a token and returns its secret, to be shown once. `Err` from Postgres includes
/// a name already taken (unique).
pub async fn create<C: GenericClient>(db: &C, new: &NewToken) -> Result<(i64, Token), CreateError> {
    let token = Token::generate().map_err(CreateError::Random)?;
    let row = db
        .query_one(
            "INSERT INTO api_tokens (name, prefix, sha256, scope, submitter, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &new.name,
                &token.shown_prefix(),
                &token.sha256(),
                &new.scope.as_str(),
                &new.submitter,
                &new.expires_at,
            ],
        )
        .await
        .map_err(|e| match e.code() {
            Some(c) if *c == tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
                CreateError::Taken(new.name.clone())
            }
            Some(c) if *c == tokio_postgres::error::SqlState::CHECK_VIOLATION => {
                CreateError::BadName(new.name.clone())
            }
            _ => CreateError::Database(e),
        })?;
    Ok((row.get(0), token))
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("a token named {0:?} exists; revoke it, or choose another name")]
    Taken(String),
    #[error("{0:?} is not a token name: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")]
    BadName(String),
    #[error("{0}")]
    Random(String),
    #[error("cannot store the token: {0}")]
    Database(#[source] tokio_postgres::Error),
}

/// Every token, newest first.
pub async fn list<C: GenericClient>(db: &C) -> Result<Vec<TokenRow>, tokio_postgres::Error> {
    let rows = db
        .query(
            "SELECT id, name, prefix, scope, submitter, created_at, expires_at, last_used_at,
                    revoked_at
             FROM api_tokens ORDER BY created_at DESC, id DESC",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| TokenRow {
            id: r.get("id"),
            name: r.get("name"),
            prefix: r.get("prefix"),
            // The table's check admits only the three.
            scope: r.get::<_, &str>("scope").parse().unwrap_or(Scope::Read),
            submitter: r.get("submitter"),
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
            last_used_at: r.get("last_used_at"),
            revoked_at: r.get("revoked_at"),
        })
        .collect())
}

/// Revokes the token named `name`; `false` when there is none not revoked already.
pub async fn revoke<C: GenericClient>(db: &C, name: &str) -> Result<bool, tokio_postgres::Error> {
    let n = db
        .execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
            &[&name],
        )
        .await?;
    Ok(n == 1)
}

/// The holder of `presented`, or why it is refused. Looked up by its SHA-256; `last_used_at`
/// moves at most once a minute per token, so reads do not write on every request.
pub async fn check<C: GenericClient>(
    db: &C,
    presented: &str,
) -> Result<Result<Holder, Refused>, tokio_postgres::Error> {
    if !token::well_formed(presented) {
        return Ok(Err(Refused::Malformed));
    }
    let Some(row) = db
        .query_opt(
            "SELECT id, name, scope, submitter, expires_at <= now() AS expired,
                    revoked_at IS NOT NULL AS revoked
             FROM api_tokens WHERE sha256 = $1",
            &[&token::sha256(presented)],
        )
        .await?
    else {
        return Ok(Err(Refused::Unknown));
    };
    if row.get::<_, bool>("revoked") {
        return Ok(Err(Refused::Revoked));
    }
    if row.get::<_, Option<bool>>("expired") == Some(true) {
        return Ok(Err(Refused::Expired));
    }
    let id: i64 = row.get("id");
    db.execute(
        "UPDATE api_tokens SET last_used_at = now()
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        &[&id],
    )
    .await?;
    Ok(Ok(Holder {
        id,
        name: row.get("name"),
        scope: row.get::<_, &str>("scope").parse().unwrap_or(Scope::Read),
        submitter: row.get("submitter"),
    }))
}
