//! Test harness, by concern: databases ([`db`]), rows ([`rows`]), the server under test
//! ([`server`]), a fault proxy ([`proxy`]), a PostgreSQL primary and hot standby pair
//! ([`standby`]) and the runner ([`harness`]).

pub mod browser;
mod db;
mod harness;
mod proxy;
mod rows;
mod server;
pub mod standby;

use chrono::{NaiveDate, NaiveDateTime};

pub use db::{Backend, TABLE, TestDb, create_slow_view, insert_submissions};
pub use harness::{Case, block_on, main};
pub use proxy::{Proxy, upstream, url_through};
pub use rows::Row;
pub use server::{Response, Server, TestApp, run_cli, start, start_on, test_settings};

pub fn dt(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("datetime literal")
}

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date literal")
}

/// `1,234,567`, as the pages write counts.
pub fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
