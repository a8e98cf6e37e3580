//! Where notifications may go. A channel's host is resolved once; every address it resolves
//! to is checked, and the connection goes to a checked address (never a second lookup), so a
//! name that re-points to an internal address between the check and the connection gets
//! nowhere. Link-local and cloud metadata addresses are always refused; loopback only with
//! `--notify-allow-loopback`.
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The rule for outbound addresses.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutboundPolicy {
    pub allow_loopback: bool,
}

impl OutboundPolicy {
    /// Why `ip` may not be reached, if it may not.
    pub fn refuse(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() {
                    Some("an unspecified, broadcast or multicast address")
                } else if v4.is_link_local() || o == [100, 100, 100, 200] {
                    // 169.254.0.0/16 holds the metadata services of AWS, GCP, Azure and
                    // OpenStack; 100.100.100.200 is Alibaba Cloud's.
                    Some("a link-local or cloud metadata address")
                } else if v4.is_loopback() && !self.allow_loopback {
                    Some("a loopback address (allowed only with --notify-allow-loopback)")
                } else {
                    None
                }
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                if v6.is_unspecified() || v6.is_multicast() {
                    Some("an unspecified or multicast address")
                } else if (s[0] & 0xffc0) == 0xfe80 || s[..4] == [0xfd00, 0x0ec2, 0, 0] {
                    // fe80::/10, and AWS's IPv6 metadata endpoint fd00:ec2::254.
                    Some("a link-local or cloud metadata address")
                } else if v6.is_loopback() && !self.allow_loopback {
                    Some("a loopback address (allowed only with --notify-allow-loopback)")
                } else {
                    None
                }
            }
        }
    }

    /// Resolves `host` once and keeps the addresses that may be reached; an error sentence
    /// when none may.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return match self.refuse(ip) {
                Some(why) => Err(format!("{ip} is {why}; notifications are not sent there")),
                None => Ok(vec![SocketAddr::new(ip, port)]),
            };
        }
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect();
        let mut refused = None;
        let allowed: Vec<SocketAddr> = found
            .iter()
            .copied()
            .filter(|a| match self.refuse(a.ip()) {
                Some(why) => {
                    refused = Some((a.ip(), why));
                    false
                }
                None => true,
            })
            .collect();
        match (allowed.is_empty(), refused) {
            (false, _) => Ok(allowed),
            (true, Some((ip, why))) => Err(format!(
                "{host} resolves to {ip}, {why}; notifications are not sent there"
            )),
            (true, None) => Err(format!("{host} resolves to no address")),
        }
    }
}

/// reqwest's resolver, under the policy: reqwest connects to what this returns.
#[derive(Debug, Clone)]
pub struct PolicyResolver(pub OutboundPolicy);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        Box::pin(async move {
            let addrs = policy
                .resolve(name.as_str(), 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client for notifications: the policy's resolver, no redirects (a redirect is
/// not followed anywhere), a timeout per request.
pub fn http_client(policy: OutboundPolicy, timeout: std::time::Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(PolicyResolver(policy)))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(std::time::Duration::from_secs(5)))
        .user_agent(concat!("vantage/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Checks a URL's form and, for a literal address, the policy (names are checked when
/// resolved, at each send).
pub fn check_url(policy: &OutboundPolicy, text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|_| "The URL does not parse.".to_owned())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("The URL is http:// or https://.".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("Put credentials in the channel's token fields, not in the URL.".into());
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) => refuse_literal(policy, IpAddr::V4(ip))?,
        Some(url::Host::Ipv6(ip)) => refuse_literal(policy, IpAddr::V6(ip))?,
        Some(url::Host::Domain(_)) => {}
        None => return Err("The URL has no host.".into()),
    }
    Ok(url)
}

fn refuse_literal(policy: &OutboundPolicy, ip: IpAddr) -> Result<(), String> {
    match policy.refuse(ip) {
        Some(why) => Err(format!("{ip} is {why}; notifications are not sent there.")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_link_local_are_always_refused() {
        let open = OutboundPolicy {
            allow_loopback: true,
        };
        for ip in [
            "169.254.169.254",
            "169.254.1.1",
            "100.100.100.200",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
        ] {
            assert!(
                open.refuse(ip.parse().unwrap()).is_some(),
                "{ip} must be refused"
            );
        }
        for ip in [
            "10.0.0.5",
            "192.168.1.10",
            "8.8.8.8",
            "2001:db8::1",
            "127.0.0.1",
            "::1",
        ] {
            assert!(
                open.refuse(ip.parse().unwrap()).is_none(),
                "{ip} is allowed"
            );
        }
    }

    #[test]
    fn loopback_needs_the_flag() {
        let closed = OutboundPolicy::default();
        for ip in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            let why = closed.refuse(ip.parse().unwrap()).unwrap();
            assert!(why.contains("--notify-allow-loopback"), "{ip}: {why}");
        }
    }

    #[test]
    fn urls_are_checked_before_anything_is_sent() {
        let closed = OutboundPolicy::default();
        assert!(check_url(&closed, "https://hooks.slack.com/services/T/B/x").is_ok());
        assert!(
            check_url(&closed, "http://169.254.169.254/latest/meta-data/")
                .unwrap_err()
                .contains("metadata")
        );
        assert!(
            check_url(&closed, "http://[::1]:9000/")
                .unwrap_err()
                .contains("loopback")
        );
        assert!(check_url(&closed, "ftp://example.com/").is_err());
        assert!(check_url(&closed, "https://user:pw@example.com/").is_err());
    }

    #[tokio::test]
    async fn a_name_is_checked_on_what_it_resolves_to() {
        let closed = OutboundPolicy::default();
        let err = closed.resolve("localhost", 80).await.unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        let open = OutboundPolicy {
            allow_loopback: true,
        };
        assert!(!open.resolve("localhost", 80).await.unwrap().is_empty());
    }
}
