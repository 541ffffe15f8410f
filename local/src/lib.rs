//! The whole product on one machine: API Gateway, the JWT authorizer, Lambda, and later the SQS
//! event sources and schedules, over a local AWS endpoint. Not deployed.

pub mod authorizer;
pub mod aws_guard;
pub mod demo_crm;
pub mod functions;
pub mod gateway;
pub mod iam;
pub mod metering;
pub mod poller;
pub mod provision;
pub mod received_events;
pub mod site;
pub mod stream;
pub mod template;
#[cfg(feature = "test-support")]
pub mod testing;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use shared::clock::Env;
use shared::config::Config;
use shared::crm::Loopback;
use shared::services::Services;

/// How the runtime is started; everything comes from the environment.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub port: u16,
    pub template: PathBuf,
    pub aws: Config,
    pub bucket_prefix: String,
    /// `LOCAL_MAX_TIMEOUT_S`: caps every function's timeout, to watch long jobs continue.
    pub max_timeout: Option<std::time::Duration>,
    /// `LOCAL_DYNAMODB_FAILURES`: the share (0..1) of every function's DynamoDB requests that
    /// fail, half throttled and half with a 500 (a brownout); 0 by default.
    pub dynamodb_failures: f64,
    /// `DEMO_CRM_URL`: the CRM stand-in beside the runtime, which the panel pre-fills.
    pub demo_crm_url: Option<String>,
}

impl LocalConfig {
    pub fn from_env() -> anyhow::Result<Self> {
        let port = std::env::var("PORT")
            .ok()
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().context("PORT must be a port number"))
            .transpose()?
            .unwrap_or(3000);
        let template = std::env::var_os("TEMPLATE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("template.yaml"));
        let aws = Config::from_env().context("the local runtime needs TABLE_NAME")?;
        if aws.endpoint_url.is_none() {
            anyhow::bail!("set AWS_ENDPOINT_URL to a local AWS endpoint (scripts/dev starts one)");
        }
        let bucket_prefix = std::env::var("BUCKET_PREFIX").unwrap_or_else(|_| "inbox-local".into());
        let max_timeout = std::env::var("LOCAL_MAX_TIMEOUT_S")
            .ok()
            .filter(|s| !s.is_empty())
            .map(|s| match s.parse::<u64>() {
                Ok(seconds) if seconds > 0 => Ok(std::time::Duration::from_secs(seconds)),
                _ => Err(anyhow::anyhow!(
                    "LOCAL_MAX_TIMEOUT_S must be a whole number of seconds above 0"
                )),
            })
            .transpose()?;
        let dynamodb_failures = match std::env::var("LOCAL_DYNAMODB_FAILURES") {
            Ok(share) if !share.is_empty() => match share.parse::<f64>() {
                Ok(share) if (0.0..=1.0).contains(&share) => share,
                _ => anyhow::bail!("LOCAL_DYNAMODB_FAILURES must be a share from 0 to 1"),
            },
            _ => 0.0,
        };
        Ok(Self {
            port,
            template,
            aws,
            bucket_prefix,
            max_timeout,
            dynamodb_failures,
            demo_crm_url: std::env::var("DEMO_CRM_URL").ok().filter(|u| !u.is_empty()),
        })
    }
}

