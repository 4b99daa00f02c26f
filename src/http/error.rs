//! How an `AppError` reads on the wire: its status, its stable `code`, the contract's JSON body
//! (DESIGN §7) and the headers some errors carry (`WWW-Authenticate` on a 401, `Retry-After` on
//! a 429). The one place that maps the core error (`crate::errors`) to HTTP.
//!
//! Causes the caller must not see (database, upstream, bugs) are logged here, when the error
//! becomes a response, inside the request's span (so with its request id), and answered with a
//! generic sentence.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::errors::{AppError, FieldError};

/// The target of the log lines below: the one they had before this mapping moved out of
/// `crate::errors`, so `RUST_LOG` filters and log searches that name it keep working.
const LOG_TARGET: &str = "tenantgate::errors";

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A sentence for humans (named `detail` so FastAPI-style frontends keep working).
    pub detail: String,
    /// A stable machine-readable code, e.g. `invalid_token`.
    pub code: &'static str,
    /// Present on 422 `validation_error` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// The contract's side of an `AppError` (`use crate::http::error::HttpError as _` to call it).
pub trait HttpError {
    fn status(&self) -> StatusCode;
    /// The stable machine-readable `code` of the body.
    fn code(&self) -> &'static str;
    /// The JSON body; an internal error's cause stays out of it.
    fn body(&self) -> ErrorBody;
}

impl HttpError for AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::MissingToken
            | AppError::InvalidToken(_)
            | AppError::TokenExpired
            | AppError::InvalidApiKey
            | AppError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            AppError::NoTenant
            | AppError::TenantUnavailable
            | AppError::Forbidden(_)
            | AppError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::RateLimited { .. }
            | AppError::RequestLimit { .. }
            | AppError::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
            AppError::Upstream(_) => StatusCode::BAD_GATEWAY,
            AppError::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AppError::MissingToken => "missing_token",
            AppError::InvalidToken(_) => "invalid_token",
            AppError::TokenExpired => "token_expired",
            AppError::InvalidApiKey => "invalid_api_key",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::NoTenant => "no_tenant",
            AppError::TenantUnavailable => "tenant_unavailable",
            AppError::Forbidden(_) => "forbidden",
            AppError::InsufficientScope(_) => "insufficient_scope",
            AppError::NotFound(_) => "not_found",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::Conflict(_) => "conflict",
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::RequestTimeout => "request_timeout",
            AppError::Validation { .. } => "validation_error",
            AppError::RateLimited { .. } | AppError::RequestLimit { .. } => "rate_limited",
            AppError::QuotaExceeded => "quota_exceeded",
            AppError::Upstream(_) => "upstream_error",
            AppError::UpstreamTimeout(_) => "upstream_timeout",
            AppError::Unavailable => "unavailable",
            AppError::Internal(_) => "internal_error",
        }
    }

    fn body(&self) -> ErrorBody {
        let detail = match self {
            AppError::Internal(_) => "internal server error".to_owned(),
            other => other.to_string(),
        };
        let errors = match self {
            AppError::Validation { errors, .. } => Some(errors.clone()),
            _ => None,
        };
        ErrorBody {
            detail,
            code: self.code(),
            errors,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            AppError::Internal(cause) => {
                tracing::error!(target: LOG_TARGET, cause = %cause, "internal error")
            }
            AppError::Unavailable => tracing::warn!(target: LOG_TARGET, "database unavailable"),
            AppError::Upstream(detail) | AppError::UpstreamTimeout(detail) => {
                tracing::warn!(target: LOG_TARGET, detail = %detail, "upstream failure");
            }
            _ => {}
        }
        let status = self.status();
        let mut response = (status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let AppError::RateLimited {
            retry_after_seconds,
        }
        | AppError::RequestLimit {
            retry_after_seconds,
            ..
        } = self
        {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_seconds.max(1)),
            );
        }
        response
    }
}
