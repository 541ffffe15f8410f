//! The clients every function is built from, made once per process.

use crate::blobs::Blobs;
use crate::bus::EventBus;
use crate::config::{Config, MissingVar};
use crate::crm::Loopback;
use crate::queue::Queue;
use crate::secrets::SecretSeal;
use crate::store::Store;

#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub blobs: Blobs,
    /// The matching worker's queue.
    pub matching: Queue,
    /// The purge worker's queue (deleted contacts' notes, history and attachments).
    pub purge: Queue,
    /// The export worker's queue.
    pub exports: Queue,
    /// `crm-sync`'s queue: lookups and write-backs.
    pub crm: Queue,
    /// The stack's event bus, which the event relay publishes to.
    pub bus: EventBus,
    /// Seals CRM signing secrets with the stack's KMS key.
    pub seal: SecretSeal,
    /// Whether CRM URLs may name this machine: only the local runtime allows it.
    pub loopback: Loopback,
}

/// Where a deployment's queues and key are.
pub struct Endpoints<'a> {
    pub table: &'a str,
    pub bucket: &'a str,
    pub match_queue_url: &'a str,
    pub purge_queue_url: &'a str,
    pub export_queue_url: &'a str,
    pub crm_queue_url: &'a str,
    pub crm_key_id: &'a str,
    pub event_bus_name: &'a str,
}

impl Services {
    pub fn new(sdk: &aws_config::SdkConfig, at: &Endpoints<'_>, loopback: Loopback) -> Self {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        Self {
            store: Store::new(aws_sdk_dynamodb::Client::new(sdk), at.table),
            blobs: Blobs::new(aws_sdk_s3::Client::new(sdk), at.bucket),
            matching: Queue::new(sqs.clone(), at.match_queue_url),
            purge: Queue::new(sqs.clone(), at.purge_queue_url),
            exports: Queue::new(sqs.clone(), at.export_queue_url),
            crm: Queue::new(sqs, at.crm_queue_url),
            bus: EventBus::new(aws_sdk_eventbridge::Client::new(sdk), at.event_bus_name),
            seal: SecretSeal::new(aws_sdk_kms::Client::new(sdk), at.crm_key_id),
            loopback,
        }
    }

    /// From a function's environment as `template.yaml` sets it.
    pub async fn from_env() -> Result<Self, MissingVar> {
        let config = Config::from_env()?;
        let sdk = config.aws().await;
        let endpoints = Endpoints {
            table: &config.table_name,
            bucket: &config.require("BUCKET_NAME")?,
            match_queue_url: &config.require("MATCH_QUEUE_URL")?,
            purge_queue_url: &config.require("PURGE_QUEUE_URL")?,
            export_queue_url: &config.require("EXPORT_QUEUE_URL")?,
            crm_queue_url: &config.require("CRM_QUEUE_URL")?,
            crm_key_id: &config.require("CRM_KEY_ID")?,
            event_bus_name: &config.require("EVENT_BUS_NAME")?,
        };
        // A deployed function never calls this machine's addresses.
        Ok(Self::new(&sdk, &endpoints, Loopback::Refused))
    }
}
