//! The HTTP layer's routes: one table ([`table`]) from which the router, the 404 message and
//! the OpenAPI aliases come; one file per endpoint family with thin handlers. Unknown routes
//! and wrong methods get the same JSON errors as everything else.

pub mod dashboard;
pub mod data;
pub mod docs;
pub mod health;
pub mod ops;
pub mod params;
pub mod site;

use actix_web::dev::HttpServiceFactory;
use actix_web::{FromRequest, Handler, HttpRequest, Responder, web};

use crate::error::ApiError;
use crate::stats::Endpoint;

/// What a route serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Data(Endpoint),
    Healthz,
    Readyz,
    Metrics,
    WarmCache,
}

/// One route: a path and what it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub path: &'static str,
    pub kind: Kind,
}

/// The paths of the docs, which Swagger UI serves beside the table's routes.
pub const DOCS_PATHS: [&str; 2] = ["/api/openapi.json", "/docs"];

/// Every route of the service but the docs: each data endpoint under each of its paths, then
/// the ops routes.
pub fn table() -> Vec<Route> {
    let data = Endpoint::ALL.into_iter().flat_map(|endpoint| {
        endpoint.paths().iter().map(move |path| Route {
            path,
            kind: Kind::Data(endpoint),
        })
    });
    let ops = [
        ("/api/cache/warm", Kind::WarmCache),
        ("/healthz", Kind::Healthz),
        ("/readyz", Kind::Readyz),
        ("/metrics", Kind::Metrics),
    ]
    .map(|(path, kind)| Route { path, kind });
    data.chain(ops).collect()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    site::configure(cfg);
    dashboard::configure(cfg);
    for Route { path, kind } in table() {
        match kind {
            Kind::Data(Endpoint::GetData) => cfg.service(get_only(path, data::get_data)),
            Kind::Data(Endpoint::GlobalSum) => cfg.service(get_only(path, data::get_global_sum)),
            Kind::Data(Endpoint::Daily) => cfg.service(get_only(path, data::get_daily_downloads)),
            Kind::Data(Endpoint::Submissions) => cfg.service(get_only(path, data::get_submissions)),
            Kind::Healthz => cfg.service(get_only(path, health::healthz)),
            Kind::Readyz => cfg.service(get_only(path, health::readyz)),
            Kind::Metrics => cfg.service(get_only(path, ops::metrics)),
            Kind::WarmCache => cfg.service(
                web::resource(path)
                    .route(web::post().to(ops::warm_cache))
                    .default_service(web::to(|req: HttpRequest| async move {
                        Err::<&str, _>(method_not_allowed(&req, "POST"))
                    })),
            ),
        };
    }
}

fn method_not_allowed(req: &HttpRequest, allowed: &'static str) -> ApiError {
    ApiError::MethodNotAllowed {
        method: req.method().to_string(),
        allowed,
    }
}

/// A resource answering GET and HEAD; any other method is a JSON 405.
pub(crate) fn get_only<F, Args>(path: &str, handler: F) -> impl HttpServiceFactory + use<F, Args>
where
    F: Handler<Args> + Clone,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
        .default_service(web::to(|req: HttpRequest| async move {
            Err::<&str, _>(method_not_allowed(&req, "GET, HEAD"))
        }))
}

/// The app's default service: any path no route matches, and methods other than GET on the
/// docs pages (whose routes only match GET).
pub async fn not_found(req: HttpRequest) -> Result<&'static str, ApiError> {
    let path = req.path();
    let [openapi, docs] = DOCS_PATHS;
    if path == openapi || path == docs || path.starts_with("/docs/") {
        return Err(method_not_allowed(&req, "GET"));
    }
    Err(ApiError::NotFound(format!(
        "no route {}; the API is {}",
        shorten_path(path),
        route_list()
    )))
}

/// The routes in words: `/api/get_daily_downloads (alias /api/get_todays_downloads)`, ...
fn route_list() -> String {
    let mut names: Vec<String> = Endpoint::ALL
        .into_iter()
        .map(|endpoint| match endpoint.paths() {
            [name, aliases @ ..] if !aliases.is_empty() => {
                format!("{name} (alias {})", aliases.join(", "))
            }
            paths => paths.join(", "),
        })
        .collect();
    names.extend(
        table()
            .into_iter()
            .filter(|r| !matches!(r.kind, Kind::Data(_)))
            .map(|r| r.path.to_string()),
    );
    names.extend(DOCS_PATHS.map(String::from));
    match names.split_last() {
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

fn shorten_path(path: &str) -> String {
    let mut cut: String = path.chars().take(100).collect();
    if cut.len() < path.len() {
        cut.push_str("...");
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_404_message_names_every_route() {
        assert_eq!(
            route_list(),
            "/api/get_data, /api/get_global_sum, /api/get_daily_downloads \
             (alias /api/get_todays_downloads), /api/get_submissions, /api/cache/warm, /healthz, \
             /readyz, /metrics, /api/openapi.json and /docs"
        );
    }
}
