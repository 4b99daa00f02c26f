//! JSON Web Tokens: verifying the ones callers send, issuing the ones `/auth/token` returns.
//!
//! The algorithm comes from configuration, never from the token: only the algorithms named in
//! `ALGORITHM` (one, or a comma list) are accepted. Tokens naming key URLs (`jku`, `x5u`) or
//! embedding keys (`jwk`, `x5c`) are refused outright and never fetched, and so is any `crit`
//! header: it lists extensions the token requires its reader to understand (RFC 7515
//! §4.1.11), and this gateway understands none.
//!
//! Verified tokens are cached (keyed by the whole token, bounded, never past their `exp`), as
//! PostgREST does: a signature check costs microseconds, a cache hit nanoseconds, and a
//! frontend sends the same token on every request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use moka::sync::Cache;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use super::revocations::Revocations;
use crate::config::{JwtConfig, JwtKeySource};
use crate::errors::{AppError, AppResult};

/// Longer tokens are refused before any parsing (a real JWT is a few hundred bytes).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// How long a verified token may stay cached, at most (and never past its `exp`).
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(300);
const TOKEN_CACHE_CAPACITY: u64 = 100_000;
/// A JWKS endpoint is asked again for an unknown `kid` at most this often.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(5);

/// What the gateway takes from a verified token.
#[derive(Debug, Default)]
pub struct VerifiedToken {
    pub sub: Option<String>,
    pub email: Option<String>,
    /// The tenant claim, when it is a non-empty string.
    pub tenant_id: Option<Box<str>>,
    /// `act.sub` (RFC 8693) of an impersonation token: the user really acting.
    pub impersonator: Option<uuid::Uuid>,
    /// `exp` plus leeway, in seconds since the epoch.
    pub valid_until: u64,
    /// `sub` when it is a user id of this gateway (a UUID): what revocation checks.
    pub user_id: Option<uuid::Uuid>,
    /// `iat`, when present.
    pub issued_at: Option<u64>,
    /// `ver`: the user's token version when `/auth/token` issued it (see `revocations`).
    pub token_version: Option<i64>,
}

#[derive(Serialize)]
struct IssuedClaims<'a> {
    sub: String,
    email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<&'a str>,
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    /// The user's token version: a later change to the user revokes the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    ver: Option<i64>,
    /// RFC 8693 actor: present on impersonation tokens only.
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<Actor>,
}

#[derive(Serialize)]
struct Actor {
    sub: String,
}

/// Impersonation tokens live at most this long, whatever `ACCESS_TOKEN_EXPIRE_MINUTES` says.
pub const IMPERSONATION_MAX_TTL: Duration = Duration::from_secs(15 * 60);

enum Keys {
    Static(DecodingKey),
    Jwks(JwksKeys),
}

pub struct TokenVerifier {
    keys: Keys,
    encoding: Option<EncodingKey>,
    config: JwtConfig,
    validation: Validation,
    cache: Cache<String, Arc<VerifiedToken>>,
    revocations: Arc<Revocations>,
}

struct ExpireAtValidUntil;

