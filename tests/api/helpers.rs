//! Test harness: a fresh database per test on SQLite, PostgreSQL or MariaDB, migrated and filled
//! through a writing connection, and the real server on port 0 reading it as production would.
//!
//! PostgreSQL and MariaDB default to the local servers (`STATS_TEST_POSTGRES_URL`,
//! `STATS_TEST_MYSQL_URL` override). Unreachable servers skip their tests with a notice, unless
//! `STATS_TEST_REQUIRE_DBS=1` (CI), where unreachable is a failure.

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{NaiveDate, NaiveDateTime};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::Value;
use stats_backend::settings::Settings;
use stats_backend::startup::Application;
use stats_backend::write::{self, HourlyRecord};

pub const TABLE: &str = "hourly_download_data";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    fn admin_url(self) -> Option<String> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(
                std::env::var("STATS_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
            ),
            Backend::MySql => Some(
                std::env::var("STATS_TEST_MYSQL_URL")
                    .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into()),
            ),
        }
    }
}

fn required() -> bool {
    std::env::var("STATS_TEST_REQUIRE_DBS").is_ok_and(|v| v == "1" || v == "true")
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The SELECT-only user the service connects as in every PostgreSQL and MariaDB test.
pub const READER: &str = "stats_reader";

/// Creates (once) the SELECT-only user, grants it SELECT on the test database `name`, and
/// returns `url` with that user.
async fn grant_select_only(
    backend: Backend,
    admin: &DatabaseConnection,
    writer: &DatabaseConnection,
    name: &str,
    url: &str,
) -> String {
    static POSTGRES: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    static MYSQL: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let created = if backend == Backend::Postgres {
        &POSTGRES
    } else {
        &MYSQL
    };
    created
        .get_or_init(|| async {
            let statements: &[&str] = match backend {
                Backend::Postgres => &["CREATE ROLE stats_reader LOGIN PASSWORD 'stats_reader'"],
                _ => &[
                    "CREATE USER IF NOT EXISTS 'stats_reader'@'%' IDENTIFIED BY 'stats_reader'",
                    "CREATE USER IF NOT EXISTS 'stats_reader'@'localhost' IDENTIFIED BY 'stats_reader'",
                ],
            };
            for statement in statements {
                // "already exists" from an earlier run is fine.
                let _ = admin.execute_unprepared(statement).await;
            }
        })
        .await;
    let grants: Vec<String> = match backend {
        Backend::Postgres => vec![
            "GRANT USAGE ON SCHEMA public TO stats_reader".into(),
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO stats_reader".into(),
            // Views a test creates later (the slow view) are readable too.
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO stats_reader"
                .into(),
        ],
        _ => vec![
            format!("GRANT SELECT ON `{name}`.* TO 'stats_reader'@'%'"),
            format!("GRANT SELECT ON `{name}`.* TO 'stats_reader'@'localhost'"),
        ],
    };
    for grant in grants {
        writer
            .execute_unprepared(&grant)
            .await
            .expect("grant SELECT");
    }
    let mut reader = url::Url::parse(url).expect("test URL");
    reader.set_username(READER).expect("user");
    reader.set_password(Some(READER)).expect("password");
    reader.to_string()
}

/// A fresh, migrated database; dropped by [`TestDb::drop_database`].
pub struct TestDb {
    pub backend: Backend,
    /// The URL of a user who may write (arranging data, the import commands).
    pub url: String,
    /// The URL of a user who may only SELECT: the service under test reads through it.
    pub reader_url: String,
    /// A writing connection, for arranging data.
    pub writer: DatabaseConnection,
    admin: Option<(DatabaseConnection, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// `None` (after printing why) when the backend is unreachable and not required.
    pub async fn create(backend: Backend) -> Option<Self> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("stats_t_{}_{n}", std::process::id());
        let (url, admin, dir) = match backend.admin_url() {
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("test.sqlite3").display()
                );
                (url, None, Some(dir))
            }
            Some(admin_url) => {
                let admin = match Database::connect(admin_url.as_str()).await {
                    Ok(db) => db,
                    Err(e) if !required() => {
                        eprintln!(
                            "NOTICE: skipping {backend:?} test: {admin_url} unreachable ({e})"
                        );
                        return None;
                    }
                    Err(e) => panic!(
                        "{backend:?} is required (STATS_TEST_REQUIRE_DBS) but unreachable at {admin_url}: {e}"
                    ),
                };
                let create = match backend {
                    Backend::MySql => format!(
                        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                    ),
                    _ => format!("CREATE DATABASE \"{name}\""),
                };
                admin
                    .execute_unprepared(&create)
                    .await
                    .expect("create test database");
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(b, _)| b)
                    .unwrap_or(&admin_url);
                (format!("{base}/{name}"), Some((admin, name)), None)
            }
        };
        let writer = Database::connect(url.as_str())
            .await
            .expect("connect to the test database");
        stats_backend::db::migrate(&writer, TABLE)
            .await
            .expect("migrate");
        let reader_url = match &admin {
            None => url.clone(),
            Some((admin, name)) => grant_select_only(backend, admin, &writer, name, &url).await,
        };
        Some(Self {
            backend,
            reader_url,
            url,
            writer,
            admin,
            _dir: dir,
        })
    }

    pub async fn insert(&self, rows: &[Row]) {
        let records: Vec<HourlyRecord<'_>> = rows.iter().map(Row::record).collect();
        write::insert_hourly(&self.writer, TABLE, &records)
            .await
            .expect("insert rows");
    }

    pub async fn insert_legacy(&self, months: &[(NaiveDate, i64)]) {
        write::upsert_monthly_downloads(&self.writer, months)
            .await
            .expect("insert legacy months");
    }

    /// Number of hourly rows and their primary sum, to check that nothing changed.
    pub async fn fingerprint(&self) -> (i64, i64) {
        let sql = format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(primary_count), 0) AS {}) FROM {TABLE}",
            if self.backend == Backend::MySql {
                "SIGNED"
            } else {
                "BIGINT"
            }
        );
        let row = self
            .writer
            .query_one_raw(sea_orm::Statement::from_string(
                self.writer.get_database_backend(),
                sql,
            ))
            .await
            .expect("fingerprint")
            .expect("one row");
        (
            row.try_get_by_index::<i64>(0).unwrap(),
            row.try_get_by_index::<i64>(1).unwrap(),
        )
    }

    pub async fn drop_database(self) {
        let _ = self.writer.close().await;
        if let Some((admin, name)) = self.admin {
            let drop = match self.backend {
                Backend::MySql => format!("DROP DATABASE IF EXISTS `{name}`"),
                _ => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            };
            if let Err(e) = admin.execute_unprepared(&drop).await {
                eprintln!("could not drop {name}: {e}");
            }
        }
    }
}

