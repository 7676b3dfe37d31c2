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
            "freshness": state.cache.freshness_mode().as_str(),
        }))),
        Err(e) => {
            log::warn!("readiness check failed: {e}");
            // The pool says only that it timed out; one direct connection tells why (refused,
            // wrong password, no such database). It is logged, not shown: it names the host.
            let cause = match state.settings.database_target() {
                Ok(target) => db::diagnose(&target, state.settings.database.acquire_timeout).await,
                Err(_) => None,
            };
            if let Some(cause) = &cause {
                log::warn!("database: {cause}");
            }
            Err(ApiError::Unavailable(match (cause, is_unavailable(&e)) {
                (Some(_), _) | (None, true) => format!("{backend} is not answering"),
                (None, false) => format!(
                    "the hourly table {} cannot be read; check database.table",
                    state.settings.database.table
                ),
            }))
        }
    }
}
