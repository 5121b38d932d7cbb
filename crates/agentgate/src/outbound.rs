//! Outbound HTTP: every request the gateway itself makes to a user-supplied URL goes through [`OutboundClient`].
//!
//! SSRF protection (CONTRACT.md §3.8), with the rules in [`agentgate_core::net`]: only http and https; a host
//! name is resolved once, by our own resolver, which refuses the name if *any* address it resolves to is blocked;
//! reqwest then connects only to the addresses that resolver returned, so the address checked is the address
//! contacted (no DNS-rebinding window). reqwest never consults a resolver for IP-literal hosts, so those are
//! checked here before sending. Redirects are not followed, system proxies are ignored (a proxy would resolve
//! the name itself), every request has a timeout, and at most the first kilobyte of a response is read.

use agentgate_core::net::{Refusal, check_host_name, check_ip};
use bytes::Bytes;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How much of a response is kept (the rest is never read).
pub const RESPONSE_BODY_LIMIT: usize = 1024;

const USER_AGENT_VALUE: &str = concat!("AgentGate/", env!("CARGO_PKG_VERSION"));

/// Why a destination was refused, as the user sees it (`Invalid webhook URL: <this>`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Blocked(pub String);

impl From<Refusal> for Blocked {
    fn from(refusal: Refusal) -> Self {
        Self(refusal.to_string())
    }
}

/// A host name that did not resolve (now): unlike a refusal, worth trying again later.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
struct Unresolved(String);

/// Why a host name cannot be used now.
#[derive(Debug, thiserror::Error)]
enum Resolution {
    #[error(transparent)]
    Blocked(#[from] Blocked),
    #[error(transparent)]
    Unresolved(#[from] Unresolved),
}

impl From<Refusal> for Resolution {
    fn from(refusal: Refusal) -> Self {
        Self::Blocked(refusal.into())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The destination is not allowed: retrying cannot help.
    #[error("SSRF protection: {0}")]
    Blocked(Blocked),
    /// No response: a timeout, a refused connection, a TLS failure.
    #[error("{0}")]
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct OutboundResponse {
    pub status: u16,
    /// The first [`RESPONSE_BODY_LIMIT`] bytes of the body, lossily decoded.
    pub body: String,
}

impl OutboundResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Resolves a host name and checks the name and every address it resolves to.
async fn resolve_checked(host: &str, port: u16, allow_private: bool) -> Result<Vec<SocketAddr>, Resolution> {
    check_host_name(host, allow_private)?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Unresolved(format!("DNS resolution failed: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(Unresolved("Could not resolve hostname".into()).into());
    }
    for addr in &addrs {
        match check_ip(addr.ip(), allow_private) {
            Ok(()) => {}
            Err(Refusal::Metadata) => {
                return Err(Blocked(format!("Hostname resolves to cloud metadata endpoint: {}", addr.ip())).into());
            }
            Err(Refusal::Private) => {
                return Err(Blocked(format!("Hostname resolves to private IP: {}", addr.ip())).into());
            }
            Err(other) => {
                return Err(Blocked(format!("Hostname resolves to a blocked address ({other}): {}", addr.ip())).into());
            }
        }
    }
    Ok(addrs)
}

/// reqwest's resolver for outbound requests: the checked resolution above, or an error that fails the request.
struct CheckedResolver {
    allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port in.
            // The inner error itself, so `classify_error` can tell a refusal from a lookup failure.
            match resolve_checked(name.as_str(), 0, allow_private).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                Err(Resolution::Blocked(blocked)) => Err(blocked.into()),
                Err(Resolution::Unresolved(unresolved)) => Err(unresolved.into()),
            }
        })
    }
}

/// The host of a URL as an IP address, when it is a literal (`[::1]` included).
fn literal_ip(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

#[derive(Clone)]
pub struct OutboundClient {
    http: reqwest::Client,
    allow_private: bool,
}

impl OutboundClient {
    /// A client whose requests take at most `timeout` each. `allow_private` admits private and loopback
    /// destinations (`AGENTGATE_ALLOW_PRIVATE_WEBHOOKS`); metadata and reserved addresses are never allowed.
    pub fn new(timeout: Duration, allow_private: bool) -> anyhow::Result<Self> {
        // One process-wide TLS provider (ring); installing it twice is harmless, so ignore "already installed".
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .dns_resolver(CheckedResolver { allow_private })
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Self { http, allow_private })
    }

    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Checks a URL before it is stored or used: http(s) only, no credentials in it, and a host that is allowed
    /// and (for names) resolves only to allowed addresses. Returns the parsed URL.
    pub async fn check_url(&self, url: &str) -> Result<Url, Blocked> {
        let parsed = Url::parse(url.trim()).map_err(|_| Blocked("Invalid URL format".into()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Blocked("Only HTTP and HTTPS protocols are allowed".into()));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Blocked("Credentials in the URL are not allowed".into()));
        }
        let Some(host) = parsed.host_str() else {
            return Err(Blocked("Invalid URL format".into()));
        };
        match literal_ip(&parsed) {
            Some(ip) => check_ip(ip, self.allow_private)?,
            None => {
                let port = parsed.port_or_known_default().unwrap_or(80);
                resolve_checked(host, port, self.allow_private).await.map_err(|e| match e {
                    Resolution::Blocked(blocked) => blocked,
                    Resolution::Unresolved(Unresolved(reason)) => Blocked(reason),
                })?;
            }
        }
        Ok(parsed)
    }

