//! The command line: `serve` (the default) and the explicit write commands. Only these
//! commands ever write to a configured database.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clap::{Parser, Subcommand};
use sea_orm::DatabaseConnection;

use crate::db::{self, Access};
use crate::demo::{self, DemoSpec};
use crate::settings::{DatabaseTarget, Settings};
use crate::startup::{self, Application};
use crate::write::import;

/// Bounds of `seed-demo`, checked before anything touches the database: zero days would
/// write legacy months over the hours of the hourly table, and a century is more than any demo.
pub const MAX_DEMO_DAYS: i64 = 36_600;
pub const MAX_DEMO_ROWS_PER_HOUR: i64 = 1_000_000;

#[derive(Debug, Parser)]
#[command(
    name = "stats-backend",
    version,
    about = "arXiv download statistics API"
)]
pub struct Cli {
    /// Directory holding default.toml and <STATS_ENV>.toml (default: `config`, which may be
    /// missing; a directory named here must exist).
    #[arg(long, env = "STATS_CONFIG_DIR", global = true)]
    pub config_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default). Without a configured database, an embedded SQLite file
    /// with demo data is created on first start.
    Serve,
    /// Create the tables (and indexes) in the configured database if they are missing.
    Migrate,
    /// Write deterministic synthetic demo data into the configured database (creating the
    /// tables first). Rows already present for the generated hours are replaced.
    SeedDemo {
        /// Days of hourly rows, ending with the current hour (1 to 36,600).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_DEMO_DAYS))]
        days: Option<u32>,
        /// Rows per hour (1 to 1,000,000).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_DEMO_ROWS_PER_HOUR))]
        rows_per_hour: Option<u32>,
        /// Generator seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Write only the hourly table, not monthly_downloads and monthly_submissions.
        #[arg(long)]
        hourly_only: bool,
    },
    /// Load legacy monthly download totals (the original's monthly_data.json:
    /// `[{"time_group": "YYYY-MM-01", "total_sum": N}, ...]`) into monthly_downloads. Months
    /// already present are replaced; a file with any bad entry changes nothing.
    ImportLegacy {
        /// The JSON file.
        file: PathBuf,
    },
    /// Bring the rollups (summary tables that make cold answers fast) up to date with the
    /// hourly table, creating them if needed. Run it after each ingest; answers are exact
    /// without it, only slower for the hours after the rollups' watermark.
    RefreshRollups {
        /// First check every day the rollups hold, exactly, against the hourly table, and
        /// rebuild the days that differ. Run it daily where the hourly table has no change
        /// log: it finds the rewrites the freshness probe cannot see there (older than
        /// `cache.probe_hours`, rows and sums kept).
        #[arg(long)]
        verify: bool,
    },
    /// Print the SQL the service runs for a request (as it would now, with the rollups it
    /// would use), then run that SQL directly `--runs` times and print its timing. For
    /// benchmarks and for reading query plans.
    Sql {
        /// The request, e.g. '/api/get_data?model=hourly&group_by=category'.
        request: String,
        /// How many times to run the statement (1 to 1,000).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
        runs: u32,
        /// Also print the database's plan: which indexes and tables it reads (PostgreSQL:
        /// EXPLAIN ANALYZE, which runs the statement once more; MySQL: EXPLAIN; SQLite:
        /// EXPLAIN QUERY PLAN).
        #[arg(long)]
        plan: bool,
    },
    /// Ask the running service on this machine (`server.port`) whether it is alive: exit 0 when
    /// GET /healthz answers 200. For container health checks, which have no curl.
    Healthcheck,
    /// Print the SQL that installs the change log of the hourly table (`hourly_changes` and its
    /// triggers) for the configured database and `database.table`, for a DBA to run where the
    /// service may not write. `migrate` installs the same where the service owns the schema.
    ChangeLogSql,
    /// Load monthly submission counts (CSV with the header `month,count`, months written
    /// YYYY-MM-01) into monthly_submissions, under the same rules as import-legacy.
    ImportSubmissions {
        /// The CSV file.
        file: PathBuf,
    },
    /// Load edge requests per UTC hour and source (CSV with the header
    /// `start_dttm,source_id,request_count`, hours written YYYY-MM-DD HH:00:00) into
    /// hourly_requests, replacing the hours it holds. Every line is checked before anything is
    /// written; a bad file changes nothing and the message names the line.
    ImportRequests {
        /// The CSV file.
        file: PathBuf,
    },
}

