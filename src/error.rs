//! The one error type of the HTTP layer. Every failure a client can see is an [`ApiError`];
//! each variant's doc names its status, and every body is `{"error": "..."}`.
//!
//! Which error goes where: bad parameters are `BadRequest` (written by `stats::params`),
//! a database that cannot be reached or that timed out is `Unavailable`, anything else the
//! database says is `Internal` (logged in full, answered with a fixed message).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use sea_orm::{DbErr, RuntimeErr};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request's parameters are wrong; the message names the parameter and what is allowed.
    #[error("{0}")]
    BadRequest(String),
    /// 414: the query string is longer than any legitimate one.
    #[error("{0}")]
    UriTooLong(String),
    /// 431: the request headers are larger than any legitimate ones.
    #[error("{0}")]
    HeadersTooLarge(String),
    /// 401: the ops endpoints need `Authorization: Bearer <ops token>`.
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// 404: no such route.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists but not for this method.
    #[error("method {method} not allowed; use {allowed}")]
    MethodNotAllowed {
        method: String,
        allowed: &'static str,
    },
    /// 422: the parameters are valid, but the answer would be larger than the service builds
    /// (`server.max_groups`); the message says how to narrow the request.
    #[error("{0}")]
    TooLarge(String),
    /// 503: the database is unreachable, or it did not answer in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected database answer; the detail goes to the log only.
    #[error("Internal server error")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        // An internal error's detail is logged with the request id by `telemetry::finish`; an
        // outage was logged with the driver's message where the database error was mapped.
        let mut builder = HttpResponse::build(self.status_code());
        if let Self::MethodNotAllowed { allowed, .. } = self {
            builder.insert_header((actix_web::http::header::ALLOW, *allowed));
        }
        if let Self::Unauthorized = self {
            builder.insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer"));
        }
        builder.json(serde_json::json!({ "error": self.to_string() }))
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        Self::from_db(&err)
    }
}

impl ApiError {
    /// The client's view of a failed answer.
    pub fn from_stats(err: &crate::stats::StatsError) -> Self {
        match err {
            crate::stats::StatsError::Db(e) => Self::from_db(e),
            too_large @ crate::stats::StatsError::TooLarge { .. } => {
                Self::TooLarge(too_large.to_string())
            }
        }
    }

    /// The client's view of a database error (the cache hands errors out shared, by reference).
    pub fn from_db(err: &DbErr) -> Self {
        if is_unavailable(err) {
            // The message shown is generic on purpose: driver messages may carry host names.
            log::warn!("database error: {err}");
            Self::Unavailable("the database did not answer in time; try again shortly".into())
        } else {
            Self::Internal(err.to_string())
        }
    }
}

/// Outages and timeouts, as opposed to errors in the query itself.
pub fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    let runtime = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(r) | DbErr::Exec(r) | DbErr::Query(r) => r,
        _ => return false,
    };
    match runtime {
        RuntimeErr::SqlxError(e) => match e.as_ref() {
            Sqlx::Io(_)
            | Sqlx::Tls(_)
            | Sqlx::PoolTimedOut
            | Sqlx::PoolClosed
            | Sqlx::WorkerCrashed
            | Sqlx::Protocol(_) => true,
            Sqlx::Database(db) => {
                // MariaDB 1969 and MySQL 3024: max statement/execution time exceeded;
                // 1317: query interrupted (KILL QUERY, shutdown).
                if let Some(my) = db.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
                {
                    return matches!(my.number(), 1969 | 3024 | 1317 | 1053);
                }
                // PostgreSQL 57014 query_canceled (statement_timeout), 57P01..03 shutdown and
                // cannot-connect-now, 53300 too many connections.
                matches!(
                    db.code().as_deref(),
                    Some("57014" | "57P01" | "57P02" | "57P03" | "53300")
                )
            }
            _ => false,
        },
        RuntimeErr::Internal(_) => false,
        #[allow(unreachable_patterns)]
        _ => false,
    }
}
