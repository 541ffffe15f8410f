//! Creates the template's table, buckets and queues on the local endpoint, idempotently, and
//! tells where they are.

use std::collections::HashMap;

use anyhow::Context;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::template::{KeyElement, QueueDef, Template};

/// Where the template's resources live locally; the deployed stack gets these from CloudFormation.
#[derive(Debug, Clone, Default)]
pub struct LocalResources {
    pub table: String,
    pub buckets: HashMap<String, String>,
    pub queue_urls: HashMap<String, String>,
    /// KMS key ids by logical id: the alias `alias/<logical id>`, made on first start.
    pub key_ids: HashMap<String, String>,
    /// The table's stream, when the template gives it one.
    pub stream_arn: Option<String>,
    /// Event bus names by logical id (the name is the logical id).
    pub event_buses: HashMap<String, String>,
    /// The local-only queue a rule on the bus fills with every event, for `GET /_local/events`.
    pub events_tap_url: Option<String>,
}

impl LocalResources {
    pub fn bucket(&self, logical_id: &str) -> anyhow::Result<&str> {
        provisioned(&self.buckets, "bucket", logical_id)
    }

    pub fn key_id(&self, logical_id: &str) -> anyhow::Result<&str> {
        provisioned(&self.key_ids, "KMS key", logical_id)
    }

    pub fn event_bus(&self, logical_id: &str) -> anyhow::Result<&str> {
        provisioned(&self.event_buses, "event bus", logical_id)
    }

    pub fn queue_url(&self, logical_id: &str) -> anyhow::Result<&str> {
        provisioned(&self.queue_urls, "queue", logical_id)
    }

    /// Where the functions find these resources, by the logical ids the code knows.
    pub fn endpoints(&self) -> anyhow::Result<shared::services::Endpoints> {
        Ok(shared::services::Endpoints {
            table: self.table.clone(),
            bucket: self.bucket("DataBucket")?.to_owned(),
            match_queue_url: self.queue_url("MatchQueue")?.to_owned(),
            purge_queue_url: self.queue_url("PurgeQueue")?.to_owned(),
            export_queue_url: self.queue_url("ExportQueue")?.to_owned(),
            crm_queue_url: self.queue_url("CrmQueue")?.to_owned(),
            parked_events_queue_url: self.queue_url("EventsDeadLetterQueue")?.to_owned(),
            crm_key_id: self.key_id("CrmSecretKey")?.to_owned(),
            event_bus_name: self.event_bus("ContactEvents")?.to_owned(),
        })
    }
}

/// The local name (or URL) of the resource `template.yaml` declares as `logical_id`.
fn provisioned<'a>(
    made: &'a HashMap<String, String>,
    kind: &str,
    logical_id: &str,
) -> anyhow::Result<&'a str> {
    made.get(logical_id)
        .map(String::as_str)
        .with_context(|| format!("template.yaml has no {kind} {logical_id}"))
}

fn key_schema(elements: &[KeyElement]) -> anyhow::Result<Vec<KeySchemaElement>> {
    elements
        .iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()?)
        })
        .collect()
}

pub async fn provision(
    sdk: &aws_config::SdkConfig,
    template: &Template,
    table_name: &str,
    bucket_prefix: &str,
) -> anyhow::Result<LocalResources> {
    // The table lives on DynamoDB Local, the rest on moto: both are made at once.
    let (stream_arn, mut resources) = tokio::try_join!(
        create_table(sdk, template, table_name),
        provision_all_but_the_table(sdk, template, bucket_prefix),
    )?;
    resources.table = table_name.to_owned();
    resources.stream_arn = stream_arn;
    Ok(resources)
}

