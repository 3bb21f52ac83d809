//! Counts every answer and times it, labelled by the route template (`/api/jobs/{id}`,
//! never the concrete path, so the labels stay bounded) and status.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use netraven_shared::telemetry::metrics;
use std::time::Instant;

pub async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    let m = metrics::get();
    m.http_requests_total
        .with_label_values(&[&method, &route, response.status().as_str()])
        .inc();
    m.http_request_duration_seconds
        .with_label_values(&[&method, &route])
        .observe(started.elapsed().as_secs_f64());
    response
}
