//! Accounts as the admin's `/api/v1/users` and each user's second factor show them.
use serde::{Deserialize, Serialize};

use crate::Role;

/// A user as `GET /api/v1/users` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserInfo {
    pub id: i64,
    pub username: String,
    pub role: Role,
    /// A disabled user cannot sign in; their sessions and API tokens ended when they were
    /// disabled.
    pub disabled: bool,
    /// One-time codes are set up (confirmed).
    pub totp_enabled: bool,
    /// The user asked for a one-time code at every sign-in.
    pub totp_at_sign_in: bool,
    /// RFC 3339.
    pub created_at: String,
}

/// Body of `POST /api/v1/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewUser {
    pub username: String,
    /// At least 12 characters.
    pub password: String,
    pub role: Role,
}

/// Body of `PATCH /api/v1/users/{id}`: what is given changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserPatch {
    #[serde(default)]
    pub role: Option<Role>,
    /// True ends the user's sessions and deletes their API tokens at once.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// Body of `PATCH /api/v1/users/me`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MyAccountPatch {
    /// Ask for a one-time code at every sign-in (needs confirmed TOTP).
    #[serde(default)]
    pub totp_at_sign_in: Option<bool>,
}

/// The answer to `POST /api/v1/users/me/totp`: the new secret, shown this once. It counts
/// once a code from it is confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TotpEnrollment {
    /// The secret in base32, to type into an authenticator app by hand.
    pub secret: String,
    /// `otpauth://totp/Vantage:<user>?secret=…&issuer=Vantage`.
    pub otpauth_uri: String,
    /// The URI as a QR code (an SVG document).
    pub qr_svg: String,
}

/// Body of `POST /api/v1/users/me/totp/confirm` and `DELETE /api/v1/users/me/totp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TotpCode {
    /// Six digits from the authenticator app (or, to turn TOTP off, a recovery code).
    pub code: String,
}

/// The answer to a confirmation: ten one-time recovery codes, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// The sign-in rules an admin sets: `GET|PUT /api/v1/users/policy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SignInPolicy {
    /// Every account signs in with a one-time code; those without one must enroll first.
    pub require_totp: bool,
}
