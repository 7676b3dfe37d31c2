//! Typed settings, layered as the contract says: built-in defaults < `config/default.toml` <
//! `config/<STATS_ENV>.toml` < the original's plain variables (`DATABASE_URI`, `DATABASE_URL`,
//! `PORT`) < `STATS__SECTION__KEY` variables. A `.env` file is read into the environment first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

mod database_url;

pub use database_url::{DatabaseUrl, normalize_database_url, redact_url};

/// The built-in defaults: `config/default.toml` as compiled into the binary, the lowest layer.
/// Defaults are written once, there; the file on disk is the same text unless someone edits it.
const DEFAULTS: &str = include_str!("../../config/default.toml");

/// Everything the service and its commands can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub cors: CorsSettings,
    pub cache: CacheSettings,
    pub ops: OpsSettings,
    pub demo: DemoSettings,
    pub log: LogSettings,
    pub site: SiteSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to bind; `0.0.0.0` so that a container is reachable.
    pub host: String,
    /// Port to bind (plain `PORT` also sets it); 0 picks a free port, as the tests do.
    pub port: u16,
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// How long in-flight requests may run on after SIGTERM.
    #[serde(deserialize_with = "duration")]
    pub shutdown_timeout: Duration,
    /// How long a client may take to send its request head.
    #[serde(deserialize_with = "duration")]
    pub client_request_timeout: Duration,
    /// The most groups one `get_data` answer may hold; a request for more is refused (422)
    /// rather than built in memory (each group costs ~500 bytes while the answer is built).
    pub max_groups: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://`, `mysql://` (or `mariadb://`) or `sqlite://` URL; SQLAlchemy forms such as
    /// `postgresql+pg8000://` are accepted. Empty: the embedded demo database.
    pub url: Option<DatabaseUrl>,
    /// Name of the hourly fact table (production arXiv: `hourly_downloads`).
    pub table: String,
    /// File of the embedded demo database, used when `url` is empty.
    pub sqlite_path: PathBuf,
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// Connections kept open while idle.
    pub min_connections: u32,
    /// How long a request waits for a connection before it fails with 503.
    #[serde(deserialize_with = "duration")]
    pub acquire_timeout: Duration,
    /// Longest a statement may run on the server before it is cancelled.
    #[serde(deserialize_with = "duration")]
    pub statement_timeout: Duration,
    /// Log every SQL statement (debug level).
    pub log_statements: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// Cache answers in memory; off, every request queries the database (benchmarks do this).
    pub enabled: bool,
    /// Lifetime of an answer whose period ended before the newest hour of data.
    #[serde(deserialize_with = "duration")]
    pub ttl: Duration,
    /// Lifetime of an answer that covers the newest hour of data or later (it can still change).
    #[serde(deserialize_with = "duration")]
    pub recent_ttl: Duration,
    /// Upper bound of the cached bodies' size, in bytes.
    pub max_bytes: u64,
    /// How often each instance checks whether the data changed (and drops what it affects).
    #[serde(deserialize_with = "duration")]
    pub probe_interval: Duration,
    /// Hours before the newest one that the probe watches for rewrites.
    pub probe_hours: u32,
    /// How long past its lifetime an answer may still be served (marked `X-Cache: STALE`)
    /// while the database is unavailable; 0 turns this off.
    #[serde(deserialize_with = "duration")]
    pub stale_if_error: Duration,
    /// Warm the cache with the dashboard's requests when the service starts.
    pub warm_on_start: bool,
    /// Time zones whose daily answers the warm list includes.
    pub warm_timezones: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    /// Origins allowed to read the API from a browser; `*` allows any.
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsSettings {
    /// Bearer token of the ops endpoints; empty turns them off. Never printed.
    pub token: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    /// Days of hourly rows the embedded demo database gets, ending at the current hour.
    pub days: u32,
    /// Rows per hour in the demo data.
    pub rows_per_hour: u32,
    /// Seed of the generator: the same seed gives the same rows for the same hour.
    pub seed: u64,
}

