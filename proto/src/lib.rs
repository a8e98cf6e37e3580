//! `vantage.agent.v1`: the messages and service of the agent protocol, generated from
//! `proto/vantage/agent/v1/agent.proto`. Feature `client` adds the tonic client, `server`
//! the tonic server trait.
#![allow(missing_docs, clippy::all)]

/// The generated protocol module.
pub mod v1 {
    tonic::include_proto!("vantage.agent.v1");
}

pub use v1::*;

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
