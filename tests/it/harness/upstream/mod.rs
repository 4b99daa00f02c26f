//! Stand-ins for the upstreams the gateway calls, each a local HTTP server on 127.0.0.1:0 that
//! stops when dropped: `openai::FakeLlm` (chat completions, scripted), `pinecone::StandIn`
//! (Pinecone's data plane, or OpenAI's `/embeddings`), `jwks` (an identity provider's key set),
//! and `Served` for a one-off router a test writes itself.

pub mod openai;
pub mod pinecone;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

pub use openai::FakeLlm;

/// A router served over real HTTP on a free port until dropped.
pub struct Served {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Served {
    pub async fn start(router: Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, task }
    }
}

/// An identity provider's `/jwks.json` serving `keys`, counting its fetches.
pub struct Jwks {
    /// What `JWKS_URL` should be.
    pub url: String,
    fetches: Arc<AtomicUsize>,
    _server: Served,
}

impl Jwks {
    pub async fn start(keys: Value) -> Self {
        let fetches = Arc::new(AtomicUsize::new(0));
        let counter = fetches.clone();
        let body = json!({ "keys": keys });
        let router = Router::new().route(
            "/jwks.json",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let body = body.clone();
                async move { axum::Json(body) }
            }),
        );
        let server = Served::start(router).await;
        Self {
            url: format!("{}/jwks.json", server.url),
            fetches,
            _server: server,
        }
    }

    /// How many times the key set was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}
