//! Usage metering and monthly token budgets (DESIGN.md §9).
//!
//! Counts per (tenant, UTC day, model) are added to an in-memory buffer on the request path
//! (one short mutex hold, no database) and written every `USAGE_FLUSH_SECONDS` with one
//! additive upsert per batch (`requests = usage_daily.requests + EXCLUDED.requests`), so
//! replicas never overwrite each other. The server flushes once more after the last request of
//! a graceful shutdown. A failed write puts the batch back: a lost database keeps the counts
//! (bounded by `MAX_ENTRIES`; past that, new rows fold into the tenant's `other` model row,
//! and only past twice that are counts dropped, counted in `usage_dropped_total`).
//!
//! Budgets: month-to-date tokens are the database's sum (cached a couple of seconds per tenant)
//! plus what this replica has not written yet, so another replica's use is known within the
//! flush interval plus the cache time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use moka::future::Cache;
use serde::Serialize;
use serde_json::Value;

use crate::errors::{AppError, AppResult};
use crate::store::db::Pool;
use crate::store::schema::usage_daily;

/// Rows the buffer holds before folding new ones into `other`.
const MAX_ENTRIES: usize = 50_000;
/// Longest model name kept (longer ones are cut: model names come from callers on `/v1`).
const MAX_MODEL_LEN: usize = 100;
const BUDGET_CACHE_TTL: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Counters {
    pub requests: i64,
    pub chat_requests: i64,
    pub retrievals: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

impl Counters {
    fn add(&mut self, other: &Counters) {
        self.requests += other.requests;
        self.chat_requests += other.chat_requests;
        self.retrievals += other.retrievals;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }

    pub fn tokens(&self) -> i64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// Token counts from an upstream `usage` object (`prompt_tokens`, `completion_tokens`).
pub fn tokens_of(usage: Option<&Value>) -> (i64, i64) {
    let field = |name: &str| {
        usage
            .and_then(|u| u.get(name))
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .max(0)
    };
    (field("prompt_tokens"), field("completion_tokens"))
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    tenant_id: String,
    day: NaiveDate,
    model: String,
}

pub struct Usage {
    pool: Pool,
    buffer: Mutex<HashMap<Key, Counters>>,
    /// Serialises flushes (the periodic one and the shutdown one).
    flushing: tokio::sync::Mutex<()>,
    month_tokens: Cache<String, i64>,
}

impl Usage {
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            buffer: Mutex::new(HashMap::new()),
            flushing: tokio::sync::Mutex::new(()),
            month_tokens: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(BUDGET_CACHE_TTL)
                .build(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Counters>> {
        self.buffer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds counts for a tenant and model today (UTC). `model` is "" for no model.
    pub fn record(&self, tenant_id: &str, model: &str, counts: Counters) {
        let mut model = model;
        if model.len() > MAX_MODEL_LEN {
            let mut end = MAX_MODEL_LEN;
            while !model.is_char_boundary(end) {
                end -= 1;
            }
            model = &model[..end];
        }
        let day = Utc::now().date_naive();
        let mut buffer = self.lock();
        add_bounded(&mut buffer, tenant_id, day, model, &counts);
    }

    pub fn request(&self, tenant_id: &str) {
        self.record(
            tenant_id,
            "",
            Counters {
                requests: 1,
                ..Counters::default()
            },
        );
    }

    pub fn retrieval(&self, tenant_id: &str) {
        self.record(
            tenant_id,
            "",
            Counters {
                retrievals: 1,
                ..Counters::default()
            },
        );
    }

    /// One answered chat call and the tokens the upstream reported for it.
    pub fn chat(&self, tenant_id: &str, model: &str, usage: Option<&Value>) {
        let (prompt_tokens, completion_tokens) = tokens_of(usage);
        self.record(
            tenant_id,
            model,
            Counters {
                chat_requests: 1,
                prompt_tokens,
                completion_tokens,
                ..Counters::default()
            },
        );
    }

    /// Writes the buffer; on failure the counts go back into it. Returns whether all was written.
    pub async fn flush(&self) -> bool {
        let _one_at_a_time = self.flushing.lock().await;
        let batch: Vec<(Key, Counters)> = std::mem::take(&mut *self.lock()).into_iter().collect();
        if batch.is_empty() {
            return true;
        }
        match self.write(&batch).await {
            Ok(()) => {
                for (key, _) in &batch {
                    self.month_tokens.invalidate(&key.tenant_id).await;
                }
                true
            }
            Err(error) => {
                tracing::warn!(
                    error = %error,
                    rows = batch.len(),
                    "could not write usage counts; keeping them to retry"
                );
                metrics::counter!("usage_flush_failures_total").increment(1);
                let mut buffer = self.lock();
                for (key, counts) in &batch {
                    add_bounded(&mut buffer, &key.tenant_id, key.day, &key.model, counts);
                }
                false
            }
        }
    }

    async fn write(&self, batch: &[(Key, Counters)]) -> AppResult<()> {
        let mut conn = self.pool.get().await?;
        for chunk in batch.chunks(1_000) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|(key, c)| {
                    (
                        usage_daily::tenant_id.eq(&key.tenant_id),
                        usage_daily::day.eq(key.day),
                        usage_daily::model.eq(&key.model),
                        usage_daily::requests.eq(c.requests),
                        usage_daily::chat_requests.eq(c.chat_requests),
                        usage_daily::retrievals.eq(c.retrievals),
                        usage_daily::prompt_tokens.eq(c.prompt_tokens),
                        usage_daily::completion_tokens.eq(c.completion_tokens),
                    )
                })
                .collect();
            diesel::insert_into(usage_daily::table)
                .values(rows)
                .on_conflict((usage_daily::tenant_id, usage_daily::day, usage_daily::model))
                .do_update()
                .set((
                    usage_daily::requests
                        .eq(usage_daily::requests + excluded(usage_daily::requests)),
                    usage_daily::chat_requests
                        .eq(usage_daily::chat_requests + excluded(usage_daily::chat_requests)),
                    usage_daily::retrievals
                        .eq(usage_daily::retrievals + excluded(usage_daily::retrievals)),
                    usage_daily::prompt_tokens
                        .eq(usage_daily::prompt_tokens + excluded(usage_daily::prompt_tokens)),
                    usage_daily::completion_tokens
                        .eq(usage_daily::completion_tokens
                            + excluded(usage_daily::completion_tokens)),
                    usage_daily::updated_at.eq(diesel::dsl::now),
                ))
                .execute(&mut conn)
                .await?;
        }
        Ok(())
    }

    /// The tenant's tokens this UTC month: written ones (cached briefly) plus unwritten ones.
    pub async fn month_tokens(&self, tenant_id: &str) -> AppResult<i64> {
        let pool = self.pool.clone();
        let owned = tenant_id.to_owned();
        let stored = self
            .month_tokens
            .try_get_with(owned.clone(), async move {
                stored_month_tokens(&pool, &owned).await
            })
            .await
            .map_err(AppError::from_shared)?;
        let month = month_start(Utc::now().date_naive());
        let pending: i64 = self
            .lock()
            .iter()
            .filter(|(k, _)| k.tenant_id == tenant_id && k.day >= month)
            .map(|(_, c)| c.tokens())
            .sum();
        Ok(stored + pending)
    }
}

fn add_bounded(
    buffer: &mut HashMap<Key, Counters>,
    tenant_id: &str,
    day: NaiveDate,
    model: &str,
    counts: &Counters,
) {
    let mut key = Key {
        tenant_id: tenant_id.to_owned(),
        day,
        model: model.to_owned(),
    };
    if buffer.len() >= MAX_ENTRIES && !buffer.contains_key(&key) {
        key.model = "other".to_owned();
        if buffer.len() >= 2 * MAX_ENTRIES && !buffer.contains_key(&key) {
            metrics::counter!("usage_dropped_total").increment(1);
            return;
        }
    }
    buffer.entry(key).or_default().add(counts);
}

pub fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// Time until the next UTC month begins (when budgets start again).
pub fn until_next_month() -> Duration {
    let now = Utc::now();
    let start = month_start(now.date_naive());
    let next = start
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc());
    next.and_then(|n| (n - now).to_std().ok())
        .unwrap_or_default()
}

async fn stored_month_tokens(pool: &Pool, tenant_id: &str) -> AppResult<i64> {
    use diesel::dsl::sql;
    use diesel::sql_types::BigInt;
    let mut conn = pool.get().await?;
    let month = month_start(Utc::now().date_naive());
    let total: i64 = usage_daily::table
        .filter(usage_daily::tenant_id.eq(tenant_id))
        .filter(usage_daily::day.ge(month))
        .select(sql::<BigInt>(
            "COALESCE(SUM(prompt_tokens + completion_tokens), 0)::bigint",
        ))
        .first(&mut conn)
        .await?;
    Ok(total)
}
