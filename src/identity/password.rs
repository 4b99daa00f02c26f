//! Password hashing: argon2id with the crate's recommended parameters, run on the blocking pool
//! so a login never stalls the async workers.
//!
//! Login checks go through [`PasswordChecks`], which bounds them: argon2 is CPU and memory
//! work (19 MiB each) that anyone can ask for with a random email, and 64 unbounded parallel
//! logins once pushed `/tenant` from 3 to 200 ms. A few run at once, a few more wait, and the
//! rest answer 429 `rate_limited` at once.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use secrecy::{ExposeSecret, SecretString};
use std::sync::{Arc, LazyLock};
use tokio::sync::Semaphore;

use crate::errors::{AppError, AppResult};

/// Checked against when the email is unknown, so an unknown email costs the same time as a
/// wrong password and the two cannot be told apart.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_blocking(&SecretString::from("tenantgate-timing-equaliser")).unwrap_or_default()
});

pub const MIN_PASSWORD_LEN: usize = 8;

/// Argon2 refused to hash (it does not for a password of any length: a bug if seen).
#[derive(Debug, thiserror::Error)]
#[error("could not hash the password: {0}")]
pub struct HashError(argon2::password_hash::Error);

pub fn hash_blocking(password: &SecretString) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(HashError)
}

pub async fn hash(password: SecretString) -> AppResult<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)
}

/// Verifies `password` against `stored`, or against a dummy hash when there is no user,
/// always doing the same work. Returns true only for a real match.
pub async fn verify(password: SecretString, stored: Option<String>) -> AppResult<bool> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let matches = PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.expose_secret().as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        known && matches
    })
    .await
    .map_err(AppError::internal)
}

/// The bound on login password checks: `running` at once (`PASSWORD_HASH_CONCURRENCY`),
/// plus at most `PASSWORD_HASH_QUEUE` waiting for a turn.
pub struct PasswordChecks {
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
}

impl PasswordChecks {
    pub fn new(running: usize, queue: usize) -> Self {
        let running = running.max(1);
        Self {
            admitted: Arc::new(Semaphore::new(running + queue)),
            running: Arc::new(Semaphore::new(running)),
        }
    }

    /// [`verify`], or 429 `rate_limited` without any work when too many checks are in hand.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> AppResult<bool> {
        let _admitted =
            self.admitted
                .clone()
                .try_acquire_owned()
                .map_err(|_| AppError::RateLimited {
                    retry_after_seconds: 1,
                })?;
        let _running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(AppError::internal)?;
        verify(password, stored).await
    }
}

/// Warms the dummy hash at start-up so the first unknown-email login is not faster.
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

pub fn check_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!("must be at least {MIN_PASSWORD_LEN} characters"));
    }
    Ok(())
}
