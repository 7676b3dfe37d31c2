//! Routes: one file per endpoint family, thin handlers. Unknown routes and wrong methods get
//! the same JSON errors as everything else.

pub mod data;
pub mod health;
pub mod ops;

use actix_web::dev::HttpServiceFactory;
use actix_web::{FromRequest, Handler, HttpRequest, Responder, web};

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_only("/healthz", health::healthz))
        .service(get_only("/readyz", health::readyz))
        .service(get_only("/metrics", ops::metrics))
        .service(
            web::resource("/api/cache/warm")
                .route(web::post().to(ops::warm_cache))
                .default_service(web::to(|req: HttpRequest| async move {
                    Err::<&str, _>(ApiError::MethodNotAllowed {
                        method: req.method().to_string(),
                        allowed: "POST",
                    })
                })),
        )
        .service(get_only("/api/get_data", data::get_data))
        .service(get_only("/api/get_global_sum", data::get_global_sum))
        .service(get_only(
            "/api/get_daily_downloads",
            data::get_daily_downloads,
        ))
        // The shipped dashboard calls the daily endpoint by this name.
        .service(get_only(
            "/api/get_todays_downloads",
            data::get_todays_downloads,
        ))
        .service(get_only("/api/get_submissions", data::get_submissions));
}

/// A resource answering GET and HEAD; any other method is a JSON 405.
fn get_only<F, Args>(path: &str, handler: F) -> impl HttpServiceFactory + use<F, Args>
where
    F: Handler<Args> + Clone,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
        .default_service(web::to(|req: HttpRequest| async move {
            Err::<&str, _>(ApiError::MethodNotAllowed {
                method: req.method().to_string(),
                allowed: "GET, HEAD",
            })
        }))
}

/// The app's default service: any path no route matches, and methods other than GET on the
/// docs pages (whose routes only match GET).
pub async fn not_found(req: HttpRequest) -> Result<&'static str, ApiError> {
    let path = req.path();
    if path == "/api/openapi.json" || path == "/docs" || path.starts_with("/docs/") {
        return Err(ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allowed: "GET",
        });
    }
    Err(ApiError::NotFound(format!(
        "no route {}; the API is /api/get_data, /api/get_global_sum, /api/get_daily_downloads \
         (alias /api/get_todays_downloads), /api/get_submissions, /api/cache/warm, /healthz, \
         /readyz, /metrics, /api/openapi.json and /docs",
        shorten_path(path)
    )))
}

fn shorten_path(path: &str) -> String {
    let mut cut: String = path.chars().take(100).collect();
    if cut.len() < path.len() {
        cut.push_str("...");
    }
    cut
}
