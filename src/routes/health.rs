//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::db;
use crate::error::ApiError;
use crate::startup::AppState;

/// The process is alive; says nothing about the database.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// 200 when the database answers a trivial query within the acquire timeout, else 503.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let backend = db::backend_name(state.cache.stats().repository().backend());
    match db::ping(state.cache.stats().repository().connection()).await {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({ "status": "ready", "database": backend }))),
        Err(e) => {
            log::warn!("readiness check failed: {e}");
            Err(ApiError::Unavailable(format!("{backend} is not answering")))
        }
    }
}
