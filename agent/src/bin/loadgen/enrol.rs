//! Enrollment through the REST API and the authenticated stream of one simulated agent.

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use proto::agent_message::Body as Up;
use proto::server_message::Body as Down;
use tokio::sync::mpsc;

/// A plain-HTTP request; returns status and body.
pub(crate) async fn http(
    url: &str,
    method: &str,
    token: &str,
    body: Option<String>,
) -> anyhow::Result<(u16, Bytes)> {
    let (authority, path) = split_url(url)?;
    // Bounded: a server that stops answering ends the run with an error, not a hang.
    tokio::time::timeout(
        Duration::from_secs(60),
        http_once(&authority, &path, method, token, body),
    )
    .await
    .with_context(|| format!("{method} {url}: no answer within 60 s"))?
}

async fn http_once(
    authority: &str,
    path: &str,
    method: &str,
    token: &str,
    body: Option<String>,
) -> anyhow::Result<(u16, Bytes)> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .with_context(|| format!("cannot connect to {authority}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

pub(crate) fn split_url(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .context("--server-url must be http://HOST:PORT (the loopback dashboard address)")?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    Ok((authority.to_owned(), path))
}

pub(crate) struct SimulatedAgent {
    pub(crate) up: mpsc::Sender<proto::AgentMessage>,
    pub(crate) down: tonic::Streaming<proto::ServerMessage>,
    pub(crate) next_seq: u64,
}

pub(crate) async fn enroll_and_connect(
    address: &agent::stream::ServerAddress,
    trust: &agent::stream::ServerTrust,
    token: String,
    i: usize,
) -> anyhow::Result<SimulatedAgent> {
    let channel = agent::stream::connect(address, trust).await?;
    let key = agent::identity::generate_key()?;
    let mut client = proto::agent_service_client::AgentServiceClient::new(channel);
    let registered = client
        .register_agent(proto::RegisterAgentRequest {
            enrollment_token: token,
            public_key: key.verifying_key().to_bytes().to_vec(),
            hostname: format!("loadgen-{i}"),
            label: format!("loadgen-{i}"),
            runtime: "bare".into(),
            os: "linux".into(),
            arch: std::env::consts::ARCH.into(),
            agent_version: env!("CARGO_PKG_VERSION").into(),
        })
        .await?
        .into_inner();
    let (up, rx) = mpsc::channel(16);
    let mut down = client
        .connect(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let Some(proto::ServerMessage {
        body: Some(Down::Challenge(challenge)),
    }) = down.message().await?
    else {
        anyhow::bail!("no challenge");
    };
    let uuid = uuid::Uuid::parse_str(&registered.agent_id)?;
    let auth = agent::stream::answer_challenge(
        &key,
        &registered.agent_id,
        uuid.as_bytes(),
        &challenge.nonce,
    );
    up.send(proto::AgentMessage {
        body: Some(Up::Auth(auth)),
    })
    .await?;
    let Some(proto::ServerMessage {
        body: Some(Down::AuthOk(ok)),
    }) = down.message().await?
    else {
        anyhow::bail!("authentication refused");
    };
    Ok(SimulatedAgent {
        up,
        down,
        next_seq: ok.last_seq + 1,
    })
}
