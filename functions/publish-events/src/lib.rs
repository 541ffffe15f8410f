//! `publish-events`: the relay from the table's stream to the event bus. A change's events are
//! committed with the change (in its contact's outbox), so nothing a function does after its
//! commit can lose them; this relay publishes each stream record's events in stream order, and
//! a record that fails is retried (with every event's id unchanged) before any later one of its
//! contact. A record that keeps failing is parked whole on the events dead-letter queue rather
//! than holding up the shard until Lambda gives up on the whole batch; `redrive` publishes
//! what was parked.

use aws_lambda_events::event::dynamodb::EventRecord;
use shared::DomainError;
use shared::bus::{EventBus, ParkedEvents, PublishError};
use shared::clock::{Env, rfc3339};
use shared::events::Event;
use shared::queue::Queue;
use shared::serve::StreamFunction;
use shared::store::{StreamChange, relayed_events};
use time::OffsetDateTime;

/// How long a record may keep failing before its events are parked. Lambda stops retrying a
/// record after a day (`MaximumRecordAgeInSeconds`) and then drops the rest of its batch, other
/// contacts' records included; this parks it long before that.
pub const PARK_AFTER: time::Duration = time::Duration::minutes(15);

pub struct App {
    bus: EventBus,
    parking: Queue,
    park_after: time::Duration,
    env: Env,
}

impl App {
    pub fn new(bus: EventBus, parking: Queue, env: Env) -> Self {
        Self {
            bus,
            parking,
            park_after: PARK_AFTER,
            env,
        }
    }

    /// The same relay, parking a failing record once it is `park_after` old.
    pub fn parking_after(self, park_after: time::Duration) -> Self {
        Self { park_after, ..self }
    }
}

impl shared::serve::Build for App {
    fn build(services: &shared::services::Services, env: &Env) -> Self {
        Self::new(services.bus(), services.parked_events(), env.clone())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("reading a stream record failed")]
    Read(#[source] DomainError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("parking a record's events failed")]
    Park(#[source] DomainError),
}

impl App {
    /// When the record's change was made: a deletion's event is dated by it, the same on every
    /// retry, and a failing record's age is counted from it.
    fn changed_at(&self, record: &EventRecord) -> OffsetDateTime {
        let seconds = record.change.approximate_creation_date_time.timestamp();
        match OffsetDateTime::from_unix_timestamp(seconds) {
            Ok(at) if seconds > 0 => at,
            _ => self.env.now(),
        }
    }

    /// Sends a record's events (none, for a record that cannot be read) to the parking queue.
    async fn park(
        &self,
        (pk, sk, sequence_number): (String, String, Option<String>),
        events: Vec<Event>,
        reason: &str,
    ) -> Result<(), RelayError> {
        let parked = ParkedEvents {
            reason: reason.to_owned(),
            pk,
            sk,
            sequence_number,
            events,
        };
        self.parking.send(&parked).await.map_err(RelayError::Park)?;
        tracing::error!(
            sequence_number = parked.sequence_number.as_deref().unwrap_or_default(),
            events = parked.events.len(),
            reason,
            "a stream record's events were parked on the events dead-letter queue"
        );
        Ok(())
    }
}

/// The table keys a stream record names, for a parked record's place.
fn record_place(record: &EventRecord) -> (String, String, Option<String>) {
    let key = |name: &str| match record.change.keys.get(name) {
        Some(serde_dynamo::AttributeValue::S(value)) => value.clone(),
        _ => String::new(),
    };
    (key("PK"), key("SK"), record.change.sequence_number.clone())
}

impl StreamFunction for App {
    const BINARY: &'static str = "publish-events";
    type Error = RelayError;

    async fn run(&self, record: EventRecord) -> Result<(), RelayError> {
        let Some(change) = StreamChange::parse(&record.event_name) else {
            return Ok(());
        };
        let changed_at = self.changed_at(&record);
        let place = record_place(&record);
        let change_record = record.change;
        let read = relayed_events(
            change,
            change_record.keys,
            change_record.old_image,
            change_record.new_image,
            rfc3339(changed_at),
        );
        let events = match read {
            Ok(events) => events,
            // No retry can read it: it is parked at once, and the error logged.
            Err(err) => {
                tracing::error!(error = %shared::error::ErrorChain(&err), "a stream record cannot be read");
                return self
                    .park(place, Vec::new(), "the record could not be read")
                    .await;
            }
        };
        if events.is_empty() {
            return Ok(());
        }
        match self.bus.publish(&events).await {
            Ok(()) => {}
            Err(err) if self.env.now() - changed_at >= self.park_after => {
                tracing::error!(error = %shared::error::ErrorChain(&err), "the bus keeps refusing a record's events");
                return self
                    .park(place, events, "the bus refused them for 15 minutes")
                    .await;
            }
            Err(err) => return Err(err.into()),
        }
        for event in &events {
            tracing::info!(event = %event.id, kind = event.kind.as_str(), org = %event.org_id, "event published");
        }
        Ok(())
    }
}

/// What a redrive did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Redriven {
    /// Parked records whose events are on the bus now (and off the queue).
    pub published: usize,
    /// Messages left on the queue: records that could not be read (nothing to publish; kept for
    /// a person to look at) and anything that is not a parked record (Lambda's own pointer to a
    /// batch it gave up on).
    pub left: usize,
}

/// Publishes every parked record's events, with their ids unchanged, and deletes each message
/// once its events are on the bus. A message that fails to publish stays for the next run.
pub async fn redrive(parking: &Queue, bus: &EventBus) -> Result<Redriven, RelayError> {
    let mut done = Redriven::default();
    loop {
        let messages = parking.receive().await.map_err(RelayError::Park)?;
        if messages.is_empty() {
            return Ok(done);
        }
        for (body, receipt) in messages {
            match serde_json::from_str::<ParkedEvents>(&body) {
                Ok(parked) if !parked.events.is_empty() => {
                    bus.publish(&parked.events).await?;
                    parking.delete(&receipt).await.map_err(RelayError::Park)?;
                    done.published += 1;
                }
                _ => done.left += 1,
            }
        }
    }
}
