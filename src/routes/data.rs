//! The data endpoints of the contract. Each handler parses the query string into a typed query,
//! asks [`crate::stats::Stats`], and writes the answer with `X-Data-As-Of`.

use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

use crate::error::ApiError;
use crate::startup::AppState;
use crate::stats::Answer;
use crate::stats::params::{DailyQuery, DataQuery, GlobalSumQuery, RawParams};

pub const DATA_AS_OF: &str = "x-data-as-of";

/// Sums grouped by one or two dimensions and optionally a UTC time bucket.
pub async fn get_data(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = DataQuery::try_from(&RawParams::parse(req.query_string())?)?;
    Ok(respond(state.stats.get_data(&query).await?))
}

/// Totals per year, month, day or hour, with legacy monthly totals merged in.
pub async fn get_global_sum(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = GlobalSumQuery::try_from(&RawParams::parse(req.query_string())?)?;
    Ok(respond(state.stats.global_sum(&query).await?))
}

/// Hourly totals of one local day in any IANA time zone (default: today in UTC).
pub async fn get_daily_downloads(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = DailyQuery::try_from(&RawParams::parse(req.query_string())?)?;
    let now = Utc::now();
    let date = query
        .date
        .unwrap_or_else(|| now.with_timezone(&query.timezone).date_naive());
    Ok(respond(state.stats.daily(query.timezone, date, now).await?))
}

fn respond(answer: Answer) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")));
    if let Some(as_of) = answer.data_as_of {
        response.insert_header((DATA_AS_OF, as_of.format("%Y-%m-%dT%H:00:00Z").to_string()));
    }
    response.body(answer.body)
}
