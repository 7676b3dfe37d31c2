use std::process::ExitCode;

use clap::Parser;

#[actix_web::main]
async fn main() -> ExitCode {
    stats_backend::cli::run(stats_backend::cli::Cli::parse()).await
}
