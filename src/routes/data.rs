//! The data endpoints of the contract. Each handler parses the query string into a normalized
//! [`Query`], asks the cache (which runs the query on a miss), and writes the answer with its
//! freshness headers.

use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

use crate::cache::{AnswerKey, CacheStatus, Cached, if_none_match};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::stats::params::{
    DailyParams, DataParams, Format, GlobalSumParams, RawParams, SubmissionsParams,
};
use crate::stats::shape::{DailyEntry, SumEntry};
use crate::stats::{Endpoint, Query};
#[allow(unused_imports)]
use utoipa::openapi::Object;

pub const DATA_AS_OF: &str = "x-data-as-of";
pub const X_CACHE: &str = "x-cache";

/// Sums grouped by one or two dimensions and optionally a UTC time bucket: one object per
/// `group_by` value, with parallel arrays when `second_group_by` or `time_group` is given.
#[utoipa::path(
    get,
    path = "/api/get_data",
    tag = "data",
    params(DataParams),
    responses(
        (status = 200, description = "The answer (JSON, or CSV with format=csv / Accept: text/csv)", body = Vec<Object>),
        (status = 304, description = "Not modified (If-None-Match matched the ETag)"),
        (status = 400, description = "A parameter is wrong", body = crate::openapi::ErrorBody),
        (status = 422, description = "The answer would hold more groups than server.max_groups (200,000 by default); narrow the request", body = crate::openapi::ErrorBody),
        (status = 503, description = "The database is unreachable or timed out", body = crate::openapi::ErrorBody)
    )
)]
pub async fn get_data(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    answer(Endpoint::GetData, &req, &state).await
}

/// Totals per year, month, day or hour, ascending; months and years take legacy monthly totals
/// from `monthly_downloads` for the months it holds.
#[utoipa::path(
    get,
    path = "/api/get_global_sum",
    tag = "data",
    params(GlobalSumParams),
    responses(
        (status = 200, description = "The answer (JSON, or CSV with format=csv / Accept: text/csv)", body = Vec<SumEntry>),
        (status = 304, description = "Not modified (If-None-Match matched the ETag)"),
        (status = 400, description = "A parameter is wrong", body = crate::openapi::ErrorBody),
        (status = 503, description = "The database is unreachable or timed out", body = crate::openapi::ErrorBody)
    )
)]
pub async fn get_global_sum(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    answer(Endpoint::GlobalSum, &req, &state).await
}

/// Hourly totals of one local day in any IANA time zone (default: today in UTC): one entry per
/// started hour, `hour` being the local start hour + 1; 23 or 25 entries on DST days.
#[utoipa::path(
    get,
    path = "/api/get_daily_downloads",
    tag = "data",
    params(DailyParams),
    responses(
        (status = 200, description = "The answer (JSON, or CSV with format=csv / Accept: text/csv)", body = Vec<DailyEntry>),
        (status = 304, description = "Not modified (If-None-Match matched the ETag)"),
        (status = 400, description = "A parameter is wrong", body = crate::openapi::ErrorBody),
        (status = 503, description = "The database is unreachable or timed out", body = crate::openapi::ErrorBody)
    )
)]
pub async fn get_daily_downloads(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    answer(Endpoint::Daily, &req, &state).await
}

async fn answer(
    endpoint: Endpoint,
    req: &HttpRequest,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let key = AnswerKey {
        query: Query::parse(endpoint, req.query_string(), Utc::now())?,
        format: Format::negotiate(
            &RawParams::parse(req.query_string())?,
            req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()),
        )?,
    };
    let (cached, status) = state.cache.get(key).await?;
    Ok(respond(req, &cached, status))
}

/// The daily endpoint under the name the shipped dashboard calls.
#[utoipa::path(
    get,
    path = "/api/get_todays_downloads",
    tag = "data",
    params(DailyParams),
    responses(
        (status = 200, description = "The answer (JSON, or CSV with format=csv / Accept: text/csv)", body = Vec<DailyEntry>),
        (status = 304, description = "Not modified (If-None-Match matched the ETag)"),
        (status = 400, description = "A parameter is wrong", body = crate::openapi::ErrorBody),
        (status = 503, description = "The database is unreachable or timed out", body = crate::openapi::ErrorBody)
    )
)]
pub async fn get_todays_downloads(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    answer(Endpoint::Daily, &req, &state).await
}

/// New submissions per month (default) or year, from `monthly_submissions`, ascending.
#[utoipa::path(
    get,
    path = "/api/get_submissions",
    tag = "data",
    params(SubmissionsParams),
    responses(
        (status = 200, description = "The answer (JSON, or CSV with format=csv / Accept: text/csv)", body = Vec<SumEntry>),
        (status = 304, description = "Not modified (If-None-Match matched the ETag)"),
        (status = 400, description = "A parameter is wrong", body = crate::openapi::ErrorBody),
        (status = 503, description = "The database is unreachable or timed out", body = crate::openapi::ErrorBody)
    )
)]
pub async fn get_submissions(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    answer(Endpoint::Submissions, &req, &state).await
}

/// 200 with the body, or 304 when the client already holds this ETag.
pub fn respond(req: &HttpRequest, cached: &Cached, status: CacheStatus) -> HttpResponse {
    let not_modified = req
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| if_none_match(v, &cached.etag));
    let mut response = HttpResponse::build(if not_modified {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    });
    response
        .insert_header((ETAG, cached.etag.as_str()))
        .insert_header((
            CACHE_CONTROL,
            format!("public, max-age={}", cached.remaining().as_secs()),
        ))
        .insert_header((X_CACHE, status.header()))
        // The body depends on Accept (JSON or CSV): shared caches must key on it.
        .append_header((VARY, "Accept"));
    if let Some(as_of) = cached.data_as_of {
        response.insert_header((DATA_AS_OF, as_of.format("%Y-%m-%dT%H:00:00Z").to_string()));
    }
    if not_modified {
        return response.finish();
    }
    response
        .insert_header((CONTENT_TYPE, cached.content_type))
        .body(cached.body.clone())
}