/// Runs a parsed command line; the exit code is 0 on success, 1 on failure, 2 on bad settings.
pub async fn run(cli: Cli) -> ExitCode {
    // A missing .env is normal; a malformed one is worth saying.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("stats-backend: ignoring .env: {e}");
    }
    let config_dir = match &cli.config_dir {
        Some(dir) if !dir.is_dir() => {
            eprintln!(
                "stats-backend: --config-dir (STATS_CONFIG_DIR) {} is not a directory",
                dir.display()
            );
            return ExitCode::from(2);
        }
        Some(dir) => dir.clone(),
        None => PathBuf::from("config"),
    };
    let settings = match Settings::load(&config_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("stats-backend: {e}");
            return ExitCode::from(2);
        }
    };
    let log_writer = crate::logging::init(&settings.log);
    let outcome = execute(cli.command.unwrap_or(Command::Serve), settings).await;
    // Queued log lines go out before the final message, which they precede.
    drop(log_writer);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stats-backend: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes in one line, each said once: database errors repeat their cause in
/// their own message.
fn describe(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain().map(|c| c.to_string()) {
        if line.contains(&cause) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&cause);
    }
    line
}

/// A one-request HTTP/1.0 client: enough for `/healthz` on loopback, with no dependency.
fn healthcheck(port: u16) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::time::Duration;
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))
        .with_context(|| format!("connecting to {address}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.lines().next().unwrap_or_default();
    anyhow::ensure!(
        status.split(' ').nth(1) == Some("200"),
        "unhealthy: {status:?}"
    );
    Ok(())
}

async fn explain(settings: &Settings, request: &str, runs: u32, plan: bool) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait;
    let (path, query) = request.split_once('?').unwrap_or((request, ""));
    let endpoint = crate::stats::Endpoint::from_path(path)
        .with_context(|| format!("no data endpoint {path}"))?;
    let query = crate::stats::Query::parse(endpoint, query, Utc::now())?.query;
    let db = db::connect(
        &settings.database_target()?,
        &settings.database,
        Access::ReadOnly,
    )
    .await?;
    let repo = crate::stats::repo::Repository::new(db.clone(), settings.database.table.clone());
    let aggregate = match &query {
        // A local series is bucketed over the hours the table holds, as the service does.
        crate::stats::Query::Data(q) => crate::stats::data_aggregate_now(&repo, q).await?,
        _ => query
            .aggregate()
            .context("this request reads no hourly data")?,
    };
    let fingerprint = repo.fingerprint(settings.cache.probe_hours).await?;
    repo.update_rollup_cutoff(&fingerprint).await;
    let (statement, kind, _) = repo.statement(&aggregate);
    let text = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            statement.to_string(sea_orm::sea_query::PostgresQueryBuilder)
        }
        sea_orm::DbBackend::MySql => statement.to_string(sea_orm::sea_query::MysqlQueryBuilder),
        _ => statement.to_string(sea_orm::sea_query::SqliteQueryBuilder),
    };
    println!("-- {kind}\n{text};");
    let mut times = Vec::with_capacity(runs as usize);
    let mut rows = 0;
    for _ in 0..runs.max(1) {
        let started = std::time::Instant::now();
        rows = db.query_all(&statement).await?.len();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "-- rows={rows} runs={} median_ms={:.2} min_ms={:.2}",
        times.len(),
        times[times.len() / 2],
        times[0]
    );
    if plan {
        print_plan(&db, &statement).await?;
    }
    Ok(())
}