/// The arXiv statistics site under `/stats`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSettings {
    /// The site's local time (IANA name): its days, hours and `latest_hour`.
    pub timezone: String,
    /// The `hourly_requests` source the "today" page shows (0: fastly, the CDN edge).
    pub requests_source: u8,
    /// Submissions counted in `monthly_submissions` that were later deleted.
    pub deleted_submissions: i64,
    /// Papers available that were migrated from elsewhere and are not in `monthly_submissions`.
    pub migrated_submissions: i64,
    /// The day arXiv started, for its age on the submissions page.
    pub start_date: chrono::NaiveDate,
}

impl SiteSettings {
    /// The validated zone (`Settings::load` refuses a bad name).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone
            .parse()
            .unwrap_or(chrono_tz::Tz::America__New_York)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// env_logger filter used when `RUST_LOG` is not set.
    pub level: String,
    /// `text`, `json` (one object per line, Cloud Logging's fields), or `auto`: JSON unless
    /// standard error is a terminal.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Auto,
    Text,
    Json,
}

/// A setting that cannot be used; the message names the key and the value.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid configuration: {0}")]
    Config(#[from] config::ConfigError),
    #[error("invalid setting {key} = {value:?}: {reason}")]
    Invalid {
        key: &'static str,
        value: String,
        reason: String,
    },
}

/// Where the database lives, decided once from `database.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// A database somebody else owns: the service only reads it.
    External(String),
    /// The embedded demo file: created, migrated and filled on first start.
    Embedded(PathBuf),
}

impl Settings {
    /// The built-in defaults alone: no files, no environment.
    pub fn builtin() -> Result<Self, SettingsError> {
        Self::load_from(Path::new("/nonexistent"), HashMap::new())
    }

    /// Reads `config_dir`, the process environment and `.env` (already loaded by the caller).
    pub fn load(config_dir: &Path) -> Result<Self, SettingsError> {
        Self::load_from(config_dir, std::env::vars().collect())
    }

