//! Deployment concerns: the OpenAPI document and the offline docs page, unix-socket database
//! URLs, and graceful shutdown of the real binary on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{Backend, Row, TestApp, TestDb, dt};
use crate::{backend_tests, spawn_or_skip};

/// The names of a raw params struct, which both parses a route's query string and documents it.
fn names_of<P: utoipa::IntoParams>() -> Vec<String> {
    P::into_params(|| None)
        .into_iter()
        .map(|p| p.name)
        .collect()
}

/// Every route of the service (from the route table) with its method and the parameters its
/// raw params struct reads, and the two docs routes.
fn routes() -> Vec<(String, &'static str, Vec<String>)> {
    use stats_backend::routes::{Kind, table};
    use stats_backend::stats::Endpoint;
    use stats_backend::stats::params::{
        DailyParams, DataParams, GlobalSumParams, SubmissionsParams,
    };
    let mut routes: Vec<(String, &'static str, Vec<String>)> = table()
        .into_iter()
        .map(|route| {
            let (method, params) = match route.kind {
                Kind::Data(Endpoint::GetData) => ("get", names_of::<DataParams>()),
                Kind::Data(Endpoint::GlobalSum) => ("get", names_of::<GlobalSumParams>()),
                Kind::Data(Endpoint::Daily) => ("get", names_of::<DailyParams>()),
                Kind::Data(Endpoint::Submissions) => ("get", names_of::<SubmissionsParams>()),
                Kind::WarmCache => ("post", names_of::<stats_backend::routes::ops::WarmParams>()),
                Kind::Healthz | Kind::Readyz | Kind::Metrics => ("get", vec![]),
            };
            (route.path.to_string(), method, params)
        })
        .collect();
    routes.push(("/api/openapi.json".into(), "get", vec![]));
    routes.push(("/docs/".into(), "get", vec![]));
    // The site's CSV endpoints (its pages are HTML and not in the document).
    use stats_backend::stats::site::{DayParams, LatestHourParams};
    routes.push((
        "/stats/get_hourly_requests".into(),
        "get",
        names_of::<DayParams>(),
    ));
    routes.push((
        "/stats/get_monthly_downloads".into(),
        "get",
        names_of::<LatestHourParams>(),
    ));
    routes.push(("/stats/get_monthly_submissions".into(), "get", vec![]));
    routes
}

async fn the_openapi_document_lists_every_route_and_parameter(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let doc = app.get_json("/api/openapi.json").await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    let routes = routes();
    assert_eq!(
        paths.len(),
        routes.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    assert!(
        routes
            .iter()
            // 13 since issue 15 added `timezone`.
            .any(|(path, _, params)| path == "/api/get_data" && params.len() == 13)
    );
    for (path, method, params) in &routes {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} missing");
        let names: Vec<&str> = operation["parameters"]
            .as_array()
            .map(|ps| ps.iter().map(|p| p["name"].as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(names, *params, "{path}");
        assert!(operation["responses"]["200"].is_object(), "{path}");
    }
    let group_by = doc["paths"]["/api/get_data"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "group_by")
        .unwrap()
        .clone();
    assert_eq!(group_by["required"], true);
    assert_eq!(
        group_by["schema"]["enum"],
        serde_json::json!(["country", "download_type", "archive", "category"])
    );
    app.finish().await;
}

/// `src="..."` and `href="..."` values of a page.
fn asset_links(html: &str) -> Vec<String> {
    let mut links = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for piece in html.split(attribute).skip(1) {
            if let Some(end) = piece.find('"') {
                links.push(piece[..end].to_string());
            }
        }
    }
    links
}

async fn the_docs_page_loads_with_all_its_assets_from_the_service(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let page = app.get("/docs").await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let links = asset_links(&page.body);
    assert!(links.len() >= 3, "{links:?}");
    let mut scripts = 0;
    for link in links {
        assert!(!link.contains("//"), "an asset from elsewhere: {link}");
        let asset = app
            .get(&format!("/docs/{}", link.trim_start_matches("./")))
            .await;
        assert_eq!(asset.status, 200, "{link}");
        assert!(!asset.body.is_empty(), "{link}");
        if link.ends_with(".js") {
            scripts += 1;
        }
    }
    assert!(scripts >= 2);
    let initializer = app.get("/docs/swagger-initializer.js").await;
    assert!(
        initializer.body.contains("/api/openapi.json"),
        "{}",
        initializer.body
    );
    app.finish().await;
}

/// The URL of `db` over the local server's unix socket, if that socket exists.
fn socket_url(db: &TestDb) -> Option<String> {
    let name = db.url.rsplit('/').next().unwrap();
    let (path, url) = match db.backend {
        Backend::Postgres => {
            let dir = std::env::var("STATS_TEST_PG_SOCKET_DIR")
                .unwrap_or_else(|_| "/var/run/postgresql".into());
            (
                format!("{dir}/.s.PGSQL.5432"),
                format!(
                    "postgresql+pg8000://stats_reader:stats_reader@/{name}?unix_sock={dir}/.s.PGSQL.5432"
                ),
            )
        }
        Backend::MySql => {
            let socket = std::env::var("STATS_TEST_MYSQL_SOCKET")
                .unwrap_or_else(|_| "/run/mysqld/mysqld.sock".into());
            (
                socket.clone(),
                format!("mysql+pymysql://stats_reader:stats_reader@/{name}?unix_socket={socket}"),
            )
        }
        Backend::Sqlite => return None,
    };
    if std::path::Path::new(&path).exists() {
        Some(url)
    } else if std::env::var("STATS_TEST_REQUIRE_DBS").is_ok_and(|v| v == "1") {
        panic!("{path} is missing");
    } else {
        eprintln!("NOTICE: skipping the socket test: {path} is missing");
        None
    }
}

async fn unix_socket_urls_connect(backend: Backend) {
    if backend == Backend::Sqlite {
        return;
    }
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    db.insert(&[Row::at(dt("2026-03-01 10:00:00"))
        .country("germany")
        .primary(12)
        .cross(3)])
        .await;
    let Some(url) = socket_url(&db) else { return };
    let server = TestApp::spawn_detached(url.clone(), Duration::from_secs(2)).await;
    assert_eq!(server.get_json("/readyz").await["status"], "ready", "{url}");
    assert_eq!(
        server
            .get_json("/api/get_data?model=hourly&group_by=country")
            .await,
        serde_json::json!([{"country": "Germany", "data": 12}])
    );
    db.drop_database().await;
}

async fn sigterm_lets_a_slow_request_finish_and_exits_zero(backend: Backend) {
    if backend == Backend::Sqlite {
        return;
    }
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    db.insert(&[Row::at(dt("2026-03-01 10:00:00"))
        .country("germany")
        .primary(12)
        .cross(3)])
        .await;
    crate::helpers::create_slow_view(&db, 2).await;
    let (mut child, base) = serve_binary(
        &db.reader_url,
        &[
            ("STATS__DATABASE__TABLE", "slow_hourly"),
            ("STATS__SERVER__SHUTDOWN_TIMEOUT", "20s"),
            ("RUST_LOG", "warn"),
        ],
        false,
    )
    .await;
    let client = reqwest::Client::new();
    let slow = tokio::spawn({
        let client = client.clone();
        let url = format!("{base}/api/get_data?model=hourly&group_by=country");
        async move {
            let sent = Instant::now();
            let r = client.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap(), sent.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (status, body, took) = slow.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        took > Duration::from_millis(1500),
        "the request was not in flight at SIGTERM: {took:?}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        serde_json::json!([{"country": "Germany", "data": 12}])
    );
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{backend:?}: exit status {exit}");
    assert!(
        client.get(format!("{base}/healthz")).send().await.is_err(),
        "still accepting after SIGTERM"
    );
    db.drop_database().await;
}

/// The service binary on a free port over `url`, with one worker, the repository's settings and
/// `env`; `RUST_LOG` is left to `env` (the service's own level otherwise); standard error is
/// piped when `capture`. Returns once `/healthz` answers.
async fn serve_binary(
    url: &str,
    env: &[(&str, &str)],
    capture: bool,
) -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_stats-backend"));
    command
        .env("DATABASE_URI", url)
        .env("PORT", port.to_string())
        .env("STATS__SERVER__WORKERS", "1")
        .env(
            "STATS_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdout(Stdio::null());
    if capture {
        command.stderr(Stdio::piped());
    }
    let child = command.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the service did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, base)
}

/// With `log.format = "json"`, every line the service writes to standard error is one JSON
/// object with Cloud Logging's fields; an access line carries the request id and `httpRequest`.
async fn json_logs_are_one_object_per_line_with_cloud_logging_fields(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    db.insert(&[Row::at(dt("2026-03-01 10:00:00")).primary(7)])
        .await;
    let (mut child, base) =
        serve_binary(&db.reader_url, &[("STATS__LOG__FORMAT", "json")], true).await;
    let client = reqwest::Client::new();
    let answer = client
        .get(format!("{base}/api/get_data?model=hourly&group_by=archive"))
        .header("X-Request-Id", "json-log-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let refused = client
        .get(format!("{base}/api/get_data?model=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::task::spawn_blocking(move || {
        let _ = child.wait();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut text).unwrap();
        text
    })
    .await
    .unwrap();
    let lines: Vec<Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(lines.len() >= 3, "{output}");
    for line in &lines {
        for field in ["severity", "message", "time"] {
            assert!(line[field].is_string(), "no {field}: {line}");
        }
        assert!(
            chrono::DateTime::parse_from_rfc3339(line["time"].as_str().unwrap()).is_ok(),
            "{line}"
        );
        assert!(
            !line["message"].as_str().unwrap().contains("Some("),
            "a Debug dump in a log line: {line}"
        );
    }
    let access = lines
        .iter()
        .find(|l| l["logging.googleapis.com/labels"]["request_id"] == "json-log-test-1")
        .unwrap_or_else(|| panic!("no access line with the request id: {output}"));
    assert_eq!(access["severity"], "INFO");
    assert_eq!(access["httpRequest"]["requestMethod"], "GET");
    assert_eq!(access["httpRequest"]["status"], 200);
    assert_eq!(
        access["httpRequest"]["requestUrl"],
        "/api/get_data?model=hourly&group_by=archive"
    );
    assert!(
        access["httpRequest"]["latency"]
            .as_str()
            .unwrap()
            .ends_with('s')
    );
    assert!(
        lines.iter().any(|l| l["httpRequest"]["status"] == 400),
        "no access line of the refusal: {output}"
    );
    // Migrations and PostgreSQL's notices stay below info.
    assert!(
        !output.contains("already exists") && !output.contains("Applying migration"),
        "{output}"
    );
    db.drop_database().await;
}

backend_tests!(
    json_logs_are_one_object_per_line_with_cloud_logging_fields,
    the_openapi_document_lists_every_route_and_parameter,
    the_docs_page_loads_with_all_its_assets_from_the_service,
    unix_socket_urls_connect,
    sigterm_lets_a_slow_request_finish_and_exits_zero,
);
