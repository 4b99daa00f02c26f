//! Reading usage (`usage_daily`) for `GET /usage`, `GET /admin/tenants/{id}/usage`,
//! `GET /admin/usage` and `tenantgate usage`. Writing is `crate::usage`'s batched upsert.

use chrono::{NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};

use crate::errors::{AppError, AppResult, FieldError};
use crate::store::schema::{tenants, usage_daily};

/// Longest range one request may ask for.
const MAX_DAYS: i64 = 400;

/// `?from=YYYY-MM-DD&to=YYYY-MM-DD`, both inclusive; default: this UTC month.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// First day (UTC, inclusive); default the 1st of this month.
    pub from: Option<String>,
    /// Last day (UTC, inclusive); default the last day of this month.
    pub to: Option<String>,
}

/// A checked date range.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl UsageQuery {
    pub fn range(&self) -> AppResult<Range> {
        let mut errors = Vec::new();
        let parse = |errors: &mut Vec<FieldError>, field: &str, raw: &Option<String>| {
            raw.as_deref().filter(|r| !r.is_empty()).and_then(|r| {
                NaiveDate::parse_from_str(r, "%Y-%m-%d")
                    .map_err(|_| errors.push(FieldError::new(field, "must be a date: YYYY-MM-DD")))
                    .ok()
            })
        };
        let from = parse(&mut errors, "from", &self.from);
        let to = parse(&mut errors, "to", &self.to);
        if !errors.is_empty() {
            return Err(AppError::invalid_fields(errors));
        }
        let today = Utc::now().date_naive();
        let month = crate::usage::month_start(today);
        let from = from.unwrap_or(month);
        let to = to.unwrap_or_else(|| {
            month
                .checked_add_months(chrono::Months::new(1))
                .and_then(|d| d.pred_opt())
                .unwrap_or(today)
        });
        if from > to {
            return Err(AppError::validation("from", "must not be after to"));
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(AppError::validation(
                "to",
                format!("the range may cover at most {MAX_DAYS} days"),
            ));
        }
        Ok(Range { from, to })
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageTotals {
    pub requests: i64,
    pub chat_requests: i64,
    pub retrievals: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
}

impl std::ops::AddAssign for UsageTotals {
    fn add_assign(&mut self, other: Self) {
        self.requests += other.requests;
        self.chat_requests += other.chat_requests;
        self.retrievals += other.retrievals;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
    }
}

/// One day and model: its counts beside `day` and `model` in the JSON (flattened).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageDay {
    pub day: NaiveDate,
    /// The model asked for; "" for requests that called none (search, documents…).
    pub model: String,
    #[serde(flatten)]
    pub totals: UsageTotals,
}

/// One tenant's usage over a range.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageReport {
    pub tenant_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub totals: UsageTotals,
    /// One entry per day and model with any use, oldest first.
    pub days: Vec<UsageDay>,
}

/// `GET /admin/usage`: one entry per tenant.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantUsage {
    pub tenant_id: String,
    pub totals: UsageTotals,
}

type Row = (String, NaiveDate, String, i64, i64, i64, i64, i64);

fn day_of(row: Row) -> (String, UsageDay) {
    let (tenant_id, day, model, requests, chat_requests, retrievals, prompt, completion) = row;
    (
        tenant_id,
        UsageDay {
            day,
            model,
            totals: UsageTotals {
                requests,
                chat_requests,
                retrievals,
                prompt_tokens: prompt,
                completion_tokens: completion,
                total_tokens: prompt + completion,
            },
        },
    )
}

async fn rows(
    conn: &mut AsyncPgConnection,
    tenant_id: Option<&str>,
    range: Range,
) -> AppResult<Vec<Row>> {
    let mut query = usage_daily::table
        .filter(usage_daily::day.between(range.from, range.to))
        .select((
            usage_daily::tenant_id,
            usage_daily::day,
            usage_daily::model,
            usage_daily::requests,
            usage_daily::chat_requests,
            usage_daily::retrievals,
            usage_daily::prompt_tokens,
            usage_daily::completion_tokens,
        ))
        .order((usage_daily::day, usage_daily::model))
        .into_boxed();
    if let Some(tenant_id) = tenant_id {
        query = query.filter(usage_daily::tenant_id.eq(tenant_id.to_owned()));
    }
    Ok(query.load(conn).await?)
}

/// One tenant's report; 404 when the tenant does not exist.
pub async fn report(
    conn: &mut AsyncPgConnection,
    tenant_id: &str,
    range: Range,
) -> AppResult<UsageReport> {
    let exists: Option<String> = tenants::table
        .find(tenant_id)
        .select(tenants::id)
        .first(conn)
        .await
        .optional()?;
    if exists.is_none() {
        return Err(AppError::not_found("tenant"));
    }
    let mut totals = UsageTotals::default();
    let days: Vec<UsageDay> = rows(conn, Some(tenant_id), range)
        .await?
        .into_iter()
        .map(|r| day_of(r).1)
        .inspect(|d| totals += d.totals)
        .collect();
    Ok(UsageReport {
        tenant_id: tenant_id.to_owned(),
        from: range.from,
        to: range.to,
        totals,
        days,
    })
}

/// Every tenant's totals (tenants without use included, with zeros), by tenant id.
pub async fn all(conn: &mut AsyncPgConnection, range: Range) -> AppResult<Vec<TenantUsage>> {
    let ids: Vec<String> = tenants::table
        .select(tenants::id)
        .order(tenants::id)
        .load(conn)
        .await?;
    let mut by_tenant: std::collections::BTreeMap<String, UsageTotals> = ids
        .into_iter()
        .map(|id| (id, UsageTotals::default()))
        .collect();
    for row in rows(conn, None, range).await? {
        let (tenant_id, day) = day_of(row);
        *by_tenant.entry(tenant_id).or_default() += day.totals;
    }
    Ok(by_tenant
        .into_iter()
        .map(|(tenant_id, totals)| TenantUsage { tenant_id, totals })
        .collect())
}
