//! Ops endpoints: `POST /api/cache/warm` (bearer token) and `GET /metrics`.

use std::future::{Ready, ready};
use std::time::Instant;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::cache::{WarmError, Warmed, dashboard_requests};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::stats::params::from_query;

/// Proof that the request carries the ops token: `Authorization: Bearer <ops.token>`, the
/// scheme in any case (RFC 9110), compared in constant time. Without a configured token the
/// ops endpoints do not exist (404).
pub struct OpsToken;

impl FromRequest for OpsToken {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = req
            .app_data::<web::Data<AppState>>()
            .and_then(|state| state.settings.ops_token().map(str::to_owned));
        let Some(token) = token else {
            return ready(Err(ApiError::NotFound(format!("no route {}", req.path()))));
        };
        let presented = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, credentials)| credentials.trim())
            .unwrap_or_default();
        ready(
            if bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
                Ok(OpsToken)
            } else {
                Err(ApiError::Unauthorized)
            },
        )
    }
}

/// Query parameters of `POST /api/cache/warm`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WarmParams {
    /// `true` empties the cache first (default `false`).
    #[param(value_type = Option<bool>)]
    pub invalidate: Option<String>,
}

/// One warmed request as the endpoint reports it.
#[derive(Debug, Serialize)]
struct WarmedReport {
    request: String,
    status: u16,
    cache: &'static str,
    milliseconds: f64,
    bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<Warmed> for WarmedReport {
    fn from(w: Warmed) -> Self {
        let milliseconds = w.elapsed.as_secs_f64() * 1000.0;
        match w.outcome {
            Ok((status, bytes)) => Self {
                request: w.request,
                status: 200,
                cache: status.header(),
                milliseconds,
                bytes,
                error: None,
            },
            Err(e) => {
                let e = match e {
                    WarmError::NoEndpoint(path) => {
                        ApiError::NotFound(format!("no data endpoint {path}"))
                    }
                    WarmError::Param(e) => ApiError::from(e),
                    WarmError::Stats(e) => ApiError::from(e),
                };
                Self {
                    request: w.request,
                    status: e.status_code().as_u16(),
                    cache: "MISS",
                    milliseconds,
                    bytes: 0,
                    error: Some(e.to_string()),
                }
            }
        }
    }
}

/// Fills the cache with the dashboard's requests; `?invalidate=true` empties it first. Needs
/// `Authorization: Bearer <ops.token>`; without a configured token the endpoint does not exist.
#[utoipa::path(
    post,
    path = "/api/cache/warm",
    tag = "ops",
    params(WarmParams),
    security(("ops_token" = [])),
    responses(
        (status = 200, description = "What was warmed: each request with its status, cache result, duration and size"),
        (status = 400, description = "invalidate is neither true nor false", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No ops token is configured: the endpoint is off", body = ErrorBody)
    )
)]
pub async fn warm_cache(
    _token: OpsToken,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params: WarmParams = from_query(req.query_string())?;
    let invalidate = match params.invalidate.as_deref() {
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
    let warmed: Vec<WarmedReport> = state
        .cache
        .warm(&dashboard_requests(&state.settings.cache.warm_timezones))
        .await
        .into_iter()
        .map(WarmedReport::from)
        .collect();
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