async fn provision_all_but_the_table(
    sdk: &aws_config::SdkConfig,
    template: &Template,
    bucket_prefix: &str,
) -> anyhow::Result<LocalResources> {
    let mut resources = LocalResources::default();
    let s3 = aws_sdk_s3::Client::new(sdk);
    for bucket in &template.buckets {
        let name = format!("{bucket_prefix}-{}", bucket.to_lowercase());
        match s3.create_bucket().bucket(&name).send().await {
            Ok(_) => tracing::info!(bucket = %name, "bucket created"),
            Err(err)
                if err.as_service_error().is_some_and(|e| {
                    e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()
                }) => {}
            Err(err) => return Err(err).with_context(|| format!("creating bucket {name}")),
        }
        resources.buckets.insert(bucket.clone(), name);
    }
    let kms = aws_sdk_kms::Client::new(sdk);
    for key in &template.keys {
        let alias = format!("alias/{key}");
        let exists = kms.describe_key().key_id(&alias).send().await.is_ok();
        if !exists {
            let created = kms
                .create_key()
                .send()
                .await
                .context("creating a KMS key")?;
            let key_id = created
                .key_metadata
                .map(|m| m.key_id)
                .context("KMS key id")?;
            kms.create_alias()
                .alias_name(&alias)
                .target_key_id(key_id)
                .send()
                .await
                .with_context(|| format!("creating {alias}"))?;
        }
        resources.key_ids.insert(key.clone(), alias);
    }
    let sqs = aws_sdk_sqs::Client::new(sdk);
    // Dead-letter queues first: the queues that redrive to them need their ARNs.
    let mut queues: Vec<&QueueDef> = template.queues.iter().collect();
    queues.sort_by_key(|q| q.redrive.is_some());
    for queue in queues {
        let mut attributes = HashMap::new();
        if let Some(seconds) = queue.visibility_timeout {
            attributes.insert(QueueAttributeName::VisibilityTimeout, seconds.to_string());
        }
        if let Some((dlq, max_receives)) = &queue.redrive {
            let dlq_url = resources.queue_url(dlq)?;
            let arn = queue_arn(&sqs, dlq_url, "dead-letter queue ARN").await?;
            let policy =
                serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receives});
            attributes.insert(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let created = sqs
            .create_queue()
            .queue_name(&queue.logical_id)
            .set_attributes(Some(attributes.clone()))
            .send()
            .await;
        let url = match created {
            Ok(out) => out.queue_url.context("queue URL")?,
            // It exists from an earlier run, perhaps with other attributes: bring them in line.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_queue_name_exists()) =>
            {
                let url = sqs
                    .get_queue_url()
                    .queue_name(&queue.logical_id)
                    .send()
                    .await?
                    .queue_url
                    .context("queue URL")?;
                if !attributes.is_empty() {
                    sqs.set_queue_attributes()
                        .queue_url(&url)
                        .set_attributes(Some(attributes))
                        .send()
                        .await?;
                }
                url
            }
            Err(err) => {
                return Err(err).with_context(|| format!("creating queue {}", queue.logical_id));
            }
        };
        resources.queue_urls.insert(queue.logical_id.clone(), url);
    }
    provision_event_buses(sdk, template, &mut resources).await?;
    Ok(resources)
}