impl moka::Expiry<String, Arc<VerifiedToken>> for ExpireAtValidUntil {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Arc<VerifiedToken>,
        _now: Instant,
    ) -> Option<Duration> {
        let left = value.valid_until.saturating_sub(now_secs());
        Some(Duration::from_secs(left).min(TOKEN_CACHE_TTL))
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl TokenVerifier {
    pub fn new(config: &JwtConfig, http: reqwest::Client) -> Self {
        let (keys, encoding) = match &config.key {
            JwtKeySource::Hmac(secret) => {
                let bytes = secret.expose_secret().as_bytes();
                (
                    Keys::Static(DecodingKey::from_secret(bytes)),
                    Some(EncodingKey::from_secret(bytes)),
                )
            }
            JwtKeySource::PublicKey(key) => (Keys::Static(key.clone()), None),
            JwtKeySource::Jwks(url) => (Keys::Jwks(JwksKeys::new(url.clone(), http)), None),
        };
        let mut validation = Validation::new(config.algorithm);
        validation.algorithms = config.algorithms.clone();
        validation.leeway = config.leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        // `exp` always; `iss`/`aud` when configured (a token without them is refused too).
        let mut required = vec!["exp"];
        if config.issuer.is_some() {
            required.push("iss");
        }
        if config.audience.is_some() {
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        match &config.issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &config.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let cache = Cache::builder()
            .max_capacity(TOKEN_CACHE_CAPACITY)
            .expire_after(ExpireAtValidUntil)
            .build();
        let revocations = Arc::new(Revocations::new(
            config.access_token_ttl + Duration::from_secs(config.leeway_seconds),
        ));
        Self {
            keys,
            encoding,
            config: config.clone(),
            validation,
            cache,
            revocations,
        }
    }

    /// The revocations every verified token is checked against (fed by the change listener).
    pub fn revocations(&self) -> Arc<Revocations> {
        self.revocations.clone()
    }

    /// Verifies a bearer token, from the cache when it was verified before, and refuses it
    /// when its user changed after it was issued (checked on every call, cached or not).
    pub async fn verify(&self, token: &str) -> AppResult<Arc<VerifiedToken>> {
        if let Some(hit) = self.cache.get(token) {
            // The cache entry expires at `valid_until`, but only to the second: check exactly.
            if hit.valid_until >= now_secs() {
                self.revocations.check(&hit)?;
                return Ok(hit);
            }
            return Err(AppError::TokenExpired);
        }
        // Boxed: the miss path (a JWKS fetch) would otherwise size every request's future, and
        // the tower stack copies that future when it boxes it (bench/profile.sh).
        let verified = Arc::new(Box::pin(self.verify_uncached(token)).await?);
        self.cache.insert(token.to_owned(), verified.clone());
        self.revocations.check(&verified)?;
        Ok(verified)
    }

    async fn verify_uncached(&self, token: &str) -> AppResult<VerifiedToken> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AppError::InvalidToken("token is too large"));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AppError::InvalidToken("malformed token"))?;
        if header.jku.is_some()
            || header.x5u.is_some()
            || header.jwk.is_some()
            || header.x5c.is_some()
        {
            return Err(AppError::InvalidToken(
                "token headers naming or embedding keys are not accepted",
            ));
        }
        if header.crit.is_some() {
            return Err(AppError::InvalidToken(
                "token requires extensions (crit) this gateway does not support",
            ));
        }
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(AppError::InvalidToken("token algorithm is not accepted"));
        }
        // Narrowed to the token's own (allowed) algorithm: jsonwebtoken refuses a list that
        // spans key families (`ALGORITHM=RS256,ES256` with a JWKS), even when the key fits.
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let data = match &self.keys {
            Keys::Static(key) => decode(token, key, &validation)?,
            Keys::Jwks(jwks) => {
                let key = jwks.key_for(header.kid.as_deref()).await?;
                decode(token, &key, &validation)?
            }
        };
        let claims = data;
        let valid_until = claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or(AppError::InvalidToken("token has no valid exp claim"))?
            .saturating_add(self.config.leeway_seconds);
        let tenant_id = lookup_path(&claims, &self.config.tenant_claim)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(Box::from);
        let sub = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
        Ok(VerifiedToken {
            user_id: sub.as_deref().and_then(|s| uuid::Uuid::parse_str(s).ok()),
            issued_at: claims.get("iat").and_then(Value::as_u64),
            token_version: claims.get("ver").and_then(Value::as_i64),
            sub,
            email: claims
                .get("email")
                .and_then(Value::as_str)
                .map(str::to_owned),
            tenant_id,
            impersonator: claims
                .get("act")
                .and_then(|act| act.get("sub"))
                .and_then(Value::as_str)
                .and_then(|s| uuid::Uuid::parse_str(s).ok()),
            valid_until,
        })
    }

    /// Whether this gateway signs tokens (HS* deployments); others only verify.
    pub fn can_issue(&self) -> bool {
        self.encoding.is_some()
    }

    /// Issues an access token (HS* deployments only: others hold no signing key).
    pub fn issue(
        &self,
        sub: &str,
        email: &str,
        tenant_id: Option<&str>,
    ) -> AppResult<(String, u64)> {
        self.issue_with(
            sub,
            email,
            tenant_id,
            None,
            None,
            self.config.access_token_ttl,
        )
    }

    /// Issues an access token carrying the user's token version (`users.token_version`), so a
    /// later change to the user revokes it exactly (see `revocations`).
    pub fn issue_for_user(
        &self,
        sub: &str,
        email: &str,
        tenant_id: Option<&str>,
        token_version: Option<i64>,
    ) -> AppResult<(String, u64)> {
        let ttl = self.config.access_token_ttl;
        self.issue_with(sub, email, tenant_id, token_version, None, ttl)
    }

    /// A token for `sub` carrying `act: {"sub": actor}`, valid for at most
    /// `IMPERSONATION_MAX_TTL` (and never longer than a login's token); it carries the
    /// target's token version, so a change to the target revokes it too.
    pub fn issue_impersonation(
        &self,
        sub: &str,
        email: &str,
        tenant_id: Option<&str>,
        token_version: Option<i64>,
        actor: &str,
    ) -> AppResult<(String, u64)> {
        let ttl = self.config.access_token_ttl.min(IMPERSONATION_MAX_TTL);
        self.issue_with(sub, email, tenant_id, token_version, Some(actor), ttl)
    }

    fn issue_with(
        &self,
        sub: &str,
        email: &str,
        tenant_id: Option<&str>,
        token_version: Option<i64>,
        actor: Option<&str>,
        ttl: Duration,
    ) -> AppResult<(String, u64)> {
        let key = self.encoding.as_ref().ok_or(AppError::Forbidden(
            "this gateway verifies tokens from an identity provider and does not issue them",
        ))?;
        let now = now_secs();
        let ttl = ttl.as_secs();
        let claims = IssuedClaims {
            sub: sub.to_owned(),
            email,
            tenant_id,
            iat: now,
            exp: now + ttl,
            iss: self.config.issuer.as_deref(),
            aud: self.config.audience.as_deref(),
            ver: token_version,
            act: actor.map(|a| Actor { sub: a.to_owned() }),
        };
        let token = jsonwebtoken::encode(&Header::new(self.config.algorithm), &claims, key)
            .map_err(AppError::internal)?;
        Ok((token, ttl))
    }
}

