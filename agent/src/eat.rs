//! Emergency Action Tokens: what the server signs to have an agent act, in one canonical,
//! domain-separated binary encoding both sides use (never text joined by delimiters, so no
//! two tokens share bytes). Every field is fixed-width or length-prefixed, in this order:
//!
//! ```text
//! "vantage/eat/v1\0"  u8 version  [16] eat_id  [4] key_id  [16] agent_id
//! str action  str app_type  str identifier  u32 n  n × str command
//! i64 issued_at_s  i64 expires_at_s  str requested_by  str reason  u64 log_index
//! ```
//!
//! (`str` is a u32 big-endian length then UTF-8; integers big-endian.) Everything before
//! `log_index` is the intent: the audit log's entry of the intent holds its SHA-256, and the
//! token names that entry's index, so a token is bound to the entry that logged it.
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The encoding's domain: no other signed bytes of this product start so.
pub const DOMAIN: &[u8] = b"vantage/eat/v1\0";
/// The encoding's version byte.
pub const VERSION: u8 = 1;
/// The longest a token lives.
pub const MAX_LIFETIME_S: i64 = 300;
/// The audit log action of a token's intent.
pub const INTENT_ACTION: &str = "eat.issue";
/// Longest text field and most command arguments a token carries.
const MAX_FIELD: usize = 4096;
const MAX_ARGS: usize = 32;

/// A decoded token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eat {
    pub eat_id: [u8; 16],
    /// The signed-note key id of the key that signed it (`tlog::key_id`).
    pub key_id: [u8; 4],
    pub agent_id: [u8; 16],
    /// `restart`.
    pub action: String,
    /// systemd | docker | compose | process.
    pub app_type: String,
    pub identifier: String,
    /// For a process app: the command to run (absolute path, then arguments); else empty.
    pub command: Vec<String>,
    pub issued_at_s: i64,
    pub expires_at_s: i64,
    pub requested_by: String,
    pub reason: String,
    /// The audit log entry of the intent.
    pub log_index: u64,
}

/// Why bytes are not a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EatError {
    #[error("the token is not in the vantage/eat/v1 encoding")]
    Domain,
    #[error("the token's version {0} is not understood")]
    Version(u8),
    #[error("the token is cut short or has bytes after its end")]
    Length,
    #[error("a field of the token is too long or not UTF-8")]
    Field,
    #[error("the token's signature does not verify")]
    Signature,
}

impl Eat {
    /// The intent's bytes: the domain and every field but the log index.
    pub fn intent(&self) -> Vec<u8> {
        let mut out = DOMAIN.to_vec();
        out.push(VERSION);
        out.extend_from_slice(&self.eat_id);
        out.extend_from_slice(&self.key_id);
        out.extend_from_slice(&self.agent_id);
        for text in [&self.action, &self.app_type, &self.identifier] {
            put_str(&mut out, text);
        }
        out.extend_from_slice(&(self.command.len() as u32).to_be_bytes());
        for arg in &self.command {
            put_str(&mut out, arg);
        }
        out.extend_from_slice(&self.issued_at_s.to_be_bytes());
        out.extend_from_slice(&self.expires_at_s.to_be_bytes());
        put_str(&mut out, &self.requested_by);
        put_str(&mut out, &self.reason);
        out
    }

    /// SHA-256 of the intent, lower-case hex: what the audit log's entry holds.
    pub fn intent_sha256(&self) -> String {
        Sha256::digest(self.intent())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The whole token's bytes: the intent, then the log index.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.intent();
        out.extend_from_slice(&self.log_index.to_be_bytes());
        out
    }

    /// Signs the encoded token.
    pub fn sign(&self, key: &SigningKey) -> (Vec<u8>, [u8; 64]) {
        let bytes = self.encode();
        let signature = key.sign(&bytes).to_bytes();
        (bytes, signature)
    }

    /// Decodes bytes (strictly: nothing missing, nothing after).
    pub fn decode(bytes: &[u8]) -> Result<Eat, EatError> {
        let mut r = Reader(bytes);
        if r.take(DOMAIN.len())? != DOMAIN {
            return Err(EatError::Domain);
        }
        let version = r.take(1)?[0];
        if version != VERSION {
            return Err(EatError::Version(version));
        }
        let eat_id = r.array::<16>()?;
        let key_id = r.array::<4>()?;
        let agent_id = r.array::<16>()?;
        let action = r.text()?;
        let app_type = r.text()?;
        let identifier = r.text()?;
        let n = u32::from_be_bytes(r.array::<4>()?) as usize;
        if n > MAX_ARGS {
            return Err(EatError::Field);
        }
        let command = (0..n).map(|_| r.text()).collect::<Result<_, _>>()?;
        let issued_at_s = i64::from_be_bytes(r.array::<8>()?);
        let expires_at_s = i64::from_be_bytes(r.array::<8>()?);
        let requested_by = r.text()?;
        let reason = r.text()?;
        let log_index = u64::from_be_bytes(r.array::<8>()?);
        if !r.0.is_empty() {
            return Err(EatError::Length);
        }
        Ok(Eat {
            eat_id,
            key_id,
            agent_id,
            action,
            app_type,
            identifier,
            command,
            issued_at_s,
            expires_at_s,
            requested_by,
            reason,
            log_index,
        })
    }

