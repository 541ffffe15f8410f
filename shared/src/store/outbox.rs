//! What the table's stream tells the event relay: the events a committed write put in a
//! contact's outbox, and the removal of a contact's profile, which is its deletion.

use serde::Deserialize;

use super::internal;
use crate::error::ApiError;
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

fn outbox_of(image: serde_dynamo::Item) -> Result<Vec<Event>, ApiError> {
    if image.is_empty() {
        return Ok(Vec::new());
    }
    let image: OutboxImage = serde_dynamo::from_item(image).map_err(internal)?;
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
) -> Result<Vec<Event>, ApiError> {
    let key: KeyImage = serde_dynamo::from_item(keys).map_err(internal)?;
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
