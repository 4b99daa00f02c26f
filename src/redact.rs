//! Scrubbing secrets out of text an upstream sent, before it reaches a log line or a client.
//!
//! Upstreams echo credentials: OpenAI's 401 message quotes part of the key, and a stand-in or
//! proxy may echo the whole `Authorization` header. Whatever an LLM, embeddings or Pinecone
//! server says goes through [`redact`] first, which removes
//! - the exact secrets the caller knows were sent (the server's `OPENAI_API_KEY`, the tenant's
//!   decrypted Pinecone key: see [`sent_secrets`]), and
//! - anything shaped like a credential: `Bearer …`, OpenAI-style `sk-…` keys, Pinecone `pcsk…`
//!   keys, the gateway's own `tg_…` keys, JWTs, and `api_key=…` / `"token": "…"` pairs.

use std::sync::LazyLock;

use regex::Regex;
use reqwest::header::HeaderMap;

use crate::identity::credentials::API_KEY_HEADER;

pub const REDACTED: &str = "[redacted]";

/// Shorter secrets are not searched for: replacing every "a" of a message helps nobody.
const MIN_SECRET_LEN: usize = 6;

static SHAPES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}", "$1 [redacted]"),
        (r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}(\.[A-Za-z0-9_-]*)?", REDACTED),
        (r"\b(sk|rk|pk)-[A-Za-z0-9_-]{8,}", REDACTED),
        (r"\bpcsk[-_][A-Za-z0-9_-]{6,}", REDACTED),
        (r"\btg_[A-Za-z0-9]{6,}_[A-Za-z0-9_-]{6,}", REDACTED),
        (
            r#"(?i)((?:api[_-]?key|access[_-]?token|token|secret|password)["']?\s*[:=]\s*["']?)[^\s"',;}\[]{6,}"#,
            "${1}[redacted]",
        ),
    ]
    .into_iter()
    .filter_map(|(pattern, replacement)| Some((Regex::new(pattern).ok()?, replacement)))
    .collect()
});

/// `text` without `secrets` and without anything shaped like a credential.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        let secret = secret.trim();
        if secret.len() >= MIN_SECRET_LEN && out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    for (shape, replacement) in SHAPES.iter() {
        if shape.is_match(&out) {
            out = shape.replace_all(&out, *replacement).into_owned();
        }
    }
    out
}

/// The credentials a request carries in its headers (`Authorization`, `Api-Key`, `X-Api-Key`),
/// without their scheme: the exact strings to scrub from what the upstream answers.
pub fn sent_secrets(headers: &HeaderMap) -> Vec<String> {
    ["authorization", "api-key", API_KEY_HEADER]
        .iter()
        .filter_map(|name| headers.get(*name))
        .filter_map(|value| value.to_str().ok())
        .map(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .unwrap_or(value)
                .trim()
                .to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_and_credential_shapes_are_removed() {
        let cases = [
            (
                "key mykey-0123456789 echoed",
                vec!["mykey-0123456789"],
                "key [redacted] echoed",
            ),
            (
                "Authorization: Bearer abcdef123456",
                vec![],
                "Authorization: Bearer [redacted]",
            ),
            ("sent bearer abcdef123456", vec![], "sent bearer [redacted]"),
            (
                "Incorrect API key provided: sk-proj-abcdefgh1234",
                vec![],
                "Incorrect API key provided: [redacted]",
            ),
            (
                "pinecone pcsk_12345_abcdefgh",
                vec![],
                "pinecone [redacted]",
            ),
            (
                r#"{"api_key": "zz9-plural-z-alpha"}"#,
                vec![],
                r#"{"api_key": "[redacted]"}"#,
            ),
            ("token=abc.def.ghi123", vec![], "token=[redacted]"),
            ("nothing secret here", vec!["ab"], "nothing secret here"),
        ];
        for (text, secrets, expected) in cases {
            assert_eq!(redact(text, &secrets), expected, "{text}");
        }
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl";
        assert!(!redact(&format!("got {jwt}"), &[]).contains("eyJ"));
    }
}