    /// Checks `signature` over `bytes` with `key` (strictly), then decodes them.
    pub fn verify(bytes: &[u8], signature: &[u8], key: &VerifyingKey) -> Result<Eat, EatError> {
        let signature = Signature::from_slice(signature).map_err(|_| EatError::Signature)?;
        // Strict: a non-canonical signature or a weak key is refused.
        key.verify_strict(bytes, &signature)
            .map_err(|_| EatError::Signature)?;
        Eat::decode(bytes)
    }

    /// The token id as text (UUID form).
    pub fn eat_id_text(&self) -> String {
        uuid::Uuid::from_bytes(self.eat_id).to_string()
    }
}

/// The audit entry detail of a token's intent: names the intent's hash, what and where.
pub fn intent_detail(eat: &Eat) -> String {
    format!(
        "intent sha256:{} · {} {} {} on {} · {}",
        eat.intent_sha256(),
        eat.action,
        eat.app_type,
        eat.identifier,
        uuid::Uuid::from_bytes(eat.agent_id),
        eat.reason
    )
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EatError> {
        if self.0.len() < n {
            return Err(EatError::Length);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], EatError> {
        self.take(N)?.try_into().map_err(|_| EatError::Length)
    }

    fn text(&mut self) -> Result<String, EatError> {
        let n = u32::from_be_bytes(self.array::<4>()?) as usize;
        if n > MAX_FIELD {
            return Err(EatError::Field);
        }
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| EatError::Field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Eat {
        Eat {
            eat_id: [7; 16],
            key_id: [1, 2, 3, 4],
            agent_id: [9; 16],
            action: "restart".into(),
            app_type: "process".into(),
            identifier: "/usr/local/bin/worker".into(),
            command: vec!["/usr/local/bin/worker-restart".into(), "--graceful".into()],
            issued_at_s: 1_800_000_000,
            expires_at_s: 1_800_000_300,
            requested_by: "olga".into(),
            reason: "stuck queue".into(),
            log_index: 42,
        }
    }

    #[test]
    fn a_token_round_trips_and_its_signature_covers_every_byte() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let eat = token();
        let (bytes, signature) = eat.sign(&key);
        assert_eq!(
            Eat::verify(&bytes, &signature, &key.verifying_key()),
            Ok(eat.clone())
        );
        for i in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 1;
            assert!(
                Eat::verify(&tampered, &signature, &key.verifying_key()).is_err(),
                "byte {i} changed and still verified"
            );
        }
        let other = SigningKey::from_bytes(&[6; 32]);
        assert_eq!(
            Eat::verify(&bytes, &signature, &other.verifying_key()),
            Err(EatError::Signature)
        );
    }

    #[test]
    fn fields_cannot_slide_into_each_other() {
        // With delimiters "a|b" + "c" and "a" + "b|c" could read alike; lengths keep them apart.
        let mut one = token();
        one.identifier = "ab".into();
        one.reason = "c".into();
        let mut two = token();
        two.identifier = "a".into();
        two.reason = "bc".into();
        assert_ne!(one.encode(), two.encode());
        assert_ne!(one.intent_sha256(), two.intent_sha256());
    }

    #[test]
    fn cut_or_padded_bytes_are_not_a_token() {
        let bytes = token().encode();
        assert_eq!(
            Eat::decode(&bytes[..bytes.len() - 1]),
            Err(EatError::Length)
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Eat::decode(&longer), Err(EatError::Length));
        assert_eq!(Eat::decode(b"vantage/eat/v0\0"), Err(EatError::Domain));
        let mut v2 = bytes;
        v2[DOMAIN.len()] = 2;
        assert_eq!(Eat::decode(&v2), Err(EatError::Version(2)));
    }

    #[test]
    fn the_log_index_is_outside_the_intent() {
        let mut eat = token();
        let intent = eat.intent_sha256();
        eat.log_index = 43;
        assert_eq!(eat.intent_sha256(), intent);
        assert!(intent_detail(&eat).starts_with(&format!("intent sha256:{intent}")));
    }
}
