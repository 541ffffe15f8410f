//! Contact events: what routing engines, virtual agents and ticketing follow. A change writes
//! its events into the `outbox` of the contact's profile in the same write, and the table's
//! stream relays them to the bus (`publish-events`): only committed changes, none lost when a
//! function dies after its commit, in the order of the profile's changes. Events carry ids,
//! flags and attribute values, never note or message text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::attributes::AttributeSet;
use crate::channel::Channel;
use crate::clock::{Env, rfc3339};
use crate::contacts::{Contact, LookupStatus, ValueChange, ValueSource};
use crate::crm::{ContactCrm, CrmConnection};
use crate::ids::OrgId;
use crate::settings::Settings;

/// The `source` of every event on the bus.
pub const SOURCE: &str = "inbox-contacts";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "contact.created")]
    ContactCreated,
    #[serde(rename = "contact.updated")]
    ContactUpdated,
    #[serde(rename = "contact.vip_changed")]
    ContactVipChanged,
    #[serde(rename = "contact.validated_changed")]
    ContactValidatedChanged,
    #[serde(rename = "contact.deleted")]
    ContactDeleted,
    #[serde(rename = "conversation.started")]
    ConversationStarted,
    #[serde(rename = "conversation.status_changed")]
    ConversationStatusChanged,
}

impl EventType {
    /// The event's `type`, which is also its detail-type on the bus.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ContactCreated => "contact.created",
            Self::ContactUpdated => "contact.updated",
            Self::ContactVipChanged => "contact.vip_changed",
            Self::ContactValidatedChanged => "contact.validated_changed",
            Self::ContactDeleted => "contact.deleted",
            Self::ConversationStarted => "conversation.started",
            Self::ConversationStatusChanged => "conversation.status_changed",
        }
    }
}

crate::debug_showing!(Event { id, kind, org_id });

/// One event as consumers receive it (the bus event's `detail`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub org_id: OrgId,
    pub time: String,
    pub data: serde_json::Value,
}

#[derive(Serialize)]
struct ConversationData<'a> {
    id: &'a str,
    channel: Channel,
    status: &'a str,
}

#[derive(Serialize)]
struct StartedContact<'a> {
    id: &'a str,
    vip: bool,
    validated: bool,
    vip_routing_team: Option<&'a str>,
    attributes: BTreeMap<String, String>,
}

/// The events of one change: one org, one time, a fresh id each, in the order they are added.
pub struct Outbox<'a> {
    org: &'a OrgId,
    env: &'a Env,
    time: String,
    events: Vec<Event>,
}

/// The team a VIP is routed to; nobody else is routed by VIP.
fn routing_team(vip: bool, settings: &Settings) -> Option<&str> {
    settings.vip_routing_team.as_deref().filter(|_| vip)
}

impl<'a> Outbox<'a> {
    pub fn new(org: &'a OrgId, env: &'a Env) -> Self {
        Self {
            org,
            env,
            time: rfc3339(env.now()),
            events: Vec::new(),
        }
    }

    fn push(&mut self, kind: EventType, data: serde_json::Value) {
        self.events.push(Event {
            id: self.env.ids.new_id(),
            kind,
            org_id: self.org.clone(),
            time: self.time.clone(),
            data,
        });
    }

    pub fn contact_created(&mut self, contact: &Contact, crm: Option<&CrmConnection>) {
        let data = serde_json::json!({ "contact": contact.summary(crm) });
        self.push(EventType::ContactCreated, data);
    }

    /// Nothing when no attribute changed.
    pub fn contact_updated(&mut self, contact_id: &str, changed: Vec<String>, source: ValueSource) {
        if changed.is_empty() {
            return;
        }
        let data = serde_json::json!({
            "contact_id": contact_id, "changed": changed, "source": source,
        });
        self.push(EventType::ContactUpdated, data);
    }

    pub fn vip_changed(&mut self, contact_id: &str, vip: bool, settings: &Settings) {
        let data = serde_json::json!({
            "contact_id": contact_id, "vip": vip, "vip_routing_team": routing_team(vip, settings),
        });
        self.push(EventType::ContactVipChanged, data);
    }

    pub fn validated_changed(
        &mut self,
        contact_id: &str,
        validated: bool,
        record_id: Option<&str>,
    ) {
        let data = serde_json::json!({
            "contact_id": contact_id, "validated": validated, "crm_record_id": record_id,
        });
        self.push(EventType::ContactValidatedChanged, data);
    }

