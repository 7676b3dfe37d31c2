//! `/healthz`, `/readyz`, CORS, and a database that is down at start and comes back.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Backend, Proxy, TestApp, TestDb, upstream, url_through};
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

async fn the_service_starts_while_the_database_is_down_and_recovers(backend: Backend) {
    if backend == Backend::Sqlite {
        return;
    }
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let proxy = Proxy::down(&upstream(backend).unwrap());
    let down = TestApp::spawn_detached(url_through(&db, &proxy), Duration::from_millis(500)).await;
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
    proxy.restore().await;
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
    db.drop_database().await;
}

backend_tests!(
    health_and_readiness_answer_when_the_database_does,
    the_dashboard_origin_may_read_the_api,
    the_service_starts_while_the_database_is_down_and_recovers,
);
