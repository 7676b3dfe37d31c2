//! From an HTTP request to the cache key: the query string is parsed once by the domain
//! ([`Query::parse`]) and the format is the `format` parameter or, failing that, what the
//! `Accept` header asks for.

use actix_web::HttpRequest;
use actix_web::http::header::ACCEPT;
use chrono::Utc;

use crate::cache::AnswerKey;
use crate::error::ApiError;
use crate::stats::vocab::Format;
use crate::stats::{Endpoint, Query};

/// The cache key a request to `endpoint` asks for.
pub fn answer_key(endpoint: Endpoint, req: &HttpRequest) -> Result<AnswerKey, ApiError> {
    let parsed = Query::parse(endpoint, req.query_string(), Utc::now())?;
    let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
    Ok(AnswerKey {
        query: parsed.query,
        format: parsed.format.unwrap_or_else(|| negotiate(accept)),
    })
}

/// CSV when an `Accept` header names `text/csv` with a non-zero quality, else JSON.
fn negotiate(accept: Option<&str>) -> Format {
    if accept.is_some_and(accepts_csv) {
        Format::Csv
    } else {
        Format::Json
    }
}

fn accepts_csv(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        media.eq_ignore_ascii_case("text/csv") && !refused
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_is_chosen_by_an_accept_header_that_does_not_refuse_it() {
        assert_eq!(negotiate(Some("text/csv")), Format::Csv);
        assert_eq!(
            negotiate(Some("application/json, text/csv;q=0.5")),
            Format::Csv
        );
        assert_eq!(
            negotiate(Some("text/csv;q=0, application/json")),
            Format::Json
        );
        assert_eq!(negotiate(None), Format::Json);
    }

    #[test]
    fn the_format_parameter_beats_the_accept_header() {
        let req = actix_web::test::TestRequest::get()
            .uri("/api/get_data?model=hourly&group_by=country&format=json")
            .insert_header((ACCEPT, "text/csv"))
            .to_http_request();
        assert_eq!(
            answer_key(Endpoint::GetData, &req).unwrap().format,
            Format::Json
        );
    }
}
