//! Log output: env_logger's text lines on a terminal, or one JSON object per line with the
//! fields Cloud Logging reads (`severity`, `message`, `time`, labels, `httpRequest`).
//!
//! Structured fields travel as `log` key-values: `request_id` becomes the label
//! `logging.googleapis.com/labels.request_id`, `httpRequest` (captured with `:serde`) is written
//! as the object it is, and any other key becomes a top-level field.

use std::io::{IsTerminal, Write};

use log::kv::{Key, Value, VisitSource};
use serde_json::{Map, Value as Json};

use crate::settings::{LogFormat, LogSettings};

/// Libraries that repeat routine notices at info: PostgreSQL's "already exists, skipping" on
/// every migration check, and one line per migration.
const QUIET_BY_DEFAULT: &str = "sqlx::postgres::notice=warn,sea_orm_migration=warn";

/// Installs the logger. `RUST_LOG`, when set, replaces `log.level` and the quiet defaults.
pub fn init(settings: &LogSettings) {
    let default_filter = format!("{},{QUIET_BY_DEFAULT}", settings.level);
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter));
    if json(settings.format) {
        builder.format(|buf, record| {
            let line = serde_json::to_string(&entry(record)).unwrap_or_default();
            writeln!(buf, "{line}")
        });
    }
    builder.init();
}

/// Whether lines are JSON: `auto` means JSON unless a person is watching the terminal.
fn json(format: LogFormat) -> bool {
    match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    }
}

/// One log record as a Cloud Logging structured entry.
pub fn entry(record: &log::Record<'_>) -> Map<String, Json> {
    let mut fields = Map::new();
    fields.insert("severity".into(), severity(record.level()).into());
    fields.insert("message".into(), record.args().to_string().into());
    fields.insert(
        "time".into(),
        chrono::Utc::now()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            .into(),
    );
    fields.insert("target".into(), record.target().into());
    let mut visitor = Fields(&mut fields);
    // A field that fails to visit is left out; the line itself still goes out.
    let _ = record.key_values().visit(&mut visitor);
    fields
}

/// Cloud Logging's names for the levels.
fn severity(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "ERROR",
        log::Level::Warn => "WARNING",
        log::Level::Info => "INFO",
        log::Level::Debug | log::Level::Trace => "DEBUG",
    }
}

struct Fields<'a>(&'a mut Map<String, Json>);

impl<'kvs> VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        let value = serde_json::to_value(&value).unwrap_or(Json::Null);
        match key.as_str() {
            "request_id" => {
                let labels = self
                    .0
                    .entry("logging.googleapis.com/labels")
                    .or_insert_with(|| Json::Object(Map::new()));
                if let Json::Object(labels) = labels {
                    labels.insert("request_id".into(), value);
                }
            }
            other => {
                self.0.insert(other.into(), value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_line_carries_severity_message_time_labels_and_http_request() {
        {
            let http = serde_json::json!({"requestMethod": "GET", "status": 200});
            let kvs: [(&str, Value<'_>); 2] = [
                ("request_id", Value::from("abc-1")),
                ("httpRequest", Value::from_serde(&http)),
            ];
            let args = format_args!("GET /api/x 200");
            let record = log::Record::builder()
                .level(log::Level::Warn)
                .target("access")
                .args(args)
                .key_values(&kvs)
                .build();
            let fields = entry(&record);
            assert_eq!(fields["severity"], "WARNING");
            assert_eq!(fields["message"], "GET /api/x 200");
            assert_eq!(
                fields["logging.googleapis.com/labels"]["request_id"],
                "abc-1"
            );
            assert_eq!(fields["httpRequest"]["status"], 200);
            let time = fields["time"].as_str().unwrap();
            assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
        }
    }
}
