//! The test runner: every backend test once per backend, with PostgreSQL and MariaDB reported
//! as ignored, in the runner's own summary, when their servers cannot be reached.
//!
//! Reachability is decided once, before any test runs, within a second per server. With
//! `STATS_TEST_REQUIRE_DBS=1` (CI) an unreachable server fails its tests instead.

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
}

/// Declares, for each `async fn name(backend: Backend)` of a module, the module's `tests()`:
/// one test per backend, `module::sqlite::name`, `module::postgres::name`, `module::mysql::name`.
#[macro_export]
macro_rules! backend_tests {
    (@browser $browser:expr; $($name:ident),+ $(,)?) => {
        pub fn tests() -> Vec<$crate::helpers::Case> {
            vec![$(
                $crate::helpers::Case {
                    module: module_path!(),
                    name: stringify!($name),
                    run: |backend| $crate::helpers::block_on($name(backend)),
                    browser: $browser,
                },
            )+]
        }
    };
    ($($name:ident),+ $(,)?) => {
        $crate::backend_tests!(@browser false; $($name),+);
    };
}

/// [`backend_tests!`] for tests that drive a real browser: ignored (or, when required, failed)
/// where Chromium or chromedriver is missing.
#[macro_export]
macro_rules! browser_tests {
    ($($name:ident),+ $(,)?) => {
        $crate::backend_tests!(@browser true; $($name),+);
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
    let trials = cases
        .iter()
        .flat_map(|case| {
            Backend::ALL.map(|backend| {
                let module = case.module.rsplit("::").next().unwrap_or(case.module);
                let run = case.run;
                let unreachable = failing
                    .iter()
                    .find(|(b, _)| *b == backend)
                    .map(|(_, reason)| reason.clone())
                    .or_else(|| {
                        (case.browser && no_browser && required)
                            .then(|| "Chromium or chromedriver is missing".to_string())
                    });
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
                .with_ignored_flag(
                    skipped.contains(&backend) || (case.browser && no_browser && !required),
                )
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
