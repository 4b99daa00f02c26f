//! Refusing the tokens of a user who changed: deactivated, deleted, moved to another tenant, or
//! made or unmade a superuser (the trigger `users_revoke_tokens` decides which changes count).
//!
//! Each such change bumps `users.token_version`, writes a row to `user_token_revocations` and
//! sends `NOTIFY user_changed '<id> <version> <epoch seconds>'`. Every replica keeps the recent
//! revocations in memory: filled from the table when the change listener (re)connects and from
//! every notification after, so a token is checked with one in-memory lookup and no database
//! read, and a change reaches every replica within a second.
//!
//! A token from `/auth/token` carries the version it was issued under (`ver`): it is refused when
//! that is below the user's revoked version. A token without `ver` (minted elsewhere with the
//! same secret) is refused when it was issued (`iat`) no later than the revocation's second.
//!
//! Entries live as long as a token issued before the change can (access-token lifetime plus
//! leeway, and a margin): after that every such token has expired anyway. The map is bounded
//! (`CAPACITY` changed users within one token lifetime).

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use moka::sync::Cache;
use uuid::Uuid;

use super::jwt::VerifiedToken;
use crate::errors::{AppError, AppResult};
use crate::store::schema::user_token_revocations;

pub const USER_CHANNEL: &str = "user_changed";
const CAPACITY: u64 = 1_000_000;
const MARGIN: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
struct Revoked {
    version: i64,
    at_secs: i64,
}

pub struct Revocations {
    recent: Cache<Uuid, Revoked>,
    window: Duration,
}

impl Revocations {
    /// `window`: how long a token issued before a change may still be unexpired.
    pub fn new(window: Duration) -> Self {
        let window = window + MARGIN;
        Self {
            recent: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(window)
                .build(),
            window,
        }
    }

    /// Records a revocation (from a notification or the table); never lowers a version.
    pub fn record(&self, user: Uuid, version: i64, at_secs: i64) {
        let entry = match self.recent.get(&user) {
            Some(known) if known.version >= version => return,
            _ => Revoked { version, at_secs },
        };
        self.recent.insert(user, entry);
    }

    /// A `user_changed` payload: `<id> <version> <epoch seconds>`. Returns the user's id.
    pub fn record_payload(&self, payload: &str) -> Option<Uuid> {
        let mut parts = payload.split(' ');
        let user = Uuid::parse_str(parts.next()?).ok()?;
        let version = parts.next()?.parse().ok()?;
        let at_secs = parts.next()?.parse().ok()?;
        self.record(user, version, at_secs);
        Some(user)
    }

    /// Reads the revocations recent enough to matter (at start-up and after a reconnection,
    /// when notifications may have been missed).
    pub async fn reload(&self, conn: &mut AsyncPgConnection) -> QueryResult<usize> {
        let since = chrono::Utc::now()
            - chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::days(1));
        let rows: Vec<(Uuid, i64, chrono::DateTime<chrono::Utc>)> = user_token_revocations::table
            .filter(user_token_revocations::revoked_at.gt(since))
            .select((
                user_token_revocations::user_id,
                user_token_revocations::token_version,
                user_token_revocations::revoked_at,
            ))
            .load(conn)
            .await?;
        let count = rows.len();
        for (user, version, at) in rows {
            self.record(user, version, at.timestamp());
        }
        Ok(count)
    }

    /// Refuses a token issued before a change to its user.
    pub fn check(&self, token: &VerifiedToken) -> AppResult<()> {
        let Some(user) = token.user_id else {
            return Ok(());
        };
        let Some(revoked) = self.recent.get(&user) else {
            return Ok(());
        };
        let still_valid = match token.token_version {
            Some(version) => version >= revoked.version,
            None => token
                .issued_at
                .is_some_and(|iat| i64::try_from(iat).unwrap_or(i64::MAX) > revoked.at_secs),
        };
        if still_valid {
            Ok(())
        } else {
            Err(AppError::InvalidToken(
                "token was issued before a change to its user; log in again",
            ))
        }
    }
}
