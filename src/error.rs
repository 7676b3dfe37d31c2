//! The one error type of the HTTP layer. Every failure a client can see is an [`ApiError`];
//! each variant's doc names its status, and every body is an [`ErrorBody`].
//!
//! Which error goes where: the domain's [`ParamError`] becomes `BadRequest` (or `UriTooLong`),
//! its [`StatsError`] becomes `Unavailable` when the database could not be reached or timed
//! out, `TooLarge` for an answer past `server.max_groups`, and `Internal` otherwise (logged in
//! full, answered with a fixed message).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use sea_orm::DbErr;

use crate::stats::{ParamError, StatsError};

/// The body of every error.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What is wrong, naming the parameter and the allowed values.
    pub error: String,
}

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
        builder.json(ErrorBody {
            error: self.to_string(),
        })
    }
}

impl From<ParamError> for ApiError {
    fn from(err: ParamError) -> Self {
        match err {
            ParamError::Invalid(message) => Self::BadRequest(message),
            ParamError::TooLong(message) => Self::UriTooLong(message),
        }
    }
}

impl From<&StatsError> for ApiError {
    fn from(err: &StatsError) -> Self {
        match err {
            StatsError::Db(e) => Self::from(e),
            too_large @ StatsError::TooLarge { .. } => Self::TooLarge(too_large.to_string()),
            render @ StatsError::Render(_) => Self::Internal(render.to_string()),
        }
    }
}

/// The cache hands errors out shared.
impl From<Arc<StatsError>> for ApiError {
    fn from(err: Arc<StatsError>) -> Self {
        Self::from(err.as_ref())
    }
}

impl From<&DbErr> for ApiError {
    fn from(err: &DbErr) -> Self {
        if crate::db::is_unavailable(err) {
            // The message shown is generic on purpose: driver messages may carry host names.
            log::warn!("database error: {err}");
            Self::Unavailable("the database did not answer in time; try again shortly".into())
        } else {
            Self::Internal(err.to_string())
        }
    }
}
