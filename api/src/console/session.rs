//! Console sessions: the cookie carries a random 256-bit id and nothing else; Postgres keeps
//! its SHA-256 and the token it was opened with (`console_sessions`), so any replica knows
//! it and a revoked or expired token ends it at the next request. The CSRF token of a
//! session is derived from its id, so it is never stored. The only module that writes
//! `console_sessions`.

use super::view;
use crate::auth::store::Holder;
use crate::auth::Scope;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use deadpool_postgres::GenericClient;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The session cookie's name; scoped to `/console`.
pub const COOKIE_NAME: &str = "netraven_session";
/// The login form's double-submit cookie (a CSRF token before there is a session).
pub const LOGIN_COOKIE: &str = "netraven_login";
/// How long a session lives at most (its token may end it sooner).
pub const LIFETIME_HOURS: i64 = 12;

/// A logged-in browser: the token's holder, and the CSRF token its forms must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub holder: Holder,
    pub csrf: String,
    hash: Vec<u8>,
}

impl Session {
    pub fn may_submit(&self) -> bool {
        self.holder.scope >= Scope::Submit
    }

    /// What tells this session from others (its id's hash), for per-session limits.
    pub fn key(&self) -> &[u8] {
        &self.hash
    }

    /// Checks a form's CSRF field: a mismatch is a 403 page.
    pub fn check_csrf(&self, presented: &str) -> Result<(), Response> {
        if constant_time_eq(presented.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(view::forbidden(
                "the form is stale or not from this console; reload the page and try again",
            ))
        }
    }

    /// Checks a form that acts on jobs (submit, cancel): its CSRF field, then a token of
    /// scope submit, as the REST handler it goes through needs. `doing` names the act in
    /// the 403 page (`submitting`, `cancelling`).
    pub fn check_job_form(&self, presented_csrf: &str, doing: &str) -> Result<(), Response> {
        self.check_csrf(presented_csrf)?;
        if self.may_submit() {
            Ok(())
        } else {
            Err(view::forbidden(&format!(
                "{doing} needs a token of scope submit; {:?} has {}",
                self.holder.name, self.holder.scope
            )))
        }
    }
}

/// 32 random bytes as base64url.
pub fn random_id() -> Result<String, Response> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| view::internal("the system's random generator failed"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn sha256(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

/// The CSRF token of a session id: a hash of it under its own label, so neither the
/// table (which holds the id's plain hash) nor the page reveals the other.
fn csrf_of(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(format!("netraven-console-csrf:{id}")))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Whether the browser reached us over TLS: the role serves it, or a proxy in front says so.
pub fn over_tls(state: &AppState, headers: &HeaderMap) -> bool {
    state.settings.tls_cert_file.is_some()
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// A `Set-Cookie` for `/console`: HttpOnly, SameSite=Strict, Secure over TLS; `max_age`
/// 0 deletes it.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age_s: i64,
    secure: bool,
) -> (axum::http::HeaderName, HeaderValue) {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path=/console; Max-Age={max_age_s}; HttpOnly; SameSite=Strict{secure}"
    );
    (
        SET_COOKIE,
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("")),
    )
}

/// Opens a session for the token `token_id`: the new session id, for the cookie.
pub async fn open<C: GenericClient>(db: &C, token_id: i64) -> Result<String, Response> {
    let id = random_id()?;
    // Expired sessions go when someone logs in: no sweeper needed.
    db.execute("DELETE FROM console_sessions WHERE expires_at < now()", &[])
        .await
        .map_err(view::internal)?;
    db.execute(
        "INSERT INTO console_sessions (sha256, token_id, expires_at)
         VALUES ($1, $2, now() + make_interval(hours => $3::int))",
        &[&sha256(&id), &token_id, &(LIFETIME_HOURS as i32)],
    )
    .await
    .map_err(view::internal)?;
    Ok(id)
}

/// Ends the session (logout).
pub async fn close<C: GenericClient>(db: &C, session: &Session) -> Result<(), Response> {
    db.execute(
        "DELETE FROM console_sessions WHERE sha256 = $1",
        &[&session.hash],
    )
    .await
    .map_err(view::internal)?;
    Ok(())
}

/// The live session of cookie value `id`: not expired, its token neither revoked nor
/// expired.
pub async fn find<C: GenericClient>(db: &C, id: &str) -> Result<Option<Session>, Response> {
    let hash = sha256(id);
    let row = db
        .query_opt(
            "SELECT t.id, t.name, t.scope, t.submitter
             FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id
             WHERE s.sha256 = $1 AND s.expires_at > now() AND t.revoked_at IS NULL
               AND (t.expires_at IS NULL OR t.expires_at > now())",
            &[&hash],
        )
        .await
        .map_err(view::internal)?;
    Ok(row.map(|r| Session {
        holder: Holder {
            id: r.get("id"),
            name: r.get("name"),
            scope: r.get::<_, &str>("scope").parse().unwrap_or(Scope::Read),
            submitter: r.get("submitter"),
        },
        csrf: csrf_of(id),
        hash,
    }))
}

/// Every page asks for a [`Session`]; without one the browser goes to the login page,
/// which sends it back here after.
impl FromRequestParts<Arc<AppState>> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Response> {
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map_or("/console/jobs", |p| p.as_str());
            Redirect::to(&format!("/console/login?next={}", view::url_encode(next))).into_response()
        };
        let Some(id) = cookie(&parts.headers, COOKIE_NAME) else {
            return Err(to_login());
        };
        let client = state.pool.get().await.map_err(view::internal)?;
        find(&client, id).await?.ok_or_else(to_login)
    }
}

/// Whether `session` still holds (not logged out, its token still valid).
pub async fn alive<C: GenericClient>(
    db: &C,
    session: &Session,
) -> Result<bool, tokio_postgres::Error> {
    Ok(db
        .query_opt(
            "SELECT 1 FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id
             WHERE s.sha256 = $1 AND s.expires_at > now() AND t.revoked_at IS NULL
               AND (t.expires_at IS NULL OR t.expires_at > now())",
            &[&session.hash],
        )
        .await?
        .is_some())
}
