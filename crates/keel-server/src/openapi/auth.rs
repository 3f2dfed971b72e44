//! The request and response bodies of the auth routes, for the OpenAPI document (the
//! handlers read their bodies as JSON objects, field by field, with PocketBase's messages).

use serde_json::Value;
use utoipa::ToSchema;

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordAuth {
    /// An email, or the value of `identityField` (a unique field of the collection).
    pub identity: String,
    pub password: String,
    pub identity_field: Option<String>,
    /// The second step of an MFA sign-in.
    pub mfa_id: Option<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtpAuth {
    pub otp_id: String,
    /// The emailed code.
    pub password: String,
    pub mfa_id: Option<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Auth {
    /// A provider of the collection's `oauth2.providers`.
    pub provider: String,
    pub code: String,
    /// The verifier `auth-methods` issued with this provider's `codeChallenge`.
    pub code_verifier: String,
    #[serde(rename = "redirectURL")]
    pub redirect_url: String,
    /// Fields of a new record.
    #[schema(value_type = Option<Object>)]
    pub create_data: Option<Value>,
    pub mfa_id: Option<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LdapAuth {
    pub username: String,
    pub password: String,
    pub mfa_id: Option<String>,
}

/// The second factor of an MFA sign-in: `code`, or a `recoveryCode`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TotpAuth {
    pub mfa_id: String,
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}

/// A TOTP code (or, to disable, a `recoveryCode`).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TotpCode {
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}

#[derive(ToSchema)]
pub struct TotpStatus {
    pub enabled: bool,
}

#[derive(ToSchema)]
pub struct TotpSetup {
    /// Base32.
    pub secret: String,
    /// `otpauth://totp/…`, for a QR code.
    pub uri: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCodes {
    /// Shown once.
    pub recovery_codes: Vec<String>,
}

#[derive(ToSchema)]
pub struct EmailInput {
    pub email: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewEmailInput {
    pub new_email: String,
}

#[derive(ToSchema)]
pub struct TokenInput {
    pub token: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordResetInput {
    pub token: String,
    pub password: String,
    pub password_confirm: String,
}

#[derive(ToSchema)]
pub struct EmailChangeInput {
    pub token: String,
    /// The record's current password.
    pub password: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtpRequested {
    pub otp_id: String,
}

#[derive(ToSchema)]
pub struct ImpersonateInput {
    /// Seconds; 0 or absent = the collection's auth token duration.
    pub duration: Option<u64>,
}

#[derive(ToSchema)]
pub struct RevokeInput {
    /// The record to sign out; absent = the caller's own (others: superusers only).
    pub id: Option<String>,
}

/// How a collection can be signed in to (PocketBase ≥ 0.23 shape, plus `ldap`).
#[derive(ToSchema)]
pub struct AuthMethods {
    #[schema(value_type = Object)]
    pub password: Value,
    /// `{"enabled", "providers": [{"name", "displayName", "state", "authURL", "codeVerifier",
    /// "codeChallenge", "codeChallengeMethod"}]}`.
    #[schema(value_type = Object)]
    pub oauth2: Value,
    #[schema(value_type = Object)]
    pub mfa: Value,
    #[schema(value_type = Object)]
    pub otp: Value,
    #[schema(value_type = Object)]
    pub ldap: Value,
}
