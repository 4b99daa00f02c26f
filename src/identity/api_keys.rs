//! Tenant API keys: `tg_<prefix>_<secret>`, the secret 256 random bits.
//!
//! The database keeps the prefix (to find the row) and a plain SHA-256 of the whole key. The key
//! holds 256 random bits, so a stolen table cannot be brute-forced offline without any pepper
//! (the reasoning of large token issuers); and the hash must not depend on `SECRET_KEY`, which
//! `secrets rotate` retires. Keys made before that change carry an HMAC under a `SECRET_KEY`
//! subkey (`hash_scheme = 'hmac-sha256-v1'`): they are checked against every key of the ring and
//! re-hashed to SHA-256 the first time each is used, and `secrets rotate` counts those left.
//!
//! Rows are cached by prefix, so a valid key costs one hash and a constant-time comparison per
//! request, no database read; unknown prefixes are cached too, briefly. Revocation (and creation,
//! which drops a cached "unknown") reaches every replica through NOTIFY. `last_used_at` is
//! collected in memory and written in batches.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use dashmap::DashMap;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use hmac::{Hmac, Mac};
use moka::future::Cache;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::scopes::ScopeSet;
use crate::errors::{AppError, AppResult};
use crate::secrets::KeyRing;
use crate::store::db::Pool;
use crate::store::models::Timestamp;
use crate::store::models::api_key::ApiKey;
use crate::store::schema::api_keys;

/// `api_keys.hash_scheme` of keys made since hashes stopped depending on `SECRET_KEY`.
pub const SCHEME_SHA256: &str = "sha256";
/// `api_keys.hash_scheme` of keys made before: HMAC-SHA256 under a `SECRET_KEY` subkey.
pub const SCHEME_LEGACY_HMAC: &str = "hmac-sha256-v1";

pub const KEY_MARKER: &str = "tg_";
const PREFIX_CHARS: usize = 10;
const CACHE_TTL: Duration = Duration::from_secs(300);
const NEGATIVE_TTL: Duration = Duration::from_secs(5);
const MAX_KEY_LEN: usize = 128;

/// A freshly made key: the plaintext (shown once) and what the database stores.
pub struct GeneratedKey {
    pub plaintext: secrecy::SecretString,
    pub prefix: String,
    pub hash: Vec<u8>,
}

/// What a valid key grants.
#[derive(Clone, Debug)]
pub struct ApiKeyGrant {
    pub key_id: Uuid,
    pub tenant_id: String,
    /// The key's own request limit (DESIGN.md §9), counted besides the tenant's.
    pub requests_per_minute: Option<u32>,
    /// What the key may be used for (DESIGN §10); the tenant layer checks the route's need.
    pub scopes: ScopeSet,
}

#[derive(Clone)]
struct CachedKey {
    id: Uuid,
    tenant_id: String,
    hash: Vec<u8>,
    /// Hashed with an HMAC under a ring key (made before SHA-256); re-hashed on first use.
    legacy: bool,
    expires_at: Option<Timestamp>,
    revoked: bool,
    requests_per_minute: Option<u32>,
    scopes: ScopeSet,
}

struct ExpireNegativeSoon;

impl moka::Expiry<String, Option<Arc<CachedKey>>> for ExpireNegativeSoon {
    fn expire_after_create(
        &self,
        _: &String,
        value: &Option<Arc<CachedKey>>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(if value.is_some() {
            CACHE_TTL
        } else {
            NEGATIVE_TTL
        })
    }
}

pub struct ApiKeys {
    pool: Pool,
    /// One HMAC per key of the ring (current first), for keys made before SHA-256.
    hashers: Vec<Hmac<Sha256>>,
    cache: Cache<String, Option<Arc<CachedKey>>>,
    last_used: DashMap<Uuid, Timestamp>,
}

impl ApiKeys {
    pub fn new(pool: Pool, keys: &KeyRing) -> Self {
        let hashers = keys
            .all()
            .map(|k| {
                let sub = k.derive(b"tenantgate api-key hash v1");
                <Hmac<Sha256> as Mac>::new_from_slice(sub.as_slice())
                    .expect("HMAC takes any key length")
            })
            .collect();
        let cache = Cache::builder()
            .max_capacity(100_000)
            .expire_after(ExpireNegativeSoon)
            .build();
        Self {
            pool,
            hashers,
            cache,
            last_used: DashMap::new(),
        }
    }

