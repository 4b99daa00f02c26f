//! Cross-replica cache coherence: every replica `LISTEN`s on the channels the database triggers
//! notify (`tenant_changed` with `"<id> <version>"`, `api_key_changed` with the key prefix,
//! `user_changed` with `"<id> <token version> <epoch seconds>"`) and drops what changed (a
//! user change revokes the user's older tokens and drops its cached superuser status). After a
//! lost connection it reconnects, clears its caches and reloads the recent token revocations,
//! since notifications sent meanwhile are gone; the first connection loads them too.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};

use crate::identity::api_keys::ApiKeys;
use crate::identity::revocations::{Revocations, USER_CHANNEL};
use crate::identity::superusers::Superusers;
use crate::tenancy::TenantCache;

pub const TENANT_CHANNEL: &str = "tenant_changed";
pub const API_KEY_CHANNEL: &str = "api_key_changed";
/// The connection is checked this often, so a silently dead one is noticed.
const PING_EVERY: Duration = Duration::from_secs(10);
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// What the listener keeps coherent.
pub struct Watched {
    pub tenants: Arc<TenantCache>,
    pub api_keys: Arc<ApiKeys>,
    pub revocations: Arc<Revocations>,
    pub superusers: Arc<Superusers>,
}

/// Why a listening connection ended (logged, then the listener reconnects).
#[derive(Debug, thiserror::Error)]
enum ListenError {
    #[error(transparent)]
    Connect(#[from] diesel::ConnectionError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Runs forever (until the task is dropped).
pub async fn listen(url: SecretString, watched: Watched) {
    let mut first = true;
    loop {
        match listen_once(&url, &watched, &mut first).await {
            Ok(()) => tracing::warn!("change listener connection closed; reconnecting"),
            Err(e) => tracing::warn!(error = %e, "change listener failed; reconnecting"),
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

async fn listen_once(
    url: &SecretString,
    watched: &Watched,
    first: &mut bool,
) -> Result<(), ListenError> {
    let Watched {
        tenants, api_keys, ..
    } = watched;
    let mut conn = crate::store::db::establish(url.expose_secret().to_owned()).await?;
    conn.batch_execute(&format!(
        "LISTEN {TENANT_CHANNEL}; LISTEN {API_KEY_CHANNEL}; LISTEN {USER_CHANNEL}"
    ))
    .await?;
    if *first {
        warn_if_pooled(&mut conn, url.expose_secret()).await;
    }
    // After LISTEN, so a change made meanwhile is either in the table or notified.
    let revoked = watched.revocations.reload(&mut conn).await?;
    tracing::debug!(revoked, "recent token revocations loaded");
    if !std::mem::take(first) {
        tenants.clear();
        api_keys.forget_all();
        watched.superusers.forget_all();
        tracing::info!("change listener reconnected; caches cleared");
    }
    loop {
        {
            let notifications = conn.notifications_stream();
            futures::pin_mut!(notifications);
            let deadline = tokio::time::sleep(PING_EVERY);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    next = notifications.next() => match next {
                        None => return Ok(()),
                        Some(Err(e)) => return Err(e.into()),
                        Some(Ok(n)) => handle(&n.channel, &n.payload, watched).await,
                    },
                    () = &mut deadline => break,
                }
            }
        }
        diesel::sql_query("SELECT 1").execute(&mut conn).await?;
    }
}

#[derive(diesel::QueryableByName)]
struct ServerPort {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    port: Option<i32>,
}

/// `LISTEN` through PgBouncer's transaction pooling is accepted and then never fires. There is
/// no protocol-level way to ask "is this PgBouncer?", but a pooler listens on another port than
/// the server it forwards to (6432 against 5432 by default): say so once at start-up.
async fn warn_if_pooled(conn: &mut diesel_async::AsyncPgConnection, url: &str) {
    let url_port = url::Url::parse(url)
        .ok()
        .and_then(|u| u.port())
        .map_or(5432, i32::from);
    let server = diesel::sql_query("SELECT inet_server_port() AS port")
        .get_result::<ServerPort>(conn)
        .await;
    let server_port = match server {
        Ok(ServerPort { port: Some(port) }) => port,
        // A Unix socket: nothing in between.
        Ok(ServerPort { port: None }) => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not ask the LISTEN connection's server port");
            return;
        }
    };
    if server_port != url_port {
        tracing::warn!(
            url_port,
            server_port,
            "the LISTEN connection reaches Postgres through a proxy or pooler (port {url_port}, \
             server port {server_port}); if it is PgBouncer in transaction mode, changes made on \
             other replicas never arrive: set DATABASE_LISTEN_URL to a direct connection"
        );
    }
}

async fn handle(channel: &str, payload: &str, watched: &Watched) {
    let Watched {
        tenants, api_keys, ..
    } = watched;
    match channel {
        TENANT_CHANNEL => {
            let Some((id, version)) = payload.split_once(' ') else {
                return;
            };
            let version = version.parse().unwrap_or(i64::MAX);
            tracing::debug!(tenant_id = id, version, "tenant changed");
            tenants.announce(id, version).await;
        }
        API_KEY_CHANNEL => api_keys.forget(payload).await,
        USER_CHANNEL => {
            if let Some(user) = watched.revocations.record_payload(payload) {
                tracing::debug!(user_id = %user, "user changed; older tokens revoked");
                watched.superusers.forget(user).await;
            }
        }
        _ => {}
    }
}
