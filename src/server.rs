//! Serving: bind, run the background tasks, stop gracefully on SIGTERM or SIGINT: drain for
//! `SHUTDOWN_DRAIN_SECONDS` (`/ready` fails, requests are still served), stop accepting, let the
//! requests in flight finish, write the usage counts; the process then exits 0.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::state::AppState;

pub async fn serve(state: AppState) -> Result<(), String> {
    let addr = SocketAddr::new(state.config.host, state.config.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("could not listen on {addr}: {e}"))?;
    serve_on(listener, state, shutdown_signal()).await
}

pub async fn serve_on(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    crate::metrics::install();
    crate::auth::password::warm_up();
    let app = crate::router::build(state.clone());
    let background = state.spawn_background();
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(address = %local, "tenantgate listening");
    log_settings_in_effect(&state.config);
    // Small writes go out at once: without TCP_NODELAY, Nagle's algorithm holds a streamed
    // chunk back until the client acknowledges the previous one (up to its delayed-ACK time).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
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
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| format!("server error: {e}"));
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
        "settings in effect"
    );
}
