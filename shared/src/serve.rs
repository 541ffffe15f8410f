//! The one way a function is served. A function declares what it serves once — its routes, its
//! queue's job type, its schedule's event — and both its Lambda `main` (one call here) and the
//! local runtime (one line in its registry) serve it through the same code: authorization before
//! any handler logic, one SQS batch loop with partial failures, the same error handling.

use std::future::Future;

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord as StreamRecord};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::Env;
use crate::error::{DomainError, ErrorChain};
use crate::http::{HttpResult, Matched, RouteTable, Router, respond};
use crate::invocation::Deadline;
use crate::services::Services;
use crate::telemetry;
use tracing::Instrument;

/// A function built from the clients of its process.
pub trait Build: Sized + Send + Sync + 'static {
    fn build(services: &Services, env: &Env) -> Self;
}

/// Declares a function's `App` once: its fields are the parts of [`Services`] it uses, named as
/// there (only the clients those parts need are made), then `env`, and optionally the function's
/// `tuning` (its default in production, set by handler tests through `tuned`).
///
/// ```text
/// shared::app!(pub struct App { store, /** why it needs the queue */ matching });
/// shared::app!(pub struct App { store, purge } tuning: PurgeTuning);
/// ```
#[macro_export]
macro_rules! app {
    (
        $(#[$meta:meta])* $vis:vis struct $app:ident {
            $($(#[$part_meta:meta])* $part:ident),* $(,)?
        } $(tuning: $tuning:ty)?
    ) => {
        $(#[$meta])*
        $vis struct $app {
            $($(#[$part_meta])* $part: $crate::part_type!($part),)*
            env: $crate::clock::Env,
            $(tuning: $tuning,)?
        }

        impl $crate::serve::Build for $app {
            fn build(services: &$crate::services::Services, env: &$crate::clock::Env) -> Self {
                Self {
                    $($part: services.$part(),)*
                    env: env.clone(),
                    $(tuning: <$tuning>::default(),)?
                }
            }
        }

        $(
            impl $app {
                /// The function with other tuning (handler tests).
                pub fn tuned(mut self, tuning: $tuning) -> Self {
                    self.tuning = tuning;
                    self
                }
            }
        )?
    };
}

/// The type of each part of [`Services`], by its name there.
#[doc(hidden)]
#[macro_export]
macro_rules! part_type {
    (store) => {
        $crate::store::Store
    };
    (blobs) => {
        $crate::blobs::Blobs
    };
    (bus) => {
        $crate::bus::EventBus
    };
    (seal) => {
        $crate::secrets::SecretSeal
    };
    (loopback) => {
        $crate::crm::Loopback
    };
    // Every other part is one of the queues (`matching`, `purge`, `exports`, `crm`); a name
    // that is no part of `Services` fails to build where `app!` calls `services.$part()`.
    ($queue:ident) => {
        $crate::queue::Queue
    };
}

/// A function behind the HTTP API.
pub trait HttpFunction: Build {
    /// Its routes, and the binary that serves them.
    type RouteId: RouteTable;

    /// Runs a route for a caller already allowed to use it.
    fn dispatch(
        &self,
        route: Matched<Self::RouteId>,
        req: &Request,
    ) -> impl Future<Output = HttpResult> + Send;

    /// Answers one request: the route is matched and its capability checked before anything
    /// of the function runs; errors become the contract's error body. (Matching a handful of
    /// routes takes microseconds, so the router is built per request rather than kept.)
    fn handle(&self, req: Request) -> impl Future<Output = Response<Body>> + Send {
        async move {
            let outcome = match Router::new(Self::RouteId::ROUTES).authorize(&req) {
                Ok(route) => {
                    let scope = telemetry::org_scope(route.caller.org.as_str());
                    self.dispatch(route, &req).instrument(scope).await
                }
                Err(err) => Err(err),
            };
            respond(outcome)
        }
    }

    /// The declared routes as `(METHOD, /path/{param})`, for the local runtime and drift tests.
    fn routes() -> impl Iterator<Item = (&'static str, &'static str)> {
        Self::RouteId::ROUTES.iter().map(|r| (r.method, r.path))
    }
}

/// What became of one queue record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Done with: the record leaves the queue.
    Done,
    /// Leave it on the queue for another delivery (and, after `maxReceiveCount`, the
    /// dead-letter queue).
    Again,
}

/// How a queue record reached the function.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// When the invocation is stopped, for jobs that continue in another invocation rather
    /// than outgrow this one.
    pub deadline: Deadline,
    /// The record's receipt handle, for jobs that change their own visibility.
    pub receipt: Option<&'a str>,
}

/// A queue job names the org it is for, so every line logged while it runs carries the org id.
pub trait OrgJob {
    fn org_id(&self) -> &str;
}

/// A function that consumes one queue, one typed job per record.
pub trait QueueFunction: Build {
    const BINARY: &'static str;
    type Job: DeserializeOwned + OrgJob + Send;
    type Error: std::error::Error + Send + Sync + 'static;

    /// Runs one job.
    fn run(
        &self,
        job: Self::Job,
        delivery: Delivery<'_>,
    ) -> impl Future<Output = Result<Handled, Self::Error>> + Send;

    /// The one SQS batch loop: every record is parsed as [`Self::Job`] and run; a record that
    /// does not parse, fails, or asks to run again is reported as a batch item failure, so the
    /// rest of the batch lands. Failures are logged with their cause chain, never the body.
    fn handle_batch(
        &self,
        event: SqsEvent,
        deadline: Deadline,
    ) -> impl Future<Output = SqsBatchResponse> + Send {
        async move {
            let mut response = SqsBatchResponse::default();
            for record in &event.records {
                let id = record.message_id.clone().unwrap_or_default();
                let body = record.body.as_deref().unwrap_or_default();
                let handled = match serde_json::from_str::<Self::Job>(body) {
                    Err(err) => {
                        // serde's message can quote the body; the position is enough.
                        tracing::warn!(
                            function = Self::BINARY,
                            sqs_message = %id,
                            category = ?err.classify(),
                            line = err.line(),
                            column = err.column(),
                            "a queue record is not a job of this function"
                        );
                        Handled::Again
                    }
                    Ok(job) => {
                        let scope = telemetry::org_scope(job.org_id());
                        let delivery = Delivery {
                            deadline,
                            receipt: record.receipt_handle.as_deref(),
                        };
                        match Box::pin(self.run(job, delivery).instrument(scope)).await {
                            Ok(handled) => handled,
                            Err(err) => {
                                tracing::error!(
                                    function = Self::BINARY,
                                    sqs_message = %id,
                                    error = %ErrorChain(&err),
                                    "a queue record failed"
                                );
                                Handled::Again
                            }
                        }
                    }
                };
                if handled == Handled::Again {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id;
                    response.batch_item_failures.push(failure);
                }
            }
            response
        }
    }
}

/// A consumer of the table's stream. Records of a shard must be handled in order, so the batch
/// stops at the first record that fails and reports it: Lambda retries from there.
pub trait StreamFunction: Build {
    const BINARY: &'static str;
    type Error: std::error::Error + Send + Sync + 'static;

    fn run(&self, record: StreamRecord) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Runs a batch until `deadline` nears; what it did not get to is reported as the place
    /// to go on from, as a failure is.
    fn handle_stream(
        &self,
        event: StreamEvent,
        deadline: Deadline,
    ) -> impl Future<Output = DynamoDbEventResponse> + Send {
        async move {
            use futures::StreamExt;
            // A third of the invocation is kept in hand; the batch's first record always runs,
            // so every invocation moves the shard on.
            let reserve = deadline.remaining() / 3;
            // Records of one partition run in their order; different partitions' side by side,
            // so one slow or failing contact holds up no other.
            let lanes = stream_lanes(event.records);
            let failed: Vec<(usize, Option<String>)> = futures::stream::iter(lanes)
                .map(|lane| async move {
                    let mut longest = std::time::Duration::ZERO;
                    for (at, record) in lane {
                        let sequence_number = record.change.sequence_number.clone();
                        if at > 0 && deadline.remaining() <= reserve + longest {
                            return Some((at, sequence_number));
                        }
                        let began = tokio::time::Instant::now();
                        let ran = Box::pin(self.run(record)).await;
                        longest = longest.max(began.elapsed());
                        if let Err(err) = ran {
                            tracing::error!(
                                function = Self::BINARY,
                                sequence_number = sequence_number.as_deref().unwrap_or_default(),
                                error = %ErrorChain(&err),
                                "a stream record failed; its partition's later records wait for it"
                            );
                            return Some((at, sequence_number));
                        }
                    }
                    None
                })
                .buffer_unordered(STREAM_LANES_AT_ONCE)
                .filter_map(|failed| async move { failed })
                .collect()
                .await;
            // Lambda sends the shard again from the first failed record: later records of
            // other items that went through come again, as at-least-once delivery allows.
            let mut response = DynamoDbEventResponse::default();
            if let Some((_, sequence_number)) = failed.into_iter().min_by_key(|(at, _)| *at) {
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = sequence_number;
                response.batch_item_failures.push(failure);
            }
            response
        }
    }
}

/// How many partitions' records a stream batch runs at once.
const STREAM_LANES_AT_ONCE: usize = 4;

/// A stream batch's records by the partition they change (a contact's, for the events it
/// tells), each partition's in shard order with its place in the batch.
fn stream_lanes(records: Vec<StreamRecord>) -> Vec<Vec<(usize, StreamRecord)>> {
    let mut lanes: Vec<Vec<(usize, StreamRecord)>> = Vec::new();
    let mut lane_of: std::collections::HashMap<String, usize> = Default::default();
    for (at, record) in records.into_iter().enumerate() {
        let key = match serde_json::to_value(&record.change.keys) {
            Ok(keys) => keys["PK"].to_string(),
            Err(_) => String::new(),
        };
        let lane = *lane_of.entry(key).or_insert_with(|| {
            lanes.push(Vec::new());
            lanes.len() - 1
        });
        lanes[lane].push((at, record));
    }
    lanes
}

/// A function that a schedule invokes with EventBridge's event.
pub trait ScheduledFunction: Build {
    const BINARY: &'static str;
    type Event: DeserializeOwned + Send;
    type Output: Serialize + Send;

    fn run_scheduled(
        &self,
        event: Self::Event,
    ) -> impl Future<Output = Result<Self::Output, DomainError>> + Send;
}

/// The whole `main` of an HTTP function.
pub async fn lambda_http<F: HttpFunction>() -> Result<(), lambda_http::Error> {
    let function = start::<F>().await?;
    lambda_http::run(lambda_http::service_fn(|req| async {
        Ok::<_, lambda_http::Error>(function.handle(req).await)
    }))
    .await
}

/// The whole `main` of a queue consumer.
pub async fn lambda_queue<F: QueueFunction>() -> Result<(), lambda_runtime::Error> {
    let function = start::<F>().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let deadline = Deadline::from_epoch_millis(event.context.deadline);
            let function = &function;
            async move {
                Ok::<_, lambda_runtime::Error>(function.handle_batch(event.payload, deadline).await)
            }
        },
    ))
    .await
}

