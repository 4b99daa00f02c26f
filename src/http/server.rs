//! Serving on a bound listener (the caller binds it, so it can say what to do when the port is
//! taken): run the background tasks, stop gracefully on SIGTERM or SIGINT: drain for
//! `SHUTDOWN_DRAIN_SECONDS` (`/ready` fails, requests are still served), stop accepting, let the
//! requests in flight finish, write the usage counts; the process then exits 0.
//!
//! Connections are served by hyper directly (not `axum::serve`) for its header-read timeout: a
//! client dripping one header line every few seconds held a connection for minutes. Hyper starts
//! that timer whenever it waits for a request head, so on a kept-alive connection it also bounds
//! the idle wait for the next request (`HEADER_READ_TIMEOUT_SECONDS`). The body-read timeout is
//! a middleware (`middleware::body_read_timeout`), because only a handler knows when it reads.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::app::state::AppState;

/// Serves on `listener` (bound by the caller: `tenantgate serve`, the demo, the tests) until
/// `shutdown` resolves, then drains and stops as the module doc says.
pub async fn serve_on(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::metrics::install();
    crate::identity::password::warm_up();
    let app = crate::http::router::build(state.clone());
    let background = state.spawn_background();
    let local = listener.local_addr()?;
    tracing::info!(address = %local, "tenantgate listening");
    log_settings_in_effect(&state.config);
    // Drain first: a replica that closed its listener at once would refuse the requests a load
    // balancer still sends it until its health checks notice; failing `/ready` while still
    // serving lets the balancer route away without a single refused connection.
    let drain = state.config.shutdown_drain;
    let drain_state = state.clone();
    let shutdown = async move {
        shutdown.await;
        if !drain.is_zero() {
            drain_state.draining.store(true, Ordering::Release);
            tracing::info!(
                seconds = drain.as_secs(),
                "draining: /ready answers 503, requests are still served"
            );
            tokio::time::sleep(drain).await;
        }
        tracing::info!("no longer accepting connections; finishing requests in flight");
    };
    let result = serve_router(listener, app, state.config.header_read_timeout, shutdown).await;
    for task in background {
        task.abort();
    }
    state.api_keys.flush_last_used().await;
    // Every request answered before the signal is in the usage table before the process exits.
    if !state.usage.flush().await {
        tracing::warn!("usage counts could not be written at shutdown (database unreachable)");
    }
    tracing::info!("tenantgate stopped");
    result
}

/// Serves `app` on `listener` until `shutdown` resolves, then waits for the connections' requests
/// in flight. Each request carries `ConnectInfo<SocketAddr>` (the peer address).
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before accept: keep
                    // serving the others, without spinning.
                    tracing::warn!(error = %error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small writes go out at once: without TCP_NODELAY, Nagle's algorithm holds a streamed
        // chunk back until the client acknowledges the previous one (up to its delayed-ACK time).
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move { app.oneshot(request.map(Body::new)).await }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away or is cut by a timeout is not the server's error.
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Resolves on SIGTERM (Railway, Docker, Kubernetes) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

/// What a deployer checks first when a browser or a chat call fails: the settings in effect,
/// once at start-up. Never a secret (URLs are shown without credentials).
fn log_settings_in_effect(config: &crate::config::Config) {
    let origins: Vec<String> = config
        .cors_origins
        .as_slice()
        .iter()
        .map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned())
        .collect();
    let upstream = url::Url::parse(&config.llm.base_url)
        .map(|mut u| {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        })
        .unwrap_or_else(|_| "(unparsable OPENAI_BASE_URL)".to_owned());
    tracing::info!(
        cors_origins = %if origins.is_empty() { "(none: browsers are refused)".to_owned() } else { origins.join(",") },
        llm_upstream = %upstream,
        llm_configured = config.llm.api_key.is_some(),
        default_retriever = "pinecone when the tenant has a Pinecone key, else builtin",
        trusted_proxy_hops = config.trusted_proxy_hops,
        "settings in effect"
    );
}
