//! `publish-events`: the relay from the table's stream to the event bus. A change's events are
//! committed with the change (in its contact's outbox), so nothing a function does after its
//! commit can lose them; this relay publishes each stream record's events in stream order, and
//! a record that fails is retried (with every event's id unchanged) before any later one.

use aws_lambda_events::event::dynamodb::EventRecord;
use shared::DomainError;
use shared::bus::{EventBus, PublishError};
use shared::clock::{Env, rfc3339};
use shared::serve::StreamFunction;
use shared::store::{StreamChange, relayed_events};
use time::OffsetDateTime;

pub struct App {
    bus: EventBus,
    env: Env,
}

impl App {
    pub fn new(bus: EventBus, env: Env) -> Self {
        Self { bus, env }
    }
}

impl shared::serve::Build for App {
    fn build(services: &shared::services::Services, env: &Env) -> Self {
        Self::new(services.bus(), env.clone())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("reading a stream record failed")]
    Read(#[source] DomainError),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

impl App {
    /// When the record's change was made: a deletion's event is dated by it, the same on every
    /// retry.
    fn changed_at(&self, record: &EventRecord) -> String {
        let seconds = record.change.approximate_creation_date_time.timestamp();
        match OffsetDateTime::from_unix_timestamp(seconds) {
            Ok(at) if seconds > 0 => rfc3339(at),
            _ => rfc3339(self.env.now()),
        }
    }
}

impl StreamFunction for App {
    const BINARY: &'static str = "publish-events";
    type Error = RelayError;

    async fn run(&self, record: EventRecord) -> Result<(), RelayError> {
        let Some(change) = StreamChange::parse(&record.event_name) else {
            return Ok(());
        };
        let time = self.changed_at(&record);
        let change_record = record.change;
        let events = relayed_events(
            change,
            change_record.keys,
            change_record.old_image,
            change_record.new_image,
            time,
        )
        .map_err(RelayError::Read)?;
        if events.is_empty() {
            return Ok(());
        }
        self.bus.publish(&events).await?;
        for event in &events {
            tracing::info!(event = %event.id, kind = event.kind.as_str(), org = %event.org_id, "event published");
        }
        Ok(())
    }
}