    /// A lookup's outcome recorded on `before`: the values it really changed, and validation
    /// when it flips.
    pub fn lookup_recorded(
        &mut self,
        before: &Contact,
        after: &ContactCrm,
        changes: &[ValueChange],
        connection: &CrmConnection,
    ) {
        self.contact_updated(&before.id, before.changed_keys(changes), ValueSource::Crm);
        let validated = after.status == LookupStatus::Found;
        if before.validated_under(Some(connection)) != validated {
            self.validated_changed(&before.id, validated, after.record_id.as_deref());
        }
    }

    /// What a router or a bot starts from: the contact's VIP standing, validation and its
    /// enabled, non-empty values by key.
    pub fn conversation_started(
        &mut self,
        conversation: (&str, Channel, &str),
        contact: &Contact,
        context: (&AttributeSet, &Settings, Option<&CrmConnection>),
    ) {
        let (definitions, settings, crm) = context;
        let (id, channel, status) = conversation;
        let data = serde_json::json!({
            "conversation": ConversationData { id, channel, status },
            "contact": StartedContact {
                id: &contact.id,
                vip: contact.vip,
                validated: contact.validated_under(crm),
                vip_routing_team: routing_team(contact.vip, settings),
                attributes: contact.present_values(definitions),
            },
        });
        self.push(EventType::ConversationStarted, data);
    }

    pub fn status_changed(
        &mut self,
        conversation_id: &str,
        contact_id: &str,
        from: &str,
        to: &str,
    ) {
        let data = serde_json::json!({
            "conversation_id": conversation_id, "contact_id": contact_id, "from": from, "to": to,
        });
        self.push(EventType::ConversationStatusChanged, data);
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }
}

/// A contact's deletion, told by the removal of its profile. A contact is deleted once, so its
/// id is derived from the org and contact: the same on every repeat of the relay.
pub fn contact_deleted(org: &OrgId, contact_id: &str, time: String) -> Event {
    Event {
        id: crate::ids::derived_id(&["contact.deleted", org.as_str(), contact_id]),
        kind: EventType::ContactDeleted,
        org_id: org.clone(),
        time,
        data: serde_json::json!({ "contact_id": contact_id }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{FixedClock, SequentialIds};
    use std::sync::Arc;

    fn env() -> Env {
        Env {
            clock: Arc::new(FixedClock::at(time::macros::datetime!(2026-03-01 9:00 UTC))),
            ids: Arc::new(SequentialIds::default()),
        }
    }

    #[test]
    fn events_of_one_change_share_org_and_time_with_their_own_ids() {
        let (org, env) = (OrgId::parse("acme").unwrap(), env());
        let mut outbox = Outbox::new(&org, &env);
        outbox.contact_updated("c-1", vec![], ValueSource::Agent);
        assert!(outbox.is_empty(), "no changed key, no event");
        outbox.contact_updated("c-1", vec!["tier".into()], ValueSource::Automation);
        outbox.status_changed("v-1", "c-1", "open", "closed");
        let [updated, status] = outbox.events() else {
            panic!("two events")
        };
        assert_ne!(updated.id, status.id);
        assert_eq!(updated.time, "2026-03-01T09:00:00Z");
        let wire = serde_json::to_value(updated).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"id": updated.id, "type": "contact.updated", "org_id": "acme",
                "time": "2026-03-01T09:00:00Z",
                "data": {"contact_id": "c-1", "changed": ["tier"], "source": "automation"}})
        );
    }

    #[test]
    fn only_a_vip_carries_the_routing_team() {
        let (org, env) = (OrgId::parse("acme").unwrap(), env());
        let settings = Settings {
            vip_routing_team: Some("VIP desk".into()),
            ..Settings::default()
        };
        let mut outbox = Outbox::new(&org, &env);
        outbox.vip_changed("c-1", true, &settings);
        outbox.vip_changed("c-1", false, &settings);
        let teams: Vec<_> = outbox
            .events()
            .iter()
            .map(|e| e.data["vip_routing_team"].clone())
            .collect();
        assert_eq!(
            teams,
            [serde_json::json!("VIP desk"), serde_json::Value::Null]
        );
    }

    #[test]
    fn a_deletion_has_one_id_per_contact() {
        let org = OrgId::parse("acme").unwrap();
        let first = contact_deleted(&org, "c-1", "2026-03-01T09:00:00Z".into());
        let repeat = contact_deleted(&org, "c-1", "2026-03-01T09:00:05Z".into());
        assert_eq!(first.id, repeat.id);
        assert_ne!(
            first.id,
            contact_deleted(&org, "c-2", first.time.clone()).id
        );
        let other_org = OrgId::parse("acme2").unwrap();
        assert_ne!(
            first.id,
            contact_deleted(&other_org, "c-1", first.time.clone()).id
        );
        assert!(uuid::Uuid::parse_str(&first.id).is_ok());
    }
}
