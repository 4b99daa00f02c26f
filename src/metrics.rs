//! The Prometheus recorder, installed once per process (tests build many apps in one process),
//! and the label rules every metric follows.
//!
//! A label value that a caller can choose makes a new time series per request: 1,000 requests
//! with random method names once grew the process by 117 MB and `/metrics` to 41 MB, never
//! released. So every label comes from a fixed set, through the helpers below:
//! - [`method_label`]: the standard methods, anything else `other`;
//! - [`route_label`]: the route template axum matched (`/documents/{*id}`), anything else
//!   `unmatched`;
//! - [`status_label`]: the status code we answered (the server picks it, not the caller).
//!
//! Never a tenant id, key id, raw path, header or body field. New metrics should take their
//! labels from these helpers or from a `&'static str` of their own.

use std::sync::OnceLock;

use axum::extract::MatchedPath;
use axum::http::{Method, StatusCode};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The label of a request whose path matched no route.
pub const UNMATCHED: &str = "unmatched";
/// The label of a method outside the standard set.
pub const OTHER_METHOD: &str = "other";

pub fn install() {
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().ok());
}

pub fn render() -> String {
    install();
    HANDLE
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

/// The method as a label: one of the nine standard methods, or `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => OTHER_METHOD,
    }
}

/// The route template as a label (a fixed set: the router's own paths), or `unmatched`.
pub fn route_label(matched: Option<&MatchedPath>) -> String {
    matched.map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned())
}

/// The status code as a label.
pub fn status_label(status: StatusCode) -> String {
    status.as_str().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let odd = Method::from_bytes(b"XYZZYFROB").expect("method");
        assert_eq!(method_label(&odd), OTHER_METHOD);
        assert_eq!(route_label(None), UNMATCHED);
        assert_eq!(status_label(StatusCode::NOT_FOUND), "404");
    }
}
