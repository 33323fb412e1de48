//! The REST API's one error shape, `{"error": {"code": "...", "message": "..."}}`, for every
//! failure: refusals of the server's handlers (their control-protocol [`ErrorCode`] with an
//! HTTP status), and axum's own rejections (unknown route, wrong method, bad JSON, body too
//! large, wrong content type), which the extractor wrappers here turn into the same shape.

use crate::proto::ErrorCode;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A failed request, as the caller will be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail {
    /// Machine-readable: a control-protocol error code (`invalid_credentials`, `forbidden`,
    /// `not_found`, `invalid_argument`, `rate_limited`, …) or one of the HTTP-only codes
    /// `method_not_allowed`, `payload_too_large`, `unsupported_media_type`.
    code: String,
    /// Plain-words explanation.
    message: String,
}

impl ApiError {
    /// A refusal with a control-protocol code, with the HTTP status that matches it.
    pub(crate) fn from_code(code: ErrorCode, message: impl Into<String>) -> ApiError {
        use ErrorCode::*;
        let status = match code {
            BadFrame | InvalidArgument | InviteInvalid | UnsupportedVersion | RegistrationClosed => {
                StatusCode::BAD_REQUEST
            }
            InvalidCredentials => StatusCode::UNAUTHORIZED,
            Forbidden
            | PasswordChangeRequired
            | NotAllowedNow
            | Banned
            | TimedOut
            | Filtered
            | AwaitingApproval
            | Kicked
            | Supervised
            | QuietHours => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            UsernameTaken | LimitReached => StatusCode::CONFLICT,
            FrameTooLarge | FileTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RateLimited | SlowMode => StatusCode::TOO_MANY_REQUESTS,
            ServerFull | Timeout | SlowConsumer | SessionEnded => StatusCode::SERVICE_UNAVAILABLE,
            DiskFull | StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let code = serde_json::to_value(code).ok().and_then(|value| value.as_str().map(str::to_string));
        ApiError { status, code: code.unwrap_or_else(|| "internal".into()), message: message.into() }
    }

    /// An HTTP-level refusal (no control-protocol code matches it).
    fn http(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, code: code.into(), message: message.into() }
    }

    /// An axum rejection of the request's path, query or body, by its status.
    fn rejected(status: StatusCode, message: String) -> ApiError {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::http(status, "payload_too_large", message),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::http(status, "unsupported_media_type", message),
            status if status.is_server_error() => ApiError::from_code(ErrorCode::Internal, message),
            _ => ApiError::from_code(ErrorCode::InvalidArgument, message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message } };
        (self.status, axum::Json(body)).into_response()
    }
}

/// A JSON request body, refused in the one error shape.
#[derive(Debug)]
pub(crate) struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    ApiError::rejected(rejection.status(), rejection.body_text())
}

/// Path parameters, refused in the one error shape.
#[derive(Debug)]
pub(crate) struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    ApiError::rejected(rejection.status(), rejection.body_text())
}

/// Query parameters, refused in the one error shape. Values that read as whole numbers are
/// numbers, the rest strings (as sent; the API's queries take numbers only).
#[derive(Debug)]
pub(crate) struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let mut fields = serde_json::Map::new();
        for pair in parts.uri.query().unwrap_or_default().split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = match value.parse::<i64>() {
                Ok(number) => serde_json::Value::from(number),
                Err(_) => serde_json::Value::from(value),
            };
            fields.insert(key.to_string(), value);
        }
        serde_json::from_value(serde_json::Value::Object(fields))
            .map(Query)
            .map_err(|err| ApiError::from_code(ErrorCode::InvalidArgument, format!("query: {err}")))
    }
}

/// The answer for a path no route has.
pub(crate) async fn no_route() -> ApiError {
    ApiError::from_code(ErrorCode::NotFound, "no such endpoint; see /api/openapi.json")
}

/// The answer for a method the path does not take.
pub(crate) async fn wrong_method() -> ApiError {
    ApiError::http(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint does not take that method")
}
