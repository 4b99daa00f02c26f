//! The one error type of the HTTP layer, and how it becomes the contract's JSON body.
//!
//! Handlers and layers return `AppError`; each variant knows its status and `code`. Causes the
//! caller must not see (database, upstream, bugs) are logged here, inside the request's span
//! (so with its request id), and answered with a generic sentence. Nothing in a `detail` ever
//! carries a token, key or password.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;

/// One invalid field of a request body, in the 422 body's `errors` list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

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

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("missing credentials")]
    MissingToken,
    #[error("{0}")]
    InvalidToken(&'static str),
    #[error("token has expired")]
    TokenExpired,
    #[error("invalid API key")]
    InvalidApiKey,
    #[error("incorrect email or password")]
    InvalidCredentials,
    #[error("token carries no usable tenant claim")]
    NoTenant,
    #[error("tenant is unknown or inactive")]
    TenantUnavailable,
    #[error("{0}")]
    Forbidden(&'static str),
    /// An API key without the scope the route needs (DESIGN §10).
    #[error("this API key lacks the scope `{0}` that this route needs")]
    InsufficientScope(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("request body is too large")]
    PayloadTooLarge,
    /// The client did not send its announced body in time (`BODY_READ_TIMEOUT_SECONDS`).
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("{detail}")]
    Validation {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("too many failed attempts; retry later")]
    RateLimited { retry_after_seconds: u64 },
    #[error("request limit reached ({limit} per minute); retry later")]
    RequestLimit {
        limit: u32,
        retry_after_seconds: u64,
    },
    #[error("the tenant's monthly token budget is spent")]
    QuotaExceeded,
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    UpstreamTimeout(String),
    #[error("database is unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Validation {
            detail: format!("{field}: {message}"),
            errors: vec![FieldError::new(field, message)],
        }
    }

    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self::Validation { detail, errors }
    }

    /// An opaque 500 that keeps `cause` for the log: it is logged when the error becomes a
    /// response (`IntoResponse`), never shown to the caller.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken
            | Self::InvalidToken(_)
            | Self::TokenExpired
            | Self::InvalidApiKey
            | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::NoTenant
            | Self::TenantUnavailable
            | Self::Forbidden(_)
            | Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } | Self::RequestLimit { .. } | Self::QuotaExceeded => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::InvalidToken(_) => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::InvalidApiKey => "invalid_api_key",
            Self::InvalidCredentials => "invalid_credentials",
            Self::NoTenant => "no_tenant",
            Self::TenantUnavailable => "tenant_unavailable",
            Self::Forbidden(_) => "forbidden",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::Validation { .. } => "validation_error",
            Self::RateLimited { .. } | Self::RequestLimit { .. } => "rate_limited",
            Self::QuotaExceeded => "quota_exceeded",
            Self::Upstream(_) => "upstream_error",
            Self::UpstreamTimeout(_) => "upstream_timeout",
            Self::Unavailable => "unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    pub fn body(&self) -> ErrorBody {
        let detail = match self {
            Self::Internal(_) => "internal server error".to_owned(),
            other => other.to_string(),
        };
        let errors = match self {
            Self::Validation { errors, .. } => Some(errors.clone()),
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
            Self::Internal(cause) => tracing::error!(cause = %cause, "internal error"),
            Self::Unavailable => tracing::warn!("database unavailable"),
            Self::Upstream(detail) | Self::UpstreamTimeout(detail) => {
                tracing::warn!(detail = %detail, "upstream failure");
            }
            _ => {}
        }
        let status = self.status();
        let mut response = (status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Self::RateLimited {
            retry_after_seconds,
        }
        | Self::RequestLimit {
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

impl From<DieselError> for AppError {
    fn from(error: DieselError) -> Self {
        match &error {
            DieselError::NotFound => Self::NotFound("not found".into()),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                let what = match info.constraint_name() {
                    Some("tenants_pkey") => "a tenant with this id already exists",
                    Some("tenants_id_lower_key") => {
                        "a tenant with this id in another case already exists"
                    }
                    Some("users_email_key") => "a user with this email already exists",
                    Some("documents_pkey") => "a document with this id already exists",
                    _ => "a record with these values already exists",
                };
                Self::Conflict(what.into())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                match info.constraint_name() {
                    Some(name) if name.contains("tenant_id") => {
                        Self::validation("tenant_id", "no tenant with this id")
                    }
                    Some(name) if name.contains("org_id") => {
                        Self::validation("org_id", "no organization with this id")
                    }
                    _ => Self::internal(&error),
                }
            }
            DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, info) => {
                match info.constraint_name() {
                    Some("tenants_id_format") => Self::validation("id", "invalid tenant id"),
                    Some("tenants_retriever_kind") => {
                        Self::validation("retriever", "must be builtin, pinecone or none")
                    }
                    _ => Self::internal(&error),
                }
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => Self::Unavailable,
            DieselError::DatabaseError(_, info) => {
                let message = info.message();
                if message.contains("statement timeout") {
                    // `RETRIEVAL_STATEMENT_TIMEOUT_MS` cut a retrieval query short.
                    Self::UpstreamTimeout("the search took longer than the gateway allows".into())
                } else if message.contains("stack depth limit exceeded")
                    || message.contains("too big in tsquery")
                    || message.contains("too long for tsvector")
                {
                    Self::validation("query", "is too complex to search")
                } else {
                    Self::internal(&error)
                }
            }
            _ => Self::internal(&error),
        }
    }
}

impl From<crate::store::db::PoolError> for AppError {
    fn from(error: crate::store::db::PoolError) -> Self {
        tracing::warn!(error = %error, "could not get a database connection");
        Self::Unavailable
    }
}

impl AppError {
    /// Rebuilds an error shared by a single-flight cache load (moka hands out `Arc<AppError>`).
    pub fn from_shared(shared: std::sync::Arc<AppError>) -> Self {
        match &*shared {
            Self::Unavailable => Self::Unavailable,
            Self::Upstream(detail) => Self::Upstream(detail.clone()),
            Self::UpstreamTimeout(detail) => Self::UpstreamTimeout(detail.clone()),
            // The cause, not the variant's "internal error": a tenant whose secret does not
            // decrypt must be logged with its id and the reason (never the value).
            Self::Internal(cause) => Self::Internal(cause.clone()),
            other => Self::Internal(other.to_string()),
        }
    }
}