/// Provisions the resources, checks template against code, and serves until `shutdown` resolves.
pub async fn run(
    config: LocalConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let template = template::Template::load(&config.template)?;
    let sdk = config.aws.aws().await;
    let resources = provision::provision(
        &sdk,
        &template,
        &config.aws.table_name,
        &config.bucket_prefix,
    )
    .await?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let endpoints = resources.endpoints()?;
    let region = sdk.region().map_or("us-east-1", |r| r.as_ref());
    let guard = aws_guard::Guard::new(
        local_arns(&template, &resources, region),
        hash_keys(&template),
        aws_guard::Faults::everywhere(config.dynamodb_failures),
        sdk.http_client()
            .context("the SDK config has the process's HTTP client")?,
    );
    let policies = template
        .functions
        .iter()
        .map(|f| {
            Ok((
                f.binary.clone(),
                Arc::new(function_policy(f, guard.arns())?),
            ))
        })
        .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
    // Each function's clients carry its own policy, as its execution role would.
    let services_with = |policy: Arc<iam::Policy>| {
        let sdk = sdk
            .to_builder()
            .http_client(guard.for_function(policy))
            .build();
        let dynamodb = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(metering::CountRequests)
            .build();
        Services::with_dynamodb(
            &sdk,
            aws_sdk_dynamodb::Client::from_conf(dynamodb),
            endpoints.clone(),
            // The local runtime alone lets a CRM stand-in run on this machine.
            Loopback::Allowed,
        )
    };
    // Built once a binary: a binary that registers several handlers shares its clients.
    let services: BTreeMap<&str, Services> = policies
        .iter()
        .map(|(binary, policy)| (binary.as_str(), services_with(policy.clone())))
        .collect();
    let services_of = |binary: &str| {
        // A function the template does not declare is refused everything (and stops the
        // runtime at its template check).
        services
            .get(binary)
            .cloned()
            .unwrap_or_else(|| services_with(Arc::new(iam::Policy::none(binary))))
    };
    let timeouts = functions::Timeouts::new(&template, config.max_timeout);
    let registry = functions::Registry::build(&services_of, &Env::system(), timeouts);
    let received = received_events::ReceivedEvents::default();
    if let Some(tap) = &resources.events_tap_url {
        // One poller keeps the events in the order the bus delivered them.
        poller::spawn(sqs.clone(), tap.clone(), received.tap());
    }
    let gateway = gateway::Gateway::new(
        &template,
        &registry,
        authorizer::Authorizer::generate()?,
        received,
        gateway::LocalAws {
            policies: policies.values().cloned().collect(),
            faults: guard.faults.clone(),
        },
    )?;
    let event_sources = sdk
        .to_builder()
        .http_client(guard.for_event_sources())
        .build();
    for function in &template.functions {
        for trigger in &function.triggers {
            match trigger {
                template::Trigger::Queue { queue } => {
                    let handler = registry.consumers[function.binary.as_str()].clone();
                    let url = resources.queue_url(queue)?;
                    // Lambda runs several batches of a queue at once; so do we.
                    for _ in 0..poller::CONCURRENCY {
                        poller::spawn(sqs.clone(), url.to_owned(), handler.clone());
                    }
                }
                template::Trigger::Stream => {
                    let handler = registry.streams[function.binary.as_str()].clone();
                    let arn = resources
                        .stream_arn
                        .clone()
                        .context("a function reads the table's stream, but it has none")?;
                    stream::spawn(
                        aws_sdk_dynamodbstreams::Client::new(&event_sources),
                        arn,
                        handler,
                    );
                }
                _ => {}
            }
        }
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], config.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "local runtime ready");
    println!("inbox-local ready on http://{addr}");
    let site = site::Site {
        root: config
            .template
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        demo_crm_url: config.demo_crm_url.clone(),
    };
    axum::serve(listener, gateway.router().merge(site::router(site)))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// The policy `template.yaml` gives a function, its uses logged for `scripts/check_iam.py`.
pub(crate) fn function_policy(
    function: &template::FunctionDef,
    arns: &iam::Arns,
) -> anyhow::Result<iam::Policy> {
    Ok(
        iam::Policy::parse(&function.binary, &function.policies, arns)?
            .logging_to(iam::usage_log()),
    )
}

/// The ARNs of the template's resources as provisioned here, for the functions' policies.
pub(crate) fn local_arns(
    template: &template::Template,
    resources: &provision::LocalResources,
    region: &str,
) -> iam::Arns {
    let mut arns = iam::Arns::new(region);
    arns.define(&template.table_id, "Arn", arns.table(&resources.table));
    arns.define_ref(&template.table_id, &resources.table);
    if let Some(stream) = &resources.stream_arn {
        arns.define(&template.table_id, "StreamArn", stream.clone());
    }
    for (id, name) in &resources.buckets {
        arns.define(id, "Arn", iam::Arns::bucket(name));
        arns.define_ref(id, name);
    }
    for queue in &template.queues {
        let arn = arns.queue(&queue.logical_id);
        arns.define(&queue.logical_id, "Arn", arn);
        if let Ok(url) = resources.queue_url(&queue.logical_id) {
            arns.define_ref(&queue.logical_id, url);
            arns.queue_at_url(url, &queue.logical_id);
        }
    }
    for (id, alias) in &resources.key_ids {
        arns.alias_key(alias, id);
    }
    for (id, name) in &resources.event_buses {
        arns.define(id, "Arn", arns.event_bus(name));
        arns.define_ref(id, name);
    }
    arns
}

/// The partition key attribute of the table (under `""`) and of each of its indexes.
pub(crate) fn hash_keys(template: &template::Template) -> BTreeMap<String, String> {
    let hash = |schema: &[template::KeyElement]| {
        schema
            .iter()
            .find(|k| k.key_type == "HASH")
            .map(|k| k.attribute_name.clone())
            .unwrap_or_default()
    };
    std::iter::once((String::new(), hash(&template.table.key_schema)))
        .chain(
            template
                .table
                .global_secondary_indexes
                .iter()
                .map(|i| (i.index_name.clone(), hash(&i.key_schema))),
        )
        .collect()
}
