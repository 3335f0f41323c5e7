//! Every error the API can give, mapped to `application/problem+json`
//! (RFC 9457) in this one place. Each kind has a stable `type` URI that
//! clients can match on; internal failures are logged with their cause and
//! answered with a bare 500 that leaks nothing.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use herald_app::AppError;
use herald_core::DomainError;
use herald_core::token::TokenError;
use serde::Serialize;
use utoipa::ToSchema;

/// Prefix of every problem `type`.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:herald:problem:";

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Stable, machine-readable kind, e.g. `urn:herald:problem:validation`.
    #[serde(rename = "type")]
    #[schema(example = "urn:herald:problem:validation")]
    pub kind: String,
    /// Short human summary of the kind.
    #[schema(example = "Invalid input")]
    pub title: &'static str,
    /// The HTTP status code.
    #[schema(example = 422)]
    pub status: u16,
    /// What went wrong with this request.
    #[schema(example = "invalid channel name: must not be empty")]
    pub detail: String,
    /// The request's id, as in its `X-Request-Id` answer header and in
    /// Herald's log lines for it: quote it when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "0192f1c4-6a2b-7cc1-9d8e-3f1a2b4c5d6e")]
    pub request_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A use case's error.
    #[error(transparent)]
    App(#[from] AppError),
    /// No credentials, or credentials that match nothing.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials without the right to do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// Malformed request syntax (JSON, query string, headers).
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The path and query string are longer than Herald accepts.
    #[error("{0}")]
    UriTooLong(String),
    /// Too many headers, one too large, or too many bytes of them.
    #[error("{0}")]
    HeadersTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// An `Idempotency-Key` sent again with a different request.
    #[error("{0}")]
    IdempotencyKeyReused(String),
    /// An `Idempotency-Key` whose first request is still running.
    #[error("{0}")]
    IdempotencyInProgress(String),
    /// This node should not get traffic yet (`/readyz`).
    #[error("{0}")]
    NotReady(String),
    /// The path exists, but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Herald was asked to mint a token but holds no secret to sign it with.
    #[error("{0}")]
    NoSigningKey(String),
    /// A failure that is Herald's fault, with its cause for the log.
    #[error("{0}")]
    Internal(String),
}

/// (status, stable code, title) of a use case's error.
fn app_parts(e: &AppError) -> (StatusCode, &'static str, &'static str) {
    use StatusCode as S;
    match e {
        AppError::Domain(d) => domain_parts(d),
        AppError::NotFound(_) => (S::NOT_FOUND, "not-found", "Not found"),
        AppError::Conflict(_) => (S::CONFLICT, "conflict", "Conflict"),
        AppError::Unauthorized(_) => (S::UNAUTHORIZED, "unauthorized", "Unauthorized"),
        AppError::Forbidden(_) => (S::FORBIDDEN, "forbidden", "Forbidden"),
        AppError::Rejected(_) => (S::BAD_REQUEST, "bad-request", "Malformed request"),
        AppError::TooLarge(_) => (S::PAYLOAD_TOO_LARGE, "payload-too-large", "Payload too large"),
        AppError::QuotaExceeded { .. } => (S::TOO_MANY_REQUESTS, "quota-exceeded", "Quota exceeded"),
        AppError::PluginQuotaExceeded(_) => (S::CONFLICT, "plugin-quota-exceeded", "Plugin quota exceeded"),
        AppError::TooManyConnections(_) => (S::TOO_MANY_REQUESTS, "too-many-connections", "Too many connections from this address"),
        AppError::IdempotencyKeyReused(_) => (S::UNPROCESSABLE_ENTITY, "idempotency-key-reused", "Idempotency key reused"),
        AppError::IdempotencyInProgress(_) => (S::CONFLICT, "idempotency-in-progress", "Request in progress"),
        AppError::TenantSuspended(_) => (S::FORBIDDEN, "tenant-suspended", "Tenant suspended"),
        AppError::NoSigningKey(_) => (S::CONFLICT, "no-signing-key", "No signing key to sign with"),
        AppError::UnknownNotification(_) => (S::UNPROCESSABLE_ENTITY, "unknown-notification", "No such notification"),
        AppError::TooManyReadReceipts(_) => (S::CONFLICT, "too-many-read-receipts", "Too many notifications marked read one by one"),
        AppError::NotReady(_) => (S::SERVICE_UNAVAILABLE, "not-ready", "Not ready"),
        AppError::PluginsBusy(_) => (S::SERVICE_UNAVAILABLE, "plugins-busy", "The tenant's plugin hooks are behind"),
        AppError::HookBudgetExhausted(_) => (S::TOO_MANY_REQUESTS, "plugin-budget-exhausted", "Deliver hooks used up their time"),
        AppError::Busy => (S::SERVICE_UNAVAILABLE, "unavailable", "Database busy"),
        AppError::ShuttingDown => (S::SERVICE_UNAVAILABLE, "unavailable", "Shutting down"),
        AppError::Storage(_) | AppError::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
    }
}

