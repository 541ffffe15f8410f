//! The functions the local runtime hosts, keyed by the binary name `template.yaml` builds:
//! HTTP handlers and queue consumers, built once over one set of clients.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_http::{Body, Request, Response};
use shared::clock::Env;
use shared::http::RouteTable;
use shared::invocation::Deadline;
use shared::serve::{Build, HttpFunction, QueueFunction, ScheduledFunction, StreamFunction};
use shared::services::Services;

use crate::template::{HttpRoute, Template, Trigger, routes_by_binary};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub type HttpHandler = Arc<dyn Fn(Request) -> BoxFuture<Response<Body>> + Send + Sync>;
pub type QueueHandler = Arc<dyn Fn(SqsEvent) -> BoxFuture<SqsBatchResponse> + Send + Sync>;
pub type StreamHandler = Arc<dyn Fn(StreamEvent) -> BoxFuture<DynamoDbEventResponse> + Send + Sync>;
/// A scheduled function: the EventBridge event in, its result (or error message) out.
pub type ScheduleHandler =
    Arc<dyn Fn(serde_json::Value) -> BoxFuture<Result<serde_json::Value, String>> + Send + Sync>;

/// How long each function's invocations may run here, as Lambda would let them: the template's
/// `Timeout`, capped by `LOCAL_MAX_TIMEOUT_S` so anyone can watch long jobs continue.
#[derive(Debug, Clone, Default)]
pub struct Timeouts {
    by_binary: BTreeMap<String, Duration>,
}

impl Timeouts {
    pub fn new(template: &Template, cap: Option<Duration>) -> Self {
        let by_binary = template
            .functions
            .iter()
            .map(|f| {
                let own = Duration::from_secs(u64::from(f.timeout_s));
                (f.binary.clone(), cap.map_or(own, |cap| own.min(cap)))
            })
            .collect();
        Self { by_binary }
    }

    /// A function the template does not name (only in tests) gets Lambda's longest.
    pub fn of(&self, binary: &str) -> Duration {
        self.by_binary
            .get(binary)
            .copied()
            .unwrap_or(Deadline::LAMBDA_MAX)
    }

    /// Every function with the timeout its invocations get, by binary name.
    pub fn all(&self) -> impl Iterator<Item = (&str, Duration)> {
        self.by_binary.iter().map(|(b, t)| (b.as_str(), *t))
    }
}

/// Runs one invocation under its timeout; `None` when the runtime stopped it, as Lambda would.
async fn within<T>(binary: &str, timeout: Duration, run: impl Future<Output = T>) -> Option<T> {
    match tokio::time::timeout(timeout, run).await {
        Ok(done) => Some(done),
        Err(_) => {
            tracing::warn!(
                function = binary,
                timeout_s = timeout.as_secs_f64(),
                "the invocation reached its deadline and was stopped"
            );
            None
        }
    }
}

pub struct HttpEntry {
    pub routes: Vec<HttpRoute>,
    pub handler: HttpHandler,
}

pub struct Registry {
    pub http: BTreeMap<&'static str, HttpEntry>,
    pub consumers: BTreeMap<&'static str, QueueHandler>,
    /// Consumers of the table's stream.
    pub streams: BTreeMap<&'static str, StreamHandler>,
    pub scheduled: BTreeMap<&'static str, ScheduleHandler>,
    /// `POST /_local/inbound` runs ingest directly to answer with the contact it made.
    pub ingest: Arc<ingest_messages::App>,
    pub timeouts: Timeouts,
}

