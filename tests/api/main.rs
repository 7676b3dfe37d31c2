//! Integration tests: the real server on port 0 against SQLite, PostgreSQL and MariaDB.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod cache;
mod csv_format;
mod daily;
mod defects;
mod deploy;
mod get_data;
mod global_sum;
mod hardening;
mod health;
mod hostile;
mod imports;
mod model;
mod openapi_driven;
mod rollups;
