//! Ops endpoints: `POST /api/cache/warm` (bearer token) and `GET /metrics`.

use std::time::Instant;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::cache::AnswerKey;
use crate::error::ApiError;
use crate::settings::Settings;
use crate::startup::AppState;
use crate::stats::params::{Format, RawParams};
use crate::stats::{Endpoint, Query};

/// The requests the shipped dashboard makes: the warm list.
pub fn dashboard_requests(settings: &Settings) -> Vec<String> {
    let mut list = vec![
        "/api/get_data?model=hourly&group_by=archive".to_string(),
        "/api/get_data?model=hourly&group_by=category".to_string(),
        "/api/get_data?model=hourly&group_by=country".to_string(),
        "/api/get_global_sum?model=hourly&time_group=month".to_string(),
    ];
    for zone in &settings.cache.warm_timezones {
        list.push(format!(
            "/api/get_todays_downloads?model=hourly&timezone={zone}"
        ));
    }
    list
}

/// One warmed request.
#[derive(Debug, Serialize)]
pub struct Warmed {
    pub request: String,
    pub status: u16,
    pub cache: &'static str,
    pub milliseconds: f64,
    pub bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Runs `requests` through the cache, as clients would.
pub async fn warm(state: &AppState, requests: &[String]) -> Vec<Warmed> {
    let mut out = Vec::with_capacity(requests.len());
    for request in requests {
        let started = Instant::now();
        let (path, query) = request.split_once('?').unwrap_or((request, ""));
        let result = match Endpoint::from_path(path) {
            Some(endpoint) => match Query::parse(endpoint, query, Utc::now()) {
                Ok(query) => {
                    state
                        .cache
                        .get(AnswerKey {
                            query,
                            format: Format::Json,
                        })
                        .await
                }
                Err(e) => Err(e),
            },
            None => Err(ApiError::NotFound(format!("no data endpoint {path}"))),
        };
        let milliseconds = started.elapsed().as_secs_f64() * 1000.0;
        out.push(match result {
            Ok((cached, status)) => Warmed {
                request: request.clone(),
                status: 200,
                cache: status.header(),
                milliseconds,
                bytes: cached.body.len(),
                error: None,
            },
            Err(e) => Warmed {
                request: request.clone(),
                status: actix_web::ResponseError::status_code(&e).as_u16(),
                cache: "MISS",
                milliseconds,
                bytes: 0,
                error: Some(e.to_string()),
            },
        });
    }
    out
}

/// Fills the cache with the dashboard's requests; `?invalidate=true` empties it first. Needs
/// `Authorization: Bearer <ops.token>`; without a configured token the endpoint does not exist.
#[utoipa::path(
    post,
    path = "/api/cache/warm",
    tag = "ops",
    params(("invalidate" = Option<bool>, Query, description = "Empty the cache first")),
    security(("ops_token" = [])),
    responses(
        (status = 200, description = "What was warmed: each request with its status, cache result, duration and size"),
        (status = 400, description = "invalidate is neither true nor false", body = crate::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = crate::openapi::ErrorBody),
        (status = 404, description = "No ops token is configured: the endpoint is off", body = crate::openapi::ErrorBody)
    )
)]
pub async fn warm_cache(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(token) = state.settings.ops_token() else {
        return Err(ApiError::NotFound(format!("no route {}", req.path())));
    };
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
        return Err(ApiError::Unauthorized);
    }
    let invalidate = match RawParams::parse(req.query_string())?.get("invalidate")? {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "parameter invalidate: {other:?} is not allowed; allowed: true, false"
            )));
        }
    };
    if invalidate {
        state.cache.invalidate_all();
    }
    let started = Instant::now();
    let warmed = warm(&state, &dashboard_requests(&state.settings)).await;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "invalidated": invalidate,
        "milliseconds": started.elapsed().as_secs_f64() * 1000.0,
        "warmed": warmed,
    })))
}

/// Prometheus text exposition of this instance's metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (entries, bytes) = state.cache.size().await;
    state
        .metrics
        .cache_entries
        .set(i64::try_from(entries).unwrap_or(i64::MAX));
    state
        .metrics
        .cache_bytes
        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    let (open, idle) = crate::db::pool_state(state.cache.stats().repository().connection());
    state.metrics.pool_connections.set(i64::from(open));
    state
        .metrics
        .pool_idle
        .set(i64::try_from(idle).unwrap_or(i64::MAX));
    let body = state
        .metrics
        .render()
        .map_err(|e| ApiError::Internal(format!("metrics: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}