/// The whole `main` of a stream consumer.
pub async fn lambda_stream<F: StreamFunction>() -> Result<(), lambda_runtime::Error> {
    let function = start::<F>().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<StreamEvent>| {
            let deadline = Deadline::from_epoch_millis(event.context.deadline);
            let function = &function;
            async move {
                Ok::<_, lambda_runtime::Error>(
                    function.handle_stream(event.payload, deadline).await,
                )
            }
        },
    ))
    .await
}

/// The whole `main` of a scheduled function. An error makes Lambda retry the invocation.
pub async fn lambda_scheduled<F: ScheduledFunction>() -> Result<(), lambda_runtime::Error> {
    let function = start::<F>().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<F::Event>| async {
            Ok::<_, lambda_runtime::Error>(function.run_scheduled(event.payload).await?)
        },
    ))
    .await
}

async fn start<F: Build>() -> Result<F, crate::config::MissingVar> {
    crate::telemetry::init();
    let services = Services::from_env().await?;
    Ok(F::build(&services, &Env::system()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test fails by panicking

    use super::*;

    /// Runs records in the order it is handed them, each taking `each`, failing every record
    /// of partition `b`.
    #[derive(Default)]
    struct Relay {
        ran: std::sync::Mutex<Vec<String>>,
        each: std::time::Duration,
    }

    impl Build for Relay {
        fn build(_: &Services, _: &Env) -> Self {
            Self::default()
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("refused")]
    struct Refused;

    impl StreamFunction for Relay {
        const BINARY: &'static str = "relay";
        type Error = Refused;

        async fn run(&self, record: StreamRecord) -> Result<(), Refused> {
            let name = record.change.sequence_number.unwrap_or_default();
            self.ran.lock().unwrap().push(name.clone());
            // Let the other partitions' lanes run between this partition's records.
            tokio::task::yield_now().await;
            tokio::time::sleep(self.each).await;
            if name.starts_with('b') {
                return Err(Refused);
            }
            Ok(())
        }
    }

    /// A record changing partition `name`'s first letter, named `name` as its sequence number.
    fn record(name: &str) -> StreamRecord {
        let mut record = StreamRecord::default();
        record.change.sequence_number = Some(name.to_owned());
        let pk = serde_dynamo::AttributeValue::S(name[..1].to_owned());
        record.change.keys = std::collections::HashMap::from([("PK".to_owned(), pk)]).into();
        record
    }

    #[tokio::test]
    async fn a_failing_partition_holds_up_only_its_own_later_records() {
        let relay = Relay::default();
        let mut event = StreamEvent::default();
        event.records = ["a1", "b1", "a2", "c1", "b2", "a3"].map(record).to_vec();
        let response = relay.handle_stream(event, Deadline::longest()).await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(failed, [Some("b1".to_owned())], "sent again from b1");
        let ran = relay.ran.into_inner().unwrap();
        let of = |p: char| -> Vec<&str> {
            ran.iter()
                .filter(|r| r.starts_with(p))
                .map(String::as_str)
                .collect()
        };
        assert_eq!(of('a'), ["a1", "a2", "a3"], "in order, past b's failure");
        assert_eq!(of('c'), ["c1"]);
        assert_eq!(of('b'), ["b1"], "b2 waits for b1");
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_stops_short_of_its_deadline_and_names_where_to_go_on() {
        let relay = Relay {
            each: std::time::Duration::from_millis(100),
            ..Relay::default()
        };
        let mut event = StreamEvent::default();
        event.records = (1..=10).map(|n| record(&format!("a{n}"))).collect();
        let deadline = Deadline::after(std::time::Duration::from_secs(1));
        let response = relay.handle_stream(event, deadline).await;
        let resume: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        // A third (333 ms) is kept in hand: a7 would begin at 600 ms and could end past it.
        assert_eq!(resume, [Some("a7".to_owned())]);
        assert_eq!(relay.ran.into_inner().unwrap().len(), 6);
    }
}
