//! The console's stylesheet and script, compiled into the binary and served as they are:
//! no build step, no bundle.

use axum::http::header;
use axum::response::IntoResponse;

pub const CSS: &str = include_str!("../../static/console.css");
pub const JS: &str = include_str!("../../static/console.js");

const CACHE: &str = "public, max-age=300";

pub async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        CSS,
    )
}

pub async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        JS,
    )
}
