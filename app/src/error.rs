use serde::{Deserialize, Serialize};

/// A field of a request body whose rule a value broke; its code is `invalid_<field>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Username,
    Password,
    Name,
    Label,
    Tags,
    Ttl,
    MaxUses,
    AlertRule,
    Channel,
    Silence,
    Comment,
    /// An audit log entry's index (beyond the log, or the tree asked for).
    LogIndex,
    /// A size of the audit log (larger than the log).
    LogSize,
    /// A user's role.
    Role,
    /// A one-time code.
    TotpCode,
    /// A field of a tracked app (name, owner, runbook, notes, restart command).
    App,
    /// An app's identifier, by its type's grammar.
    Identifier,
    /// The reason given for a restart.
    Reason,
}

impl Field {
    fn code(self) -> &'static str {
        match self {
            Field::Username => "invalid_username",
            Field::Password => "invalid_password",
            Field::Name => "invalid_name",
            Field::Label => "invalid_label",
            Field::Tags => "invalid_tags",
            Field::Ttl => "invalid_ttl",
            Field::MaxUses => "invalid_max_uses",
            Field::AlertRule => "invalid_alert_rule",
            Field::Channel => "invalid_channel",
            Field::Silence => "invalid_silence",
            Field::Comment => "invalid_comment",
            Field::LogIndex => "invalid_log_index",
            Field::LogSize => "invalid_log_size",
            Field::Role => "invalid_role",
            Field::TotpCode => "invalid_totp_code",
            Field::App => "invalid_app",
            Field::Identifier => "invalid_identifier",
            Field::Reason => "invalid_reason",
        }
    }
}

