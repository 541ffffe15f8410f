//! The stack's EventBridge bus, where committed changes become events.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::{Deserialize, Serialize};

use crate::events::{Event, SOURCE};

/// PutEvents takes at most ten entries and 256 KiB a request.
const ENTRIES_PER_REQUEST: usize = 10;
const REQUEST_MAX_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the bus refused {refused} of {sent} events")]
    Refused { refused: i32, sent: usize },
    #[error("putting events on the bus failed")]
    Call(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("encoding an event failed")]
    Encode(#[source] serde_json::Error),
}

/// A stream record's events the relay could not publish in time (or a record it could not
/// read), parked on the events dead-letter queue so the records behind it go on. An operator
/// publishes them later with `redrive-events`; their ids are the ones they would have had.
#[derive(Serialize, Deserialize)]
pub struct ParkedEvents {
    /// Why, in fixed words.
    pub reason: String,
    /// The table item whose change it was, and the record's place in the stream.
    pub pk: String,
    pub sk: String,
    pub sequence_number: Option<String>,
    pub events: Vec<Event>,
}

#[derive(Clone)]
pub struct EventBus {
    client: aws_sdk_eventbridge::Client,
    name: String,
}

impl EventBus {
    pub fn new(client: aws_sdk_eventbridge::Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    /// Puts events on the bus in their order. An error means some may be on the bus and some
    /// not: the caller publishes them all again, and consumers drop repeats by id. An event
    /// too large for the bus is left out, logged by id, rather than holding up the rest.
    #[tracing::instrument(skip_all, fields(events = events.len()))]
    pub async fn publish(&self, events: &[Event]) -> Result<(), PublishError> {
        let mut batch: Vec<PutEventsRequestEntry> = Vec::new();
        let mut batch_bytes = 0;
        for event in events {
            let detail = serde_json::to_string(event).map_err(PublishError::Encode)?;
            let size = detail.len() + SOURCE.len() + event.kind.as_str().len();
            if size > REQUEST_MAX_BYTES {
                tracing::error!(event = %event.id, kind = event.kind.as_str(), size, "an event is too large for the bus; left out");
                continue;
            }
            if batch.len() == ENTRIES_PER_REQUEST || batch_bytes + size > REQUEST_MAX_BYTES {
                self.put(std::mem::take(&mut batch)).await?;
                batch_bytes = 0;
            }
            batch_bytes += size;
            batch.push(
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.name)
                    .source(SOURCE)
                    .detail_type(event.kind.as_str())
                    .detail(detail)
                    .build(),
            );
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.put(batch).await
    }

    async fn put(&self, entries: Vec<PutEventsRequestEntry>) -> Result<(), PublishError> {
        let sent = entries.len();
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| PublishError::Call(Box::new(e)))?;
        match out.failed_entry_count {
            0 => Ok(()),
            refused => Err(PublishError::Refused { refused, sent }),
        }
    }
}
