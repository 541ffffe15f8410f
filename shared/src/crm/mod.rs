//! The org's CRM connection: its endpoints, signing secret and health, a contact's standing with
//! the CRM, the messages exchanged with the customer's endpoints and the jobs of `crm-sync`.
//! Pure: the store keeps a [`CrmConnection`]; `crm-sync` makes the calls.

use std::net::{IpAddr, Ipv4Addr};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::contacts::{Contact, CrmView, LookupStatus};
use crate::error::{ApiError, DomainError};
use crate::ids::{ContactId, OrgId};

pub const LOOKUP_TTL_DEFAULT_MINUTES: u32 = 1440;
pub const LOOKUP_TTL_MAX_MINUTES: u32 = 10_080;
/// Failures in a row that pause calls, and for how long.
pub const BREAKER_FAILURES: u32 = 5;
pub const BREAKER_PAUSE_SECONDS: i64 = 60;
/// How long the old secret still signs after a rotation.
pub const ROTATION_OVERLAP_SECONDS: i64 = 24 * 3600;
const SECRET_PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 32;
const URL_MAX_CHARS: usize = 2048;

/// Whether loopback URLs are accepted: only the local runtime says yes, so a CRM stand-in can
/// run beside it; a deployed function never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Loopback {
    #[default]
    Refused,
    Allowed,
}

/// A customer endpoint: `https`, no user info, a host that is a public address or a name; a
/// name is resolved and checked again on every call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CrmUrl(String);

