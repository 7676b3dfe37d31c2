//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::db::{self, is_unavailable};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::stats::labels;

/// The process is alive; says nothing about the database.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// 200 when the database answers a trivial query within the acquire timeout, else 503.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    responses(
        (status = 200, description = "The database answers"),
        (status = 503, description = "The database does not answer", body = ErrorBody)
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let repository = state.cache.stats().repository();
    let backend = db::backend_name(repository.backend());
    // Reading the hourly table, not just `SELECT 1`: a wrong `database.table` is not ready either.
    match repository.newest_hour().await {
        Ok(newest) => Ok(HttpResponse::Ok().json(json!({
            "status": "ready",
            "database": backend,
            "data_as_of": newest.map(labels::utc_hour),
        }))),
        Err(e) if is_unavailable(&e) => {
            log::warn!("readiness check failed: {e}");
            Err(ApiError::Unavailable(format!("{backend} is not answering")))
        }
        Err(e) => {
            log::warn!("readiness check failed: {e}");
            Err(ApiError::Unavailable(format!(
                "the hourly table {} cannot be read; check database.table",
                state.settings.database.table
            )))
        }
    }
}
