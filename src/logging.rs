//! Log output: env_logger's text lines on a terminal, or one JSON object per line with the
//! fields Cloud Logging reads (`severity`, `message`, `time`, labels, `httpRequest`).
//!
//! Structured fields travel as `log` key-values: `request_id` becomes the label
//! `logging.googleapis.com/labels.request_id`, `httpRequest` (captured with `:serde`) is written
//! as the object it is, and any other key becomes a top-level field.

use std::io::{IsTerminal, Write};

use log::kv::{Key, Value, VisitSource};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};

use crate::settings::{LogFormat, LogSettings};

/// Libraries that repeat routine notices at info: PostgreSQL's "already exists, skipping" on
/// every migration check, and one line per migration.
const QUIET_BY_DEFAULT: &str = "sqlx::postgres::notice=warn,sea_orm_migration=warn";

/// Installs the logger. `RUST_LOG`, when set, replaces `log.level` and the quiet defaults.
///
/// Unless a person watches the terminal, lines go through a writer thread: env_logger writes
/// and flushes standard error under a lock for every line, which cost a third of the warm
/// throughput once every request logged its access line (docs/PERFORMANCE.md, "Access lines").
/// The thread writes what has queued up in one go. Keep the guard until the end: dropping it
/// writes out what is still queued.
pub fn init(settings: &LogSettings) -> Option<WorkerGuard> {
    let default_filter = format!("{},{QUIET_BY_DEFAULT}", settings.level);
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter));
    let json = json(settings.format);
    if json {
        // serde_json escapes control characters, so a JSON line holds no terminal escapes
        // and the colour stripping of env_logger (a pass over every byte) has nothing to do.
        builder.write_style(env_logger::WriteStyle::Always);
        builder.format(|buf, record| {
            serde_json::to_writer(&mut *buf, &Entry(record)).map_err(std::io::Error::other)?;
            writeln!(buf)
        });
    }
    let guard = if std::io::stderr().is_terminal() {
        None
    } else {
        // Not lossy: a burst waits for the writer rather than losing an error line.
        let (writer, guard) = NonBlockingBuilder::default()
            .lossy(false)
            .thread_name("log-writer")
            .finish(std::io::BufWriter::new(std::io::stderr()));
        builder.target(env_logger::Target::Pipe(Box::new(writer)));
        Some(guard)
    };
    builder.init();
    guard
}

/// Whether lines are JSON: `auto` means JSON unless a person is watching the terminal.
fn json(format: LogFormat) -> bool {
    match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    }
}

/// One log record as a Cloud Logging structured entry, written straight out: every request
/// logs one, so no JSON tree is built for it.
pub struct Entry<'a, 'r>(pub &'a log::Record<'r>);

impl serde::Serialize for Entry<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let record = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("severity", severity(record.level()))?;
        map.serialize_entry("message", &Collected(record.args()))?;
        map.serialize_entry(
            "time",
            &Collected(humantime::format_rfc3339_micros(
                std::time::SystemTime::now(),
            )),
        )?;
        map.serialize_entry("target", record.target())?;
        let kvs = record.key_values();
        if let Some(id) = kvs.get(Key::from_str("request_id")) {
            map.serialize_entry("logging.googleapis.com/labels", &Labels(id))?;
        }
        let mut fields = Fields { map, error: None };
        // A field that fails to visit is left out; the line itself still goes out.
        let _ = kvs.visit(&mut fields);
        if let Some(e) = fields.error {
            return Err(e);
        }
        fields.map.end()
    }
}

/// A `Display` value serialized as a string, without an intermediate `String`.
struct Collected<T>(T);

impl<T: std::fmt::Display> serde::Serialize for Collected<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

struct Labels<'v>(Value<'v>);

impl serde::Serialize for Labels<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("request_id", &self.0)?;
        map.end()
    }
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

struct Fields<M: serde::ser::SerializeMap> {
    map: M,
    error: Option<M::Error>,
}

impl<'kvs, M: serde::ser::SerializeMap> VisitSource<'kvs> for Fields<M> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        // `request_id` went into the labels.
        if key.as_str() == "request_id" || self.error.is_some() {
            return Ok(());
        }
        if let Err(e) = self.map.serialize_entry(key.as_str(), &value) {
            self.error = Some(e);
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
            let fields = serde_json::to_value(Entry(&record)).unwrap();
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
