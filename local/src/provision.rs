//! Creates the template's table, buckets and queues on the local endpoint, idempotently.

use anyhow::Context;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use crate::template::{KeyElement, Template};

/// Names of the provisioned resources; the deployed stack gets its names from CloudFormation.
#[derive(Debug, Clone)]
pub struct LocalNames {
    pub table: String,
    pub bucket_prefix: String,
}

impl LocalNames {
    pub fn bucket(&self, logical_id: &str) -> String {
        format!("{}-{}", self.bucket_prefix, logical_id.to_lowercase())
    }
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
    names: &LocalNames,
) -> anyhow::Result<()> {
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let table = &template.table;
    let mut create = dynamo
        .create_table()
        .table_name(&names.table)
        .billing_mode(BillingMode::PayPerRequest)
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
            .table_name(&names.table)
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
        tracing::info!(table = %names.table, "table created");
    }

    let s3 = aws_sdk_s3::Client::new(sdk);
    for bucket in &template.buckets {
        let name = names.bucket(bucket);
        match s3.create_bucket().bucket(&name).send().await {
            Ok(_) => tracing::info!(bucket = %name, "bucket created"),
            Err(err)
                if err.as_service_error().is_some_and(|e| {
                    e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()
                }) => {}
            Err(err) => return Err(err).with_context(|| format!("creating bucket {name}")),
        }
    }

    let sqs = aws_sdk_sqs::Client::new(sdk);
    for queue in &template.queues {
        sqs.create_queue()
            .queue_name(queue)
            .send()
            .await
            .with_context(|| format!("creating queue {queue}"))?;
    }
    Ok(())
}
