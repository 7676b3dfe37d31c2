//! `/healthz`, `/readyz`, CORS, and a database that is down at start and comes back.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::{backend_tests, spawn_or_skip};

async fn health_and_readiness_answer_when_the_database_does(backend: Backend) {
    let app = spawn_or_skip!(backend);
    assert_eq!(app.get_json("/healthz").await, json!({"status": "ok"}));
    let ready = app.get_json("/readyz").await;
    assert_eq!(ready["status"], "ready");
    app.finish().await;
}

async fn the_dashboard_origin_may_read_the_api(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let r = app
        .client
        .get(format!(
            "{}/api/get_global_sum?model=hourly&time_group=month",
            app.address
        ))
        .header("Origin", "https://dashboard.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_some());
    app.finish().await;
}

/// A forwarding proxy on a fixed port that the test can start after the service, so that
/// the service starts with its database unreachable and must recover on its own.
async fn start_proxy(listener: tokio::net::TcpListener, upstream: String) {
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
}

async fn the_service_starts_while_the_database_is_down_and_recovers(backend: Backend) {
    let (upstream, scheme) = match backend {
        Backend::Postgres => ("127.0.0.1:5432", "postgres://stats_reader:stats_reader@"),
        Backend::MySql => ("127.0.0.1:3306", "mysql://stats_reader:stats_reader@"),
        Backend::Sqlite => return,
    };
    // Reserve a port, then free it: nothing listens there until the proxy starts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.database.acquire_timeout = Duration::from_millis(500);
    })
    .await
    else {
        return;
    };
    let db_name = app.db.url.rsplit('/').next().unwrap().to_string();
    let down = TestApp::spawn_detached(
        format!("{scheme}127.0.0.1:{port}/{db_name}"),
        Duration::from_millis(500),
    )
    .await;
    let r = down.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("not answering")
    );
    let r = down
        .get("/api/get_global_sum?model=hourly&time_group=month")
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.json()["error"].is_string());
    assert_eq!(down.get("/healthz").await.status, 200);
    start_proxy(
        tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap(),
        upstream.to_string(),
    )
    .await;
    let mut ready = false;
    for _ in 0..40 {
        if down.get("/readyz").await.status == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(ready, "{backend:?}: not ready after the database came back");
    assert_eq!(
        down.get_json("/api/get_global_sum?model=hourly&time_group=month")
            .await,
        json!([])
    );
    app.finish().await;
}

backend_tests!(
    health_and_readiness_answer_when_the_database_does,
    the_dashboard_origin_may_read_the_api,
    the_service_starts_while_the_database_is_down_and_recovers,
);
