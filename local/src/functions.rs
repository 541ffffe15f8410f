//! The functions the local runtime hosts, keyed by the binary name `template.yaml` builds.
//! A later SQS consumer or scheduled function registers here the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::bail;
use lambda_http::{Body, Request, Response};
use shared::clock::Env;
use shared::store::Store;

use crate::template::{HttpRoute, Template, Trigger, routes_by_binary};

pub type HttpFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;
pub type HttpHandler = Arc<dyn Fn(Request) -> HttpFuture + Send + Sync>;

pub struct HttpFunction {
    pub routes: Vec<HttpRoute>,
    pub handler: HttpHandler,
}

/// Everything the hosted functions are built from: one set of clients for all of them.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub env: Env,
}

pub struct Registry {
    pub http: BTreeMap<&'static str, HttpFunction>,
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
    pub fn build(services: &Services) -> Self {
        let mut http = BTreeMap::new();
        let attributes = Arc::new(manage_attributes::App::new(
            services.store.clone(),
            services.env.clone(),
        ));
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
        Self { http }
    }

    /// The template and the code must agree route for route: a template route no function
    /// serves, or a served route the template does not declare, stops the runtime.
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
        // Queue consumers and schedules register here once a function has them; until then a
        // template that declares one is as wrong as an HTTP route without a handler.
        for function in &template.functions {
            for trigger in &function.triggers {
                match trigger {
                    Trigger::Http(_) => {}
                    Trigger::Queue { queue } => problems.push(format!(
                        "{} consumes queue {queue} but the local runtime has no consumer for it",
                        function.binary
                    )),
                    Trigger::Schedule { name, .. } => problems.push(format!(
                        "schedule {name} of {} has no local handler",
                        function.binary
                    )),
                }
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