/// Why a request failed: one variant per kind, each with its status, code and sentence
/// here and nowhere else. On the wire (REST and server functions) it is
/// `{"error":{"code":"snake_case","message":"human sentence"}}` with [`status`](Self::status).
/// Causes inside the server (database, I/O) are logged where they happen and reach the
/// client only as [`Internal`](Self::Internal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub enum ApiError {
    /// 401: no valid session or token.
    Unauthorized,
    /// 401: the username or password is wrong.
    InvalidCredentials,
    /// 429: sign-ins from this address are throttled.
    TooManyAttempts { retry_after_s: i64 },
    /// 401: the account signs in with a one-time code, and none came.
    TotpRequired,
    /// 401: the one-time code (or recovery code) is wrong, expired or used already.
    InvalidTotp,
    /// 403: the caller's role may not do this.
    Forbidden {
        needed: crate::Role,
        have: crate::Role,
    },
    /// 403: an admin requires a second factor and this user has none yet: only enrolling
    /// one (and signing out) is open.
    TotpEnrollmentRequired,
    /// 403: the user is disabled.
    UserDisabled(String),
    /// 403: a form or API write from another site.
    CrossOrigin,
    /// 403: a session write without its CSRF token.
    CsrfMismatch,
    /// 404: no such route.
    NotFound,
    /// 415: a body that is not JSON.
    UnsupportedMediaType,
    /// 413: a body over the limit.
    PayloadTooLarge,
    /// 400: JSON that does not parse.
    MalformedJson(String),
    /// 422: JSON of the wrong shape.
    InvalidBody(String),
    /// 422: a body field that breaks its rule; the sentence says which rule.
    Invalid(Field, String),
    /// 400: server-function arguments that do not decode.
    InvalidArguments(String),
    /// 405: a server function called with the wrong method.
    MethodNotAllowed(String),
    /// 400: query parameters that do not decode.
    InvalidQuery(String),
    /// 400: a path id that is not a number.
    InvalidId,
    /// 400: a time that is neither RFC 3339 nor unix seconds in range.
    InvalidTime { name: &'static str, text: String },
    /// 400: a step that is not a duration of at least one second.
    InvalidStep,
    /// 400: a time range that is empty or out of bounds.
    InvalidRange(&'static str),
    /// 400: a range of more buckets than one answer holds.
    TooManyPoints { max: i64 },
    /// 400: history asked for without a metric.
    MissingMetric,
    /// 400: a metric this server does not chart.
    InvalidMetric(String),
    /// 400: a series family this server does not chart.
    InvalidFamily(String),
    /// 409: the first account exists already.
    SetupDone,
    /// 409: a user by that name exists.
    UsernameTaken(String),
    /// 409: the thing to create exists already.
    Conflict,
    /// 409: the change would leave no active admin.
    LastAdmin,
    /// 409: TOTP is confirmed already (turn it off first to enroll again).
    TotpAlreadyEnabled,
    /// 409: the user has no confirmed TOTP.
    TotpNotEnabled,
    /// 409: agents need `--mode server`.
    ServerModeRequired,
    /// 404: no host or agent has this id.
    UnknownAgent(String),
    /// 404: no user has this name.
    UnknownUser(String),
    /// 404: no token of this kind has this id (for API tokens: of this user).
    UnknownToken { kind: TokenKind, id: i64 },
    /// 404: not an agent build target.
    UnknownTarget(String),
    /// 404: an agent download (`linux-<arch>` or `image`) is not on this server (yet).
    AgentBuildMissing {
        target: String,
        building: bool,
        path: String,
    },
    /// 404: no item of this kind (alert rule, alert, silence, notification channel) has
    /// this id.
    UnknownItem { kind: &'static str, id: i64 },
    /// 409: only a firing alert can be acknowledged.
    NotFiring(i64),
    /// 409: the alert was acknowledged already.
    AlreadyAcknowledged(i64),
    /// 409: another item has this name.
    NameTaken(String),
    /// 503: every password-hashing slot is taken.
    Busy,
    /// 500: something broke inside; logged where it happened.
    Internal,
    /// 500: the server-function layer failed.
    ServerFunction(String),
    /// Any other status a lower layer answered with (a framework rejection, a timeout),
    /// rewritten into the JSON shape.
    Rejected { status: u16, message: String },
    /// An error as a client received it: the code and message the server sent.
    Reported { code: String, message: String },
}

/// Which kind of token an [`ApiError::UnknownToken`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Api,
    Enrollment,
}

impl ApiError {
    /// A body field that breaks its rule.
    pub fn invalid(field: Field, reason: impl Into<String>) -> Self {
        ApiError::Invalid(field, reason.into())
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        use ApiError::*;
        match self {
            Unauthorized | InvalidCredentials | TotpRequired | InvalidTotp => 401,
            TooManyAttempts { .. } => 429,
            CrossOrigin
            | CsrfMismatch
            | Forbidden { .. }
            | TotpEnrollmentRequired
            | UserDisabled(_) => 403,
            NotFound
            | UnknownAgent(_)
            | UnknownUser(_)
            | UnknownToken { .. }
            | UnknownTarget(_)
            | UnknownItem { .. }
            | AgentBuildMissing { .. } => 404,
            UnsupportedMediaType => 415,
            PayloadTooLarge => 413,
            InvalidBody(_) | Invalid(..) => 422,
            MalformedJson(_)
            | InvalidArguments(_)
            | InvalidQuery(_)
            | InvalidId
            | InvalidTime { .. }
            | InvalidStep
            | InvalidRange(_)
            | TooManyPoints { .. }
            | MissingMetric
            | InvalidMetric(_)
            | InvalidFamily(_) => 400,
            MethodNotAllowed(_) => 405,
            SetupDone
            | UsernameTaken(_)
            | Conflict
            | LastAdmin
            | TotpAlreadyEnabled
            | TotpNotEnabled
            | ServerModeRequired
            | NotFiring(_)
            | AlreadyAcknowledged(_)
            | NameTaken(_) => 409,
            Busy => 503,
            Internal | ServerFunction(_) | Reported { .. } => 500,
            Rejected { status, .. } => *status,
        }
    }

    /// The stable machine-readable code, such as `invalid_credentials`.
    pub fn code(&self) -> &str {
        use ApiError::*;
        match self {
            Unauthorized => "unauthorized",
            InvalidCredentials => "invalid_credentials",
            TotpRequired => "totp_required",
            InvalidTotp => "invalid_totp",
            Forbidden { .. } => "forbidden",
            TotpEnrollmentRequired => "totp_enrollment_required",
            UserDisabled(_) => "user_disabled",
            LastAdmin => "last_admin",
            TotpAlreadyEnabled => "totp_already_enabled",
            TotpNotEnabled => "totp_not_enabled",
            TooManyAttempts { .. } => "too_many_attempts",
            CrossOrigin => "cross_origin_request",
            CsrfMismatch => "csrf_token_mismatch",
            NotFound => "not_found",
            UnsupportedMediaType => "unsupported_media_type",
            PayloadTooLarge => "payload_too_large",
            MalformedJson(_) => "malformed_json",
            InvalidBody(_) => "invalid_body",
            Invalid(field, _) => field.code(),
            InvalidArguments(_) => "invalid_arguments",
            MethodNotAllowed(_) => "method_not_allowed",
            InvalidQuery(_) => "invalid_query",
            InvalidId => "invalid_id",
            InvalidTime { .. } => "invalid_time",
            InvalidStep => "invalid_step",
            InvalidRange(_) => "invalid_range",
            TooManyPoints { .. } => "too_many_points",
            MissingMetric => "missing_metric",
            InvalidMetric(_) => "invalid_metric",
            InvalidFamily(_) => "invalid_family",
            SetupDone => "setup_already_done",
            UsernameTaken(_) => "username_taken",
            Conflict => "conflict",
            ServerModeRequired => "server_mode_required",
            UnknownAgent(_) => "unknown_agent",
            UnknownUser(_) => "unknown_user",
            UnknownToken { .. } => "unknown_token",
            UnknownTarget(_) => "unknown_target",
            AgentBuildMissing { .. } => "agent_build_missing",
            UnknownItem { .. } => "not_found",
            NotFiring(_) => "alert_not_firing",
            AlreadyAcknowledged(_) => "alert_already_acknowledged",
            NameTaken(_) => "name_taken",
            Busy => "busy",
            Internal => "internal_error",
            ServerFunction(_) => "server_function_error",
            Rejected { status, .. } => status_code(*status),
            Reported { code, .. } => code,
        }
    }

    /// A sentence for a person.
    pub fn message(&self) -> String {
        use ApiError::*;
        match self {
            Unauthorized => "Sign in or send a valid API token.".into(),
            InvalidCredentials => "Wrong username or password.".into(),
            TotpRequired => {
                "This account signs in with a one-time code: send it as `totp_code`.".into()
            }
            InvalidTotp => "The one-time code is wrong, expired or used already.".into(),
            Forbidden { needed, have } => {
                format!("This needs the {needed} role; you act as {have}.")
            }
            TotpEnrollmentRequired => {
                "An admin requires a one-time code for every account: set one up under Settings (POST /api/v1/users/me/totp) first.".into()
            }
            LastAdmin => "At least one active admin must remain.".into(),
            UserDisabled(name) => format!("The user {name:?} is disabled."),
            TotpAlreadyEnabled => {
                "One-time codes are set up already; turn them off first to enroll a new device."
                    .into()
            }
            TotpNotEnabled => "One-time codes are not set up for this account.".into(),
            TooManyAttempts { retry_after_s } => format!(
                "Too many failed attempts; try again in {retry_after_s} seconds."
            ),
            CrossOrigin => "Cross-site requests are not accepted.".into(),
            CsrfMismatch => {
                "Send the session's CSRF token (from /api/v1/auth/me) in the X-CSRF-Token header."
                    .into()
            }
            NotFound => "There is no such API route.".into(),
            UnsupportedMediaType => {
                "Send the body as JSON with Content-Type: application/json.".into()
            }
            PayloadTooLarge => "The request body is too large.".into(),
            MalformedJson(detail)
            | InvalidBody(detail)
            | Invalid(_, detail)
            | InvalidArguments(detail)
            | MethodNotAllowed(detail)
            | InvalidQuery(detail)
            | ServerFunction(detail) => detail.clone(),
            InvalidId => "An id is a number.".into(),
            InvalidTime { name, text } => format!(
                "`{name}` must be RFC 3339 (2026-11-21T08:00:00Z) or unix seconds between 1970 and 9999, not {:?}.",
                text.chars().take(64).collect::<String>()
            ),
            InvalidStep => "`step` is whole seconds (60) or a duration (5m), at least 1s.".into(),
            InvalidRange(why) => (*why).into(),
            TooManyPoints { max } => {
                format!("The range holds more than {max} steps; choose a larger step.")
            }
            MissingMetric => "Give `metric`: cpu, memory, disk, net_rx or net_tx.".into(),
            InvalidMetric(name) => format!(
                "Unknown metric {:?}; use one of cpu, memory, disk, net_rx, net_tx.",
                name.chars().take(64).collect::<String>()
            ),
            InvalidFamily(name) => format!(
                "Unknown series family {:?}; use one or more of {}.",
                name.chars().take(64).collect::<String>(),
                crate::SeriesFamily::ALL.map(|f| f.as_str()).join(", ")
            ),
            SetupDone => "Setup has already been completed; sign in instead.".into(),
            UsernameTaken(name) => format!("A user named {name:?} already exists."),
            Conflict => "That already exists.".into(),
            ServerModeRequired => {
                "Agents connect to server mode only: start vantage with --mode server.".into()
            }
            UnknownAgent(id) => format!(
                "No host has the id {:?}.",
                id.chars().take(64).collect::<String>()
            ),
            UnknownUser(name) => format!("No user is named {name:?}."),
            UnknownToken {
                kind: TokenKind::Api,
                id,
            } => format!("You have no API token with id {id}."),
            UnknownToken {
                kind: TokenKind::Enrollment,
                id,
            } => format!("No enrollment token has id {id}."),
            UnknownTarget(target) => format!(
                "No agent build for {:?}; targets are linux-x86_64 and linux-aarch64.",
                target.chars().take(64).collect::<String>()
            ),
            AgentBuildMissing {
                target,
                building: true,
                ..
            } => format!(
                "The vantage-agent {} is still being built (scripts/run builds it after the dashboard starts); try again in a few minutes.",
                build_name(target)
            ),
            AgentBuildMissing { target, path, .. } => format!(
                "This server has no vantage-agent {}: run scripts/build-agents, or copy one to {path} (see the README).",
                build_name(target)
            ),
            UnknownItem { kind, id } => format!("No {kind} has id {id}."),
            NotFiring(id) => {
                format!("Alert {id} is not firing; only a firing alert is acknowledged.")
            }
            AlreadyAcknowledged(id) => format!("Alert {id} is acknowledged already."),
            NameTaken(name) => format!("Another one is named {name:?}; choose another name."),
            Busy => "The server is busy checking other sign-ins; try again in a moment.".into(),
            Internal => "Something went wrong on the server; it has been logged.".into(),
            Rejected { message, .. } | Reported { message, .. } => message.clone(),
        }
    }
}

/// The code of a status answered by a lower layer.
fn status_code(status: u16) -> &'static str {
    match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "invalid_body",
        429 => "too_many_requests",
        500..=599 => "internal_error",
        _ => "request_failed",
    }
}

