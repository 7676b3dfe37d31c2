//! The `/stats` site: arXiv's four pages and three CSV endpoints, through the same cache, ETag
//! and freshness rules as the API, with the CDN headers arXiv's own service sends (but a
//! lifetime that ends with the data rather than a year).

use actix_web::http::StatusCode;
use actix_web::http::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_TYPE, HeaderName, HeaderValue, VARY,
};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::Utc;

use crate::cache::AnswerKey;
use crate::error::{ApiError, ErrorBody};
use crate::settings::Settings;
use crate::state::AppState;
use crate::stats::Query;
use crate::stats::pages::error_page;
use crate::stats::site::{DayParams, LatestHourParams, SiteConfig, SitePath, SiteQuery};
use crate::stats::vocab::Format;

pub const SURROGATE_CONTROL: HeaderName = HeaderName::from_static("surrogate-control");
pub const SURROGATE_KEY: HeaderName = HeaderName::from_static("surrogate-key");

/// The site's settings as the domain takes them.
pub fn config(settings: &Settings) -> SiteConfig {
    SiteConfig {
        tz: settings.site.tz(),
        requests_source: settings.site.requests_source,
        deleted_submissions: settings.site.deleted_submissions,
        migrated_submissions: settings.site.migrated_submissions,
        start_date: settings.site.start_date,
    }
}

/// A CSV endpoint of the site and its OpenAPI operation.
macro_rules! csv_handler {
    ($(#[doc = $doc:literal])* $name:ident => $site:expr, $path:literal, $params:ty) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            get,
            path = $path,
            tag = "stats",
            params($params),
            responses(
                (status = 200, description = "arXiv's CSV: a header line, CRLF after every line", content((String = "text/csv"))),
                (status = 304, description = "Not modified (If-None-Match matched the ETag)"),
                (status = 400, description = "A parameter is wrong", body = ErrorBody),
                (status = 503, description = "The database is unreachable or timed out", body = ErrorBody),
            )
        )]
        pub async fn $name(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
            answer($site, &req, &state).await
        }
    };
}

csv_handler! {
    /// Edge requests of `site.requests_source` per hour of one local day (`site.timezone`),
    /// ascending, hours written `YYYY-MM-DD HH:MM:SS±HH:MM`; hours without a row are absent.
    get_hourly_requests => SitePath::HourlyRequestsCsv, "/stats/get_hourly_requests", DayParams
}

csv_handler! {
    /// Monthly downloads through a local hour: every `monthly_downloads` month before the UTC
    /// month of `latest_hour`, then that month summed from its hourly rows through that hour.
    get_monthly_downloads => SitePath::MonthlyDownloadsCsv, "/stats/get_monthly_downloads", LatestHourParams
}

csv_handler! {
    /// Every `monthly_submissions` row, ascending.
    get_monthly_submissions => SitePath::MonthlySubmissionsCsv, "/stats/get_monthly_submissions", NoDocParams
}

/// `/stats/get_monthly_submissions` takes no parameter.
#[derive(utoipa::IntoParams)]
#[allow(dead_code)]
pub struct NoDocParams {}

/// Every route of the site, GET and HEAD; other methods 405 with `Allow`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::get_only(
        SitePath::HourlyRequestsCsv.path(),
        get_hourly_requests,
    ));
    cfg.service(super::get_only(
        SitePath::MonthlyDownloadsCsv.path(),
        get_monthly_downloads,
    ));
    cfg.service(super::get_only(
        SitePath::MonthlySubmissionsCsv.path(),
        get_monthly_submissions,
    ));
    for path in SitePath::ALL.into_iter().filter(|p| !p.is_csv()) {
        cfg.service(super::get_only(
            path.path(),
            move |req: HttpRequest, state: web::Data<AppState>| async move {
                answer(path, &req, &state).await
            },
        ));
    }
    for path in [crate::stats::pages::FAVICON_PATH, "/favicon.ico"] {
        cfg.service(super::get_only(path, favicon));
    }
    cfg.service(web::redirect("/stats", "/stats/main"));
    cfg.service(web::redirect("/stats/", "/stats/main"));
    cfg.service(
        web::resource("/stats/{rest:.*}")
            .route(web::get().to(not_found))
            .route(web::head().to(not_found))
            .default_service(web::to(not_found)),
    );
}

async fn answer(path: SitePath, req: &HttpRequest, state: &AppState) -> HttpResponse {
    match cached(path, req, state).await {
        Ok(response) => response,
        Err(e) => refuse(path, e),
    }
}

async fn cached(
    path: SitePath,
    req: &HttpRequest,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let query = SiteQuery::parse(
        path,
        req.query_string(),
        Utc::now(),
        config(&state.settings),
    )?;
    // A site answer says itself whether it is a page or CSV; the key's format is not used.
    let key = AnswerKey {
        query: Query::Site(query),
        format: Format::Csv,
    };
    let (cached, status) = state.cache.get(key).await?;
    let mut response = super::data::respond(req, &cached, status, state.cache.data_as_of(&cached));
    let headers = response.headers_mut();
    // The body does not depend on Accept here.
    headers.remove(VARY);
    if let Ok(value) = HeaderValue::from_str(&format!("max-age={}", cached.remaining().as_secs())) {
        headers.insert(SURROGATE_CONTROL, value);
    }
    headers.insert(
        SURROGATE_KEY,
        HeaderValue::from_static(path.surrogate_key()),
    );
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    Ok(response)
}

/// A refusal: the API's JSON for the CSV endpoints, a page saying the same for the pages. A 500
/// stays the API's error, so that its detail is logged with the request id.
fn refuse(path: SitePath, error: ApiError) -> HttpResponse {
    let status = error.status_code();
    if path.is_csv() || status == StatusCode::INTERNAL_SERVER_ERROR {
        return error.error_response();
    }
    html(status, &error.to_string())
}

fn html(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(error_page(status.as_u16(), message))
}

async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "image/svg+xml"))
        .insert_header((
            actix_web::http::header::CACHE_CONTROL,
            "public, max-age=86400",
        ))
        .body(crate::stats::pages::FAVICON)
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    let listed: Vec<&str> = SitePath::ALL.iter().map(|p| p.path()).collect();
    html(
        StatusCode::NOT_FOUND,
        &format!(
            "There is no page {}. The statistics pages are {}.",
            req.path().chars().take(100).collect::<String>(),
            listed.join(", ")
        ),
    )
}
