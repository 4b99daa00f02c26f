//! Key rotation: re-encrypts every stored tenant secret under the current `SECRET_KEY`.
//!
//! Batch by batch, one transaction per batch (rows locked `FOR UPDATE`), walking tenants in id
//! order. Stopping half-way loses nothing: committed batches are under the new key, the rest
//! still under an old one that `SECRET_KEY_PREVIOUS` decrypts, and running again finishes the
//! job (rows already under the current key are skipped).
//!
//! API keys are not encrypted but hashed, and since `hash_scheme = 'sha256'` their hashes need no
//! `SECRET_KEY` at all. Keys made before that still carry an HMAC under a ring key; they cannot be
//! re-hashed without their plaintext, so each is re-hashed when it is next used and
//! `count_legacy_api_keys` says how many usable ones are left: until none, the old key must stay
//! in `SECRET_KEY_PREVIOUS`.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::errors::{AppError, AppResult};
use crate::identity::api_keys::SCHEME_LEGACY_HMAC;
use crate::secrets::{KeyRing, SecretSlot};
use crate::store::models::tenant::PINECONE_API_KEY_FIELD;
use crate::store::schema::{api_keys, tenants};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RotationReport {
    pub rotated: usize,
    pub already_current: usize,
    pub batches: usize,
}

/// Rotates up to `max_batches` batches (None: all).
pub async fn rotate(
    conn: &mut AsyncPgConnection,
    keys: &KeyRing,
    batch_size: i64,
    max_batches: Option<usize>,
) -> AppResult<RotationReport> {
    let mut report = RotationReport::default();
    let mut after = String::new();
    loop {
        if max_batches.is_some_and(|max| report.batches >= max) {
            return Ok(report);
        }
        let (last, rotated, current) = conn
            .transaction(async |conn| {
                let rows: Vec<(String, Vec<u8>)> = tenants::table
                    .filter(tenants::id.gt(&after))
                    .filter(tenants::pinecone_api_key_enc.is_not_null())
                    .order(tenants::id)
                    .limit(batch_size)
                    .select((tenants::id, tenants::pinecone_api_key_enc.assume_not_null()))
                    .for_update()
                    .load(conn)
                    .await?;
                let mut rotated = 0;
                let mut current = 0;
                for (id, stored) in &rows {
                    if keys.is_current(stored) {
                        current += 1;
                        continue;
                    }
                    let slot = SecretSlot {
                        tenant_id: id,
                        field: PINECONE_API_KEY_FIELD,
                    };
                    let plaintext = keys
                        .decrypt(slot, stored)
                        .map_err(|e| AppError::Internal(format!("tenant {id}: {e}")))?;
                    let fresh = keys.encrypt(slot, &plaintext);
                    diesel::update(tenants::table.find(id))
                        .set(tenants::pinecone_api_key_enc.eq(fresh))
                        .execute(conn)
                        .await?;
                    rotated += 1;
                }
                Ok::<_, AppError>((rows.last().map(|(id, _)| id.clone()), rotated, current))
            })
            .await?;
        let Some(last) = last else {
            return Ok(report);
        };
        report.batches += 1;
        report.rotated += rotated;
        report.already_current += current;
        after = last;
    }
}

/// How many stored secrets are not under the current key.
pub async fn count_outdated(conn: &mut AsyncPgConnection, keys: &KeyRing) -> AppResult<usize> {
    let stored: Vec<Vec<u8>> = tenants::table
        .filter(tenants::pinecone_api_key_enc.is_not_null())
        .select(tenants::pinecone_api_key_enc.assume_not_null())
        .load(conn)
        .await?;
    Ok(stored.iter().filter(|s| !keys.is_current(s)).count())
}

/// Usable API keys (not revoked, not expired) still hashed under a `SECRET_KEY` (made before
/// SHA-256 and not used since): each stops working when that key leaves the ring.
pub async fn count_legacy_api_keys(conn: &mut AsyncPgConnection) -> AppResult<i64> {
    Ok(api_keys::table
        .filter(api_keys::hash_scheme.eq(SCHEME_LEGACY_HMAC))
        .filter(api_keys::revoked_at.is_null())
        .filter(
            api_keys::expires_at
                .is_null()
                .or(api_keys::expires_at.gt(diesel::dsl::now)),
        )
        .count()
        .get_result(conn)
        .await?)
}