/// The wire form of an error.
#[derive(Serialize, Deserialize)]
struct Wire {
    code: String,
    message: String,
}

impl Serialize for ApiError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire {
            code: self.code().to_owned(),
            message: self.message(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ApiError {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Wire { code, message } = Wire::deserialize(deserializer)?;
        Ok(ApiError::Reported { code, message })
    }
}

/// The JSON body of an error response.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The error itself.
    pub error: ApiError,
}

/// On the wire an error is `{"code", "message"}` (its own `Serialize`), and so in OpenAPI.
#[cfg(feature = "ssr")]
impl utoipa::PartialSchema for ApiError {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .property(
                "code",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("snake_case, stable: what went wrong")),
            )
            .required("code")
            .property(
                "message",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("one human sentence")),
            )
            .required("message")
            .build()
            .into()
    }
}

#[cfg(feature = "ssr")]
impl utoipa::ToSchema for ApiError {}

#[cfg(feature = "ssr")]
impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let status = axum::http::StatusCode::from_u16(self.status())
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
                Self::InvalidArguments(value.to_string())
            }
            E::UnsupportedRequestMethod(_) => Self::MethodNotAllowed(value.to_string()),
            _ => Self::ServerFunction(value.to_string()),
        };
        #[cfg(feature = "ssr")]
        if let Some(options) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
            && let Ok(status) = axum::http::StatusCode::from_u16(error.status())
        {
            options.set_status(status);
        }
        error
    }
}

/// `build for linux-x86_64`, or `image`.
fn build_name(target: &str) -> String {
    if target == "image" {
        "image".to_owned()
    } else {
        format!("build for {target}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_is_code_and_message_and_reads_back() {
        let e = ApiError::UnknownAgent("abc".into());
        let json = serde_json::to_value(ErrorBody { error: e.clone() }).unwrap();
        assert_eq!(json["error"]["code"], "unknown_agent");
        assert_eq!(json["error"]["message"], "No host has the id \"abc\".");
        let back: ErrorBody = serde_json::from_value(json).unwrap();
        assert_eq!(back.error.code(), e.code());
        assert_eq!(back.error.message(), e.message());
    }

    #[test]
    fn field_rules_are_422_and_name_their_field() {
        let e = ApiError::invalid(Field::Label, "A label is 1 to 64 characters.");
        assert_eq!((e.status(), e.code()), (422, "invalid_label"));
    }
}
