//! The listening edge: every accepted connection holds a slot of a bounded pool (past the cap
//! it is closed at once), HTTP connections get a header-read deadline that is also their idle
//! deadline between requests, the open-file limit is raised to the hard limit at start, and
//! proxy headers are believed only from `--trusted-proxies`.
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// How long a client may take to send a request's headers, and how long an HTTP/1
/// connection may sit idle between requests.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);
/// How long an HTTP connection may pass with no byte moving either way (live event streams
/// write a keep-alive every 15 s, so they stay).
pub const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a TLS handshake may take (gRPC).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// File descriptors kept free for the database, agents' files and the collectors.
const SPARE_FDS: u64 = 256;

/// Raises the soft open-file limit to the hard one; returns the limit now in force.
pub fn raise_open_file_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(current), maximum) = (limit.current, limit.maximum) else {
        return u64::MAX;
    };
    let wanted = maximum.unwrap_or(1 << 20);
    if wanted > current {
        let raised = Rlimit {
            current: Some(wanted),
            maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => return wanted,
            Err(e) => {
                tracing::warn!(error = %e, current, wanted, "cannot raise the open-file limit")
            }
        }
    }
    current
}

/// The connection cap that fits `configured` and the open-file limit, shared by `listeners`.
pub fn connection_cap(configured: usize, open_files: u64, listeners: u64) -> usize {
    let fits = (open_files.saturating_sub(SPARE_FDS) / listeners.max(1)).max(16);
    if (configured as u64) > fits {
        tracing::warn!(
            configured,
            open_files,
            cap = fits,
            "the open-file limit lowers the connection cap"
        );
        fits as usize
    } else {
        configured
    }
}

/// A connection that holds one slot of its listener's pool until it closes and, when given
/// an idle limit, fails once neither side has moved a byte for that long (a keep-alive
/// connection nobody uses, a client that stopped reading).
pub struct Slotted<IO> {
    io: IO,
    _slot: OwnedSemaphorePermit,
    idle: Option<Duration>,
    last_activity: tokio::time::Instant,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<IO> Slotted<IO> {
    fn new(io: IO, slot: OwnedSemaphorePermit) -> Self {
        Slotted {
            io,
            _slot: slot,
            idle: None,
            last_activity: tokio::time::Instant::now(),
            deadline: None,
        }
    }

    /// Closes the connection after `idle` without traffic either way.
    pub fn with_idle_limit(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    fn moved(&mut self) {
        self.last_activity = tokio::time::Instant::now();
    }

    /// Pending I/O: has the idle limit passed since the last byte moved?
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(idle) = self.idle else { return false };
        let due = self.last_activity + idle;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        if deadline.deadline() != due {
            deadline.as_mut().reset(due);
        }
        deadline.as_mut().poll(cx).is_ready()
    }
}

impl<IO> Slotted<IO> {
    /// A write's outcome: bytes written are traffic; a write pending past the idle limit fails.
    fn count_written(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<std::io::Result<usize>>,
    ) -> Poll<std::io::Result<usize>> {
        match written {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.idle_expired(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }
}

fn idle_error() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "connection idle too long")
}

impl<IO: AsyncRead + Unpin> AsyncRead for Slotted<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(result)
            }
            Poll::Pending if self.idle_expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Slotted<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        self.count_written(cx, written)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.count_written(cx, written)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for Slotted<TcpStream> {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;
    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// Accepts connections while a slot is free; past the cap each new one is closed at once,
/// and a failing `accept` (out of file descriptors) is retried after a pause instead of
/// spinning. Ends when `shutdown` is cancelled.
pub fn accept_slotted(
    listener: TcpListener,
    cap: usize,
    name: &'static str,
    shutdown: CancellationToken,
) -> impl futures::Stream<Item = std::io::Result<(Slotted<TcpStream>, SocketAddr)>> {
    let slots = Arc::new(Semaphore::new(cap.max(1)));
    futures::stream::unfold(
        (listener, slots, shutdown, 0u64),
        move |(listener, slots, shutdown, mut refused)| async move {
            loop {
                let accepted = tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    a = listener.accept() => a,
                };
                match accepted {
                    Ok((stream, peer)) => {
                        let Ok(slot) = slots.clone().try_acquire_owned() else {
                            refused += 1;
                            // Logged at the first refusal and then once per thousand.
                            if refused % 1000 == 1 {
                                tracing::warn!(
                                    listener = name,
                                    cap,
                                    refused,
                                    "connection cap reached; closing new connections"
                                );
                            }
                            drop(stream);
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let conn = Slotted::new(stream, slot);
                        return Some((Ok((conn, peer)), (listener, slots, shutdown, refused)));
                    }
                    Err(e) => {
                        tracing::warn!(listener = name, error = %e, "accept failed; pausing");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        },
    )
}

/// Serves `router` on `listener` until `shutdown`: at most `cap` connections, a header-read
/// deadline that is also the idle deadline between requests, each request carrying its
/// peer's address. Open connections get 10 s to finish after shutdown.
pub async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    cap: usize,
    shutdown: CancellationToken,
) {
    use futures::StreamExt;
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower::ServiceExt;

    // HTTP/1 only (browsers speak it to a plain-HTTP origin, and a proxy in front may speak
    // HTTP/2 to browsers): version detection would wait for the first bytes with no deadline.
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(64 * 1024);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let incoming = accept_slotted(listener, cap, "http", shutdown.clone());
    tokio::pin!(incoming);
    while let Some(accepted) = incoming.next().await {
        let Ok((conn, peer)) = accepted else { continue };
        let conn = conn.with_idle_limit(HTTP_IDLE_TIMEOUT);
        let service = router.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            },
        );
        let service = hyper_util::service::TowerToHyperService::new(service);
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // hyper's header deadline starts with the first byte: a client that never sends
            // one is dropped here.
            let mut first = [0u8; 1];
            match tokio::time::timeout(HEADER_READ_TIMEOUT, conn.io.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(conn), service);
            // Closed by the client, timed out or refused: nothing to act on.
            let _ = watcher.watch(connection.into_owned()).await;
        });
    }
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open 10 s after shutdown; closing them");
    }
}

/// An address range: `10.0.0.0/8`, `::1/128`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{text:?} is not an address or CIDR range (10.0.0.0/8, ::1)");
        let (address, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| bad())?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(bad)?,
            None => bits,
        };
        Ok(Cidr { network, prefix })
    }
}

impl Cidr {
    /// True when `ip` lies in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let lan: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(lan.contains("10.1.2.3".parse().unwrap()));
        assert!(lan.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!lan.contains("11.0.0.1".parse().unwrap()));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(
            v6.contains("fd12::1".parse().unwrap()) && !v6.contains("fe80::1".parse().unwrap())
        );
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
