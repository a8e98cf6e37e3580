//! `vantage.agent.v1`: the messages and service of the agent protocol, generated from
//! `proto/vantage/agent/v1/agent.proto`. Feature `client` adds the tonic client, `server`
//! the tonic server trait.
#![allow(missing_docs, clippy::all)]

/// The generated protocol module.
pub mod v1 {
    tonic::include_proto!("vantage.agent.v1");
}

pub use v1::*;

pub mod identifier;

/// The codec of the generated client and server: prost, with small starting buffers. A
/// stream's messages are a few hundred bytes live and a few KiB during a backfill, and a
/// server holds two such buffers per connected agent: tonic's default of 8 KiB each would be
/// most of its memory with a thousand agents. Buffers still grow to fit a larger message.
pub mod codec {
    use tonic::codec::{BufferSettings, Codec};
    use tonic_prost::ProstCodec;

    /// Starting size of each stream's encode and decode buffer.
    const BUFFER_BYTES: usize = 1024;
    /// Bytes encoded before a streaming encoder yields (tonic's default).
    const YIELD_THRESHOLD: usize = 32 * 1024;

    /// [`ProstCodec`] with [`BUFFER_BYTES`] buffers.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct LeanCodec<T, U>(std::marker::PhantomData<(T, U)>);

    impl<T, U> Codec for LeanCodec<T, U>
    where
        T: prost::Message + Send + 'static,
        U: prost::Message + Default + Send + 'static,
    {
        type Encode = T;
        type Decode = U;
        type Encoder = <ProstCodec<T, U> as Codec>::Encoder;
        type Decoder = <ProstCodec<T, U> as Codec>::Decoder;

        fn encoder(&mut self) -> Self::Encoder {
            ProstCodec::<T, U>::raw_encoder(BufferSettings::new(BUFFER_BYTES, YIELD_THRESHOLD))
        }

        fn decoder(&mut self) -> Self::Decoder {
            ProstCodec::<T, U>::raw_decoder(BufferSettings::new(BUFFER_BYTES, YIELD_THRESHOLD))
        }
    }
}

impl ErrorCode {
    /// The snake_case spelling carried in `Error.code` (`rate_limited`).
    pub fn snake_case(self) -> String {
        self.as_str_name().to_ascii_lowercase()
    }
}

impl Error {
    /// A stream error of `kind`, with a message for the log and the wait before a resend.
    pub fn new(kind: ErrorCode, message: impl Into<String>, retry_after_ms: u64) -> Self {
        Error {
            code: kind.snake_case(),
            message: message.into(),
            retry_after_ms,
            seq: 0,
            kind: kind as i32,
        }
    }

    /// What the error means: the typed code, or, from a server that sends only text, the
    /// code parsed from it.
    pub fn error_code(&self) -> ErrorCode {
        match self.kind() {
            ErrorCode::Unspecified => ErrorCode::from_str_name(&self.code.to_ascii_uppercase())
                .unwrap_or(ErrorCode::Unspecified),
            kind => kind,
        }
    }
}

/// Domain-separation prefix of the stream authentication signature.
pub const AUTH_CONTEXT: &[u8] = b"vantage-auth-v1";

/// The bytes an agent signs to answer a challenge:
/// `"vantage-auth-v1" || nonce || agent_uuid_bytes || timestamp_be64`.
pub fn auth_message(nonce: &[u8], agent_uuid: &[u8; 16], timestamp: i64) -> Vec<u8> {
    let mut message = Vec::with_capacity(AUTH_CONTEXT.len() + nonce.len() + 24);
    message.extend_from_slice(AUTH_CONTEXT);
    message.extend_from_slice(nonce);
    message.extend_from_slice(agent_uuid);
    message.extend_from_slice(&timestamp.to_be_bytes());
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_travel_typed_and_as_text() {
        let e = Error::new(ErrorCode::InvalidEvent, "bad time", 0);
        assert_eq!(e.code, "invalid_event");
        assert_eq!(e.error_code(), ErrorCode::InvalidEvent);
        // A server that sends only the text is still understood.
        let text_only = Error {
            code: "agent_revoked".into(),
            ..Default::default()
        };
        assert_eq!(text_only.error_code(), ErrorCode::AgentRevoked);
        let unknown = Error {
            code: "something_new".into(),
            ..Default::default()
        };
        assert_eq!(unknown.error_code(), ErrorCode::Unspecified);
    }
}

/// The one clock of the workspace: unix time as the protocol carries it (`Event.time_ms`,
/// `AuthResponse.timestamp`). Agent, server and tools all read "now" here.
pub mod clock {
    use std::time::{SystemTime, UNIX_EPOCH};

    /// Unix milliseconds now (0 if the system clock is before 1970).
    pub fn now_ms() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    /// Unix seconds now.
    pub fn now_s() -> i64 {
        now_ms() / 1000
    }
}