    /// The same as [`Settings::load`] with an explicit environment, for tests.
    pub fn load_from(
        config_dir: &Path,
        env: HashMap<String, String>,
    ) -> Result<Self, SettingsError> {
        let profile = env.get("STATS_ENV").filter(|p| !p.is_empty());
        let mut builder = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(
                File::from(config_dir.join("default.toml"))
                    .format(FileFormat::Toml)
                    .required(false),
            );
        if let Some(profile) = profile {
            let path = config_dir.join(format!("{profile}.toml"));
            if !path.exists() {
                return Err(SettingsError::Invalid {
                    key: "STATS_ENV",
                    value: profile.clone(),
                    reason: format!("no file {}", path.display()),
                });
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml));
        }
        // The original's plain variables: beaten only by the explicit STATS__ ones.
        let plain_url = ["DATABASE_URI", "DATABASE_URL"]
            .iter()
            .find_map(|k| env.get(*k).filter(|v| !v.is_empty()).cloned());
        let port = env.get("PORT").filter(|p| !p.is_empty());
        if let Some(port) = port
            && port.parse::<u16>().is_err()
        {
            return Err(SettingsError::Invalid {
                key: "PORT",
                value: port.clone(),
                reason: "a port is a number from 0 to 65535".into(),
            });
        }
        let plain = Config::builder()
            .set_override_option("database.url", plain_url)?
            .set_override_option("server.port", port.cloned())?
            .build()?;
        let stats_env: config::Map<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with("STATS__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let settings: Settings = builder
            .add_source(plain)
            .add_source(
                Environment::with_prefix("STATS")
                    .prefix_separator("__")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("cors.allowed_origins")
                    .with_list_parse_key("cache.warm_timezones")
                    .try_parsing(true)
                    .source(Some(stats_env)),
            )
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let table = &self.database.table;
        let valid_ident = !table.is_empty()
            && table.len() <= 63
            && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !table.starts_with(|c: char| c.is_ascii_digit());
        if !valid_ident {
            return Err(SettingsError::Invalid {
                key: "database.table",
                value: table.clone(),
                reason: "a table name is 1 to 63 ASCII letters, digits or '_', not starting with a digit".into(),
            });
        }
        if self.server.max_groups == 0 {
            return Err(SettingsError::Invalid {
                key: "server.max_groups",
                value: "0".into(),
                reason: "an answer must be allowed at least one group".into(),
            });
        }
        if self.database.max_connections == 0 {
            return Err(SettingsError::Invalid {
                key: "database.max_connections",
                value: "0".into(),
                reason: "at least one connection is needed".into(),
            });
        }
        if self.demo.days == 0 {
            return Err(SettingsError::Invalid {
                key: "demo.days",
                value: "0".into(),
                reason: "at least one day".into(),
            });
        }
        if self.demo.rows_per_hour == 0 {
            return Err(SettingsError::Invalid {
                key: "demo.rows_per_hour",
                value: "0".into(),
                reason: "at least one row per hour".into(),
            });
        }
        if self.site.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(SettingsError::Invalid {
                key: "site.timezone",
                value: self.site.timezone.clone(),
                reason: "not an IANA time zone name".into(),
            });
        }
        if let Some(zone) = self
            .cache
            .warm_timezones
            .iter()
            .find(|z| z.parse::<chrono_tz::Tz>().is_err())
        {
            return Err(SettingsError::Invalid {
                key: "cache.warm_timezones",
                value: zone.clone(),
                reason: "not an IANA time zone name".into(),
            });
        }
        if let Some(directive) = self
            .log
            .level
            .split(',')
            .map(str::trim)
            .find(|d| !valid_log_directive(d))
        {
            return Err(SettingsError::Invalid {
                key: "log.level",
                value: directive.to_string(),
                reason: "a level (off, error, warn, info, debug, trace) or target=level, \
                         comma-separated"
                    .into(),
            });
        }
        if let Some(origin) = self
            .cors
            .allowed_origins
            .iter()
            .find(|o| o.as_str() != "*" && !valid_origin(o))
        {
            return Err(SettingsError::Invalid {
                key: "cors.allowed_origins",
                value: origin.clone(),
                reason: "an origin is * or scheme://host[:port], without a path".into(),
            });
        }
        if self.cache.probe_interval.is_zero() {
            return Err(SettingsError::Invalid {
                key: "cache.probe_interval",
                value: "0".into(),
                reason: "the probe needs a positive interval".into(),
            });
        }
        self.database_target()?;
        Ok(())
    }

    /// The database to use, with SQLAlchemy driver suffixes dropped.
    pub fn database_target(&self) -> Result<DatabaseTarget, SettingsError> {
        match self.database.url.as_ref().map(|u| u.expose().trim()) {
            None | Some("") => Ok(DatabaseTarget::Embedded(self.database.sqlite_path.clone())),
            Some(url) => normalize_database_url(url).map(DatabaseTarget::External),
        }
    }

    /// Ops token, if the ops endpoints are on.
    pub fn ops_token(&self) -> Option<&str> {
        self.ops
            .token
            .as_ref()
            .map(|t| t.expose_secret())
            .filter(|t| !t.is_empty())
    }
}

/// One directive of an env_logger filter: `level` or `target=level`.
fn valid_log_directive(directive: &str) -> bool {
    let level =
        directive.rsplit_once('=').map_or(
            directive,
            |(target, level)| {
                if target.is_empty() { "" } else { level }
            },
        );
    level.parse::<log::LevelFilter>().is_ok()
}

