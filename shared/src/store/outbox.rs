//! What the table's stream tells the event relay: the events a committed write put in a
//! contact's outbox, and the removal of a contact's profile, which is its deletion.

use serde::Deserialize;

use super::failed;
use crate::error::DomainError;
use crate::events::{Event, contact_deleted};
use crate::keys;

/// How a stream record changed its item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamChange {
    Insert,
    Modify,
    Remove,
}

impl StreamChange {
    /// The stream record's `eventName`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "INSERT" => Some(Self::Insert),
            "MODIFY" => Some(Self::Modify),
            "REMOVE" => Some(Self::Remove),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct KeyImage {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
}

#[derive(Deserialize, Default)]
struct OutboxImage {
    #[serde(default)]
    outbox: Vec<Event>,
}

fn outbox_of(image: serde_dynamo::Item) -> Result<Vec<Event>, DomainError> {
    if image.is_empty() {
        return Ok(Vec::new());
    }
    let image: OutboxImage = serde_dynamo::from_item(image).map_err(failed)?;
    Ok(image.outbox)
}

/// The events one stream record carries, in order: those in the new image's outbox that the
/// old image did not hold (a write without events leaves the outbox as it was), or, for a
/// removed profile, the contact's deletion dated `time`. Any other item carries none.
pub fn relayed_events(
    change: StreamChange,
    keys: serde_dynamo::Item,
    old: serde_dynamo::Item,
    new: serde_dynamo::Item,
    time: String,
) -> Result<Vec<Event>, DomainError> {
    let key: KeyImage = serde_dynamo::from_item(keys).map_err(failed)?;
    if key.sk != keys::PROFILE_SK {
        return Ok(Vec::new());
    }
    match change {
        StreamChange::Remove => Ok(keys::parse_contact_pk(&key.pk)
            .map(|(org, contact)| contact_deleted(&org, contact, time))
            .into_iter()
            .collect()),
        StreamChange::Insert | StreamChange::Modify => {
            let told = outbox_of(old)?;
            let mut events = outbox_of(new)?;
            events.retain(|event| !told.iter().any(|t| t.id == event.id));
            Ok(events)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventType;
    use crate::ids::OrgId;

    fn event(id: &str) -> Event {
        Event {
            id: id.into(),
            kind: EventType::ContactUpdated,
            org_id: OrgId::parse("acme").unwrap(),
            time: "2026-03-01T09:00:00Z".into(),
            data: serde_json::json!({"contact_id": "c-1", "changed": ["tier"], "source": "agent"}),
        }
    }

    fn image(sk: &str, outbox: &[Event]) -> serde_dynamo::Item {
        serde_dynamo::to_item(serde_json::json!({
            "PK": "ORG#acme#C#c-1", "SK": sk, "name": "Ana", "outbox": outbox,
        }))
        .unwrap()
    }

    fn keys(sk: &str) -> serde_dynamo::Item {
        serde_dynamo::to_item(serde_json::json!({"PK": "ORG#acme#C#c-1", "SK": sk})).unwrap()
    }

    fn relayed(change: StreamChange, sk: &str, old: &[Event], new: &[Event]) -> Vec<String> {
        let (old, new) = (image(sk, old), image(sk, new));
        relayed_events(change, keys(sk), old, new, "2026-03-01T10:00:00Z".into())
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect()
    }

    #[test]
    fn a_write_relays_only_the_events_it_put_in_the_outbox() {
        let (a, b, c) = (event("a"), event("b"), event("c"));
        let insert = relayed_events(
            StreamChange::Insert,
            keys("PROFILE"),
            serde_dynamo::Item::from(std::collections::HashMap::<
                String,
                serde_dynamo::AttributeValue,
            >::new()),
            image("PROFILE", &[a.clone(), b.clone()]),
            String::new(),
        )
        .unwrap();
        assert_eq!(insert, [a.clone(), b.clone()], "in order, whole");
        assert_eq!(
            relayed(
                StreamChange::Modify,
                "PROFILE",
                &[a.clone(), b.clone()],
                &[c]
            ),
            ["c"]
        );
        assert!(
            relayed(
                StreamChange::Modify,
                "PROFILE",
                std::slice::from_ref(&a),
                std::slice::from_ref(&a)
            )
            .is_empty(),
            "a write without events leaves the outbox as it was"
        );
    }

    #[test]
    fn a_removed_profile_is_the_contacts_deletion_and_other_items_tell_nothing() {
        let deleted = relayed_events(
            StreamChange::Remove,
            keys("PROFILE"),
            image("PROFILE", &[event("a")]),
            serde_dynamo::Item::from(std::collections::HashMap::<
                String,
                serde_dynamo::AttributeValue,
            >::new()),
            "2026-03-01T10:00:00Z".into(),
        )
        .unwrap();
        let [deletion] = deleted.as_slice() else {
            panic!("one deletion: {deleted:?}")
        };
        assert_eq!(deletion.kind, EventType::ContactDeleted);
        assert_eq!(deletion.data, serde_json::json!({"contact_id": "c-1"}));
        assert_eq!(deletion.time, "2026-03-01T10:00:00Z");
        assert!(relayed(StreamChange::Insert, "CONV#v-1", &[], &[event("x")]).is_empty());
        assert!(relayed(StreamChange::Remove, "NOTE#n-1", &[event("x")], &[]).is_empty());
    }
}
