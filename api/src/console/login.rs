//! Login with an API token (a form, then a session cookie) and logout. The login form has
//! no session yet, so its CSRF token is a double-submit cookie of its own.

use super::session::{self, Session, COOKIE_NAME, LIFETIME_HOURS, LOGIN_COOKIE};
use super::view;
use crate::auth::store::{self, Refused};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect};
use axum::Form;
use netraven_shared::telemetry::metrics;
use serde::Deserialize;
use std::sync::Arc;

type Shared = State<Arc<AppState>>;

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    next: &'a str,
    error: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Where to go after login: a console path of ours, never another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/console/") && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/console/jobs",
    }
}

fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    error: Option<&str>,
) -> view::Answer {
    let csrf = session::random_id()?;
    let page = view::page(&LoginPage {
        csrf: &csrf,
        next,
        error,
    });
    let cookie = session::set_cookie(LOGIN_COOKIE, &csrf, 3600, session::over_tls(state, headers));
    Ok((status, [cookie], page).into_response())
}

/// The login form (or, with a live session already, where it was going).
pub async fn form(
    State(s): Shared,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> view::Answer {
    let next = safe_next(q.next.as_deref());
    if let Some(id) = session::cookie(&headers, COOKIE_NAME) {
        if let Ok(client) = s.pool.get().await {
            if let Ok(Some(_)) = session::find(&client, id).await {
                return Ok(Redirect::to(next).into_response());
            }
        }
    }
    login_page(&s, &headers, StatusCode::OK, next, None)
}

/// The login form. Every field may be missing: a form without its CSRF token is a 403
/// like a wrong one, not a 422 of the form's decoding.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    token: String,
    csrf: String,
    next: Option<String>,
}

/// Checks the token as the REST API does; a valid one opens a session.
pub async fn login(State(s): Shared, headers: HeaderMap, Form(f): Form<LoginForm>) -> view::Answer {
    let next = safe_next(f.next.as_deref());
    let expected = session::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !session::constant_time_eq(expected.as_bytes(), f.csrf.as_bytes()) {
        return login_page(
            &s,
            &headers,
            StatusCode::FORBIDDEN,
            next,
            Some("the login form expired; try again"),
        );
    }
    let client = s.pool.get().await.map_err(view::internal)?;
    let holder = match store::check(&client, f.token.trim()).await {
        Ok(Ok(h)) => h,
        Ok(Err(why)) => {
            metrics::get()
                .api_auth_failures_total
                .with_label_values(&[why.as_str()])
                .inc();
            let says = if why == Refused::Expired {
                "the token has expired"
            } else {
                "the token is not valid"
            };
            return login_page(&s, &headers, StatusCode::UNAUTHORIZED, next, Some(says));
        }
        Err(e) => return Err(view::internal(e)),
    };
    let id = session::open(&client, holder.id).await?;
    tracing::info!(token.name = %holder.name, "console login");
    let secure = session::over_tls(&s, &headers);
    Ok((
        // Appended: an array of headers would keep only the last Set-Cookie.
        AppendHeaders([
            session::set_cookie(COOKIE_NAME, &id, LIFETIME_HOURS * 3600, secure),
            session::set_cookie(LOGIN_COOKIE, "", 0, secure),
        ]),
        Redirect::to(next),
    )
        .into_response())
}

/// A form that carries only its CSRF token; without it, a 403 like a wrong one.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfForm {
    pub csrf: String,
}

/// Ends the session and forgets its cookie.
pub async fn logout(
    State(s): Shared,
    headers: HeaderMap,
    session: Session,
    Form(f): Form<CsrfForm>,
) -> view::Answer {
    session.check_csrf(&f.csrf)?;
    let client = s.pool.get().await.map_err(view::internal)?;
    session::close(&client, &session).await?;
    let secure = session::over_tls(&s, &headers);
    Ok((
        [session::set_cookie(COOKIE_NAME, "", 0, secure)],
        Redirect::to("/console/login"),
    )
        .into_response())
}
