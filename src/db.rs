//! The connection pool for whichever backend the settings name, and the write path used only by
//! the explicit commands and the embedded demo database.

use std::path::Path;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

use crate::settings::{DatabaseSettings, DatabaseTarget, redact_url};

/// What a connection is for: the service only reads; the commands write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// The URL of a target, as sqlx reads it.
pub fn target_url(target: &DatabaseTarget) -> String {
    match target {
        DatabaseTarget::External(url) => url.clone(),
        DatabaseTarget::Embedded(path) => sqlite_file_url(path),
    }
}

fn sqlite_file_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Opens a pool. It connects lazily, so the service starts while the database is down and each
/// query fails after `acquire_timeout` until it is back; nothing needs restarting.
pub async fn connect(
    target: &DatabaseTarget,
    settings: &DatabaseSettings,
    access: Access,
) -> Result<DatabaseConnection, DbErr> {
    let url = target_url(target);
    let mut opts = ConnectOptions::new(url.clone());
    opts.max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(settings.acquire_timeout)
        .connect_timeout(settings.acquire_timeout)
        .connect_lazy(true)
        .sqlx_logging(settings.log_statements)
        .sqlx_logging_level(log::LevelFilter::Debug);
    let statement_timeout = settings.statement_timeout;
    if url.starts_with("postgres") {
        opts.statement_timeout(statement_timeout);
        // Two planner settings, measured in docs/PERFORMANCE.md. JIT compiles nothing worth it
        // here (a full scan takes the same time with it off) and costs every later parallel
        // query on the connection: each parallel worker loads the leader's libraries, LLVM
        // included, which turned a 12 ms daily answer into 30 ms once the connection had run a
        // scan. Starting parallel workers costs ~2.5 ms here, which the default setup cost
        // (1000) underprices: a day's index range went parallel and got slower; at 10000 only
        // scans of many days do, where the workers pay off. A large answer (a year of days by
        // country, 79,000 groups) needs about 20 MB to group in memory; with the default 4 MB
        // PostgreSQL spills it to disk in batches (145 ms rather than 90 ms). The answers are
        // bounded by `server.max_groups`, so the memory is too.
        opts.map_sqlx_postgres_opts(|o| {
            o.options([
                ("jit", "off"),
                ("parallel_setup_cost", "10000"),
                ("work_mem", "32MB"),
            ])
        });
    } else if url.starts_with("mysql") {
        opts.map_sqlx_mysql_pool_opts(move |pool| {
            pool.after_connect(move |conn, _meta| {
                Box::pin(async move { set_mysql_statement_timeout(conn, statement_timeout).await })
            })
        });
    } else if url.starts_with("sqlite") {
        let read_only = access == Access::ReadOnly && matches!(target, DatabaseTarget::External(_));
        opts.map_sqlx_sqlite_opts(move |o: SqliteConnectOptions| {
            // WAL lets readers run beside a writer; NORMAL sync is safe under WAL.
            let o = o.busy_timeout(Duration::from_secs(5));
            if read_only {
                o.read_only(true)
            } else {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
            }
        });
        // An in-memory database lives as long as its last connection.
        if url.contains(":memory:") || url.contains("mode=memory") {
            opts.max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
    }
    let db = Database::connect(opts).await?;
    log::info!(
        "database: {} ({}), pool of up to {} connections",
        redact_url(&url),
        backend_name(db.get_database_backend()),
        settings.max_connections
    );
    Ok(db)
}

/// MariaDB calls it `max_statement_time` (seconds), MySQL `max_execution_time` (milliseconds,
/// SELECT only). Whichever the server knows is set; the other is refused and ignored.
async fn set_mysql_statement_timeout(
    conn: &mut sea_orm::sqlx::MySqlConnection,
    timeout: Duration,
) -> Result<(), sea_orm::sqlx::Error> {
    use sea_orm::sqlx::{AssertSqlSafe, Executor};
    // Both values are numbers formatted here, never user input.
    let mariadb = format!("SET SESSION max_statement_time = {}", timeout.as_secs_f64());
    if conn.execute(AssertSqlSafe(mariadb)).await.is_err() {
        let mysql = format!("SET SESSION max_execution_time = {}", timeout.as_millis());
        conn.execute(AssertSqlSafe(mysql)).await?;
    }
    Ok(())
}

pub fn backend_name(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "PostgreSQL",
        DbBackend::MySql => "MySQL/MariaDB",
        DbBackend::Sqlite => "SQLite",
        _ => "unknown backend",
    }
}