/// Prints the database's plan of `statement`, one line per row of its EXPLAIN output. The
/// values stay bound parameters, as when the service runs it.
async fn print_plan(
    db: &sea_orm::DatabaseConnection,
    statement: &sea_orm::sea_query::SelectStatement,
) -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let backend = db.get_database_backend();
    let built = backend.build(statement);
    let prefix = match backend {
        DbBackend::Postgres => "EXPLAIN (ANALYZE, BUFFERS)",
        DbBackend::MySql => "EXPLAIN",
        _ => "EXPLAIN QUERY PLAN",
    };
    let explain = Statement {
        sql: format!("{prefix} {}", built.sql),
        ..built
    };
    println!("-- plan");
    let rows = db.query_all_raw(explain).await?;
    if let Some(first) = rows.first().filter(|r| r.column_names().len() > 1) {
        println!("{}", first.column_names().join(" | "));
    }
    for row in rows {
        let cells: Vec<String> = (0..row.column_names().len())
            .map(|i| {
                // EXPLAIN columns are text or integers depending on the backend.
                row.try_get_by_index::<Option<String>>(i)
                    .map(|v| v.unwrap_or_default())
                    .or_else(|_| {
                        row.try_get_by_index::<Option<i64>>(i)
                            .map(|v| v.map(|n| n.to_string()).unwrap_or_default())
                    })
                    .or_else(|_| {
                        row.try_get_by_index::<Option<u64>>(i)
                            .map(|v| v.map(|n| n.to_string()).unwrap_or_default())
                    })
                    .unwrap_or_else(|_| "?".into())
            })
            .collect();
        println!("{}", cells.join(" | "));
    }
    Ok(())
}

/// A writing connection to the configured database, with the tables created if missing: what
/// every write command starts with.
async fn writer(settings: &Settings) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let target = settings.database_target()?;
    let db = db::connect(&target, &settings.database, Access::ReadWrite).await?;
    if let Err(e) = db::ping(&db).await {
        // The pool's own error is its timeout; one direct connection tells the cause.
        let cause = db::diagnose(&target, settings.database.acquire_timeout)
            .await
            .unwrap_or_else(|| e.to_string());
        anyhow::bail!("{cause}");
    }
    db::migrate(&db, &settings.database.table).await?;
    Ok(db)
}

