//! The one error type of the product, mapped to the contract's error body.

use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        message: String,
        field: Option<String>,
    },
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    PlanRequired(String),
    #[error("{0}")]
    FeatureDisabled(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict {
        message: String,
        field: Option<String>,
    },
    #[error("the resource has changed since it was read")]
    PreconditionFailed,
    #[error("this path does not support that method; it supports {allow}")]
    MethodNotAllowed { allow: String },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request URI is longer than {limit} bytes")]
    UriTooLong { limit: usize },
    #[error("{message}")]
    Validation { field: String, message: String },
    /// Too many of a costly request in a window: the answer says when the next one may go.
    #[error("{message}; try again in {retry_after_seconds} s")]
    RateLimited {
        message: &'static str,
        retry_after_seconds: u64,
    },
    /// Never shown to the caller: the cause is logged and the answer is opaque.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            field: None,
        }
    }

    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn conflict(field: Option<&str>, message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
            field: field.map(str::to_owned),
        }
    }

    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(cause.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::PlanRequired(_) | Self::FeatureDisabled(_) => {
                StatusCode::FORBIDDEN
            }
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::PlanRequired(_) => "plan_required",
            Self::FeatureDisabled(_) => "feature_disabled",
            Self::NotFound(_) => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::PreconditionFailed => "precondition_failed",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UriTooLong { .. } => "uri_too_long",
            Self::Validation { .. } => "validation_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Internal(_) => "internal",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::BadRequest { field, .. } | Self::Conflict { field, .. } => field.as_deref(),
            Self::Validation { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The contract's error body. Internal errors log their cause chain here, once.
    pub fn to_body(&self) -> serde_json::Value {
        if let Self::Internal(cause) = self {
            tracing::error!(error = %ErrorChain(cause.as_ref()), "request failed");
        }
        let mut error = serde_json::json!({"code": self.code(), "message": self.to_string()});
        if let Some(field) = self.field() {
            error["field"] = field.into();
        }
        serde_json::json!({ "error": error })
    }
}

/// What the store, the queues, the key service and the workers report, in the domain's words:
/// what happened, not which status it deserves. Only the HTTP edge turns it into one, through
/// `From<DomainError> for ApiError`; a worker logs it and lets the queue retry.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The object, or the parent it hangs from, does not exist (another org's never does).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The object exists, but not at the version the caller named.
    #[error("the {0} has changed since it was read")]
    Stale(&'static str),
    /// Other writers kept winning the race for the same object; a later try may succeed.
    #[error("{0}")]
    Contended(&'static str),
    /// A page was asked to start outside the list being read.
    #[error("the cursor is not valid for this list")]
    ForeignCursor,
    /// A dependency (the table, the bucket, a queue, the key service) failed, or answered
    /// something this code cannot read.
    #[error("a dependency failed")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl DomainError {
    pub fn failed(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Failed(cause.into())
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::NotFound(what) => ApiError::NotFound(what),
            DomainError::Stale(_) => ApiError::PreconditionFailed,
            DomainError::Contended(message) => ApiError::conflict(None, message),
            DomainError::ForeignCursor => crate::cursor::bad_cursor(),
            DomainError::Failed(cause) => ApiError::Internal(cause),
        }
    }
}

/// Displays an error with every source in its chain, for logs.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_error_names_its_field() {
        let body = ApiError::validation("label", "too long").to_body();
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "validation_failed", "message": "too long", "field": "label"}})
        );
    }

    #[test]
    fn internal_error_hides_its_cause() {
        let err = ApiError::internal(std::io::Error::other("table ContactsTable is on fire"));
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = err.to_body();
        assert_eq!(body["error"]["code"], "internal");
        assert!(!body.to_string().contains("fire"));
    }

    #[test]
    fn domain_errors_become_the_contract_statuses_at_the_edge() {
        let cases = [
            (DomainError::NotFound("contact"), StatusCode::NOT_FOUND),
            (
                DomainError::Stale("contact"),
                StatusCode::PRECONDITION_FAILED,
            ),
            (DomainError::Contended("busy"), StatusCode::CONFLICT),
            (DomainError::ForeignCursor, StatusCode::BAD_REQUEST),
            (
                DomainError::failed("table gone"),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (domain, status) in cases {
            assert_eq!(ApiError::from(domain).status(), status);
        }
        let hidden = ApiError::from(DomainError::failed("table ContactsTable is on fire"));
        assert!(!hidden.to_body().to_string().contains("fire"));
    }

    #[test]
    fn plan_and_role_refusals_share_403_but_not_code() {
        assert_eq!(
            ApiError::Forbidden("x".into()).status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(ApiError::PlanRequired("x".into()).code(), "plan_required");
        assert_eq!(ApiError::Forbidden("x".into()).code(), "forbidden");
    }
}
