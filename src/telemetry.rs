//! Per-request bookkeeping done around every handler: the request id (taken from a sane
//! `X-Request-Id` or made up, echoed in the response and in the log), the request metrics, and
//! the log line of a 500 with its detail, which the client never sees.

use std::hash::{BuildHasher, RandomState};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};

use crate::error::ApiError;
use crate::metrics::Metrics;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Random per process, so that ids of several instances do not collide.
static PREFIX: LazyLock<u64> = LazyLock::new(|| RandomState::new().hash_one(std::process::id()));
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Most bytes of request headers the service reads; no legitimate client comes near.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses a request head that is larger than any legitimate one.
pub fn check_head(req: &ServiceRequest) -> Result<(), ApiError> {
    let bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge(format!(
            "the request headers are {bytes} bytes; at most {MAX_HEADER_BYTES} are read"
        )));
    }
    Ok(())
}

/// The client's id when it is short and plain, else a new one.
pub fn request_id(req: &ServiceRequest) -> HeaderValue {
    let given = req.headers().get(&REQUEST_ID).filter(|v| {
        let bytes = v.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= 64
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    });
    match given {
        Some(v) => v.clone(),
        None => {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let id = format!("{:08x}-{n:x}", *PREFIX & 0xffff_ffff);
            HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("unknown"))
        }
    }
}

/// An error answer that did not come from the service's own errors (CORS refusals of
/// actix-cors, extractor rejections) in the API's format: `{"error": "..."}`, same status.
pub fn in_api_format(
    response: ServiceResponse<actix_web::body::BoxBody>,
) -> ServiceResponse<actix_web::body::BoxBody> {
    let Some(error) = response.response().error() else {
        return response;
    };
    // A 500 keeps its error for `finish`, which logs the detail.
    if error.as_error::<ApiError>().is_some() || !response.status().is_client_error() {
        return response;
    }
    let status = response.status();
    let message = error.to_string();
    let (request, _) = response.into_parts();
    let body =
        actix_web::HttpResponse::build(status).json(crate::error::ErrorBody { error: message });
    ServiceResponse::new(request, body)
}

/// Echoes the id, counts the request, and logs the detail of an internal error with the id.
pub fn finish<B: actix_web::body::MessageBody>(
    response: &mut ServiceResponse<B>,
    request_id: &HeaderValue,
    metrics: &Metrics,
    started: Instant,
) {
    let id = request_id.to_str().unwrap_or_default();
    if response.status() == StatusCode::INTERNAL_SERVER_ERROR {
        let detail = response
            .response()
            .error()
            .and_then(|e| e.as_error::<ApiError>())
            .map(|e| match e {
                ApiError::Internal(detail) => detail.clone(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| "no detail".into());
        log::error!(
            request_id = id;
            "request {id}: {} {}: {detail}",
            response.request().method(),
            response.request().path()
        );
    }
    access_line(response, id, started);
    response
        .headers_mut()
        .insert(REQUEST_ID, request_id.clone());
    // The /stats site is public to every origin, as arXiv's is: `*`, not the echo of the
    // request's Origin that the CORS middleware writes.
    if response.request().path().starts_with("/stats/") {
        response.headers_mut().insert(
            actix_web::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    // Route patterns, not paths, keep the label set small.
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    metrics
        .http_requests
        .with_label_values(&[route.as_str(), response.status().as_str()])
        .inc();
    metrics
        .http_latency
        .with_label_values(&[route.as_str()])
        .observe(started.elapsed().as_secs_f64());
}

/// The access log line of a finished request: a short text message, and for JSON logs the
/// `httpRequest` object Cloud Logging shows as the request.
fn access_line<B: actix_web::body::MessageBody>(
    response: &ServiceResponse<B>,
    id: &str,
    started: Instant,
) {
    if !log::log_enabled!(target: "access", log::Level::Info) {
        return;
    }
    let request = response.request();
    let status = response.status().as_u16();
    let size = match response.response().body().size() {
        actix_web::body::BodySize::Sized(n) => n,
        _ => 0,
    };
    let elapsed = started.elapsed();
    let connection = request.connection_info();
    let uri = request.uri().to_string();
    let size_text = size.to_string();
    let latency = format!("{:.6}s", elapsed.as_secs_f64());
    let http_request = HttpRequestEntry {
        request_method: request.method().as_str(),
        request_url: &uri,
        status,
        response_size: &size_text,
        user_agent: request
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        remote_ip: connection.realip_remote_addr(),
        protocol: protocol(request.version()),
        latency: &latency,
    };
    log::info!(
        target: "access",
        request_id = id,
        httpRequest:serde = http_request;
        "{} {uri} {status} {size} B {:.1} ms id={id}",
        request.method(),
        elapsed.as_secs_f64() * 1000.0
    );
}

/// Cloud Logging's `httpRequest` object, borrowed from the request: one access line is
/// written per request, so it builds no JSON tree of its own.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpRequestEntry<'a> {
    request_method: &'a str,
    request_url: &'a str,
    status: u16,
    // A string, as the LogEntry format has it (int64 in JSON).
    response_size: &'a str,
    user_agent: Option<&'a str>,
    remote_ip: Option<&'a str>,
    protocol: &'static str,
    latency: &'a str,
}

fn protocol(version: actix_web::http::Version) -> &'static str {
    use actix_web::http::Version;
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}
