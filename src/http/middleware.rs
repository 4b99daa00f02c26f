//! The tower stack around every route, in one function, outermost first:
//!
//! request id → sensitive headers → trace span → propagate request id → catch panics → CORS →
//! contract-shaped error bodies → NUL refusal → timeout → body-read timeout → metrics → router
//! (the last five as one middleware, [`edge`]).
//! (The body limit is axum's `DefaultBodyLimit`, set in `router`, which every body extractor
//! honours.)

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::domain::CorsOrigins;
use crate::errors::AppError;
use crate::identity::credentials::API_KEY_HEADER;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn apply(router: Router, config: &Config) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
            .layer(SetSensitiveRequestHeadersLayer::new([
                header::AUTHORIZATION,
                header::COOKIE,
                HeaderName::from_static(API_KEY_HEADER),
            ]))
            .layer(
                TraceLayer::new_for_http().make_span_with(|request: &Request| {
                    let request_id = request
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        request_id = %request_id,
                        method = %request.method(),
                        path = %request.uri().path(),
                    )
                }),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
            .layer(CatchPanicLayer::custom(|_| {
                AppError::internal("handler panicked").into_response()
            }))
            .layer(cors(&config.cors_origins))
            // Contract-shaped error bodies → NUL refusal → timeout → body-read timeout →
            // metrics, as one middleware: one boxed future and one `Next` per request instead
            // of one per step.
            .layer(middleware::from_fn_with_state(
                EdgeTimeouts {
                    request: config.request_timeout,
                    body_read: config.body_read_timeout,
                },
                edge,
            )),
    )
}

/// The two timeouts of [`edge`].
#[derive(Clone, Copy)]
struct EdgeTimeouts {
    /// `REQUEST_TIMEOUT_SECONDS`: the whole request, until the response headers (504).
    request: Duration,
    /// `BODY_READ_TIMEOUT_SECONDS`: the request body, from the first read (408).
    body_read: Duration,
}

/// The inner end of the stack, in order: contract-shaped error bodies ([`json_error_body`]),
/// NUL refusal ([`refuse_nul_in_uri`]), the whole-request timeout (504, as tower-http's
/// `TimeoutLayer` answered it: an empty 504 that gets its JSON body here), the body-read
/// timeout ([`body_read_timeout`]), then metrics ([`record_metrics`]) around the router.
async fn edge(
    axum::extract::State(timeouts): axum::extract::State<EdgeTimeouts>,
    request: Request,
    next: Next,
) -> Response {
    let response = match refuse_nul_in_uri(&request) {
        Some(refused) => refused,
        None => {
            let inner = body_read_timeout(timeouts.body_read, request, next);
            match tokio::time::timeout(timeouts.request, inner).await {
                Ok(response) => response,
                Err(_) => StatusCode::GATEWAY_TIMEOUT.into_response(),
            }
        }
    };
    json_error_body(response)
}

/// A client announcing a body it never sends (`Content-Length: 3000000`, then silence) held a
/// handler until the whole-request timeout (90 s, then a misleading 504). The body must now be
/// complete `BODY_READ_TIMEOUT_SECONDS` after the handler starts reading it; if not, the answer
/// is 408 `request_timeout` with `Connection: close` (the unread rest cannot be skipped).
async fn body_read_timeout(timeout: Duration, request: Request, next: Next) -> Response {
    let timed_out = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            timeout,
            deadline: None,
            timed_out: timed_out.clone(),
        })
    });
    let response = record_metrics(request, next).await;
    if !timed_out.load(std::sync::atomic::Ordering::Relaxed) {
        return response;
    }
    let mut response = AppError::RequestTimeout.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

pin_project_lite::pin_project! {
    /// A request body that fails once `timeout` has passed since it was first polled.
    struct DeadlineBody {
        #[pin]
        inner: Body,
        timeout: Duration,
        #[pin]
        deadline: Option<tokio::time::Sleep>,
        timed_out: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }
}