fn decode(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> AppResult<serde_json::Map<String, Value>> {
    jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, key, validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AppError::TokenExpired,
            ErrorKind::ImmatureSignature => AppError::InvalidToken("token is not valid yet"),
            ErrorKind::InvalidIssuer => AppError::InvalidToken("token issuer is not accepted"),
            ErrorKind::InvalidAudience => AppError::InvalidToken("token audience is not accepted"),
            ErrorKind::MissingRequiredClaim(claim) => {
                AppError::InvalidToken(match claim.as_str() {
                    "exp" => "token lacks a required claim: exp",
                    "iss" => "token lacks a required claim: iss",
                    "aud" => "token lacks a required claim: aud",
                    "nbf" => "token lacks a required claim: nbf",
                    "sub" => "token lacks a required claim: sub",
                    _ => "token lacks a required claim",
                })
            }
            ErrorKind::InvalidSignature => AppError::InvalidToken("token signature is invalid"),
            ErrorKind::InvalidAlgorithm => {
                AppError::InvalidToken("token algorithm is not accepted")
            }
            _ => AppError::InvalidToken("malformed token"),
        })
}

fn lookup_path<'a>(
    claims: &'a serde_json::Map<String, Value>,
    path: &[String],
) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut value = claims.get(first)?;
    for segment in rest {
        value = value.as_object()?.get(segment)?;
    }
    Some(value)
}

/// Keys from a JWKS endpoint, cached by `kid` and fetched again (rate-limited) on an unknown one.
struct JwksKeys {
    url: String,
    http: reqwest::Client,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_fetch: Mutex<Option<Instant>>,
}

impl JwksKeys {
    fn new(url: String, http: reqwest::Client) -> Self {
        Self {
            url,
            http,
            keys: RwLock::new(HashMap::new()),
            last_fetch: Mutex::new(None),
        }
    }

    async fn key_for(&self, kid: Option<&str>) -> AppResult<DecodingKey> {
        if let Some(key) = self.lookup(kid).await {
            return Ok(key);
        }
        {
            let mut last = self.last_fetch.lock().await;
            let due = last.is_none_or(|at| at.elapsed() >= JWKS_REFETCH_INTERVAL);
            if due {
                *last = Some(Instant::now());
                match self.fetch().await {
                    Ok(keys) => *self.keys.write().await = keys,
                    Err(e) => tracing::warn!(error = %e, "could not fetch the JWKS"),
                }
            }
        }
        self.lookup(kid)
            .await
            .ok_or(AppError::InvalidToken("token key id is unknown"))
    }

    async fn lookup(&self, kid: Option<&str>) -> Option<DecodingKey> {
        let keys = self.keys.read().await;
        match kid {
            Some(kid) => keys.get(kid).cloned(),
            // Without a kid, a key set of exactly one key is unambiguous.
            None if keys.len() == 1 => keys.values().next().cloned(),
            None => None,
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let set: jsonwebtoken::jwk::JwkSet = self
            .http
            .get(&self.url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let mut keys = HashMap::new();
        for (i, jwk) in set.keys.iter().enumerate() {
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                let kid = jwk.common.key_id.clone().unwrap_or_else(|| format!("#{i}"));
                keys.insert(kid, key);
            }
        }
        Ok(keys)
    }
}
