//! Request extractors that answer with our JSON error shape.
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, Method, request::Parts};
use axum::middleware::Next;
use axum::response::Response;
use serde::de::DeserializeOwned;

use app::backend::{Backend, session_cookie};
use app::{ApiError, Me};

use super::AppState;
use crate::auth::constant_time_eq;
use crate::service::subscriptions::{session_key, token_key, user_key};

/// A JSON body; malformed, mistyped or oversized bodies become JSON 4xx errors.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

fn json_error(rejection: JsonRejection) -> ApiError {
    let status = rejection.status().as_u16();
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        JsonRejection::JsonDataError(e) => ApiError::InvalidBody(e.body_text()),
        JsonRejection::JsonSyntaxError(e) => ApiError::MalformedJson(e.body_text()),
        _ if status == 413 => ApiError::PayloadTooLarge,
        other => ApiError::Rejected {
            status,
            message: other.body_text(),
        },
    }
}

/// Query parameters; bad ones become a JSON 400.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|e: QueryRejection| ApiError::InvalidQuery(e.body_text()))
    }
}

/// The caller of a protected route, put in the request by [`require_auth`].
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub me: Me,
    /// The session cookie value when authenticated by cookie (for logout).
    pub session_token: Option<String>,
    /// What a live stream of this caller is registered under, so revoking the credential
    /// (or the user) ends it.
    pub stream_keys: Vec<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Authenticated>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}

/// Lets a request through only with a valid API token or session. Cookie-authenticated
/// unsafe methods must also carry the session's CSRF token in `X-CSRF-Token`.
pub async fn require_auth(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let auth = if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?
            .trim();
        let (me, token_id) = state
            .vantage
            .api_token_user(token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Authenticated {
            stream_keys: vec![token_key(token_id), user_key(me.user_id)],
            me,
            session_token: None,
        }
    } else {
        let token = session_cookie(headers).ok_or(ApiError::Unauthorized)?;
        let me = state
            .vantage
            .session_user(&token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        if is_unsafe(request.method()) {
            let sent = headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let expected = me.csrf_token.as_deref().unwrap_or_default();
            if expected.is_empty() || !constant_time_eq(sent, expected) {
                return Err(ApiError::CsrfMismatch);
            }
        }
        if me.must_enroll_totp && !open_before_totp(request.uri().path()) {
            return Err(ApiError::TotpEnrollmentRequired);
        }
        Authenticated {
            stream_keys: vec![
                session_key(&crate::auth::sha256_hex(&token)),
                user_key(me.user_id),
            ],
            me,
            session_token: Some(token),
        }
    };
    // Viewers write nothing but their own account: refused here, before a body is read,
    // so every write answers 403 whatever it carries. The finer rules are the service's.
    if is_unsafe(request.method()) && !own_account(request.uri().path()) {
        crate::service::writes_allowed(&auth.me)?;
    }
    request.extensions_mut().insert(auth);
    Ok(next.run(request).await)
}

/// The writes every signed-in caller may make: to their own session and account.
fn own_account(path: &str) -> bool {
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    matches!(
        path,
        "/auth/logout" | "/users/me" | "/users/me/totp" | "/users/me/totp/confirm"
    )
}

/// What a session may reach while its user must still enroll the second factor an admin
/// requires: who they are, and their own session and account (signing out, enrolling).
pub(crate) fn open_before_totp(path: &str) -> bool {
    path.strip_prefix("/api/v1").unwrap_or(path) == "/auth/me" || own_account(path)
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// For the dashboard's server functions (form posts, sign-in included): an unsafe request
/// must come from our own origin, as its `Origin` (or, failing that, `Referer`) header shows.
/// Browsers always send one of them on posts; without either the request is refused.
pub async fn same_origin_for_forms(request: Request, next: Next) -> Result<Response, ApiError> {
    let host = request
        .extensions()
        .get::<app::backend::ClientInfo>()
        .and_then(|c| c.host.clone());
    if is_unsafe(request.method()) && !same_origin(request.headers(), host.as_deref()) {
        return Err(ApiError::CrossOrigin);
    }
    Ok(next.run(request).await)
}

/// True when the request's `Origin` (or `Referer`) names `host`, the host the client
/// addressed (as resolved through trusted proxies only).
fn same_origin(headers: &HeaderMap, host: Option<&str>) -> bool {
    let source = headers
        .get(axum::http::header::ORIGIN)
        .or_else(|| headers.get(axum::http::header::REFERER))
        .and_then(|v| v.to_str().ok());
    let (Some(source), Some(host)) = (source, host) else {
        return false;
    };
    let authority = source
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    !authority.is_empty() && host.eq_ignore_ascii_case(authority)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_headers as headers;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let h = headers(&[("cookie", "theme=dark; vantage_session=abc123; other=1")]);
        assert_eq!(session_cookie(&h).as_deref(), Some("abc123"));
        assert_eq!(
            session_cookie(&headers(&[("cookie", "vantage_sessionx=1")])),
            None
        );
    }

    #[test]
    fn origin_must_match_host() {
        let host = Some("127.0.0.1:8080");
        assert!(same_origin(
            &headers(&[("origin", "http://127.0.0.1:8080")]),
            host
        ));
        assert!(!same_origin(
            &headers(&[("origin", "https://evil.example")]),
            host
        ));
        assert!(same_origin(
            &headers(&[("referer", "https://v.example/settings")]),
            Some("v.example")
        ));
        assert!(!same_origin(&headers(&[]), Some("v.example")));
        assert!(!same_origin(
            &headers(&[("origin", "null")]),
            Some("v.example")
        ));
        assert!(!same_origin(
            &headers(&[("origin", "http://v.example")]),
            None
        ));
    }
}