impl CrmUrl {
    pub fn parse(field: &str, raw: &str, loopback: Loopback) -> Result<Self, ApiError> {
        let refuse = |why: &str| ApiError::Validation {
            field: field.to_owned(),
            message: format!("{field} {why}"),
        };
        if raw.chars().count() > URL_MAX_CHARS {
            return Err(refuse("is longer than 2048 characters"));
        }
        let url = url::Url::parse(raw).map_err(|_| refuse("is not a URL"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("must not carry user info"));
        }
        let host = url.host().ok_or_else(|| refuse("has no host"))?;
        let local = loopback == Loopback::Allowed
            && url.scheme() == "http"
            && url.port().is_some()
            && match &host {
                url::Host::Domain(d) => *d == "localhost",
                url::Host::Ipv4(ip) => *ip == Ipv4Addr::LOCALHOST,
                url::Host::Ipv6(_) => false,
            };
        if local {
            return Ok(Self(url.to_string()));
        }
        if url.scheme() != "https" {
            return Err(refuse("must be an https URL"));
        }
        let literal = match host {
            url::Host::Domain(d) if d.eq_ignore_ascii_case("localhost") => {
                return Err(refuse("must be a public address"));
            }
            url::Host::Domain(_) => None,
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        };
        if literal.is_some_and(|ip| !is_public(ip)) {
            return Err(refuse("must be a public address"));
        }
        Ok(Self(url.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this URL names the local machine (allowed only with [`Loopback::Allowed`]).
    pub fn is_loopback(&self) -> bool {
        url::Url::parse(&self.0)
            .ok()
            .is_some_and(|u| u.scheme() == "http")
    }
}

/// Whether an address may be called: not loopback, private, link-local (the cloud metadata
/// address among them), carrier-grade NAT, multicast, documentation, benchmarking or reserved,
/// and no IPv6 form of one of those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|x| *x == 0);
            if nat64 {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            // Forms that carry an IPv4 address (6to4, Teredo, local-use NAT64) or reach a
            // site are refused whole: what they lead to is not the address they show.
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local, deprecated
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || s[0] == 0x2002 // 6to4
                || (s[0] == 0x2001 && s[1] == 0) // Teredo
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64
                || (s[0] == 0x100 && s[1..4].iter().all(|x| *x == 0)) // discard-only
                || s[0..6].iter().all(|x| *x == 0)) // IPv4-compatible, deprecated
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

/// A Standard Webhooks signing secret: `whsec_` and base64 of 32 random bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

impl SigningSecret {
    pub fn generate() -> Self {
        let bytes: [u8; SECRET_BYTES] = rand::random();
        Self(format!("{SECRET_PREFIX}{}", BASE64.encode(bytes)))
    }

    /// A secret read back from its sealed form.
    pub fn from_text(text: String) -> Result<Self, DomainError> {
        let secret = Self(text);
        secret.key()?;
        Ok(secret)
    }

    /// The text shown once to the admin and sealed for storage.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The last four characters, to tell secrets apart.
    pub fn hint(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    }

    /// The HMAC key: the decoded bytes after `whsec_`.
    fn key(&self) -> Result<Vec<u8>, DomainError> {
        self.0
            .strip_prefix(SECRET_PREFIX)
            .and_then(|b| BASE64.decode(b).ok())
            .ok_or_else(|| DomainError::failed("a stored signing secret is malformed"))
    }

    /// `v1,<base64 HMAC-SHA256 over "<id>.<timestamp>.<body>">`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> Result<String, DomainError> {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.key()?);
        let mut context = aws_lc_rs::hmac::Context::with_key(&key);
        context.update(format!("{id}.{timestamp}.").as_bytes());
        context.update(body);
        Ok(format!("v1,{}", BASE64.encode(context.sign().as_ref())))
    }
}

/// The `webhook-signature` header: one signature per secret, space-separated (two during a
/// rotation).
pub fn signature_header(
    secrets: &[SigningSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, DomainError> {
    let signatures = secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(signatures.join(" "))
}

/// A secret as the store keeps it: sealed with the stack's KMS key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// Base64 of the KMS ciphertext.
    pub ciphertext: String,
    pub hint: String,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSecret")
            .field("hint", &self.hint)
            .finish_non_exhaustive()
    }
}

/// The old secret during a rotation, until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiringSecret {
    pub secret: SealedSecret,
    pub until: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallError {
    pub at: String,
    pub message: String,
}

/// An org's connection to its CRM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmConnection {
    /// New on every connect, so a contact validated under an earlier connection is not
    /// validated under a later one.
    pub connection_id: String,
    pub lookup_url: CrmUrl,
    pub writeback_url: Option<CrmUrl>,
    pub lookup_ttl_minutes: u32,
    pub secret: SealedSecret,
    pub retiring: Option<RetiringSecret>,
    /// Counts the changes to where calls go and how they are signed (a `PUT`, a rotation), so
    /// a rotation replaces exactly the secret it read.
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Calls wait until then after [`BREAKER_FAILURES`] failures in a row.
    pub paused_until: Option<crate::clock::Timestamp>,
    pub last_error: Option<CallError>,
    pub created_at: String,
    pub updated_at: String,
}

/// `GET /crm` and the answers of `PUT /crm`.
#[derive(Debug, Serialize)]
pub struct CrmConnectionView {
    pub lookup_url: CrmUrl,
    pub writeback_url: Option<CrmUrl>,
    pub lookup_ttl_minutes: u32,
    pub secret_hint: String,
    pub state: &'static str,
    pub consecutive_failures: u32,
    pub last_error: Option<CallError>,
    pub created_at: String,
    pub updated_at: String,
}

impl CrmConnection {
    pub fn view(&self) -> CrmConnectionView {
        CrmConnectionView {
            lookup_url: self.lookup_url.clone(),
            writeback_url: self.writeback_url.clone(),
            lookup_ttl_minutes: self.lookup_ttl_minutes,
            secret_hint: self.secret.hint.clone(),
            state: if self.consecutive_failures >= BREAKER_FAILURES {
                "failing"
            } else {
                "healthy"
            },
            consecutive_failures: self.consecutive_failures,
            last_error: self.last_error.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }

    /// Whether calls wait at `now`.
    pub fn paused_at(&self, now: time::OffsetDateTime) -> bool {
        let now = crate::clock::Timestamp::at(now);
        self.paused_until.as_ref().is_some_and(|until| now < *until)
    }
}

/// A contact's standing with the CRM, kept on its profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactCrm {
    /// The connection the lookup ran under.
    pub connection_id: String,
    pub status: LookupStatus,
    pub record_id: Option<String>,
    pub record_url: Option<String>,
    pub last_lookup_at: Option<String>,
    pub error: Option<String>,
}

impl Contact {
    /// The contact's CRM view under the org's connection (`None` while there is none): what
    /// an earlier connection found counts as never looked up.
    pub fn crm_view(&self, connection: Option<&CrmConnection>) -> Option<CrmView> {
        let connection = connection?;
        let current = self
            .crm
            .as_ref()
            .filter(|c| c.connection_id == connection.connection_id);
        Some(match current {
            None => CrmView {
                status: LookupStatus::Never,
                record_id: None,
                record_url: None,
                last_lookup_at: None,
                error: None,
            },
            Some(c) => CrmView {
                status: c.status,
                record_id: c.record_id.clone(),
                record_url: c.record_url.clone(),
                last_lookup_at: c.last_lookup_at.clone(),
                error: c.error.clone(),
            },
        })
    }

