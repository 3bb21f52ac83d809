//! Optional HTTP control endpoint (JSON): `GET /devices`, `GET /attempts`, `GET /truth`
//! (every device's [`crate::DeviceReport`]: fault, attempts, commands, secrets received and
//! whether one reached a changed host key), `GET /aaa` (by username, the most
//! authentication requests in progress at once over every device, and when each arrived),
//! `POST /drift` (the next drift epoch, with the
//! fleet's share or `?share=0.3`: its number and the devices it changed, each with the
//! lines added and removed) and `GET /drift` (every epoch so far).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{Fleet, SimError};

/// The routes, for embedding in another axum app.
pub fn router(fleet: Arc<Fleet>) -> Router {
    Router::new()
        .route(
            "/devices",
            get(|State(f): State<Arc<Fleet>>| async move { Json(f.devices()) }),
        )
        .route(
            "/attempts",
            get(|State(f): State<Arc<Fleet>>| async move { Json(f.all_attempts()) }),
        )
        .route(
            "/truth",
            get(|State(f): State<Arc<Fleet>>| async move { Json(f.reports()) }),
        )
        .route(
            "/aaa",
            get(|State(f): State<Arc<Fleet>>| async move { Json(f.aaa()) }),
        )
        .route(
            "/drift",
            get(|State(f): State<Arc<Fleet>>| async move { Json(f.drift_epochs()) }).post(drift),
        )
        .with_state(fleet)
}

#[derive(Deserialize)]
struct DriftQuery {
    share: Option<f64>,
}

async fn drift(
    State(f): State<Arc<Fleet>>,
    Query(q): Query<DriftQuery>,
) -> Result<Json<crate::DriftEpoch>, (StatusCode, String)> {
    match q.share {
        None => Ok(Json(f.advance_drift())),
        Some(share) => f
            .advance_drift_by(share)
            .map(Json)
            .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string())),
    }
}

/// Serves [`router`] on `addr` until `shutdown` is cancelled.
pub async fn serve_control(
    fleet: Arc<Fleet>,
    addr: SocketAddr,
    shutdown: CancellationToken,
) -> Result<(), SimError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Control { addr, source })?;
    serve_control_on(fleet, listener, shutdown).await
}

/// [`serve_control`] on a listener the caller bound (port 0 in tests).
pub async fn serve_control_on(
    fleet: Arc<Fleet>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), SimError> {
    let addr = listener.local_addr().map_err(|source| SimError::Control {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    axum::serve(listener, router(fleet))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(|source| SimError::Control { addr, source })
}
