//! Counts every answer and times it, labelled by the method, the route template
//! (`/api/jobs/{id}`, never the concrete path) and status: every label from a bounded set,
//! whatever a client sends, since a series once made is kept for the process's life.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use netraven_shared::telemetry::metrics;
use std::time::Instant;

pub async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    let m = metrics::get();
    m.http_requests_total
        .with_label_values(&[method, &route, response.status().as_str()])
        .inc();
    m.http_request_duration_seconds
        .with_label_values(&[method, &route])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The method as a label: HTTP's own methods by name, any other (a client may send any
/// token of any length as a method) as `other`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn any_method_a_client_invents_is_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let invented = Method::from_bytes("A".repeat(100_000).as_bytes()).expect("a token");
        assert_eq!(method_label(&invented), "other");
        assert_eq!(
            method_label(&Method::from_bytes(b"PROPFIND").expect("a token")),
            "other"
        );
    }
}