    /// Validated: the org has a connection and its last lookup found exactly one record.
    pub fn validated_under(&self, connection: Option<&CrmConnection>) -> bool {
        validated(self.crm.as_ref(), connection)
    }
}

/// Validated: the org has a connection and the contact's last lookup under it found exactly
/// one record.
pub fn validated(lookup: Option<&ContactCrm>, connection: Option<&CrmConnection>) -> bool {
    connection.is_some_and(|connection| {
        lookup.is_some_and(|l| {
            l.connection_id == connection.connection_id && l.status == LookupStatus::Found
        })
    })
}

/// The values of a contact's enabled lookup attributes (platform or custom), by key: what a
/// lookup sends.
pub fn lookup_values(
    contact: &Contact,
    definitions: &crate::attributes::AttributeSet,
) -> std::collections::BTreeMap<String, String> {
    definitions
        .definitions()
        .into_iter()
        .filter(|d| d.enabled && d.lookup)
        .filter_map(|d| {
            let value = contact.value_of(&d.key, definitions)?.to_owned();
            Some((d.key, value))
        })
        .collect()
}

/// Why a lookup may be due, besides the manual route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupTrigger {
    /// A message made the contact or started a conversation: look up when the last answered
    /// lookup is older than the connection's TTL.
    NewContactOrConversation,
    /// One of the contact's lookup values changed: look up now.
    LookupValueChanged,
}

/// Whether to look the contact up now. A contact without a lookup value is never looked up
/// automatically.
pub fn lookup_due(
    contact: &Contact,
    definitions: &crate::attributes::AttributeSet,
    connection: &CrmConnection,
    trigger: LookupTrigger,
    now: time::OffsetDateTime,
) -> bool {
    if lookup_values(contact, definitions).is_empty() {
        return false;
    }
    match trigger {
        LookupTrigger::LookupValueChanged => true,
        LookupTrigger::NewContactOrConversation => {
            let answered = contact
                .crm
                .as_ref()
                .filter(|c| c.connection_id == connection.connection_id)
                .filter(|c| {
                    matches!(
                        c.status,
                        LookupStatus::Found | LookupStatus::NotFound | LookupStatus::Multiple
                    )
                })
                .and_then(|c| c.last_lookup_at.as_deref())
                .and_then(|at| {
                    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                        .ok()
                });
            let ttl = time::Duration::minutes(i64::from(connection.lookup_ttl_minutes));
            answered.is_none_or(|at| now - at >= ttl)
        }
    }
}

/// The jobs of `crm-sync`'s queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CrmJob {
    Lookup {
        org_id: OrgId,
        contact_id: ContactId,
    },
    /// Send the contact's pending CRM-managed values after one of its conversations changed
    /// status; retried with the same `webhook_id` until `first_tried_at` + 24 h.
    WriteBack {
        org_id: OrgId,
        contact_id: ContactId,
        conversation: ConversationRef,
        changed_by: ChangedBy,
        webhook_id: String,
        first_tried_at: String,
        #[serde(default)]
        attempt: u32,
    },
}

/// How long write-backs are retried, and the longest wait between two tries (SQS's limit).
pub const WRITEBACK_RETRY_SECONDS: i64 = 24 * 3600;
pub const WRITEBACK_MAX_DELAY_SECONDS: i32 = 900;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationRef {
    pub id: String,
    pub status: String,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedBy {
    pub id: String,
    pub name: String,
}

crate::debug_showing!(ChangedBy { id });

/// The body of a write-back call.
#[derive(Debug, Serialize)]
pub struct WriteBackCall<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub contact: WriteBackContact<'a>,
    pub attributes: std::collections::BTreeMap<&'a str, Option<&'a str>>,
    pub conversation: &'a ConversationRef,
    pub changed_by: &'a ChangedBy,
}

#[derive(Debug, Serialize)]
pub struct WriteBackContact<'a> {
    pub id: &'a str,
    pub crm_record_id: Option<&'a str>,
}

/// The body of a lookup call.
#[derive(Debug, Serialize)]
pub struct LookupCall<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub contact: LookupContact<'a>,
    pub lookup: std::collections::BTreeMap<&'a str, &'a str>,
}

#[derive(Debug, Serialize)]
pub struct LookupContact<'a> {
    pub id: &'a str,
    pub network: Option<crate::channel::Network>,
    pub identities: Vec<LookupIdentity<'a>>,
}

#[derive(Debug, Serialize)]
pub struct LookupIdentity<'a> {
    pub channel: crate::channel::Channel,
    pub user_id: &'a str,
    pub handle: Option<&'a str>,
}

/// What the customer's lookup endpoint answers.
#[derive(Debug, Deserialize)]
pub struct LookupReply {
    pub status: ReplyStatus,
    pub record: Option<CrmRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyStatus {
    Found,
    NotFound,
    Multiple,
}

#[derive(Deserialize)]
pub struct CrmRecord {
    pub id: String,
    pub url: Option<String>,
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, Option<String>>,
}

crate::debug_showing!(CrmRecord { id });

impl crate::serve::OrgJob for CrmJob {
    fn org_id(&self) -> &str {
        match self {
            CrmJob::Lookup { org_id, .. } | CrmJob::WriteBack { org_id, .. } => org_id.as_str(),
        }
    }
}

#[cfg(test)]
mod tests;
