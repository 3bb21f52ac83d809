//! The `/console` routes. Every page but login and the static files needs a session
//! ([`super::session::Session`] redirects to login without one); every POST carries the
//! session's CSRF token (the login form its own cookie's).

use super::{assets, devices, fleet, jobs, live, login};
use crate::state::AppState;
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/jobs") }))
        .route("/console/", get(|| async { Redirect::to("/console/jobs") }))
        .route("/console/login", get(login::form).post(login::login))
        .route("/console/logout", post(login::logout))
        .route("/console/jobs", get(jobs::list).post(jobs::submit))
        .route("/console/jobs/new", get(jobs::new))
        .route("/console/jobs/{id}", get(jobs::show))
        .route("/console/jobs/{id}/cancel", post(jobs::cancel))
        .route("/console/live", get(live::stream))
        .route("/console/devices", get(devices::list))
        .route("/console/devices/{name}", get(devices::show))
        .route("/console/credentials", get(fleet::credentials))
        .route("/console/schedules", get(fleet::schedules))
        .route("/console/static/console.css", get(assets::css))
        .route("/console/static/console.js", get(assets::js))
}