fn domain_parts(d: &DomainError) -> (StatusCode, &'static str, &'static str) {
    use StatusCode as S;
    match d {
        DomainError::Invalid { .. } => (S::UNPROCESSABLE_ENTITY, "validation", "Invalid input"),
        DomainError::ScopeDenied(_) => (S::FORBIDDEN, "scope-denied", "Channel outside the token's scope"),
        DomainError::Token(TokenError::NotYetValid { .. }) => (S::UNAUTHORIZED, "token-not-yet-valid", "Subscriber token not valid yet"),
        DomainError::Token(TokenError::WrongIssuer) => (S::UNAUTHORIZED, "token-wrong-issuer", "Subscriber token from another issuer"),
        DomainError::Token(TokenError::WrongAudience) => (S::UNAUTHORIZED, "token-wrong-audience", "Subscriber token for another audience"),
        DomainError::Token(TokenError::LifetimeTooLong { .. }) => {
            (S::UNAUTHORIZED, "token-lifetime-too-long", "Subscriber token lives too long")
        }
        DomainError::Token(_) => (S::UNAUTHORIZED, "invalid-token", "Invalid subscriber token"),
    }
}

impl ApiError {
    /// (status, stable code, title)
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            ApiError::Domain(d) => domain_parts(d),
            ApiError::App(e) => app_parts(e),
            ApiError::NotFound(_) => (S::NOT_FOUND, "not-found", "Not found"),
            ApiError::Unauthorized(_) => (S::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => (S::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::BadRequest(_) => (S::BAD_REQUEST, "bad-request", "Malformed request"),
            ApiError::PayloadTooLarge(_) => (S::PAYLOAD_TOO_LARGE, "payload-too-large", "Payload too large"),
            ApiError::UriTooLong(_) => (S::URI_TOO_LONG, "uri-too-long", "URI too long"),
            ApiError::HeadersTooLarge(_) => (S::REQUEST_HEADER_FIELDS_TOO_LARGE, "headers-too-large", "Request headers too large"),
            ApiError::UnsupportedMediaType(_) => (S::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported media type"),
            ApiError::IdempotencyKeyReused(_) => (S::UNPROCESSABLE_ENTITY, "idempotency-key-reused", "Idempotency key reused"),
            ApiError::IdempotencyInProgress(_) => (S::CONFLICT, "idempotency-in-progress", "Request in progress"),
            ApiError::NotReady(_) => (S::SERVICE_UNAVAILABLE, "not-ready", "Not ready"),
            ApiError::MethodNotAllowed(_) => (S::METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed"),
            ApiError::NoSigningKey(_) => (S::CONFLICT, "no-signing-key", "No signing key to sign with"),
            ApiError::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, title) = self.parts();
        let detail = if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %self, source = ?std::error::Error::source(self), "internal error");
            "an internal error occurred; it has been logged".to_owned()
        } else {
            self.to_string()
        };
        let request_id = crate::request_id::current().map(|id| id.as_str().to_owned());
        let body = Problem { kind: format!("{PROBLEM_TYPE_PREFIX}{code}"), title, status: status.as_u16(), detail, request_id };
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json")));
        if status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        match self {
            ApiError::App(AppError::Busy | AppError::PluginsBusy(_)) => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            ApiError::App(AppError::HookBudgetExhausted(_)) => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("10")));
            }
            ApiError::App(AppError::TooManyConnections(_)) => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            ApiError::App(AppError::QuotaExceeded { retry_after, .. }) => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from((*retry_after).max(1))));
            }
            _ => {}
        }
        res.body(serde_json::to_string(&body).expect("problem serializes"))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Maps actix's JSON body errors to problems.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let api = match err {
        J::OverflowKnownLength { length, limit } => ApiError::PayloadTooLarge(format!("the body is {length} bytes; the limit is {limit}")),
        J::Overflow { limit } => ApiError::PayloadTooLarge(format!("the body exceeds the limit of {limit} bytes")),
        J::ContentType => ApiError::UnsupportedMediaType("send the body as `Content-Type: application/json`".into()),
        J::Deserialize(e) if e.is_data() => ApiError::Domain(DomainError::invalid("body", e.to_string())),
        J::Deserialize(e) => ApiError::BadRequest(format!("the body is not valid JSON: {e}")),
        other => ApiError::BadRequest(other.to_string()),
    };
    api.into()
}

/// Maps query string errors to problems.
pub fn query_error(err: actix_web::error::QueryPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::BadRequest(format!("invalid query string: {err}")).into()
}

/// Maps path errors (malformed ids) to 404: the addressed thing cannot exist.
pub fn path_error(err: actix_web::error::PathError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::NotFound(format!("no such resource: {err}")).into()
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody;

    use super::*;

    #[test]
    fn a_busy_database_is_a_503_to_retry_not_an_internal_error() {
        let res = ApiError::App(AppError::Busy).error_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers().get(header::RETRY_AFTER).unwrap(), "1");
        let body: serde_json::Value = serde_json::from_slice(&res.into_body().try_into_bytes().unwrap()).unwrap();
        assert_eq!(body["type"], format!("{PROBLEM_TYPE_PREFIX}unavailable"));
        assert_eq!(body["detail"], "no database connection came free in time");
    }
}
