//! `vantage.agent.v1`: the messages and service of the agent protocol, generated from
//! `proto/vantage/agent/v1/agent.proto`. Feature `client` adds the tonic client, `server`
//! the tonic server trait.
#![allow(missing_docs, clippy::all)]

/// The generated protocol module.
pub mod v1 {
    tonic::include_proto!("vantage.agent.v1");
}

pub use v1::*;

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
