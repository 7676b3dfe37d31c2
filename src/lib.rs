//! stats-backend: arXiv's public download statistics over HTTP, from SQLite, PostgreSQL or
//! MySQL/MariaDB. The binary (`main.rs`) parses the command line and calls [`cli::run`].

pub mod cache;
pub mod cli;
pub mod db;
pub mod demo;
pub mod error;
pub mod import;
pub mod metrics;
pub mod openapi;
pub mod rollup;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod stats;
pub mod telemetry;
pub mod write;
