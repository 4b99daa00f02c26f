//! Retrieval-augmented generation: finding passages and asking the model.
//!
//! - `retrieval`: the `Retriever` trait and one module per backend (built-in, Pinecone, none),
//!   the document store and the embeddings client.
//! - `llm`: the OpenAI-compatible chat client.
//! - `prompt`: what `/chat` and `/v1/chat/completions` share: the system message in front of a
//!   conversation, `top_k` bounds, the query clip.
//! - `upstream`: what the HTTP clients share: credential headers, `reqwest` failures, error
//!   bodies, and the retried calls of retrieval.
//!
//! Not here: the HTTP handlers (`crate::http::routes`), the tenant cache that holds each
//! tenant's retriever (`crate::tenancy`).

pub mod llm;
pub mod prompt;
pub mod retrieval;
mod upstream;
