//! Reads the caller's credential from the request headers, without allocating.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use super::api_keys::KEY_MARKER;
use super::jwt::MAX_TOKEN_BYTES;
use crate::errors::AppError;

pub const API_KEY_HEADER: &str = "x-api-key";

/// A credential as presented; verified later.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    Jwt(&'a str),
    /// From `X-API-Key`, or a `Bearer` value starting with `tg_` (so an OpenAI SDK given an
    /// API key works).
    ApiKey(&'a str),
}

/// The credential of a request: `missing_token` when there is none.
pub fn from_headers(headers: &HeaderMap) -> Result<Credential<'_>, AppError> {
    if let Some(value) = headers.get(API_KEY_HEADER) {
        let key = value.to_str().map_err(|_| AppError::InvalidApiKey)?.trim();
        if key.is_empty() {
            return Err(AppError::InvalidApiKey);
        }
        return Ok(Credential::ApiKey(key));
    }
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(AppError::MissingToken);
    };
    if value.len() > MAX_TOKEN_BYTES + 16 {
        return Err(AppError::InvalidToken("authorization header is too large"));
    }
    let value = value
        .to_str()
        .map_err(|_| AppError::InvalidToken("malformed authorization header"))?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(AppError::InvalidToken(
        "authorization header must be `Bearer <token>`",
    ))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AppError::InvalidToken(
            "authorization header must be `Bearer <token>`",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AppError::MissingToken);
    }
    if token.starts_with(KEY_MARKER) {
        Ok(Credential::ApiKey(token))
    } else {
        Ok(Credential::Jwt(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_str(value).expect("header"));
        map
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let h = headers("authorization", &format!("{scheme} abc.def.ghi"));
            assert!(matches!(
                from_headers(&h),
                Ok(Credential::Jwt("abc.def.ghi"))
            ));
        }
    }

    #[test]
    fn api_keys_in_either_header() {
        assert!(matches!(
            from_headers(&headers("x-api-key", "tg_x_y")),
            Ok(Credential::ApiKey("tg_x_y"))
        ));
        assert!(matches!(
            from_headers(&headers("authorization", "Bearer tg_x_y")),
            Ok(Credential::ApiKey("tg_x_y"))
        ));
    }

    #[test]
    fn missing_and_malformed() {
        assert!(matches!(
            from_headers(&HeaderMap::new()),
            Err(AppError::MissingToken)
        ));
        assert!(matches!(
            from_headers(&headers("authorization", "Basic abc")),
            Err(AppError::InvalidToken(_))
        ));
        assert!(matches!(
            from_headers(&headers("authorization", "Bearer")),
            Err(AppError::InvalidToken(_))
        ));
    }
}
