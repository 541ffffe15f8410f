//! The channels' message as it arrives on the queue: the contract between the channel
//! connectors and ingest. Text and sender details are personal data and print redacted.

use std::collections::BTreeMap;

use serde::Deserialize;
use shared::channel::Channel;
use shared::ids::OrgId;

pub const MAX_ATTACHMENT_BYTES: usize = 256 * 1024;

#[derive(Debug, Deserialize)]
pub struct InboundMessage {
    /// Checked as it is read: a key can never be built from an org id that is not one.
    pub org_id: OrgId,
    pub channel: Channel,
    pub sender: Sender,
    pub conversation: InboundConversation,
    pub message: InboundBody,
}

shared::debug_showing!(Sender {});

#[derive(Deserialize)]
pub struct Sender {
    pub user_id: String,
    pub handle: Option<String>,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
    pub profile_url: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct InboundConversation {
    pub id: String,
    #[serde(default = "open")]
    pub status: String,
}

fn open() -> String {
    "open".into()
}

shared::debug_showing!(InboundBody { id, sent_at });

#[derive(Deserialize)]
pub struct InboundBody {
    pub id: String,
    #[serde(default)]
    pub text: String,
    pub sent_at: String,
    #[serde(default)]
    pub attachments: Vec<InboundAttachment>,
}

#[derive(Debug, Deserialize)]
pub struct InboundAttachment {
    pub id: String,
    pub content_type: String,
    pub content_base64: Option<String>,
    pub s3_key: Option<String>,
}

impl shared::serve::OrgJob for InboundMessage {
    fn org_id(&self) -> &str {
        self.org_id.as_str()
    }
}