impl Registry {
    /// Every function of the template, each built over the clients `s` gives its binary (with
    /// its own IAM policy): one line each.
    pub fn build(s: &dyn Fn(&str) -> Services, env: &Env, timeouts: Timeouts) -> Self {
        let ingest = s(<ingest_messages::App as QueueFunction>::BINARY);
        let mut registry = Self {
            http: BTreeMap::new(),
            consumers: BTreeMap::new(),
            streams: BTreeMap::new(),
            scheduled: BTreeMap::new(),
            ingest: Arc::new(ingest_messages::App::build(&ingest, env)),
            timeouts,
        };
        registry.http::<manage_attributes::App>(s, env);
        registry.http::<edit_contact::App>(s, env);
        registry.http::<toggle_vip::App>(s, env);
        registry.http::<contact_notes::App>(s, env);
        registry.http::<delete_contact::App>(s, env);
        registry.http::<export_contacts::App>(s, env);
        registry.http::<crm_sync::App>(s, env);
        registry.queue::<ingest_messages::App>(s, env);
        registry.queue::<match_contacts::App>(s, env);
        registry.queue::<delete_contact::App>(s, env);
        registry.queue::<export_contacts::App>(s, env);
        registry.queue::<crm_sync::App>(s, env);
        registry.stream::<publish_events::App>(s, env);
        registry.scheduled::<export_contacts::App>(s, env);
        registry
    }

    fn stream<F: StreamFunction>(&mut self, s: &dyn Fn(&str) -> Services, env: &Env) {
        let function = Arc::new(F::build(&s(F::BINARY), env));
        let timeout = self.timeouts.of(F::BINARY);
        let handler: StreamHandler = Arc::new(move |event: StreamEvent| {
            let function = function.clone();
            Box::pin(async move {
                let first = event
                    .records
                    .first()
                    .map(|r| r.change.sequence_number.clone());
                let deadline = shared::invocation::Deadline::after(timeout);
                match within(F::BINARY, timeout, function.handle_stream(event, deadline)).await {
                    Some(response) => response,
                    // The whole batch failed: it is read again from its first record.
                    None => {
                        let mut response = DynamoDbEventResponse::default();
                        let mut failure = DynamoDbBatchItemFailure::default();
                        failure.item_identifier = first.flatten();
                        response.batch_item_failures.push(failure);
                        response
                    }
                }
            })
        });
        self.streams.insert(F::BINARY, handler);
    }

    fn http<F: HttpFunction>(&mut self, s: &dyn Fn(&str) -> Services, env: &Env) {
        let function = Arc::new(F::build(&s(F::RouteId::BINARY), env));
        // Requests are not stopped at the function's timeout here: moto is far slower than
        // DynamoDB (it copies a whole table for a transaction), and a stopped request would
        // only turn a slow answer into a 500. Deadlines matter to the jobs behind queues.
        let handler: HttpHandler = Arc::new(move |req| {
            let function = function.clone();
            Box::pin(async move { function.handle(req).await })
        });
        let routes = F::routes()
            .map(|(method, path)| HttpRoute {
                method: method.into(),
                path: path.into(),
            })
            .collect();
        self.http
            .insert(F::RouteId::BINARY, HttpEntry { routes, handler });
    }

    fn queue<F: QueueFunction>(&mut self, s: &dyn Fn(&str) -> Services, env: &Env) {
        let binary = <F as QueueFunction>::BINARY;
        let function = Arc::new(F::build(&s(binary), env));
        let timeout = self.timeouts.of(binary);
        let handler: QueueHandler = Arc::new(move |event: SqsEvent| {
            let function = function.clone();
            Box::pin(async move {
                let ids: Vec<String> = event
                    .records
                    .iter()
                    .filter_map(|r| r.message_id.clone())
                    .collect();
                let run = function.handle_batch(event, Deadline::after(timeout));
                // A stopped invocation fails its whole batch: every record is delivered again.
                within(binary, timeout, run).await.unwrap_or_else(|| {
                    let mut response = SqsBatchResponse::default();
                    for id in ids {
                        let mut failure = BatchItemFailure::default();
                        failure.item_identifier = id;
                        response.batch_item_failures.push(failure);
                    }
                    response
                })
            })
        });
        self.consumers.insert(<F as QueueFunction>::BINARY, handler);
    }