/// A browser origin: `scheme://host[:port]`, nothing after it.
fn valid_origin(origin: &str) -> bool {
    url::Url::parse(origin).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host_str().is_some()
            && u.path() == "/"
            && !origin.ends_with('/')
            && u.query().is_none()
            && u.fragment().is_none()
            && u.username().is_empty()
    })
}

/// A duration given as seconds (`30`, `0.5`) or in words (`"30s"`, `"500ms"`, `"1h"`).
fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(u64),
        Float(f64),
        Text(String),
    }
    match Raw::deserialize(de)? {
        Raw::Int(secs) => Ok(Duration::from_secs(secs)),
        Raw::Float(secs) => Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom),
        Raw::Text(text) => match text.trim().parse::<f64>() {
            Ok(secs) => Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom),
            Err(_) => humantime::parse_duration(text.trim()).map_err(|e| {
                serde::de::Error::custom(format!(
                    "{text:?} is not a duration ({e}); write seconds or e.g. \"500ms\", \"30s\", \"1h\""
                ))
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load(dir: &Path, pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::load_from(dir, env(pairs))
    }

    fn repo_config() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    #[test]
    fn no_configuration_means_the_embedded_database_on_port_8080() {
        let s = load(Path::new("/nonexistent"), &[]).unwrap();
        assert_eq!(s.server.port, 8080);
        assert!(matches!(
            s.database_target().unwrap(),
            DatabaseTarget::Embedded(_)
        ));
        assert_eq!(s.database.table, "hourly_download_data");
    }

    #[test]
    fn plain_variables_of_the_original_are_honoured() {
        let s = load(
            Path::new("/nonexistent"),
            &[
                ("DATABASE_URI", "postgresql+pg8000://u:p@db/stats"),
                ("PORT", "9000"),
            ],
        )
        .unwrap();
        assert_eq!(s.server.port, 9000);
        assert_eq!(
            s.database_target().unwrap(),
            DatabaseTarget::External("postgres://u:p@db/stats".into())
        );
        let s = load(
            Path::new("/nonexistent"),
            &[("DATABASE_URL", "mysql+pymysql://r@h/d")],
        )
        .unwrap();
        assert_eq!(
            s.database_target().unwrap(),
            DatabaseTarget::External("mysql://r@h/d".into())
        );
    }

    #[test]
    fn prefixed_variables_beat_plain_ones_and_files() {
        let s = load(
            &repo_config(),
            &[
                ("PORT", "9000"),
                ("STATS__SERVER__PORT", "9100"),
                ("STATS__DATABASE__TABLE", "hourly_downloads"),
                ("STATS__DATABASE__ACQUIRE_TIMEOUT", "250ms"),
                (
                    "STATS__CORS__ALLOWED_ORIGINS",
                    "https://a.example,https://b.example",
                ),
            ],
        )
        .unwrap();
        assert_eq!(s.server.port, 9100);
        assert_eq!(s.database.table, "hourly_downloads");
        assert_eq!(s.database.acquire_timeout, Duration::from_millis(250));
        assert_eq!(
            s.cors.allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
    }

    #[test]
    fn a_bad_setting_names_the_key_and_the_value() {
        let err = load(
            Path::new("/nonexistent"),
            &[("STATS__SERVER__PORT", "eighty")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("server.port") && err.contains("eighty"),
            "{err}"
        );
        let err = load(
            Path::new("/nonexistent"),
            &[("STATS__DATABASE__TABLE", "x; drop")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("database.table") && err.contains("x; drop"),
            "{err}"
        );
        let err = load(
            Path::new("/nonexistent"),
            &[("DATABASE_URI", "oracle://u:secret@h/d")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("database.url") && err.contains("oracle") && !err.contains("secret"),
            "{err}"
        );
        let err = load(
            Path::new("/nonexistent"),
            &[("STATS__DATABASE__STATEMENT_TIMEOUT", "soon")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("statement_timeout") && err.contains("soon"),
            "{err}"
        );
        let err = load(
            Path::new("/nonexistent"),
            &[("STATS__SERVER__MAX_GROUPS", "0")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("server.max_groups"), "{err}");
    }

    #[test]
    fn a_bad_log_level_cors_origin_or_port_is_refused_naming_what_was_set() {
        let err = |pairs: &[(&str, &str)]| {
            load(Path::new("/nonexistent"), pairs)
                .unwrap_err()
                .to_string()
        };
        let e = err(&[("STATS__LOG__LEVEL", "loud")]);
        assert!(e.contains("log.level") && e.contains("loud"), "{e}");
        let e = err(&[("STATS__LOG__LEVEL", "info,sqlx=chatty")]);
        assert!(e.contains("sqlx=chatty"), "{e}");
        let e = err(&[(
            "STATS__CORS__ALLOWED_ORIGINS",
            "https://a.example,not an origin",
        )]);
        assert!(
            e.contains("cors.allowed_origins") && e.contains("not an origin"),
            "{e}"
        );
        let e = err(&[("STATS__CORS__ALLOWED_ORIGINS", "https://a.example/path")]);
        assert!(e.contains("cors.allowed_origins"), "{e}");
        let e = err(&[("PORT", "abc")]);
        assert!(
            e.contains("PORT") && e.contains("abc") && !e.contains("server.port"),
            "{e}"
        );
        let ok = load(
            Path::new("/nonexistent"),
            &[
                ("STATS__LOG__LEVEL", "warn,stats_backend=debug"),
                (
                    "STATS__CORS__ALLOWED_ORIGINS",
                    "https://a.example,http://localhost:3000",
                ),
            ],
        );
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn socket_urls_of_the_original_drivers_become_sqlx_ones() {
        let cases = [
            (
                "postgresql+pg8000://reader:pw@/stats?unix_sock=/cloudsql/proj:us-central1:db/.s.PGSQL.5432",
                "postgres://reader:pw@localhost/stats?host=%2Fcloudsql%2Fproj%3Aus-central1%3Adb",
            ),
            (
                "mysql+pymysql://reader:pw@/stats?unix_socket=/cloudsql/proj:us-central1:db",
                "mysql://reader:pw@localhost/stats?socket=%2Fcloudsql%2Fproj%3Aus-central1%3Adb",
            ),
            (
                "postgres://reader@localhost/stats?host=/var/run/postgresql",
                "postgres://reader@localhost/stats?host=%2Fvar%2Frun%2Fpostgresql",
            ),
            (
                "postgres://u@db.example:5433/stats",
                "postgres://u@db.example:5433/stats",
            ),
        ];
        for (given, want) in cases {
            assert_eq!(normalize_database_url(given).unwrap(), want, "{given}");
        }
        assert!(normalize_database_url("postgres:///stats").is_err());
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let err = load(Path::new("/nonexistent"), &[("STATS__SERVER__PROT", "1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn the_built_in_defaults_parse_and_secrets_are_not_printed() {
        let s = Settings::builtin().unwrap();
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.cache.warm_timezones.len(), 11);
        let s = load(
            Path::new("/nonexistent"),
            &[
                ("DATABASE_URI", "postgres://reader:hunter2@db/stats"),
                ("STATS__OPS__TOKEN", "sesame-open"),
            ],
        )
        .unwrap();
        let printed = format!("{s:?}");
        assert!(
            !printed.contains("hunter2") && !printed.contains("sesame-open"),
            "{printed}"
        );
        assert_eq!(s.ops_token(), Some("sesame-open"));
    }

    #[test]
    fn the_shipped_config_files_match_the_settings_struct() {
        for profile in ["", "production", "test"] {
            let pairs: Vec<(&str, &str)> = if profile.is_empty() {
                vec![]
            } else {
                vec![("STATS_ENV", profile)]
            };
            load(&repo_config(), &pairs).unwrap_or_else(|e| panic!("profile {profile:?}: {e}"));
        }
    }
}
