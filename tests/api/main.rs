//! Integration tests: the real server on port 0 against SQLite, PostgreSQL and MariaDB, run by
//! a harness that reports the tests of an unreachable server as ignored (see `helpers::harness`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod browser;
mod cache;
mod change_log;
mod csv_format;
mod daily;
mod dashboard;
mod defects;
mod deploy;
mod get_data;
mod global_sum;
mod hardening;
mod health;
mod hostile;
mod imports;
mod local_time;
mod model;
mod openapi_driven;
mod rollups;
mod site;
mod standby;
mod window_checksum;

fn main() -> std::process::ExitCode {
    helpers::main(
        [
            browser::tests(),
            cache::tests(),
            change_log::tests(),
            csv_format::tests(),
            dashboard::tests(),
            daily::tests(),
            defects::tests(),
            deploy::tests(),
            get_data::tests(),
            global_sum::tests(),
            hardening::tests(),
            health::tests(),
            hostile::tests(),
            imports::tests(),
            local_time::tests(),
            openapi_driven::tests(),
            rollups::tests(),
            site::tests(),
            standby::tests(),
            window_checksum::tests(),
        ]
        .concat(),
    )
}
