//! Passwords, secrets and login throttling.
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

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

/// Failed logins per username over a sliding window; beyond the limit, logins are refused.
pub struct LoginThrottle {
    window: Duration,
    limit: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    /// `limit` failures per `window` and username.
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            window,
            limit,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until the next attempt is allowed, when the username is locked out now.
    pub fn retry_after(&self, username: &str) -> Option<u64> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let list = failures.get_mut(username)?;
        while list
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            list.pop_front();
        }
        if list.len() < self.limit {
            return None;
        }
        let oldest = *list.front()?;
        Some(
            (self.window.saturating_sub(now.duration_since(oldest)))
                .as_secs()
                .max(1),
        )
    }

    /// Records a failed attempt.
    pub fn record_failure(&self, username: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Guessing many usernames must not grow memory without bound.
        if failures.len() > 10_000 {
            failures.retain(|_, list| {
                list.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let list = failures.entry(username.to_owned()).or_default();
        list.push_back(now);
        if list.len() > self.limit {
            list.pop_front();
        }
    }

    /// Forgets the failures of a username after a successful login.
    pub fn record_success(&self, username: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(username);
    }
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
    fn throttle_locks_after_the_limit_and_forgets_on_success() {
        let t = LoginThrottle::new(3, Duration::from_secs(900));
        for _ in 0..2 {
            t.record_failure("alice");
        }
        assert_eq!(t.retry_after("alice"), None);
        t.record_failure("alice");
        assert!(t.retry_after("alice").is_some());
        assert_eq!(t.retry_after("bob"), None);
        t.record_success("alice");
        assert_eq!(t.retry_after("alice"), None);
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
