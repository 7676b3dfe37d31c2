//! The real server on port 0, reading a test database as production would, and a client.

use serde_json::Value;
use stats_backend::settings::Settings;
use stats_backend::startup::Application;

use super::{Backend, TestDb};

/// Runs the `stats-backend` binary with `args` against the database at `url`, with no settings
/// files and quiet logs.
pub fn run_cli(url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_stats-backend"))
        .args(args)
        .env("DATABASE_URI", url)
        .env(
            "STATS_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .env("RUST_LOG", "warn")
        .output()
        .expect("run stats-backend")
}

/// A running server and a client for it.
pub struct Server {
    pub address: String,
    pub client: reqwest::Client,
}

/// The real server, reading the test database through its own read-only pool.
pub struct TestApp {
    pub server: Server,
    pub db: TestDb,
}

impl std::ops::Deref for TestApp {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.server
    }
}

pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Settings of a test server on `url`: loopback, a free port, one worker, a small pool.
pub fn test_settings(url: String) -> Settings {
    let mut settings = Settings::builtin().expect("built-in settings");
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.server.workers = 1;
    settings.database.url = Some(url.into());
    settings.database.max_connections = 4;
    settings
}

/// Starts the service with `settings` and returns its address.
pub async fn start(settings: Settings) -> Server {
    let conn = stats_backend::cli::prepare_database(&settings)
        .await
        .expect("prepare database");
    let app = Application::build(settings, conn).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    Server {
        address,
        client: reqwest::Client::new(),
    }
}

/// The service on an existing test database.
pub async fn start_on(db: &TestDb) -> Server {
    start(test_settings(db.reader_url.clone())).await
}

impl TestApp {
    /// Starts the server on a fresh database; `None` when the backend is skipped.
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Option<Self> {
        let db = TestDb::create(backend).await?;
        let mut settings = test_settings(db.reader_url.clone());
        tweak(&mut settings);
        Some(Self {
            server: start(settings).await,
            db,
        })
    }

    /// A server on any database URL, reachable or not.
    pub async fn spawn_detached(url: String, acquire_timeout: std::time::Duration) -> Server {
        let mut settings = test_settings(url);
        settings.database.acquire_timeout = acquire_timeout;
        start(settings).await
    }

    pub async fn finish(self) {
        self.db.drop_database().await;
    }
}

impl Server {
    pub async fn request(&self, method: reqwest::Method, path_and_query: &str) -> Response {
        let response = self
            .client
            .request(method, format!("{}{}", self.address, path_and_query))
            .send()
            .await
            .expect("request");
        Response {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.expect("body"),
        }
    }

    pub async fn get(&self, path_and_query: &str) -> Response {
        self.request(reqwest::Method::GET, path_and_query).await
    }

    /// GET that must answer 200 with JSON.
    pub async fn get_json(&self, path_and_query: &str) -> Value {
        let r = self.get(path_and_query).await;
        assert_eq!(r.status, 200, "GET {path_and_query}: {}", r.body);
        r.json()
    }
}

/// `Some(app)` or return from the test (the backend is skipped).
#[macro_export]
macro_rules! spawn_or_skip {
    ($backend:expr) => {
        match $crate::helpers::TestApp::spawn($backend).await {
            Some(app) => app,
            None => return,
        }
    };
    ($backend:expr, $tweak:expr) => {
        match $crate::helpers::TestApp::spawn_with($backend, $tweak).await {
            Some(app) => app,
            None => return,
        }
    };
}