/// The template's buses and archives, and a local-only rule that copies every event of ours to
/// a queue the runtime reads, so `GET /_local/events` shows what the bus received.
async fn provision_event_buses(
    sdk: &aws_config::SdkConfig,
    template: &Template,
    resources: &mut LocalResources,
) -> anyhow::Result<()> {
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut bus_arns = HashMap::new();
    for bus in &template.event_buses {
        let arn = match events.describe_event_bus().name(bus).send().await {
            Ok(found) => found.arn,
            Err(_) => {
                events
                    .create_event_bus()
                    .name(bus)
                    .send()
                    .await
                    .with_context(|| format!("creating event bus {bus}"))?
                    .event_bus_arn
            }
        }
        .context("event bus ARN")?;
        bus_arns.insert(bus.clone(), arn);
        resources.event_buses.insert(bus.clone(), bus.clone());
    }
    for (archive, bus) in &template.archives {
        let source = bus_arns
            .get(bus)
            .with_context(|| format!("archive {archive} archives an unknown bus {bus}"))?;
        if events
            .describe_archive()
            .archive_name(archive)
            .send()
            .await
            .is_err()
        {
            events
                .create_archive()
                .archive_name(archive)
                .event_source_arn(source)
                .send()
                .await
                .with_context(|| format!("creating archive {archive}"))?;
        }
    }
    let Some(bus) = template.event_buses.first() else {
        return Ok(());
    };
    let tap_url = sqs
        .create_queue()
        .queue_name("LocalEventsTap")
        .send()
        .await
        .context("creating the local events tap")?
        .queue_url
        .context("tap queue URL")?;
    let tap_arn = queue_arn(&sqs, &tap_url, "tap queue ARN").await?;
    let pattern = serde_json::json!({"source": [shared::events::SOURCE]});
    events
        .put_rule()
        .name("local-events-tap")
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .context("creating the local events rule")?;
    events
        .put_targets()
        .rule("local-events-tap")
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("local-events-tap")
                .arn(tap_arn)
                .build()?,
        )
        .send()
        .await
        .context("targeting the local events tap")?;
    resources.events_tap_url = Some(tap_url);
    Ok(())
}

/// Creates the table unless it exists; its stream's ARN, if it has one.
async fn create_table(
    sdk: &aws_config::SdkConfig,
    template: &Template,
    name: &str,
) -> anyhow::Result<Option<String>> {
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    wait_for_dynamodb(&dynamo).await?;
    let table = &template.table;
    let stream = table
        .stream_specification
        .as_ref()
        .map(|spec| {
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(spec.stream_view_type.as_str()))
                .build()
        })
        .transpose()?;
    let mut create = dynamo
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_stream_specification(stream)
        .set_key_schema(Some(key_schema(&table.key_schema)?));
    for def in &table.attribute_definitions {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&def.attribute_name)
                .attribute_type(ScalarAttributeType::from(def.attribute_type.as_str()))
                .build()?,
        );
    }
    for gsi in &table.global_secondary_indexes {
        create = create.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&gsi.index_name)
                .set_key_schema(Some(key_schema(&gsi.key_schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            gsi.projection.projection_type.as_str(),
                        ))
                        .set_non_key_attributes(
                            Some(gsi.projection.non_key_attributes.clone())
                                .filter(|names| !names.is_empty()),
                        )
                        .build(),
                )
                .build()?,
        );
    }
    let created = match create.send().await {
        Ok(_) => true,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            false
        }
        Err(err) => return Err(err).context("creating the table"),
    };
    let ttl = table
        .time_to_live_specification
        .as_ref()
        .filter(|t| t.enabled);
    if let (true, Some(ttl)) = (created, ttl) {
        dynamo
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(&ttl.attribute_name)
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await
            .context("enabling TTL")?;
    }
    if created {
        tracing::info!(table = %name, "table created");
    }
    let described = dynamo.describe_table().table_name(name).send().await?;
    Ok(described.table.and_then(|t| t.latest_stream_arn))
}

/// DynamoDB Local's JVM may still be starting while the rest is provisioned (the scripts start
/// the runtime beside it rather than after it): waits until it answers, for up to a minute.
async fn wait_for_dynamodb(dynamo: &aws_sdk_dynamodb::Client) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    loop {
        match dynamo.list_tables().limit(1).send().await {
            Ok(_) => return Ok(()),
            Err(aws_sdk_dynamodb::error::SdkError::DispatchFailure(_))
                if started.elapsed() < std::time::Duration::from_secs(60) =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(err) => return Err(err).context("DynamoDB does not answer"),
        }
    }
}

/// A queue's ARN, which redrive policies and rule targets name it by.
async fn queue_arn(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    what: &'static str,
) -> anyhow::Result<String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .context(what)
}
