//! Builds the application (routes, middleware, state) over a database connection it is given,
//! and binds the listener.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use sea_orm::DatabaseConnection;

use actix_web::dev::Service;
use utoipa::OpenApi;

use crate::cache::{AnswerCache, dashboard_requests};
use crate::metrics::Metrics;
use crate::routes;
use crate::settings::{CorsSettings, Settings};
use crate::state::AppState;
use crate::stats::Stats;
use crate::stats::probe::Fingerprint;
use crate::stats::repo::Repository;

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    /// The probe's first reading, taken before the server started accepting.
    first_probe: Option<Fingerprint>,
}

/// Binds `server.host:server.port`; the error names the address (a port in use, say).
pub fn bind(settings: &Settings) -> std::io::Result<TcpListener> {
    let (host, port) = (settings.server.host.as_str(), settings.server.port);
    TcpListener::bind((host, port)).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {host}:{port} (server.port, PORT): {e}"),
        )
    })
}

impl Application {
    /// Binds `server.host:server.port` (port 0: any free port) and builds the server.
    pub async fn build(settings: Settings, db: DatabaseConnection) -> std::io::Result<Self> {
        let listener = bind(&settings)?;
        Self::build_on(listener, settings, db).await
    }

    /// Builds the server on a listener bound by [`bind`].
    pub async fn build_on(
        listener: TcpListener,
        settings: Settings,
        db: DatabaseConnection,
    ) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        let metrics = Arc::new(Metrics::new().map_err(std::io::Error::other)?);
        let repository = Repository::new(db, settings.database.table.clone())
            .with_metrics(metrics.clone())
            .with_deadline(
                settings.database.statement_timeout
                    + settings.database.acquire_timeout
                    + std::time::Duration::from_secs(1),
            );
        let state = web::Data::new(AppState {
            cache: AnswerCache::new(
                Stats::new(repository).with_max_groups(settings.server.max_groups),
                settings.cache.clone(),
                metrics.clone(),
            ),
            metrics,
            settings: Arc::new(settings.clone()),
        });
        let cors_settings = settings.cors.clone();
        let app_state = state.clone();
        let openapi = routes::docs::ApiDoc::openapi();
        let mut server = HttpServer::new(move || {
            let metrics = app_state.metrics.clone();
            App::new()
                .app_data(app_state.clone())
                .wrap(cors(&cors_settings))
                .wrap_fn(move |req, srv| {
                    let started = std::time::Instant::now();
                    let metrics = metrics.clone();
                    let request_id = crate::telemetry::request_id(&req);
                    let response = match crate::telemetry::check_head(&req) {
                        Ok(()) => futures_util::future::Either::Left(srv.call(req)),
                        Err(e) => futures_util::future::Either::Right(std::future::ready(Ok(req
                            .error_response(e)
                            .map_into_right_body()))),
                    };
                    async move {
                        let mut response =
                            crate::telemetry::in_api_format(response.await?.map_into_boxed_body());
                        crate::telemetry::finish(&mut response, &request_id, &metrics, started);
                        Ok(response)
                    }
                })
                .configure(routes::configure)
                .service(routes::docs::docs_service(openapi.clone()))
                .service(web::redirect("/docs", "/docs/"))
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)?
        .shutdown_timeout(settings.server.shutdown_timeout.as_secs())
        .client_request_timeout(settings.server.client_request_timeout);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        log::info!("listening on {}:{port}", settings.server.host);
        // The first probe fixes the rollup cutoff before the first request is accepted (until
        // then connections wait in the listener's backlog), so that a fresh instance answers it
        // from the rollups rather than by scanning the hourly table. Bounded: with the database
        // down the service starts anyway and answers 503 until it is back.
        let database = &state.settings.database;
        let first_probe = tokio::time::timeout(
            database.acquire_timeout + database.statement_timeout.min(Duration::from_secs(5)),
            state.cache.probe_once(),
        )
        .await
        .ok()
        .flatten();
        Ok(Self {
            port,
            server: server.run(),
            state,
            first_probe,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then lets requests in flight finish.
    /// The freshness probe and, if configured, the warm-up run beside the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let probe = tokio::spawn(self.state.cache.clone().probe_forever(self.first_probe));
        if self.state.settings.cache.warm_on_start {
            let state = self.state.clone();
            tokio::spawn(async move {
                let warmed = state
                    .cache
                    .warm(&dashboard_requests(&state.settings.cache.warm_timezones))
                    .await;
                let failed = warmed.iter().filter(|w| w.outcome.is_err()).count();
                log::info!(
                    "warmed {} dashboard answers ({failed} failed)",
                    warmed.len()
                );
            });
        }
        let result = self.server.await;
        probe.abort();
        result
    }
}

fn cors(settings: &CorsSettings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "HEAD", "OPTIONS"])
        // A dashboard sends X-Request-Id, If-None-Match, Accept and the like; the API reads no
        // header that a page could abuse, so a preflight may ask for any.
        .allow_any_header()
        .expose_headers(["x-data-as-of", "etag", "x-cache", "x-request-id"])
        .max_age(3600);
    // arXiv's statistics pages and CSV are public to every origin, whatever the API allows.
    // Only added when the API is not public already: actix-cors then checks the functions
    // alone, so with "*" it would shut the API out.
    if !settings.allowed_origins.iter().any(|o| o == "*") {
        cors = cors.allowed_origin_fn(|_, head| head.uri.path().starts_with("/stats/"));
    }
    for origin in &settings.allowed_origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}