    /// POSTs a JSON body with extra headers. The destination is checked again (a name may resolve elsewhere
    /// now); a response of any status is `Ok`.
    pub async fn post_json(
        &self,
        url: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
    ) -> Result<OutboundResponse, OutboundError> {
        let parsed = Url::parse(url).map_err(|_| OutboundError::Blocked(Blocked("Invalid URL format".into())))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(OutboundError::Blocked(Blocked("Only HTTP and HTTPS protocols are allowed".into())));
        }
        if let Some(ip) = literal_ip(&parsed) {
            check_ip(ip, self.allow_private).map_err(|r| OutboundError::Blocked(r.into()))?;
        }
        let mut header_map = HeaderMap::with_capacity(headers.len() + 2);
        header_map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        header_map.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        for (name, value) in headers {
            header_map.insert(name, value);
        }
        let sent = self.http.post(parsed).headers(header_map).body(body).send().await;
        let mut response = sent.map_err(|e| classify_error(&e))?;
        let status = response.status().as_u16();
        let mut kept = Vec::new();
        while kept.len() < RESPONSE_BODY_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(RESPONSE_BODY_LIMIT - kept.len())]),
                // The status is what counts; a body cut short is still recorded as far as it came.
                Ok(None) | Err(_) => break,
            }
        }
        Ok(OutboundResponse { status, body: String::from_utf8_lossy(&kept).into_owned() })
    }
}

/// A refusal from our resolver, wherever reqwest wrapped it; otherwise a plain description of the failure.
fn classify_error(error: &reqwest::Error) -> OutboundError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<Blocked>() {
            return OutboundError::Blocked(blocked.clone());
        }
        if let Some(unresolved) = e.downcast_ref::<Unresolved>() {
            return OutboundError::Failed(unresolved.to_string());
        }
        source = e.source();
    }
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    // The innermost cause says what actually happened ("Connection refused"), without the URL.
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        cause = e.to_string();
        source = e.source();
    }
    OutboundError::Failed(if cause.is_empty() { kind.to_owned() } else { format!("{kind}: {cause}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(allow_private: bool) -> OutboundClient {
        OutboundClient::new(Duration::from_secs(1), allow_private).expect("client")
    }

    #[tokio::test]
    async fn urls_are_checked_in_every_ip_notation_without_any_traffic() {
        let strict = client(false);
        // The URL parser normalises decimal, hex, octal and short IPv4 forms; IPv6 forms are parsed as IPv6.
        for url in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[0:0:0:0:0:ffff:7f00:1]/",
            "http://10.0.0.1/",
            "http://[fd00::1]/",
            "http://100.64.0.1/",
        ] {
            let refused = strict.check_url(url).await.expect_err(url);
            assert_eq!(refused.0, "Private IP addresses are not allowed", "{url}");
        }
        for url in ["http://169.254.169.254/latest", "http://[::ffff:a9fe:a9fe]/", "http://[fe80::1]/"] {
            assert_eq!(strict.check_url(url).await.expect_err(url).0, "Cloud metadata endpoints are not allowed");
            assert!(client(true).check_url(url).await.is_err(), "{url} stays blocked when private is allowed");
        }
        for url in ["http://0.0.0.0/", "http://224.0.0.1/", "http://[ff02::1]/", "http://255.255.255.255/"] {
            assert!(client(true).check_url(url).await.is_err(), "{url}");
        }
        for (url, reason) in [
            ("ftp://example.com/", "Only HTTP and HTTPS protocols are allowed"),
            ("not a url", "Invalid URL format"),
            ("http://user:pw@8.8.8.8/", "Credentials in the URL are not allowed"),
            ("http://metadata.google.internal/", "Hostname is not allowed"),
            ("http://localhost:8080/", "Hostname is not allowed"),
        ] {
            assert_eq!(strict.check_url(url).await.expect_err(url).0, reason, "{url}");
        }
        assert!(strict.check_url("https://8.8.8.8/hook").await.is_ok(), "a public literal needs no lookup");
        assert!(client(true).check_url("http://127.0.0.1:9/").await.is_ok());
        assert!(client(true).check_url("http://[::1]:9/").await.is_ok());
    }

    #[tokio::test]
    async fn blocked_destinations_are_refused_at_send_time_before_any_connection() {
        let strict = client(false);
        match strict.post_json("http://127.0.0.1:9/", Vec::new(), Bytes::new()).await {
            Err(OutboundError::Blocked(b)) => assert_eq!(b.0, "Private IP addresses are not allowed"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(matches!(
            strict.post_json("http://[::ffff:7f00:1]:9/", Vec::new(), Bytes::new()).await,
            Err(OutboundError::Blocked(_))
        ));
        match strict.post_json("http://localhost:9/", Vec::new(), Bytes::new()).await {
            Err(OutboundError::Blocked(b)) => assert_eq!(b.0, "Hostname is not allowed"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
