//! Time-based one-time codes (RFC 6238 through `totp-rs`: SHA-1, 6 digits, 30 s steps, one
//! step either side) and one-time recovery codes, for the second factor and for restarts
//! (issue 13). A code is accepted once: `check` answers the step it matched, which the caller
//! keeps, and refuses that step and any earlier one afterwards. Storage, throttling and the
//! API are the service's (`service::users`).
use ring::rand::SecureRandom;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Builder, Secret, Totp};

/// The name in the authenticator app.
const ISSUER: &str = "Vantage";
/// Recovery codes issued at once.
pub const RECOVERY_CODES: usize = 10;
/// The letters of recovery codes: no 0/O, 1/I/L to mistake.
const RECOVERY_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// Why a code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("the code is not six digits")]
    Malformed,
    #[error("the code is wrong or expired")]
    Wrong,
    #[error("the code was used already")]
    Reused,
}

/// A fresh 160-bit secret (RFC 4226's recommended size).
pub fn new_secret() -> anyhow::Result<[u8; 20]> {
    let mut secret = [0u8; 20];
    ring::rand::SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| anyhow::anyhow!("no randomness for a TOTP secret"))?;
    Ok(secret)
}

fn totp(secret: &[u8; 20], account: &str) -> anyhow::Result<Totp> {
    Builder::new()
        .with_secret(Secret::new_stack(*secret))
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot make a TOTP generator: {e:?}"))
}

/// The secret as an authenticator app takes it typed in: base32 (RFC 4648), unpadded.
pub fn secret_base32(secret: &[u8; 20]) -> String {
    Secret::new_stack(*secret).to_base32()
}

/// The `otpauth://totp/…` URI an authenticator app takes (by QR code or by hand).
pub fn otpauth_uri(secret: &[u8; 20], account: &str) -> anyhow::Result<String> {
    totp(secret, account)?
        .to_url()
        .map_err(|e| anyhow::anyhow!("cannot write the otpauth URI: {e:?}"))
}

/// The URI as a QR code, an SVG document.
pub fn qr_svg(uri: &str) -> anyhow::Result<String> {
    let code = qrcode::QrCode::with_error_correction_level(uri, qrcode::EcLevel::M)
        .map_err(|e| anyhow::anyhow!("cannot make a QR code: {e}"))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// Checks `code` at unix time `now_s` against the secret: the step it matched, which must be
/// later than `last_step` (the one the user's previous accepted code matched).
pub fn check(
    secret: &[u8; 20],
    code: &str,
    now_s: u64,
    last_step: Option<u64>,
) -> Result<u64, TotpError> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpError::Malformed);
    }
    let step = totp(secret, "check")
        .map_err(|_| TotpError::Wrong)?
        .check(code, now_s)
        .ok_or(TotpError::Wrong)?;
    match last_step {
        Some(last) if step <= last => Err(TotpError::Reused),
        _ => Ok(step),
    }
}

/// Ten fresh recovery codes (`XXXXX-XXXXX`, 50 bits each) to show once.
pub fn new_recovery_codes() -> anyhow::Result<Vec<String>> {
    let rng = ring::rand::SystemRandom::new();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 10];
            rng.fill(&mut bytes)
                .map_err(|_| anyhow::anyhow!("no randomness for recovery codes"))?;
            let letters: String = bytes
                .iter()
                .map(|b| RECOVERY_ALPHABET[*b as usize % RECOVERY_ALPHABET.len()] as char)
                .collect();
            Ok(format!("{}-{}", &letters[..5], &letters[5..]))
        })
        .collect()
}

/// How a recovery code is kept: SHA-256 of its normalised form (upper case, no dash or
/// spaces), hex. The codes are random enough that a fast hash holds.
pub fn recovery_code_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    hex::encode(Sha256::digest(normal.as_bytes()))
}

