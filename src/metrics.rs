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
use std::time::Duration;

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

/// Whether our recorder is the process's: only then may a metric handle be kept for later
/// requests (before it is installed, the macros hand out no-op handles).
fn recorder_installed() -> bool {
    HANDLE.get().is_some_and(Option::is_some)
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

/// The handles of one (route, method, status) of [`http_request`].
struct HttpSeries {
    method: &'static str,
    status: StatusCode,
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

thread_local! {
    /// [`http_request`]'s handles by route label, kept per thread: looking a labelled series up
    /// in the recorder (building its key, two label strings, hashing it, a shared map) on every
    /// request showed in the profile. Bounded like the labels: routes x methods x statuses.
    static HTTP_SERIES: std::cell::RefCell<std::collections::HashMap<Box<str>, Vec<HttpSeries>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// One answered request: `http_requests_total` and `http_request_duration_seconds` by route
/// label ([`route_label`]), method label ([`method_label`]) and status.
pub fn http_request(route: &str, method: &'static str, status: StatusCode, elapsed: Duration) {
    let register = || {
        let requests = metrics::counter!(
            "http_requests_total",
            "method" => method,
            "route" => route.to_owned(),
            "status" => status_label(status)
        );
        let duration = metrics::histogram!(
            "http_request_duration_seconds",
            "method" => method,
            "route" => route.to_owned()
        );
        (requests, duration)
    };
    if !recorder_installed() {
        let (requests, duration) = register();
        requests.increment(1);
        duration.record(elapsed.as_secs_f64());
        return;
    }
    HTTP_SERIES.with_borrow_mut(|series| {
        let of_route = match series.get_mut(route) {
            Some(of_route) => of_route,
            None => series.entry(route.into()).or_default(),
        };
        let found = of_route
            .iter()
            .find(|s| s.method == method && s.status == status);
        if let Some(found) = found {
            found.requests.increment(1);
            found.duration.record(elapsed.as_secs_f64());
            return;
        }
        let (requests, duration) = register();
        requests.increment(1);
        duration.record(elapsed.as_secs_f64());
        of_route.push(HttpSeries {
            method,
            status,
            requests,
            duration,
        });
    });
}

/// The upstreams the gateway calls: the fixed set of `upstream` label values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// The OpenAI-compatible chat completions API (`OPENAI_BASE_URL`).
    Llm,
    /// The embeddings API (`OPENAI_BASE_URL` + `/embeddings`).
    Embeddings,
    /// Pinecone: the data plane and the control plane's describe-index.
    Pinecone,
}

impl Upstream {
    pub fn label(self) -> &'static str {
        match self {
            Self::Llm => "llm",
            Self::Embeddings => "embeddings",
            Self::Pinecone => "pinecone",
        }
    }
}

/// Why an upstream call failed: the fixed set of `kind` label values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// No answer within the upstream timeout.
    Timeout,
    /// Connection refused, reset, DNS, TLS.
    Unreachable,
    /// A non-2xx answer.
    Status,
    /// A 2xx answer whose body could not be read or parsed.
    Unreadable,
}

impl UpstreamFailure {
    fn label(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
            Self::Status => "status",
            Self::Unreadable => "unreadable",
        }
    }
}

/// One call to an upstream (retries included): its latency as the caller saw it, and its
/// failure if it failed.
pub fn upstream_call(upstream: Upstream, elapsed: Duration, failure: Option<UpstreamFailure>) {
    // Counted toward the request's upstream wait when the request is measured for overhead.
    let _ = UPSTREAM_WAIT.try_with(|waited| waited.set(waited.get() + elapsed));
    static DURATIONS: OnceLock<[metrics::Histogram; 3]> = OnceLock::new();
    let duration = |u: Upstream| metrics::histogram!("upstream_request_duration_seconds", "upstream" => u.label());
    if recorder_installed() {
        let durations = DURATIONS.get_or_init(|| {
            [Upstream::Llm, Upstream::Embeddings, Upstream::Pinecone].map(duration)
        });
        durations[upstream as usize].record(elapsed.as_secs_f64());
    } else {
        duration(upstream).record(elapsed.as_secs_f64());
    }
    if let Some(failure) = failure {
        metrics::counter!(
            "upstream_errors_total",
            "upstream" => upstream.label(),
            "kind" => failure.label()
        )
        .increment(1);
    }
}

tokio::task_local! {
    /// The time the current request has spent waiting on upstreams so far.
    static UPSTREAM_WAIT: std::cell::Cell<Duration>;
}

/// The routes whose time is mostly an upstream's: their overhead is measured apart.
const OVERHEAD_ROUTES: [&str; 2] = ["/chat", "/v1/chat/completions"];

/// The label of `route` (a route template) when it gets `gateway_overhead_seconds`.
pub fn overhead_route(route: &str) -> Option<&'static str> {
    OVERHEAD_ROUTES.iter().find(|r| **r == route).copied()
}

/// Runs `request` (the rest of the stack) keeping count of the time its upstream calls take,
/// and returns that time with the response: the request's duration minus it is what the
/// gateway itself added. For a streamed answer both end at the response headers.
pub async fn with_upstream_wait<F: std::future::Future>(request: F) -> (F::Output, Duration) {
    UPSTREAM_WAIT
        .scope(std::cell::Cell::new(Duration::ZERO), async {
            let output = request.await;
            (output, UPSTREAM_WAIT.with(std::cell::Cell::get))
        })
        .await
}

/// What the gateway added to a chat request: its duration minus the upstreams' share.
pub fn gateway_overhead(route: &'static str, total: Duration, upstream: Duration) {
    static OVERHEADS: OnceLock<[metrics::Histogram; OVERHEAD_ROUTES.len()]> = OnceLock::new();
    let overhead =
        |route: &'static str| metrics::histogram!("gateway_overhead_seconds", "route" => route);
    let seconds = total.saturating_sub(upstream).as_secs_f64();
    match OVERHEAD_ROUTES.iter().position(|r| *r == route) {
        Some(i) if recorder_installed() => {
            OVERHEADS.get_or_init(|| OVERHEAD_ROUTES.map(overhead))[i].record(seconds)
        }
        _ => overhead(route).record(seconds),
    }
}

/// A tenant-cache lookup: answered from memory (`hit`, inactive and unknown ids included) or
/// loaded from the database (`miss`).
pub fn tenant_cache(hit: bool) {
    if hit {
        metrics::counter!("tenant_cache_hits_total").increment(1);
    } else {
        metrics::counter!("tenant_cache_misses_total").increment(1);
    }
}

/// The database pool right now, set when `/metrics` is scraped (a gauge read at scrape time
/// costs the request path nothing).
pub fn database_pool(in_use: usize, idle: usize, max_size: usize) {
    metrics::gauge!("db_pool_connections", "state" => "in_use").set(in_use as f64);
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("db_pool_max_size").set(max_size as f64);
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
