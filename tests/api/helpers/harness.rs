//! The test runner: every backend test once per backend, with PostgreSQL and MariaDB reported
//! as ignored, in the runner's own summary, when their servers cannot be reached.
//!
//! Reachability is decided once, before any test runs, within a second per server. With
//! `STATS_TEST_REQUIRE_DBS=1` (CI) an unreachable server fails its tests instead. Tests that
//! need something else the machine may lack (a browser, PostgreSQL's server binaries for a
//! standby pair) are ignored or failed the same way.

use std::time::Duration;

use libtest_mimic::{Arguments, Trial};

use super::Backend;

/// One backend test: `module::backend::name` in the runner.
#[derive(Clone, Copy)]
pub struct Case {
    pub module: &'static str,
    pub name: &'static str,
    pub run: fn(Backend),
    /// Needs Chromium and chromedriver ([`super::browser`]).
    pub browser: bool,
    /// Runs on PostgreSQL only, against a primary and a hot standby of its own
    /// ([`super::standby`]) instead of the shared server: needs PostgreSQL's server binaries.
    pub standby: bool,
}

/// Declares, for each `async fn name(backend: Backend)` of a module, the module's `tests()`:
/// one test per backend, `module::sqlite::name`, `module::postgres::name`, `module::mysql::name`.
#[macro_export]
macro_rules! backend_tests {
    (@needs $browser:expr, $standby:expr; $($name:ident),+ $(,)?) => {
        pub fn tests() -> Vec<$crate::helpers::Case> {
            vec![$(
                $crate::helpers::Case {
                    module: module_path!(),
                    name: stringify!($name),
                    run: |backend| $crate::helpers::block_on($name(backend)),
                    browser: $browser,
                    standby: $standby,
                },
            )+]
        }
    };
    ($($name:ident),+ $(,)?) => {
        $crate::backend_tests!(@needs false, false; $($name),+);
    };
}

/// [`backend_tests!`] for tests that drive a real browser: ignored (or, when required, failed)
/// where Chromium or chromedriver is missing.
#[macro_export]
macro_rules! browser_tests {
    ($($name:ident),+ $(,)?) => {
        $crate::backend_tests!(@needs true, false; $($name),+);
    };
}

/// Tests of the service against a PostgreSQL primary and hot standby pair that each test
/// builds ([`super::standby::Pair`]): registered as `module::postgres::name` only, and ignored
/// (or, when required, failed) where PostgreSQL's server binaries are missing. The shared
/// PostgreSQL server plays no part in them.
#[macro_export]
macro_rules! standby_tests {
    ($($name:ident),+ $(,)?) => {
        $crate::backend_tests!(@needs false, true; $($name),+);
    };
}

/// Runs a test's future on its own current-thread runtime, as `#[tokio::test]` does.
pub fn block_on(test: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime")
        .block_on(test)
}

/// Whether unreachable servers fail (CI) instead of being skipped.
pub fn required() -> bool {
    std::env::var("STATS_TEST_REQUIRE_DBS").is_ok_and(|v| v == "1" || v == "true")
}

/// Why `backend` cannot be tested here, or `None` when its server answers.
async fn unreachable(backend: Backend) -> Option<String> {
    let url = backend.admin_url()?;
    // A closed port says "connection refused" here; the pool would only say it timed out.
    if let Some(address) = super::upstream(backend) {
        match tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(&address),
        )
        .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Some(format!("{address}: {e}")),
            Err(_) => return Some(format!("{address}: no answer within 1 s")),
        }
    }
    let mut options = sea_orm::ConnectOptions::new(url.clone());
    options
        .connect_timeout(Duration::from_secs(1))
        .acquire_timeout(Duration::from_secs(1))
        .max_connections(1)
        .sqlx_logging(false);
    match tokio::time::timeout(Duration::from_secs(2), sea_orm::Database::connect(options)).await {
        Ok(Ok(db)) => {
            let _ = db.close().await;
            None
        }
        Ok(Err(e)) => Some(format!("{url}: {e}")),
        Err(_) => Some(format!("{url}: no answer within 2 s")),
    }
}

