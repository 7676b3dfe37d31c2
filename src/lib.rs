//! stats-backend: arXiv's public download statistics over HTTP, from SQLite, PostgreSQL or
//! MySQL/MariaDB. The binary (`main.rs`) parses the command line and calls [`cli::run`].

//!
//! Layers, each importing only the ones below it:
//!
//! - HTTP: [`startup`] (the app, binding, the database it is given), [`routes`] (the route
//!   table, thin handlers, the OpenAPI document), [`state`], [`error`] (the one error a client
//!   sees), [`telemetry`] (request ids, access metrics);
//! - [`cache`]: the answer cache, its freshness probe and warming;
//! - [`stats`]: the domain, from parameters to serialized answers;
//! - [`db`] and [`metrics`]: the pool and the Prometheus registry.
//!
//! Beside them, [`write`] (imports, rollup refresh) and [`demo`] (synthetic data) are the
//! write wing, used only by the explicit commands in [`cli`] and by the embedded demo; the
//! read path never imports them. [`settings`] is read by every layer.

pub mod cache;
pub mod cli;
pub mod db;
pub mod demo;
pub mod error;
pub mod logging;
pub mod metrics;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
pub mod stats;
pub mod telemetry;
pub mod write;
