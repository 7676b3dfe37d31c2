//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and the
//! parameter types, served at `/api/openapi.json`; and the docs page at `/docs` (Swagger UI,
//! its assets built into the binary, so it works with no internet).

use utoipa::openapi::ResponseBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ErrorBody;
use crate::routes::{self, Kind};
use crate::stats::shape::{DailyEntry, SumEntry};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "stats-backend",
        description = "arXiv's public download statistics: downloads per hour by country, category, \
                       archive and download type; monthly totals back to 1994; monthly submissions."
    ),
    paths(
        routes::data::get_data,
        routes::data::get_global_sum,
        routes::data::get_daily_downloads,
        routes::data::get_submissions,
        routes::health::healthz,
        routes::health::readyz,
        routes::ops::metrics,
        routes::ops::warm_cache,
        routes::site::get_hourly_requests,
        routes::site::get_monthly_downloads,
        routes::site::get_monthly_submissions,
    ),
    components(schemas(ErrorBody, SumEntry, DailyEntry)),
    modifiers(&BearerAuth, &Aliases),
    tags(
        (name = "data", description = "The statistics"),
        (name = "ops", description = "Health, metrics and the cache"),
        (name = "stats", description = "arXiv's statistics CSV (the /stats pages are HTML and not listed)")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "ops_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // Served by the Swagger UI service rather than by annotated handlers.
        let page = |summary: &str, description: &str| {
            OperationBuilder::new()
                .tag("ops")
                .summary(Some(summary))
                .response("200", ResponseBuilder::new().description(description))
                .build()
        };
        openapi.paths.add_path_operation(
            "/api/openapi.json",
            vec![HttpMethod::Get],
            page("This OpenAPI 3.1 document", "The document, JSON"),
        );
        openapi.paths.add_path_operation(
            "/docs/",
            vec![HttpMethod::Get],
            page(
                "Interactive API docs (Swagger UI, no internet needed)",
                "An HTML page",
            ),
        );
    }
}

/// The route table's other paths of an endpoint, documented as the endpoint's first path.
struct Aliases;

impl Modify for Aliases {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for route in routes::table() {
            let Kind::Data(endpoint) = route.kind else {
                continue;
            };
            let Some(name) = endpoint.paths().first().copied() else {
                continue;
            };
            if route.path == name {
                continue;
            }
            if let Some(item) = openapi.paths.paths.get(name).cloned() {
                openapi.paths.paths.insert(route.path.to_string(), item);
            }
        }
    }
}

/// `/api/openapi.json` and the docs page under `/docs/`.
pub fn docs_service(openapi: utoipa::openapi::OpenApi) -> SwaggerUi {
    SwaggerUi::new("/docs/{_:.*}").url("/api/openapi.json", openapi)
}