/// Open and idle connections of the pool.
pub fn pool_state(db: &DatabaseConnection) -> (u32, usize) {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        DbBackend::MySql => {
            let pool = db.get_mysql_connection_pool();
            (pool.size(), pool.num_idle())
        }
        DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => (0, 0),
    }
}

/// Whether the database answers, within the pool's acquire timeout.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

/// Why the database cannot be reached, in words that point at the setting to fix, from one
/// connection made directly: the lazy pool reports only its own timeout. `None` when that
/// connection succeeds (or the target is the embedded file).
pub async fn diagnose(target: &DatabaseTarget, timeout: Duration) -> Option<String> {
    use sea_orm::sqlx::Connection;
    let DatabaseTarget::External(url) = target else {
        return None;
    };
    let parsed = url::Url::parse(url).ok()?;
    let place = format!(
        "{}:{}",
        parsed.host_str().unwrap_or("localhost"),
        parsed.port_or_known_default().unwrap_or(0)
    );
    let user = parsed.username().to_string();
    let database = parsed.path().trim_start_matches('/').to_string();
    let attempt = async {
        if url.starts_with("postgres") {
            sea_orm::sqlx::PgConnection::connect(url).await.map(|_| ())
        } else if url.starts_with("mysql") {
            sea_orm::sqlx::MySqlConnection::connect(url)
                .await
                .map(|_| ())
        } else {
            Ok(())
        }
    };
    let error = match tokio::time::timeout(timeout.max(Duration::from_secs(1)), attempt).await {
        Ok(Ok(())) => return None,
        Ok(Err(e)) => e,
        Err(_) => return Some(format!("no answer from {place} within {timeout:?}")),
    };
    use sea_orm::sqlx::Error as Sqlx;
    Some(match &error {
        Sqlx::Io(io) => format!("cannot connect to {place}: {io}"),
        Sqlx::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let mysql = db
                .try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
                .map(|e| e.number());
            match (code.as_str(), mysql) {
                ("28P01" | "28000", _) | (_, Some(1045 | 1044)) => format!(
                    "{place} refused user {user:?}: check the user and password in database.url"
                ),
                ("3D000", _) | (_, Some(1049)) => format!(
                    "{place} has no database {database:?}: check the database name in database.url"
                ),
                _ => format!("{place}: {}", db.message()),
            }
        }
        other => format!("{place}: {other}"),
    })
}

/// Opens the pool's connections before traffic arrives: a burst of clients on a cold lazy
/// pool would otherwise wait on connection set-up, all at once, past the acquire timeout.
pub async fn warm_pool(db: &DatabaseConnection, connections: u32) {
    let pings = (0..connections).map(|_| ping(db));
    let opened = futures_util::future::join_all(pings)
        .await
        .iter()
        .filter(|r| r.is_ok())
        .count();
    log::debug!("opened {opened} pooled connections");
}

/// Runs the migrations (creates the tables if they are missing).
pub async fn migrate(db: &DatabaseConnection, hourly_table: &str) -> Result<(), DbErr> {
    use migration::MigratorTraitSelf;
    migration::Migrator::new(hourly_table).up(db, None).await
}

/// Outages and timeouts, as opposed to errors in the query itself.
pub fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as Sqlx;
    let runtime = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(r) | DbErr::Exec(r) | DbErr::Query(r) => r,
        _ => return false,
    };
    match runtime {
        RuntimeErr::SqlxError(e) => match e.as_ref() {
            Sqlx::Io(_)
            | Sqlx::Tls(_)
            | Sqlx::PoolTimedOut
            | Sqlx::PoolClosed
            | Sqlx::WorkerCrashed
            | Sqlx::Protocol(_) => true,
            Sqlx::Database(db) => {
                // MariaDB 1969 and MySQL 3024: max statement/execution time exceeded;
                // 1317: query interrupted (KILL QUERY, shutdown).
                if let Some(my) = db.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
                {
                    return matches!(my.number(), 1969 | 3024 | 1317 | 1053);
                }
                // PostgreSQL 57014 query_canceled (statement_timeout), 57P01..03 shutdown and
                // cannot-connect-now, 53300 too many connections.
                matches!(
                    db.code().as_deref(),
                    Some("57014" | "57P01" | "57P02" | "57P03" | "53300")
                )
            }
            _ => false,
        },
        RuntimeErr::Internal(_) => false,
        #[allow(unreachable_patterns)]
        _ => false,
    }
}
