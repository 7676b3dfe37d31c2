//! Test databases: a fresh one per test on SQLite, PostgreSQL or MariaDB, migrated and filled
//! through a writing connection, with a SELECT-only user for the service under test.
//!
//! PostgreSQL and MariaDB default to the local servers (`STATS_TEST_POSTGRES_URL`,
//! `STATS_TEST_MYSQL_URL` override).

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use stats_backend::write::{self, HourlyRecord};

use super::Row;

pub const TABLE: &str = "hourly_download_data";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::MySql];

    /// The name in test paths: `module::sqlite::test`.
    pub fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }

    /// The variable that points the tests at another server.
    pub fn url_variable(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some("STATS_TEST_POSTGRES_URL"),
            Backend::MySql => Some("STATS_TEST_MYSQL_URL"),
        }
    }

    pub(crate) fn admin_url(self) -> Option<String> {
        let default = match self {
            Backend::Sqlite => return None,
            Backend::Postgres => "postgres://postgres@127.0.0.1:5432/test",
            Backend::MySql => "mysql://root@127.0.0.1:3306/test",
        };
        Some(std::env::var(self.url_variable()?).unwrap_or_else(|_| default.into()))
    }
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
                    Err(e) if !super::harness::required() => {
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

pub async fn insert_submissions(db: &TestDb, months: &[(NaiveDate, i32)]) {
    write::upsert_monthly_submissions(&db.writer, months)
        .await
        .expect("insert submissions");
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
