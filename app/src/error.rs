use serde::{Deserialize, Serialize};

/// The one error shape of the REST API and the dashboard's server functions:
/// `{"error":{"code":"snake_case","message":"human sentence"}}` with an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status code.
    #[serde(skip, default = "internal_status")]
    pub status: u16,
    /// Stable machine-readable code, such as `invalid_credentials`.
    pub code: String,
    /// A sentence for a person.
    pub message: String,
}

fn internal_status() -> u16 {
    500
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }
    /// 400 with the given code.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }
    /// 401: no valid session or token.
    pub fn unauthorized() -> Self {
        Self::new(401, "unauthorized", "Sign in or send a valid API token.")
    }
    /// 404 with the given code.
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }
    /// 500 that tells the client nothing; the cause is logged where it happened.
    pub fn internal() -> Self {
        Self::new(
            500,
            "internal_error",
            "Something went wrong on the server; it has been logged.",
        )
    }
}

/// The JSON body of an error response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ApiError,
}

#[cfg(feature = "ssr")]
impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let status = axum::http::StatusCode::from_u16(self.status)
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(ErrorBody { error: self })).into_response()
    }
}

impl leptos::server_fn::error::FromServerFnError for ApiError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        use leptos::server_fn::error::ServerFnErrorErr as E;
        // What the caller sent wrong is a 400, not the server's fault.
        let error = match &value {
            E::Args(_) | E::Deserialization(_) | E::MissingArg(_) => {
                Self::new(400, "invalid_arguments", value.to_string())
            }
            E::UnsupportedRequestMethod(_) => {
                Self::new(405, "method_not_allowed", value.to_string())
            }
            _ => Self::new(500, "server_function_error", value.to_string()),
        };
        #[cfg(feature = "ssr")]
        if let Some(options) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
            && let Ok(status) = axum::http::StatusCode::from_u16(error.status)
        {
            options.set_status(status);
        }
        error
    }
}