    fn scheduled<F: ScheduledFunction>(&mut self, s: &dyn Fn(&str) -> Services, env: &Env) {
        let binary = <F as ScheduledFunction>::BINARY;
        let function = Arc::new(F::build(&s(binary), env));
        let timeout = self.timeouts.of(binary);
        let handler: ScheduleHandler = Arc::new(move |event| {
            let function = function.clone();
            Box::pin(async move {
                let event = serde_json::from_value(event).map_err(|e| e.to_string())?;
                let run = within(binary, timeout, function.run_scheduled(event))
                    .await
                    .ok_or_else(|| "the function timed out".to_owned())?;
                let run = run.map_err(|e| {
                    tracing::error!(error = ?e, "scheduled run failed");
                    e.to_string()
                })?;
                serde_json::to_value(run).map_err(|e| e.to_string())
            })
        });
        self.scheduled
            .insert(<F as ScheduledFunction>::BINARY, handler);
    }

    /// The template and the code must agree: a template route no function serves, a served
    /// route the template does not declare, or a queue or schedule trigger without its local
    /// function (or the reverse) stops the runtime.
    pub fn check_against(&self, template: &Template) -> anyhow::Result<()> {
        let declared = routes_by_binary(template);
        let mut problems = Vec::new();
        let binaries: BTreeSet<&str> = declared
            .keys()
            .map(String::as_str)
            .chain(self.http.keys().copied())
            .collect();
        for binary in binaries {
            let in_template: BTreeSet<&HttpRoute> =
                declared.get(binary).into_iter().flatten().collect();
            let in_code: BTreeSet<&HttpRoute> = self
                .http
                .get(binary)
                .map(|f| f.routes.iter().collect())
                .unwrap_or_default();
            for route in in_template.difference(&in_code) {
                problems.push(format!(
                    "template route {} {} of {binary} has no handler",
                    route.method, route.path
                ));
            }
            for route in in_code.difference(&in_template) {
                problems.push(format!(
                    "{binary} serves {} {} but template.yaml does not declare it",
                    route.method, route.path
                ));
            }
        }
        let (mut queues, mut streams, mut schedules) = (Vec::new(), Vec::new(), Vec::new());
        for function in &template.functions {
            let binary = function.binary.as_str();
            for trigger in &function.triggers {
                match trigger {
                    Trigger::Http(_) => {}
                    Trigger::Queue { queue } => queues.push((
                        binary,
                        format!("{binary} consumes queue {queue} but has no local consumer"),
                    )),
                    Trigger::Stream => streams.push((
                        binary,
                        format!("{binary} reads the table's stream but has no local consumer"),
                    )),
                    Trigger::Schedule { name, .. } => schedules.push((
                        binary,
                        format!("schedule {name} of {binary} has no local handler"),
                    )),
                }
            }
        }
        let unwired = "consumes a queue template.yaml does not give it";
        check_wiring(&self.consumers, queues, unwired, &mut problems);
        let unwired = "reads a stream template.yaml does not give it";
        check_wiring(&self.streams, streams, unwired, &mut problems);
        let unwired = "runs on a schedule template.yaml does not declare";
        check_wiring(&self.scheduled, schedules, unwired, &mut problems);
        if !problems.is_empty() {
            bail!(
                "template.yaml and the functions disagree:\n  {}",
                problems.join("\n  ")
            );
        }
        Ok(())
    }
}

/// Checks one kind of trigger both ways: each `(binary, problem)` the template wires needs a
/// local handler (else `problem`), and each local handler needs the template to wire it (else
/// "`binary` `unwired`").
fn check_wiring<H>(
    local: &BTreeMap<&'static str, H>,
    wired: Vec<(&str, String)>,
    unwired: &str,
    problems: &mut Vec<String>,
) {
    let in_template: BTreeSet<&str> = wired.iter().map(|(binary, _)| *binary).collect();
    for (binary, missing) in wired {
        if !local.contains_key(binary) {
            problems.push(missing);
        }
    }
    for binary in local.keys().filter(|b| !in_template.contains(**b)) {
        problems.push(format!("{binary} {unwired}"));
    }
}