fn read(file: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

async fn execute(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            // Bound first, so that a port in use is said at once, not after the demo fill.
            let listener = startup::bind(&settings)?;
            let db = prepare_database(&settings).await?;
            Application::build_on(listener, settings, db)
                .await?
                .run_until_stopped()
                .await?;
            log::info!("stopped");
        }
        Command::Migrate => {
            writer(&settings).await?;
            log::info!("migrations applied");
        }
        Command::SeedDemo {
            days,
            rows_per_hour,
            seed,
            hourly_only,
        } => {
            let db = writer(&settings).await?;
            let spec = DemoSpec::ending_at(
                Utc::now().naive_utc(),
                days.unwrap_or(settings.demo.days),
                rows_per_hour.unwrap_or(settings.demo.rows_per_hour),
                seed.unwrap_or(settings.demo.seed),
            );
            let report = demo::seed(&db, &settings.database.table, spec, !hourly_only).await?;
            log::info!("seeded {report}");
        }
        Command::Healthcheck => healthcheck(settings.server.port)?,
        Command::ChangeLogSql => {
            // From the URL's scheme alone: printing needs no connection.
            let url = db::target_url(&settings.database_target()?);
            let backend = if url.starts_with("postgres") {
                sea_orm::DbBackend::Postgres
            } else if url.starts_with("mysql") || url.starts_with("mariadb") {
                sea_orm::DbBackend::MySql
            } else {
                sea_orm::DbBackend::Sqlite
            };
            for statement in migration::change_log_sql(backend, &settings.database.table) {
                println!("{statement};");
            }
        }
        Command::Sql {
            request,
            runs,
            plan,
        } => explain(&settings, &request, runs, plan).await?,
        Command::RefreshRollups { verify } => {
            let db = writer(&settings).await?;
            // The days held first, then the new hours.
            if verify {
                verify_rollups(&db, &settings.database.table).await?;
            }
            let report = crate::write::rollups::refresh(&db, &settings.database.table).await?;
            log::info!(
                "rollups refreshed: {} day(s) rebuilt in {:.1} s, {}",
                report.days_rebuilt,
                report.seconds,
                report.watermark.map_or_else(
                    || "no hours to roll up".to_string(),
                    |w| format!("hours before {w} rolled up")
                )
            );
        }
        Command::ImportLegacy { file } => {
            let text = read(&file)?;
            let months = import::parse_legacy(&text)
                .with_context(|| format!("{} refused", file.display()))?;
            log::info!("{}: {} legacy months checked", file.display(), months.len());
            let db = writer(&settings).await?;
            import::import_legacy(&db, &months).await?;
            log::info!(
                "imported {} legacy months from {}",
                months.len(),
                file.display()
            );
        }
        Command::ImportRequests { file } => {
            let text = read(&file)?;
            let rows = import::parse_requests(&text)
                .with_context(|| format!("{} refused", file.display()))?;
            log::info!("{}: {} request hours checked", file.display(), rows.len());
            let db = writer(&settings).await?;
            import::import_requests(&db, &rows).await?;
            log::info!(
                "imported {} request hours from {}",
                rows.len(),
                file.display()
            );
        }
        Command::ImportSubmissions { file } => {
            let text = read(&file)?;
            let months = import::parse_submissions(&text)
                .with_context(|| format!("{} refused", file.display()))?;
            log::info!(
                "{}: {} submission months checked",
                file.display(),
                months.len()
            );
            let db = writer(&settings).await?;
            import::import_submissions(&db, &months).await?;
            log::info!(
                "imported {} submission months from {}",
                months.len(),
                file.display()
            );
        }
    }
    Ok(())
}

/// `refresh-rollups --verify`: checks every held day and says, on standard output and in the
/// log, how many were checked, which differed (and were rebuilt) and how long it took.
async fn verify_rollups(db: &DatabaseConnection, table: &str) -> anyhow::Result<()> {
    let report = crate::write::rollups::verify(db, table).await?;
    let differed = match report.differed.as_slice() {
        [] => "none differed".to_string(),
        days => format!(
            "{} differed and were rebuilt: {}",
            days.len(),
            days.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let line = format!(
        "rollups verified: {} day(s) checked in {:.1} s, {differed}",
        report.days_checked, report.seconds
    );
    log::info!("{line}");
    println!("{line}");
    Ok(())
}

/// Connects to the configured database (reading only), or creates and fills the embedded one.
pub async fn prepare_database(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let target = settings.database_target()?;
    match &target {
        DatabaseTarget::External(_) => {
            let db = db::connect(&target, &settings.database, Access::ReadOnly).await?;
            match db::ping(&db).await {
                Ok(()) => db::warm_pool(&db, settings.database.max_connections).await,
                Err(e) => {
                    let cause = db::diagnose(&target, settings.database.acquire_timeout)
                        .await
                        .unwrap_or_else(|| e.to_string());
                    log::warn!(
                        "the database is not answering yet ({cause}); data requests get 503 \
                         until it does"
                    );
                }
            }
            Ok(db)
        }
        DatabaseTarget::Embedded(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            log::info!(
                "no database configured: using the embedded demo database {}",
                path.display()
            );
            let db = db::connect(&target, &settings.database, Access::ReadWrite).await?;
            db::migrate(&db, &settings.database.table).await?;
            demo::fill_embedded(&db, settings).await?;
            Ok(db)
        }
    }
}