impl hyper::body::Body for DeadlineBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        let mut this = self.project();
        if this.deadline.is_none() {
            this.deadline.set(Some(tokio::time::sleep(*this.timeout)));
        }
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if let Some(deadline) = this.deadline.as_pin_mut()
            && deadline.poll(cx).is_ready()
        {
            this.timed_out
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new("request body read timed out"))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Listed origins get CORS headers (and preflight answers) allowing `Authorization` and
/// `Content-Type`; other origins get none, so browsers refuse them.
fn cors(origins: &CorsOrigins) -> CorsLayer {
    let list: Vec<HeaderValue> = origins.as_slice().to_vec();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            let allowed = list.contains(origin);
            if !allowed {
                // Why a browser failed is otherwise invisible: the refused preflight is a 200
                // without CORS headers. The origin is the caller's, so it is clipped.
                let shown = String::from_utf8_lossy(origin.as_bytes());
                let shown: String = shown.chars().take(100).collect();
                tracing::debug!(
                    origin = %shown,
                    "CORS: origin not in BACKEND_CORS_ORIGINS; no CORS headers sent"
                );
            }
            allowed
        }))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(API_KEY_HEADER),
            REQUEST_ID.clone(),
        ])
        .expose_headers([REQUEST_ID.clone()])
        .max_age(Duration::from_secs(600))
}

/// Error responses made outside our handlers (unknown method, body limit, timeout) come with
/// plain-text or empty bodies; this gives them the contract's `{detail, code}` shape.
fn json_error_body(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let error = match status {
        StatusCode::NOT_FOUND => AppError::not_found("resource"),
        StatusCode::METHOD_NOT_ALLOWED => AppError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
        StatusCode::GATEWAY_TIMEOUT | StatusCode::REQUEST_TIMEOUT => {
            AppError::UpstreamTimeout("the request took too long".into())
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE
        | StatusCode::BAD_REQUEST
        | StatusCode::UNPROCESSABLE_ENTITY => {
            AppError::validation("body", "request could not be read")
        }
        _ => return response,
    };
    let (mut parts, _) = response.into_parts();
    let fresh = error.into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let (fresh_parts, body) = fresh.into_parts();
    parts.status = fresh_parts.status;
    for (name, value) in fresh_parts.headers.iter() {
        parts.headers.insert(name, value.clone());
    }
    Response::from_parts(parts, Body::new(body))
}

/// A NUL (`%00`) in the path or query string can name nothing we store (Postgres text holds
/// no NUL, and tokio-postgres would fail the statement with a 500), so it is refused here at
/// the edge: in the path as 404 (no such resource), in the query as 422.
fn refuse_nul_in_uri(request: &Request) -> Option<Response> {
    let uri = request.uri();
    if uri.path().contains("%00") {
        return Some(AppError::not_found("resource").into_response());
    }
    if let Some(query) = uri.query().filter(|q| q.contains("%00")) {
        let field = url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, value)| key.contains('\0') || value.contains('\0'))
            .map(|(key, _)| key)
            .filter(|key| !key.contains('\0') && key.len() <= 64)
            .map_or_else(|| "query".to_owned(), |key| key.into_owned());
        return Some(
            AppError::validation(&field, crate::http::routes::NUL_MESSAGE).into_response(),
        );
    }
    None
}

/// Prometheus counters and latencies per route template and method, each from a fixed set
/// (see `crate::metrics`): never the raw path or method, which the caller chooses.
async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    // An `Arc` clone, not a copy of the template.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched
        .as_ref()
        .map_or(crate::metrics::UNMATCHED, MatchedPath::as_str);
    let method = crate::metrics::method_label(request.method());
    let response = if let Some(overhead_route) = crate::metrics::overhead_route(route) {
        let (response, upstream) = crate::metrics::with_upstream_wait(next.run(request)).await;
        crate::metrics::gateway_overhead(overhead_route, started.elapsed(), upstream);
        response
    } else {
        next.run(request).await
    };
    crate::metrics::http_request(route, method, response.status(), started.elapsed());
    response
}
