//! Logging in (`POST /auth/token`) and asking who one is (`GET /auth/me`).

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::state::AppState;
use crate::errors::{AppError, AppResult, FieldError};
use crate::http::client_address::client_ip;
use crate::identity::credentials::{self, Credential};
use crate::identity::login_throttle::LoginAttempt;
use crate::store::models::user::UserView;

/// JSON login body. The OAuth2 password form (`username`, `password`) is accepted too.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: String,
}

#[derive(Deserialize)]
struct LoginForm {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

fn parse_login(headers: &HeaderMap, body: &Bytes) -> AppResult<(String, SecretString)> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form: LoginForm = if is_form {
        serde_urlencoded_from(body)?
    } else {
        serde_json::from_slice(body).map_err(|_| {
            AppError::validation(
                "body",
                "expected JSON {\"email\", \"password\"} or the OAuth2 password form",
            )
        })?
    };
    let mut errors = Vec::new();
    let email = form.email.or(form.username).unwrap_or_default();
    if email.trim().is_empty() {
        errors.push(FieldError::new("email", "is required"));
    }
    if email.contains('\0') {
        errors.push(FieldError::new("email", crate::http::routes::NUL_MESSAGE));
    }
    let password = form.password.unwrap_or_default();
    if password.is_empty() {
        errors.push(FieldError::new("password", "is required"));
    } else if password.contains('\0') {
        errors.push(FieldError::new(
            "password",
            crate::http::routes::NUL_MESSAGE,
        ));
    }
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    Ok((email.trim().to_owned(), SecretString::from(password)))
}

fn serde_urlencoded_from(body: &Bytes) -> AppResult<LoginForm> {
    let mut form = LoginForm {
        username: None,
        email: None,
        password: None,
    };
    for (key, value) in url::form_urlencoded::parse(body) {
        match key.as_ref() {
            "username" => form.username = Some(value.into_owned()),
            "email" => form.email = Some(value.into_owned()),
            "password" => form.password = Some(value.into_owned()),
            _ => {}
        }
    }
    Ok(form)
}

/// Exchanges email and password for an access token.
#[utoipa::path(post, path = "/auth/token", tag = "session",
    request_body(content = LoginRequest, description = "JSON, or the OAuth2 password form (username, password)"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "invalid_credentials", body = crate::http::error::ErrorBody),
        (status = 403, description = "forbidden: ALGORITHM has no HS* algorithm, so this gateway issues no tokens (answered before the credentials are looked at)", body = crate::http::error::ErrorBody),
        (status = 422, description = "validation_error", body = crate::http::error::ErrorBody),
        (status = 429, description = "rate_limited: too many failed logins, or too many being checked at once", body = crate::http::error::ErrorBody),
    ))]
pub async fn token(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<TokenResponse>> {
    // A gateway that only verifies an identity provider's tokens issues none. It says so before
    // looking at the credentials: answering only after a right password was a password oracle.
    if !state.tokens.can_issue() {
        return Err(AppError::Forbidden(
            "this gateway verifies tokens from an identity provider and does not issue them",
        ));
    }
    let (email, password) = parse_login(&headers, &body)?;
    let email_key = crate::domain::email_key(&email);
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let address = client_ip(&headers, peer, state.config.trusted_proxy_hops);
    let attempt = LoginAttempt::new(&email_key, address);
    if let Some(retry_after_seconds) = state.login_throttle.blocked_for(&attempt).await {
        return Err(AppError::RateLimited {
            retry_after_seconds,
        });
    }
    let mut conn = state.pool.get().await?;
    let user = crate::services::users::login_candidate(&mut conn, &email_key).await?;
    drop(conn);
    let usable = user.filter(|(u, _)| u.is_active);
    let stored = usable.as_ref().map(|(u, _)| u.password_hash.clone());
    if !state.password_checks.verify(password, stored).await? {
        if let Some(retry_after_seconds) = state.login_throttle.record_failure(&attempt).await {
            return Err(AppError::RateLimited {
                retry_after_seconds,
            });
        }
        return Err(AppError::InvalidCredentials);
    }
    let (user, token_version) = usable.ok_or(AppError::InvalidCredentials)?;
    let (access_token, expires_in) = state.tokens.issue_for_user(
        &user.id.to_string(),
        &user.email,
        user.tenant_id.as_deref(),
        Some(token_version),
    )?;
    tracing::info!(user_id = %user.id, "login");
    Ok(Json(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in,
    }))
}

/// `GET /auth/me`: the user's JSON plus what the caller may do.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub user: UserView,
    /// What the caller may do: tenant-route scope names (`chat`, `search`, `documents:read`,
    /// `documents:write`, `usage:read`) and `admin:*` names (docs/admin.md), from its role.
    pub permissions: Vec<String>,
    /// With an impersonation token: the id of the user really acting (`act.sub`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonator: Option<Uuid>,
}

/// The user behind a token.
#[utoipa::path(get, path = "/auth/me", tag = "session", security(("bearer" = [])), responses(
    (status = 200, body = Me),
    (status = 401, body = crate::http::error::ErrorBody),
))]
pub async fn me(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Json<Me>> {
    let token = match credentials::from_headers(&headers)? {
        Credential::Jwt(token) => token,
        Credential::ApiKey(_) => {
            return Err(AppError::InvalidToken(
                "an API key has no user; send a user's token",
            ));
        }
    };
    let verified = state.tokens.verify(token).await?;
    let id = verified
        .sub
        .as_deref()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or(AppError::InvalidToken(
            "token does not name a user of this gateway",
        ))?;
    let mut conn = state.pool.get().await?;
    let user = crate::services::users::find(&mut conn, id)
        .await?
        .ok_or(AppError::InvalidToken(
            "token does not name a user of this gateway",
        ))?;
    let permissions = crate::identity::authz::permissions(user.role())
        .into_iter()
        .map(str::to_owned)
        .collect();
    Ok(Json(Me {
        user: user.into(),
        permissions,
        impersonator: verified.impersonator,
    }))
}