/// A hourly row owned by a test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub start: NaiveDateTime,
    pub category: String,
    pub archive: Option<String>,
    pub country: String,
    pub download_type: String,
    pub primary: Option<i32>,
    pub cross: Option<i32>,
}

impl Row {
    pub fn new(
        start: NaiveDateTime,
        category: &str,
        archive: Option<&str>,
        country: &str,
        download_type: &str,
        primary: Option<i32>,
        cross: Option<i32>,
    ) -> Self {
        Self {
            start,
            category: category.into(),
            archive: archive.map(Into::into),
            country: country.into(),
            download_type: download_type.into(),
            primary,
            cross,
        }
    }

    fn record(&self) -> HourlyRecord<'_> {
        HourlyRecord {
            start_dttm: self.start,
            category: &self.category,
            archive: self.archive.as_deref(),
            country: &self.country,
            download_type: &self.download_type,
            primary_count: self.primary,
            cross_count: self.cross,
        }
    }
}

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

pub fn dt(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("datetime literal")
}

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date literal")
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
    let app = Application::build(settings, conn).expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    Server {
        address,
        client: reqwest::Client::new(),
    }
}

pub async fn insert_submissions(db: &TestDb, months: &[(NaiveDate, i32)]) {
    write::upsert_monthly_submissions(&db.writer, months)
        .await
        .expect("insert submissions");
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

/// Declares, for each `async fn name(backend: Backend)`, one test per backend:
/// `sqlite::name`, `postgres::name`, `mysql::name`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await } )+
        }
        mod postgres {
            $( #[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Postgres).await } )+
        }
        mod mysql {
            $( #[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::MySql).await } )+
        }
    };
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

/// A TCP proxy in front of a database that a test can cut (closing every connection and
/// refusing new ones) and restore, on a fixed port.
pub struct Proxy {
    pub port: u16,
    upstream: String,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    /// A proxy on a free port, not yet accepting (the database looks down).
    pub fn down(upstream: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self {
            port,
            upstream: upstream.to_string(),
            tasks: Default::default(),
        }
    }

    /// Starts accepting and forwarding.
    pub async fn restore(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("proxy port");
        let upstream = self.upstream.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let forward = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(forward);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Closes every connection and stops accepting.
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// The reader's URL of `db` through `proxy`.
pub fn url_through(db: &TestDb, proxy: &Proxy) -> String {
    let mut url = url::Url::parse(&db.reader_url).expect("reader URL");
    url.set_host(Some("127.0.0.1")).expect("host");
    url.set_port(Some(proxy.port)).expect("port");
    url.to_string()
}

/// The local address of a backend's server.
pub fn upstream(backend: Backend) -> Option<String> {
    let url = url::Url::parse(&backend.admin_url()?).ok()?;
    Some(format!(
        "{}:{}",
        url.host_str()?,
        url.port_or_known_default().unwrap_or(match backend {
            Backend::Postgres => 5432,
            _ => 3306,
        })
    ))
}

/// A view `slow_hourly` over the hourly table that takes `seconds` to read.
pub async fn create_slow_view(db: &TestDb, seconds: u32) {
    let sql = match db.backend {
        Backend::Postgres => format!(
            "CREATE VIEW slow_hourly AS SELECT h.* FROM hourly_download_data h CROSS JOIN (SELECT pg_sleep({seconds})) AS pause"
        ),
        _ => format!(
            "CREATE VIEW slow_hourly AS SELECT h.* FROM hourly_download_data h CROSS JOIN (SELECT SLEEP({seconds}) AS s) AS pause"
        ),
    };
    db.writer
        .execute_unprepared(&sql)
        .await
        .expect("create the slow view");
}
