//! The functions the local runtime hosts, keyed by the binary name `template.yaml` builds:
//! HTTP handlers and queue consumers, built once over one set of clients.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::bail;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::{Body, Request, Response};
use shared::clock::Env;
use shared::services::Services;

use crate::template::{HttpRoute, Template, Trigger, routes_by_binary};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub type HttpHandler = Arc<dyn Fn(Request) -> BoxFuture<Response<Body>> + Send + Sync>;
pub type QueueHandler = Arc<dyn Fn(SqsEvent) -> BoxFuture<SqsBatchResponse> + Send + Sync>;
/// A scheduled function: the EventBridge event in, its result (or error message) out.
pub type ScheduleHandler =
    Arc<dyn Fn(serde_json::Value) -> BoxFuture<Result<serde_json::Value, String>> + Send + Sync>;

pub struct HttpFunction {
    pub routes: Vec<HttpRoute>,
    pub handler: HttpHandler,
}

pub struct Registry {
    pub http: BTreeMap<&'static str, HttpFunction>,
    pub consumers: BTreeMap<&'static str, QueueHandler>,
    pub scheduled: BTreeMap<&'static str, ScheduleHandler>,
    /// `POST /_local/inbound` runs ingest directly to answer with the contact it made.
    pub ingest: Arc<ingest_messages::App>,
}

fn http_function(
    routes: impl Iterator<Item = (&'static str, &'static str)>,
    handler: HttpHandler,
) -> HttpFunction {
    HttpFunction {
        routes: routes
            .map(|(method, path)| HttpRoute {
                method: method.into(),
                path: path.into(),
            })
            .collect(),
        handler,
    }
}

impl Registry {
    pub fn build(s: &Services, env: &Env) -> Self {
        let attributes = Arc::new(manage_attributes::App::new(
            s.store.clone(),
            s.matching.clone(),
            env.clone(),
        ));
        let contacts = Arc::new(edit_contact::App::new(
            s.store.clone(),
            s.blobs.clone(),
            s.matching.clone(),
            env.clone(),
        ));
        let ingest = Arc::new(ingest_messages::App::new(
            s.store.clone(),
            s.blobs.clone(),
            s.matching.clone(),
            env.clone(),
        ));
        let matching = Arc::new(match_contacts::App::new(s.store.clone(), env.clone()));
        let vip = Arc::new(toggle_vip::App::new(s.store.clone(), env.clone()));
        let notes = Arc::new(contact_notes::App::new(s.store.clone(), env.clone()));
        let deletion = Arc::new(delete_contact::App::new(
            s.store.clone(),
            s.blobs.clone(),
            s.purge.clone(),
            env.clone(),
        ));
        let purge = deletion.clone();
        let exports = Arc::new(export_contacts::App::new(
            s.store.clone(),
            s.blobs.clone(),
            s.exports.clone(),
            env.clone(),
        ));
        let export_worker = exports.clone();
        let export_scheduler = exports.clone();

        let mut http = BTreeMap::new();
        http.insert(
            "manage-attributes",
            http_function(
                manage_attributes::App::routes(),
                Arc::new(move |req| {
                    let app = attributes.clone();
                    Box::pin(async move { app.handle(req).await })
                }),
            ),
        );
        http.insert(
            "edit-contact",
            http_function(
                edit_contact::App::routes(),
                Arc::new(move |req| {
                    let app = contacts.clone();
                    Box::pin(async move { app.handle(req).await })
                }),
            ),
        );
        http.insert(
            "toggle-vip",
            http_function(
                toggle_vip::App::routes(),
                Arc::new(move |req| {
                    let app = vip.clone();
                    Box::pin(async move { app.handle(req).await })
                }),
            ),
        );
        http.insert(
            "contact-notes",
            http_function(
                contact_notes::App::routes(),
                Arc::new(move |req| {
                    let app = notes.clone();
                    Box::pin(async move { app.handle(req).await })
                }),
            ),
        );
        http.insert(
            "delete-contact",
            http_function(
                delete_contact::App::routes(),
                Arc::new(move |req| {
                    let app = deletion.clone();
                    Box::pin(async move { app.handle(req).await })
                }),
            ),
        );
        http.insert(
            "export-contacts",
            http_function(
                export_contacts::App::routes(),
                Arc::new(move |req| {
                    let app = exports.clone();
                    Box::pin(async move { app.handle(req).await })
                }),
            ),
        );
        let mut consumers: BTreeMap<&'static str, QueueHandler> = BTreeMap::new();
        consumers.insert(
            "export-worker",
            Arc::new(move |event| {
                let app = export_worker.clone();
                Box::pin(async move { app.handle_batch(event).await })
            }),
        );
        let mut scheduled: BTreeMap<&'static str, ScheduleHandler> = BTreeMap::new();
        scheduled.insert(
            "export-scheduler",
            Arc::new(move |event| {
                let app = export_scheduler.clone();
                Box::pin(async move {
                    let event = serde_json::from_value(event).map_err(|e| e.to_string())?;
                    let run = app.handle_scheduled(event).await.map_err(|e| {
                        tracing::error!(error = ?e, "scheduled run failed");
                        e.to_string()
                    })?;
                    serde_json::to_value(run).map_err(|e| e.to_string())
                })
            }),
        );
        consumers.insert(
            "purge-contact",
            Arc::new(move |event| {
                let app = purge.clone();
                Box::pin(async move { app.handle_purge_batch(event).await })
            }),
        );
        let inbound = ingest.clone();
        consumers.insert(
            "ingest-messages",
            Arc::new(move |event| {
                let app = inbound.clone();
                Box::pin(async move { app.handle_batch(event).await.0 })
            }),
        );
        consumers.insert(
            "match-contacts",
            Arc::new(move |event| {
                let app = matching.clone();
                Box::pin(async move { app.handle_batch(event).await })
            }),
        );
        Self {
            http,
            consumers,
            scheduled,
            ingest,
        }
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
        let mut consuming = BTreeSet::new();
        let mut scheduled = BTreeSet::new();
        for function in &template.functions {
            for trigger in &function.triggers {
                match trigger {
                    Trigger::Http(_) => {}
                    Trigger::Queue { queue } => {
                        if self.consumers.contains_key(function.binary.as_str()) {
                            consuming.insert(function.binary.as_str());
                        } else {
                            problems.push(format!(
                                "{} consumes queue {queue} but has no local consumer",
                                function.binary
                            ));
                        }
                    }
                    Trigger::Schedule { name, .. } => {
                        if self.scheduled.contains_key(function.binary.as_str()) {
                            scheduled.insert(function.binary.as_str());
                        } else {
                            problems.push(format!(
                                "schedule {name} of {} has no local handler",
                                function.binary
                            ));
                        }
                    }
                }
            }
        }
        for binary in self.consumers.keys() {
            if !consuming.contains(binary) {
                problems.push(format!(
                    "{binary} consumes a queue template.yaml does not give it"
                ));
            }
        }
        for binary in self.scheduled.keys() {
            if !scheduled.contains(binary) {
                problems.push(format!(
                    "{binary} runs on a schedule template.yaml does not declare"
                ));
            }
        }
        if !problems.is_empty() {
            bail!(
                "template.yaml and the functions disagree:\n  {}",
                problems.join("\n  ")
            );
        }
        Ok(())
    }
}