    fn hash_with(hasher: &Hmac<Sha256>, key: &str) -> [u8; 32] {
        let mut mac = hasher.clone();
        mac.update(key.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// What `api_keys.key_hash` holds for a key (scheme `sha256`).
    pub fn hash(key: &str) -> [u8; 32] {
        use sha2::Digest;
        Sha256::digest(key.as_bytes()).into()
    }

    pub fn generate(&self) -> GeneratedKey {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut random = [0u8; 32 + PREFIX_CHARS];
        OsRng.fill_bytes(&mut random);
        let prefix_body: String = random[32..]
            .iter()
            .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
            .collect();
        let prefix = format!("{KEY_MARKER}{prefix_body}");
        let plaintext = format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(&random[..32]));
        let hash = Self::hash(&plaintext).to_vec();
        GeneratedKey {
            plaintext: plaintext.into(),
            prefix,
            hash,
        }
    }

    /// The prefix of a well-formed key, or None.
    fn prefix_of(key: &str) -> Option<&str> {
        if key.len() > MAX_KEY_LEN || !key.is_ascii() {
            return None;
        }
        let split = KEY_MARKER.len() + PREFIX_CHARS;
        let (prefix, rest) = (key.get(..split)?, key.get(split..)?);
        (prefix.starts_with(KEY_MARKER) && rest.len() > 1 && rest.starts_with('_'))
            .then_some(prefix)
    }

    /// Checks a presented key. Unknown, revoked, expired and wrong keys all give `invalid_api_key`.
    pub async fn authenticate(&self, key: &str) -> AppResult<ApiKeyGrant> {
        let prefix = Self::prefix_of(key).ok_or(AppError::InvalidApiKey)?;
        let cached = match self.cache.get(prefix).await {
            Some(hit) => hit,
            None => {
                let pool = self.pool.clone();
                let owned = prefix.to_owned();
                // Boxed: the miss path's query would otherwise size every request's future.
                Box::pin(
                    self.cache
                        .try_get_with(owned.clone(), async move { load(&pool, &owned).await }),
                )
                .await
                .map_err(|e: Arc<AppError>| match &*e {
                    AppError::Unavailable => AppError::Unavailable,
                    other => AppError::internal(other),
                })?
            }
        };
        let Some(row) = cached else {
            // Same work as for a known key, so the answer takes the same time.
            let _ = Self::hash(key);
            return Err(AppError::InvalidApiKey);
        };
        let sha256 = Self::hash(key);
        let matches = if row.legacy {
            self.hashers.iter().fold(subtle::Choice::from(0), |acc, h| {
                acc | Self::hash_with(h, key).as_slice().ct_eq(&row.hash)
            })
        } else {
            sha256.as_slice().ct_eq(&row.hash)
        };
        if !bool::from(matches) || row.revoked || row.expires_at.is_some_and(|at| at <= Utc::now())
        {
            return Err(AppError::InvalidApiKey);
        }
        if row.legacy {
            self.upgrade_legacy(prefix, &row, sha256).await;
        }
        self.last_used.insert(row.id, Utc::now());
        Ok(ApiKeyGrant {
            key_id: row.id,
            tenant_id: row.tenant_id.clone(),
            requests_per_minute: row.requests_per_minute,
            scopes: row.scopes,
        })
    }

    /// Re-hashes a key made before SHA-256 (it has just been presented, so its plaintext is at
    /// hand): once done, it no longer needs any `SECRET_KEY`. A failed write is retried on the
    /// next use; the key works either way.
    async fn upgrade_legacy(&self, prefix: &str, row: &CachedKey, sha256: [u8; 32]) {
        let written = match self.pool.get().await {
            Ok(mut conn) => diesel::update(
                api_keys::table
                    .find(row.id)
                    .filter(api_keys::hash_scheme.eq(SCHEME_LEGACY_HMAC)),
            )
            .set((
                api_keys::key_hash.eq(sha256.to_vec()),
                api_keys::hash_scheme.eq(SCHEME_SHA256),
            ))
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match written {
            Ok(_) => {
                tracing::info!(api_key_id = %row.id, "API key re-hashed with SHA-256");
                let upgraded = CachedKey {
                    hash: sha256.to_vec(),
                    legacy: false,
                    ..row.clone()
                };
                self.cache
                    .insert(prefix.to_owned(), Some(Arc::new(upgraded)))
                    .await;
            }
            Err(e) => {
                tracing::warn!(api_key_id = %row.id, error = %e, "could not re-hash an API key")
            }
        }
    }

    /// Drops a cached key (after a revocation, here or on another replica).
    pub async fn forget(&self, prefix: &str) {
        self.cache.invalidate(prefix).await;
    }

    pub fn forget_all(&self) {
        self.cache.invalidate_all();
    }

    /// Writes the collected `last_used_at` times; called every few seconds and at shutdown.
    pub async fn flush_last_used(&self) {
        let batch: Vec<(Uuid, Timestamp)> = self
            .last_used
            .iter()
            .map(|e| (*e.key(), *e.value()))
            .collect();
        if batch.is_empty() {
            return;
        }
        for (id, _) in &batch {
            self.last_used.remove(id);
        }
        let Ok(mut conn) = self.pool.get().await else {
            return;
        };
        for (id, at) in batch {
            let _ = diesel::update(api_keys::table.find(id))
                .set(api_keys::last_used_at.eq(at))
                .execute(&mut conn)
                .await;
        }
    }
}

async fn load(pool: &Pool, prefix: &str) -> Result<Option<Arc<CachedKey>>, AppError> {
    let mut conn = pool.get().await?;
    let row: Option<(ApiKey, String)> = api_keys::table
        .filter(api_keys::prefix.eq(prefix))
        .select((ApiKey::as_select(), api_keys::hash_scheme))
        .first(&mut conn)
        .await
        .optional()?;
    Ok(row.map(|(k, scheme)| {
        Arc::new(CachedKey {
            id: k.id,
            tenant_id: k.tenant_id,
            hash: k.key_hash,
            legacy: scheme != SCHEME_SHA256,
            expires_at: k.expires_at,
            revoked: k.revoked_at.is_some(),
            requests_per_minute: k.requests_per_minute.and_then(|n| u32::try_from(n).ok()),
            scopes: ScopeSet::from_stored(&k.scopes),
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            ApiKeys::prefix_of("tg_abcdefghij_secret"),
            Some("tg_abcdefghij")
        );
        assert_eq!(ApiKeys::prefix_of("tg_abc"), None);
        assert_eq!(ApiKeys::prefix_of("tg_abcdefghij_"), None);
        assert_eq!(ApiKeys::prefix_of("tg_abcdefghijX"), None);
        assert_eq!(ApiKeys::prefix_of("sk-abcdefghij_secret"), None);
        assert_eq!(ApiKeys::prefix_of("tg_é"), None);
    }
}
