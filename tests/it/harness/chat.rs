//! What the chat tests share: the OpenAI stand-in (re-exported from `upstream::openai`); an
//! SSE parser; a retriever with fixed passages and a router that hands it to the chat handlers.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::routing::post;
use serde_json::{Value, json};

pub use super::upstream::openai::{FakeLlm, REPLY, REPLY_CHUNKS, Script, UPSTREAM_KEY};

/// Parses a whole SSE body into `(event name, data)` pairs.
pub async fn parse_sse(body: Bytes) -> Vec<(String, String)> {
    use eventsource_stream::Eventsource;
    use futures::StreamExt;
    futures::stream::iter([Ok::<_, Infallible>(body)])
        .eventsource()
        .map(|event| {
            let event = event.expect("well-formed SSE");
            (event.event, event.data)
        })
        .collect()
        .await
}

/// A retriever that returns fixed passages and records the queries it was asked.
pub struct FixedPassages {
    pub passages: Vec<tenantgate::rag::retrieval::Passage>,
    pub queries: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl tenantgate::rag::retrieval::Retriever for FixedPassages {
    fn kind(&self) -> tenantgate::store::models::tenant::RetrieverKind {
        tenantgate::store::models::tenant::RetrieverKind::Builtin
    }

    async fn search(
        &self,
        query: &str,
        top_k: usize,
    ) -> tenantgate::errors::AppResult<Vec<tenantgate::rag::retrieval::Passage>> {
        self.queries.lock().expect("lock").push(query.to_owned());
        Ok(self.passages.iter().take(top_k).cloned().collect())
    }

    async fn upsert(
        &self,
        _: &[tenantgate::rag::retrieval::ChunkedDocument],
    ) -> tenantgate::errors::AppResult<()> {
        Ok(())
    }

    async fn list(
        &self,
        _: i64,
        _: i64,
    ) -> tenantgate::errors::AppResult<Vec<tenantgate::rag::retrieval::DocumentSummary>> {
        Ok(Vec::new())
    }

    async fn delete(&self, _: &str) -> tenantgate::errors::AppResult<bool> {
        Ok(false)
    }
}

pub fn passage(id: &str, title: &str, text: &str) -> tenantgate::rag::retrieval::Passage {
    tenantgate::rag::retrieval::Passage {
        id: id.to_owned(),
        score: 0.9,
        title: Some(title.to_owned()),
        source: Some(format!("{id}.md")),
        text: text.to_owned(),
        metadata: json!({"lang": "en"}),
    }
}

/// The chat routes behind a stand-in tenant layer whose tenant retrieves `retriever`'s
/// passages: how the tests give `/chat` something to cite before a real retriever exists for
/// the tenant. Everything after the tenant layer is the production code.
pub fn router_with_retriever(
    state: tenantgate::app::state::AppState,
    tenant_id: &str,
    prompt: &str,
    retriever: Arc<FixedPassages>,
) -> Router {
    use axum::extract::Request;
    use axum::middleware::Next;
    use tenantgate::domain::TenantId;
    use tenantgate::http::layers::{Caller, TenantRequest};
    use tenantgate::identity::jwt::VerifiedToken;
    use tenantgate::store::models::tenant::RetrieverKind;
    use tenantgate::tenancy::TenantContext;

    let id = TenantId::parse(tenant_id).expect("tenant id");
    let tenant = Arc::new(TenantContext {
        id,
        name: format!("Tenant {tenant_id}").into_boxed_str(),
        version: 1,
        system_prompt: Some(Arc::from(prompt)),
        effective_prompt: Arc::from(prompt),
        retriever_kind: RetrieverKind::Builtin,
        retriever,
        info_body: Default::default(),
        requests_per_minute: None,
        monthly_token_budget: None,
    });
    let caller = Caller::User(Arc::new(VerifiedToken {
        sub: Some("user-1".to_owned()),
        email: None,
        tenant_id: Some(tenant_id.into()),
        impersonator: None,
        valid_until: u64::MAX,
        ..Default::default()
    }));
    let layer = move |mut request: Request, next: Next| {
        let tenant_request = TenantRequest {
            tenant: tenant.clone(),
            caller: caller.clone(),
        };
        async move {
            request.extensions_mut().insert(tenant_request);
            next.run(request).await
        }
    };
    Router::new()
        .route("/chat", post(tenantgate::http::routes::chat::chat))
        .route(
            "/v1/chat/completions",
            post(tenantgate::http::routes::openai::chat_completions),
        )
        .layer(axum::middleware::from_fn(layer))
        .with_state(state)
}

/// Sends a JSON POST to a router in-process; returns status and body.
pub async fn post_json(router: &Router, path: &str, body: &Value) -> (StatusCode, Bytes) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = axum::http::Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(body).expect("json")))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, body)
}