/// Runs `cases` on every backend and exits with the runner's status.
pub fn main(cases: Vec<Case>) -> std::process::ExitCode {
    let args = Arguments::from_args();
    let required = required();
    let mut skipped = Vec::new();
    let mut failing: Vec<(Backend, String)> = Vec::new();
    // Listing the tests needs no server.
    if !args.list {
        let probes = [Backend::Postgres, Backend::MySql];
        let reasons: Vec<Option<String>> = {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("probe runtime");
            runtime.block_on(futures_util::future::join_all(probes.map(unreachable)))
        };
        for (backend, reason) in probes.into_iter().zip(reasons) {
            if let Some(reason) = reason {
                if required {
                    eprintln!(
                        "ERROR: {} is required (STATS_TEST_REQUIRE_DBS=1) but unreachable: \
                         {reason}; its tests fail",
                        backend.label()
                    );
                    failing.push((backend, reason));
                } else {
                    eprintln!(
                        "NOTICE: {} tests ignored: {reason}. Start the server or set {} to \
                         reach one; STATS_TEST_REQUIRE_DBS=1 makes this a failure.",
                        backend.label(),
                        backend.url_variable().unwrap_or_default()
                    );
                    skipped.push(backend);
                }
            }
        }
    }
    let no_browser = !args.list && !super::browser::available();
    if no_browser {
        if required {
            eprintln!(
                "ERROR: the browser tests are required (STATS_TEST_REQUIRE_DBS=1) but {} or {} \
                 is missing; they fail",
                super::browser::CHROMIUM,
                super::browser::CHROMEDRIVER
            );
        } else {
            eprintln!(
                "NOTICE: browser tests ignored: {} or {} is missing (apt-get install chromium \
                 chromium-driver; .ci/run does).",
                super::browser::CHROMIUM,
                super::browser::CHROMEDRIVER
            );
        }
    }
    // Only asked when a standby test is registered; `check` takes a few milliseconds.
    let no_standby = (!args.list && cases.iter().any(|c| c.standby))
        .then(super::standby::missing)
        .flatten();
    if let Some(reason) = &no_standby {
        if required {
            eprintln!(
                "ERROR: the standby tests are required (STATS_TEST_REQUIRE_DBS=1) but {reason}; \
                 they fail"
            );
        } else {
            eprintln!(
                "NOTICE: standby tests ignored: {reason}. They build a PostgreSQL primary and \
                 hot standby of their own (scripts/pg-standby.sh, Debian's postgresql-15); \
                 STATS_TEST_REQUIRE_DBS=1 makes this a failure."
            );
        }
    }
    let trials = cases
        .iter()
        .flat_map(|case| {
            let backends: &[Backend] = if case.standby {
                &[Backend::Postgres]
            } else {
                &Backend::ALL
            };
            backends.iter().map(|&backend| {
                let module = case.module.rsplit("::").next().unwrap_or(case.module);
                let run = case.run;
                // A standby test runs on a pair of its own: the shared server does not matter.
                let server_down = !case.standby && skipped.contains(&backend);
                let tool_missing = (case.browser && no_browser)
                    .then(|| "Chromium or chromedriver is missing".to_string())
                    .or_else(|| no_standby.clone().filter(|_| case.standby));
                let unreachable = failing
                    .iter()
                    .find(|(b, _)| *b == backend && !case.standby)
                    .map(|(_, reason)| reason.clone())
                    .or_else(|| tool_missing.clone().filter(|_| required));
                Trial::test(
                    format!("{module}::{}::{}", backend.label(), case.name),
                    move || match unreachable {
                        // At once, not after each test's own connection timeout.
                        Some(reason) => Err(format!("required but unreachable: {reason}").into()),
                        None => {
                            run(backend);
                            Ok(())
                        }
                    },
                )
                .with_ignored_flag(server_down || (tool_missing.is_some() && !required))
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
