//! The data endpoints of the contract. Each handler turns the request into a cache key
//! ([`super::params::answer_key`]), asks the cache (which runs the query on a miss), and writes
//! the answer with its freshness headers.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY};
use actix_web::{HttpRequest, HttpResponse, web};
// Named only inside `#[utoipa::path]`, which does not count as a use.
#[allow(unused_imports)]
use utoipa::openapi::Object;

use crate::cache::{CacheStatus, Cached, if_none_match};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::stats::Endpoint;
use crate::stats::labels;
use crate::stats::params::{DailyParams, DataParams, GlobalSumParams, SubmissionsParams};
use crate::stats::shape::{DailyEntry, SumEntry};

pub const DATA_AS_OF: &str = "x-data-as-of";
pub const X_CACHE: &str = "x-cache";

/// The answers every data endpoint shares besides its 200, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum DataResponses {
    /// Not modified (If-None-Match matched the ETag)
    #[response(status = 304)]
    NotModified,
    /// A parameter is wrong
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// The database is unreachable or timed out
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// A data handler and its OpenAPI operation: the endpoint's doc, path, raw params struct,
/// 200 body, and any answers beyond [`DataResponses`].
macro_rules! data_handler {
    (
        $(#[doc = $doc:literal])*
        $name:ident => $endpoint:expr, $path:literal, $params:ty, $body:ty
        $(, $extra:tt)* $(,)?
    ) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            get,
            path = $path,
            tag = "data",
            params($params),
            responses(
                (status = 200, description = "The answer: JSON, or CSV with a header line (format=csv or Accept: text/csv; nested answers one row per point)",
                    content(($body = "application/json"), (String = "text/csv"))),
                $($extra,)*
                DataResponses
            )
        )]
        pub async fn $name(
            req: HttpRequest,
            state: web::Data<AppState>,
        ) -> Result<HttpResponse, ApiError> {
            answer($endpoint, &req, &state).await
        }
    };
}

data_handler! {
    /// Sums grouped by one or two dimensions and optionally a time bucket (year, month, ISO
    /// week, day, hour) in UTC or any IANA `timezone`, each UTC hour in the local period where it
    /// starts: one object per `group_by` value, with parallel arrays when `second_group_by` or
    /// `time_group` is given.
    get_data => Endpoint::GetData, "/api/get_data", DataParams, Vec<Object>,
    (status = 422, description = "The answer would hold more groups than server.max_groups (200,000 by default); narrow the request", body = ErrorBody)
}

data_handler! {
    /// Totals per year, month, ISO week, day or hour in UTC or any IANA `timezone`, ascending;
    /// months and years take legacy monthly totals from `monthly_downloads` for the months it
    /// holds, except the month still filling (that of the newest hour).
    get_global_sum => Endpoint::GlobalSum, "/api/get_global_sum", GlobalSumParams, Vec<SumEntry>
}

data_handler! {
    /// Hourly totals of one local day in any IANA time zone (default: today in UTC): one entry
    /// per started hour up to the newest hour of data, `hour` being the local start hour + 1;
    /// 23 or 25 entries on DST days.
    /// Also answered as `/api/get_todays_downloads`, the name the shipped dashboard calls.
    get_daily_downloads => Endpoint::Daily, "/api/get_daily_downloads", DailyParams, Vec<DailyEntry>
}

data_handler! {
    /// New submissions per month (default) or year, from `monthly_submissions`, ascending.
    get_submissions => Endpoint::Submissions, "/api/get_submissions", SubmissionsParams, Vec<SumEntry>
}

async fn answer(
    endpoint: Endpoint,
    req: &HttpRequest,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let key = super::params::answer_key(endpoint, req)?;
    let (cached, status) = state.cache.get(key).await?;
    Ok(respond(
        req,
        &cached,
        status,
        state.cache.data_as_of(&cached),
    ))
}

/// 200 with the body, or 304 when the client already holds this ETag.
/// `data_as_of` is the newest hour of data now (see `AnswerCache::data_as_of`).
pub fn respond(
    req: &HttpRequest,
    cached: &Cached,
    status: CacheStatus,
    data_as_of: Option<chrono::NaiveDateTime>,
) -> HttpResponse {
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
    if let Some(as_of) = data_as_of {
        response.insert_header((DATA_AS_OF, labels::utc_hour(as_of)));
    }
    if not_modified {
        return response.finish();
    }
    response
        .insert_header((CONTENT_TYPE, cached.content_type))
        .body(cached.body.clone())
}
