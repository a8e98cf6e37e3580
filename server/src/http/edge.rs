//! What every request passes through first: who the client is (proxy headers believed only
//! from `--trusted-proxies`), the security headers of every answer, and the JSON error shape
//! for every API error, including the ones axum makes itself (405, a bad path encoding).
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use app::ApiError;
use app::backend::{ClientInfo, is_valid_host};

use super::AppState;
use crate::net::Cidr;

/// Resolves the client of a request that came from `peer`.
pub fn resolve_client(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> ClientInfo {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let host_header = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if !is_trusted(peer) {
        return ClientInfo {
            addr: peer,
            host: host_header.filter(|h| is_valid_host(h)),
            https: false,
        };
    }
    // Walk X-Forwarded-For from the right: the first address not of a trusted proxy is the
    // client (what lies left of it, the client could have written itself).
    let mut addr = peer;
    for hop in values("x-forwarded-for").iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                addr = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    // The nearest proxy appends last: its value is the one we trust.
    let host = values("x-forwarded-host").pop().or(host_header);
    let https = values("x-forwarded-proto")
        .pop()
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    ClientInfo {
        addr,
        host: host.filter(|h| is_valid_host(h)),
        https,
    }
}

/// Puts the request's [`ClientInfo`] in its extensions.
pub async fn client_info(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let client = resolve_client(peer, request.headers(), &state.config.trusted_proxies);
    request.extensions_mut().insert(client);
    next.run(request).await
}

/// The policy of the dashboard's pages: our own scripts (and the inline hydration script
/// carrying this request's nonce), our WASM, nothing framed, nothing posted elsewhere.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Everything that is not a page: no scripts at all.
const STRICT_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Security headers on every answer; API answers are never cached, and every API error not
/// already in the JSON shape is put in it with its status.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let api =
        request.uri().path().starts_with("/api/") || request.uri().path().starts_with("/_sf/");
    let mut response = next.run(request).await;
    if api
        && response.status().as_u16() >= 400
        && !response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
    {
        response = as_api_error(response).await;
    }
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_SECURITY_POLICY, STRICT_POLICY);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "same-origin");
    if api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// An error answer made outside our handlers (axum's 405, a path that does not decode, a
/// body limit), rewritten as `{"error":{"code","message"}}` with the same status.
async fn as_api_error(response: Response) -> Response {
    let status = response.status();
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => status
            .canonical_reason()
            .unwrap_or("The request failed.")
            .to_owned(),
        t => t.chars().take(300).collect(),
    };
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut rebuilt = ApiError::Rejected {
        status: status.as_u16(),
        message,
    }
    .into_response();
    for (name, value) in parts.headers.iter() {
        rebuilt.headers_mut().entry(name).or_insert(value.clone());
    }
    rebuilt
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_headers as headers;

    #[test]
    fn proxy_headers_count_only_from_trusted_proxies() {
        let spoofed = headers(&[
            ("host", "vantage.example:8080"),
            ("x-forwarded-host", "evil.com"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
        ]);
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let c = resolve_client(stranger, &spoofed, &[]);
        assert_eq!(c.addr, stranger);
        assert_eq!(c.host.as_deref(), Some("vantage.example:8080"));
        assert!(!c.https);

        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let via_proxy = headers(&[
            ("host", "internal:8080"),
            ("x-forwarded-host", "forged.example, vantage.example"),
            ("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.9"),
            ("x-forwarded-proto", "https"),
        ]);
        let c = resolve_client(proxy, &via_proxy, &trusted);
        assert_eq!(c.addr, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(c.host.as_deref(), Some("vantage.example"));
        assert!(c.https);

        let shell = headers(&[("host", "evil.com$(id)")]);
        assert_eq!(resolve_client(stranger, &shell, &[]).host, None);
    }
}
