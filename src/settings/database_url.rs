//! The database URL: the forms sqlx knows plus the SQLAlchemy ones of the original, and a
//! `Debug` that never shows the password.

use super::SettingsError;

/// `database.url` as given; its `Debug` hides the password.
#[derive(Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

/// Accepts the URL forms sqlx knows plus the SQLAlchemy ones of the original
/// (`postgresql+pg8000://`, `mysql+pymysql://`) and `mariadb://`.
pub fn normalize_database_url(url: &str) -> Result<String, SettingsError> {
    let invalid = |reason: String| SettingsError::Invalid {
        key: "database.url",
        value: redact_url(url),
        reason,
    };
    let (scheme, rest) = url
        .split_once(':')
        .ok_or_else(|| invalid("expected a URL such as postgres://user@host/db".into()))?;
    let base = scheme
        .split('+')
        .next()
        .unwrap_or(scheme)
        .to_ascii_lowercase();
    let scheme = match base.as_str() {
        "postgres" | "postgresql" => "postgres",
        "mysql" | "mariadb" => "mysql",
        "sqlite" => "sqlite",
        other => {
            return Err(invalid(format!(
                "unsupported scheme '{other}': use postgres, postgresql, mysql, mariadb or sqlite"
            )));
        }
    };
    let normalized = format!("{scheme}:{rest}");
    if scheme == "sqlite" {
        return Ok(normalized);
    }
    socket_forms(&normalized).map_err(invalid)
}

/// The SQLAlchemy drivers' socket parameters in sqlx's words: pg8000's
/// `?unix_sock=/cloudsql/INSTANCE/.s.PGSQL.5432` becomes `?host=/cloudsql/INSTANCE` (sqlx takes
/// the socket's directory) and pymysql's `?unix_socket=PATH` becomes `?socket=PATH`. A URL
/// with an empty host (`user@/db`, as Cloud SQL examples write it) gets `localhost`.
fn socket_forms(url: &str) -> Result<String, String> {
    // The URL parser refuses credentials without a host, the form socket URLs use.
    let empty_host = url.contains("@/") || url.contains(":///");
    let url = url.replacen("@/", "@localhost/", 1);
    let mut parsed = url::Url::parse(&url).map_err(|e| format!("not a URL: {e}"))?;
    let postgres = parsed.scheme() == "postgres";
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let (k, v) = (k.into_owned(), v.into_owned());
            match k.as_str() {
                "unix_sock" if postgres => {
                    let dir = match v.rsplit_once('/') {
                        Some((dir, file)) if file.starts_with(".s.PGSQL.") => dir.to_string(),
                        _ => v,
                    };
                    ("host".to_string(), dir)
                }
                "unix_socket" if !postgres => ("socket".to_string(), v),
                _ => (k, v),
            }
        })
        .collect();
    let uses_socket = pairs.iter().any(|(k, _)| k == "host" || k == "socket");
    if !pairs.is_empty() {
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    if empty_host || parsed.host_str().is_none_or(str::is_empty) {
        if !uses_socket {
            return Err("the URL names no host".into());
        }
        parsed
            .set_host(Some("localhost"))
            .map_err(|e| format!("cannot set the host: {e}"))?;
    }
    Ok(parsed.to_string())
}

/// The URL with its password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // set_password only fails for URLs that cannot carry one, which this one does.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) => "<unparseable URL>".to_string(),
    }
}
