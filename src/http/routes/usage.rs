//! `GET /usage`: the caller's own tenant's usage, in the shape of
//! `GET /admin/tenants/{id}/usage`.

use axum::Json;
use axum::extract::State;

use crate::app::state::AppState;
use crate::errors::AppResult;
use crate::http::error::ErrorBody;
use crate::http::extractors::CurrentTenant;
use crate::http::routes::ValidQuery;
use crate::services::usage::{self as service, UsageQuery, UsageReport};

#[utoipa::path(get, path = "/usage", operation_id = "get_own_usage", tag = "usage", security(("bearer" = []), ("api_key" = [])),
    params(UsageQuery),
    responses(
        (status = 200, description = "the caller's tenant, per day and model; counts of this replica are written first", body = UsageReport),
        (status = 401, body = ErrorBody),
        (status = 422, description = "a bad date or range", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    ValidQuery(query): ValidQuery<UsageQuery>,
) -> AppResult<Json<UsageReport>> {
    let range = query.range()?;
    // This replica's buffered counts first, so a caller sees its own requests at once.
    state.usage.flush().await;
    let mut conn = state.pool.get().await?;
    Ok(Json(
        service::report(&mut conn, tenant.id.as_str(), range).await?,
    ))
}
