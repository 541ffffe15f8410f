//! The one outbound HTTP client for customer URLs: every address a name resolves to is checked
//! at connect time (the resolver hands the client only public addresses), no redirects, no
//! proxies, 3 s in all, replies over 256 KiB refused; every call signed as Standard Webhooks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::Serialize;
use shared::crm::{CrmUrl, Loopback, SigningSecret, is_public, signature_header};

pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);
pub const REPLY_MAX_BYTES: usize = 256 * 1024;

/// Resolves names and keeps only addresses that may be called.
struct PublicOnly {
    loopback: Loopback,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let loopback = self.loopback;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| NameNotFound)?
                .filter(|a| {
                    is_public(a.ip()) || (loopback == Loopback::Allowed && a.ip().is_loopback())
                })
                .collect();
            if found.is_empty() {
                return Err(NoPublicAddress.into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// Whether a URL's host may be saved: a name that resolves now must resolve only to public
/// addresses (one that does not resolve yet is checked again on every call). Literal
/// addresses were checked when the URL was parsed.
pub async fn resolves_publicly(url: &CrmUrl, loopback: Loopback) -> bool {
    if loopback == Loopback::Allowed && url.is_loopback() {
        return true;
    }
    match reqwest::Url::parse(url.as_str())
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
    {
        Some(host) => host_resolves_publicly(&host).await,
        None => false,
    }
}

async fn host_resolves_publicly(host: &str) -> bool {
    let lookup = tokio::net::lookup_host((host, 443));
    match tokio::time::timeout(CALL_TIMEOUT, lookup).await {
        Ok(Ok(addresses)) => addresses.into_iter().all(|a| is_public(a.ip())),
        Ok(Err(_)) | Err(_) => true,
    }
}

/// Why a call failed, in words an admin can act on (never the reply's body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFailure {
    Timeout,
    Unreachable(Unreachable),
    Status(u16),
    TooLarge,
    NotJson,
    /// A found record whose id or link no agent may be shown.
    BadRecord(&'static str),
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => write!(f, "no answer within 3 s"),
            Self::Unreachable(why) => write!(f, "could not connect: {}", why.text()),
            Self::Status(code) => write!(f, "answered HTTP {code}"),
            Self::TooLarge => write!(f, "the reply is over 256 KiB"),
            Self::NotJson => write!(f, "the reply is not JSON"),
            Self::BadRecord(why) => write!(f, "the record's {why}"),
        }
    }
}

/// Why no answer came, in one of a few fixed texts: the underlying error's own words can
/// carry what a resolver or a TLS library found on someone else's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    NoPublicAddress,
    NameNotFound,
    Refused,
    Broken,
}