/// The index of the kept hash `code` matches, compared in constant time.
pub fn find_recovery_code(kept: &[String], code: &str) -> Option<usize> {
    let hash = recovery_code_hash(code);
    let mut found = None;
    for (i, k) in kept.iter().enumerate() {
        if bool::from(k.as_bytes().ct_eq(hash.as_bytes())) && found.is_none() {
            found = Some(i);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238's SHA-1 secret.
    const RFC: [u8; 20] = *b"12345678901234567890";

    #[test]
    fn codes_match_rfc_6238_and_one_step_either_side() {
        // RFC 6238, appendix B, SHA-1 at T = 59 s: 94287082 (its last six digits).
        assert_eq!(check(&RFC, "287082", 59, None), Ok(1));
        // At 1111111109: 07081804.
        assert_eq!(check(&RFC, "081804", 1_111_111_109, None), Ok(37_037_036));
        // Still good a step later and a step earlier; not two.
        assert_eq!(
            check(&RFC, "081804", 1_111_111_109 + 30, None),
            Ok(37_037_036)
        );
        assert_eq!(
            check(&RFC, "081804", 1_111_111_109 - 30, None),
            Ok(37_037_036)
        );
        assert_eq!(
            check(&RFC, "081804", 1_111_111_109 + 61, None),
            Err(TotpError::Wrong)
        );
        assert_eq!(
            check(&RFC, "081805", 1_111_111_109, None),
            Err(TotpError::Wrong)
        );
    }

    #[test]
    fn a_code_is_accepted_once_and_never_an_older_one_after_it() {
        let at = 1_111_111_109;
        let step = check(&RFC, "081804", at, None).unwrap();
        assert_eq!(
            check(&RFC, "081804", at, Some(step)),
            Err(TotpError::Reused)
        );
        // The code of the step before, still inside the window, is older: refused too.
        let before = totp(&RFC, "x").unwrap().generate(at - 30).to_string();
        assert_eq!(check(&RFC, &before, at, Some(step)), Err(TotpError::Reused));
        // The next step's code is new.
        let next = totp(&RFC, "x").unwrap().generate(at + 30).to_string();
        assert_eq!(check(&RFC, &next, at + 30, Some(step)), Ok(step + 1));
    }

    #[test]
    fn malformed_codes_are_told_apart() {
        for bad in ["", "12345", "1234567", "12a456", "１２３４５６", "12 456"] {
            assert_eq!(
                check(&RFC, bad, 59, None),
                Err(TotpError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            check(&RFC, " 287082 ", 59, None),
            Ok(1),
            "spaces around are fine"
        );
    }

    #[test]
    fn the_uri_and_qr_code_carry_the_secret_for_an_app() {
        let secret = new_secret().unwrap();
        assert_ne!(secret, new_secret().unwrap());
        let uri = otpauth_uri(&secret, "alice").unwrap();
        assert!(uri.starts_with("otpauth://totp/Vantage:alice?"), "{uri}");
        assert!(uri.contains("issuer=Vantage"), "{uri}");
        let base32 = Secret::new_stack(secret).to_base32();
        assert!(uri.contains(&format!("secret={base32}")), "{uri}");
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");
    }

    #[test]
    fn recovery_codes_are_ten_fresh_codes_found_by_their_hash_only() {
        let codes = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert!(
                code.chars()
                    .all(|c| c == '-' || RECOVERY_ALPHABET.contains(&(c as u8)))
            );
        }
        let kept: Vec<String> = codes.iter().map(|c| recovery_code_hash(c)).collect();
        assert!(
            kept.iter()
                .all(|h| !codes.iter().any(|c| h.contains(c.as_str())))
        );
        assert_eq!(find_recovery_code(&kept, &codes[3]), Some(3));
        assert_eq!(
            find_recovery_code(&kept, &codes[3].to_lowercase().replace('-', " ")),
            Some(3)
        );
        assert_eq!(find_recovery_code(&kept, "AAAAA-AAAAA"), None);
    }
}
