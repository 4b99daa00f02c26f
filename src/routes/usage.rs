//! `GET /usage`: the caller's own tenant's usage, in the shape of
//! `GET /admin/tenants/{id}/usage`.

use axum::Json;
use axum::extract::State;

use crate::auth::extractors::Tenant;
use crate::errors::{AppResult, ErrorBody};
use crate::routes::ValidQuery;
use crate::services::usage::{self as service, UsageQuery, UsageReport};
use crate::state::AppState;

#[utoipa::path(get, path = "/usage", operation_id = "get_own_usage", tag = "usage", security(("bearer" = []), ("api_key" = [])),
    params(UsageQuery),
    responses(
        (status = 200, description = "the caller's tenant, per day and model; counts of this replica are written first", body = UsageReport),
        (status = 401, body = ErrorBody),
        (status = 422, description = "a bad date or range", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
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
