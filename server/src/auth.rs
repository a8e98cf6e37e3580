//! Passwords, secrets and login throttling.
use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of API tokens.
pub const API_TOKEN_PREFIX: &str = "vtg_api_";

/// Hashes a password with argon2id (the crate's default parameters: 19 MiB, 2 passes).
/// CPU-heavy: call from a blocking task.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
        .to_string())
}

/// Checks a password against a stored hash. With no hash (unknown user) a dummy hash is
/// checked instead, so the answer takes as long either way. CPU-heavy: call from a blocking task.
pub fn verify_password(stored: Option<&str>, password: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("vantage-dummy-password").unwrap_or_default());
    let Ok(parsed) = PasswordHash::new(stored.unwrap_or(dummy)) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
        && stored.is_some()
}

/// A fresh secret: `prefix` followed by 32 random bytes in hex.
pub fn new_secret(prefix: &str) -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

/// SHA-256 of a secret, in hex: what the store keeps instead of the secret.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// What a listing shows of an API token: its prefix, four characters and the last four.
pub fn mask(token: &str) -> String {
    mask_with(API_TOKEN_PREFIX, token)
}

/// What a listing shows of a prefixed secret.
pub fn mask_with(prefix: &str, token: &str) -> String {
    let body = token.strip_prefix(prefix).unwrap_or(token);
    if body.len() < 12 {
        return format!("{prefix}…");
    }
    format!("{prefix}{}…{}", &body[..4], &body[body.len() - 4..])
}

/// Checks a username: 1 to 64 letters, digits, `.`, `_` or `-`.
pub fn validate_username(username: &str) -> Result<(), String> {
    let ok_chars = username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if username.is_empty() || username.len() > 64 || !ok_chars {
        return Err("A username is 1 to 64 letters, digits, dots, underscores or hyphens.".into());
    }
    Ok(())
}

/// Checks a new password: 8 to 1024 characters.
pub fn validate_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if !(8..=1024).contains(&n) {
        return Err("A password is 8 to 1024 characters long.".into());
    }
    Ok(())
}

/// Failed sign-ins for one (username, address) pair allowed before delays start.
pub const FREE_FAILURES_PER_PAIR: i64 = 5;
/// Failed sign-ins from one address (any usernames) allowed before delays start.
pub const FREE_FAILURES_PER_ADDRESS: i64 = 30;
/// The longest delay a run of failures earns.
pub const MAX_DELAY_S: i64 = 15 * 60;
/// Failures older than this are forgotten.
pub const FORGET_AFTER_S: i64 = 24 * 3600;

/// Seconds until the next attempt is allowed after `failures` failures, the last at `last_at`:
/// none for the first `free` ones, then 2 s doubling to [`MAX_DELAY_S`] (2 s, not 1, so the
/// delay outlasts the whole-second clock). A growing delay, never a lock-out.
pub fn retry_after(failures: i64, last_at: i64, free: i64, now: i64) -> Option<i64> {
    if failures < free || now.saturating_sub(last_at) > FORGET_AFTER_S {
        return None;
    }
    let exponent = (failures - free + 1).min(20) as u32;
    let delay = (1i64 << exponent).min(MAX_DELAY_S);
    let wait = last_at.saturating_add(delay).saturating_sub(now);
    (wait > 0).then_some(wait)
}

/// The throttle scopes of a sign-in: the (username, address) pair and the address.
pub fn login_scopes(username: &str, addr: std::net::IpAddr) -> (String, String) {
    // A name that cannot exist (NUL, control characters, too long) is not stored as given.
    let name = if validate_username(username).is_ok() {
        username
    } else {
        "\u{fffd}"
    };
    (format!("pair:{addr}:{name}"), format!("addr:{addr}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trip() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(Some(&hash), "correct horse"));
        assert!(!verify_password(Some(&hash), "wrong horse"));
        assert!(!verify_password(None, "correct horse"));
    }

    #[test]
    fn secrets_are_prefixed_and_unique() {
        let a = new_secret(API_TOKEN_PREFIX).unwrap();
        let b = new_secret(API_TOKEN_PREFIX).unwrap();
        assert!(a.starts_with("vtg_api_") && a.len() == 8 + 64);
        assert_ne!(a, b);
        assert_ne!(sha256_hex(&a), a);
        let masked = mask(&a);
        assert!(masked.starts_with("vtg_api_") && masked.contains('…') && masked.len() < 20);
        assert!(!masked.contains(&a[8..20]));
    }

    #[test]
    fn delays_grow_and_are_never_a_lock_out() {
        let now = 1_000_000;
        assert_eq!(retry_after(4, now, 5, now), None);
        assert_eq!(retry_after(5, now, 5, now), Some(2));
        assert_eq!(retry_after(8, now, 5, now), Some(16));
        assert_eq!(retry_after(50, now, 5, now), Some(MAX_DELAY_S));
        assert_eq!(
            retry_after(50, now - MAX_DELAY_S, 5, now),
            None,
            "the delay passes"
        );
        assert_eq!(retry_after(50, now - FORGET_AFTER_S - 1, 5, now), None);
        assert_eq!(retry_after(i64::MAX, i64::MIN, 5, now), None);
    }

    #[test]
    fn usernames_and_passwords() {
        assert!(validate_username("ops-admin_1.x").is_ok());
        assert!(validate_username("").is_err());
        assert!(validate_username("has space").is_err());
        assert!(validate_username(&"a".repeat(65)).is_err());
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough").is_ok());
    }
}