impl Unreachable {
    fn text(self) -> &'static str {
        match self {
            Self::NoPublicAddress => "the host has no public address",
            Self::NameNotFound => "the host name does not resolve",
            Self::Refused => "the connection was refused",
            Self::Broken => "the connection failed",
        }
    }

    /// Reads the cause chain; the full cause is logged, never answered.
    fn of(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut cause = Some(err);
        let mut found = Self::Broken;
        while let Some(err) = cause {
            if err.is::<NoPublicAddress>() {
                return Self::NoPublicAddress;
            }
            if err.is::<NameNotFound>() {
                return Self::NameNotFound;
            }
            if let Some(io) = err.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::ConnectionRefused
            {
                found = Self::Refused;
            }
            cause = err.source();
        }
        tracing::info!(cause = %root_cause(err), "a call to the CRM could not connect");
        found
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the host has no public address")]
struct NoPublicAddress;

#[derive(Debug, thiserror::Error)]
#[error("the host name does not resolve")]
struct NameNotFound;

/// A finished call: the status and, for a 2xx, the JSON reply.
pub struct Reply {
    pub status: u16,
    pub latency: Duration,
    pub outcome: Result<serde_json::Value, CallFailure>,
}

#[derive(Clone)]
pub struct CrmClient {
    http: reqwest::Client,
}

impl CrmClient {
    pub fn new(loopback: Loopback) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(CALL_TIMEOUT)
            .dns_resolver(Arc::new(PublicOnly { loopback }));
        // The roots the SDK's clients trust too, read once for the process.
        if let Some(roots) = shared::tls::roots() {
            let certificates = roots
                .certificates
                .iter()
                .map(|der| reqwest::Certificate::from_der(der))
                .collect::<Result<Vec<_>, _>>()?;
            builder = builder.tls_certs_only(certificates);
        }
        Ok(Self {
            http: builder.build()?,
        })
    }

    /// POSTs `body` to `url`, signed with every secret in `secrets` under `webhook_id`.
    pub async fn call<T: Serialize>(
        &self,
        url: &CrmUrl,
        secrets: &[SigningSecret],
        webhook_id: &str,
        timestamp: i64,
        body: &T,
    ) -> Result<Reply, shared::DomainError> {
        let body = serde_json::to_vec(body).map_err(shared::DomainError::failed)?;
        let signature = signature_header(secrets, webhook_id, timestamp, &body)?;
        let started = Instant::now();
        let sent = self
            .http
            .post(url.as_str())
            .header("content-type", "application/json")
            .header("webhook-id", webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(err) => {
                let failure = if err.is_timeout() {
                    CallFailure::Timeout
                } else {
                    CallFailure::Unreachable(Unreachable::of(&err))
                };
                return Ok(Reply {
                    status: 0,
                    latency: started.elapsed(),
                    outcome: Err(failure),
                });
            }
        };
        let status = response.status().as_u16();
        let outcome = if !response.status().is_success() {
            Err(CallFailure::Status(status))
        } else {
            // An empty body (a write-back's 204) is no answer rather than a wrong one.
            read_capped(&mut response).await.and_then(|bytes| {
                if bytes.is_empty() {
                    return Ok(serde_json::Value::Null);
                }
                serde_json::from_slice(&bytes).map_err(|_| CallFailure::NotJson)
            })
        };
        Ok(Reply {
            status,
            latency: started.elapsed(),
            outcome,
        })
    }
}

/// The body, refused as soon as it passes [`REPLY_MAX_BYTES`].
async fn read_capped(response: &mut reqwest::Response) -> Result<Vec<u8>, CallFailure> {
    if response
        .content_length()
        .is_some_and(|n| n > REPLY_MAX_BYTES as u64)
    {
        return Err(CallFailure::TooLarge);
    }
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > REPLY_MAX_BYTES {
                    return Err(CallFailure::TooLarge);
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(bytes),
            Err(err) if err.is_timeout() => return Err(CallFailure::Timeout),
            Err(err) => return Err(CallFailure::Unreachable(Unreachable::of(&err))),
        }
    }
}

/// The innermost cause, which says what went wrong (a refused address, a reset) without the
/// URL reqwest puts in its own message.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_that_resolves_to_a_private_address_is_refused() {
        assert!(!host_resolves_publicly("localhost").await);
        assert!(!host_resolves_publicly("127.0.0.1").await);
        assert!(host_resolves_publicly("8.8.8.8").await);
        assert!(
            host_resolves_publicly("no-such-host.invalid").await,
            "checked again on every call"
        );
    }

    #[tokio::test]
    async fn the_resolver_hands_the_client_no_private_address() {
        let refusing = PublicOnly {
            loopback: Loopback::Refused,
        };
        let name: Name = "localhost".parse().unwrap();
        assert!(refusing.resolve(name).await.is_err());
        let local = PublicOnly {
            loopback: Loopback::Allowed,
        };
        let name: Name = "localhost".parse().unwrap();
        let addresses: Vec<SocketAddr> = local.resolve(name).await.unwrap().collect();
        assert!(addresses.iter().all(|a| a.ip().is_loopback()));
    }
}
