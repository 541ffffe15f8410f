//! The clients a function is built from. A client is made the first time a function asks for a
//! part that needs it, so a function's init pays only for the clients it uses; every client of
//! the process shares one HTTP client (see `Config::aws`), so the TLS roots are read once.

use std::sync::{Arc, OnceLock};

use crate::blobs::Blobs;
use crate::bus::EventBus;
use crate::config::{Config, MissingVar};
use crate::crm::Loopback;
use crate::queue::Queue;
use crate::secrets::SecretSeal;
use crate::store::Store;

#[derive(Clone)]
pub struct Services(Arc<Parts>);

#[derive(Clone)]
struct Parts {
    sdk: aws_config::SdkConfig,
    at: Endpoints,
    loopback: Loopback,
    dynamodb: OnceLock<aws_sdk_dynamodb::Client>,
    s3: OnceLock<aws_sdk_s3::Client>,
    sqs: OnceLock<aws_sdk_sqs::Client>,
    eventbridge: OnceLock<aws_sdk_eventbridge::Client>,
    kms: OnceLock<aws_sdk_kms::Client>,
}

/// Where a deployment's table, bucket, queues, key and bus are.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub table: String,
    pub bucket: String,
    pub match_queue_url: String,
    pub purge_queue_url: String,
    pub export_queue_url: String,
    pub crm_queue_url: String,
    /// The events dead-letter queue, where the event relay parks what it cannot publish.
    pub parked_events_queue_url: String,
    pub crm_key_id: String,
    pub event_bus_name: String,
}

impl Services {
    pub fn new(sdk: &aws_config::SdkConfig, at: Endpoints, loopback: Loopback) -> Self {
        Self::with_table_client(sdk, OnceLock::new(), at, loopback)
    }

    /// As [`Services::new`], with `dynamodb` for the table instead of a client made from `sdk`
    /// (the local runtime's counts its requests).
    pub fn with_dynamodb(
        sdk: &aws_config::SdkConfig,
        dynamodb: aws_sdk_dynamodb::Client,
        at: Endpoints,
        loopback: Loopback,
    ) -> Self {
        Self::with_table_client(sdk, OnceLock::from(dynamodb), at, loopback)
    }

    fn with_table_client(
        sdk: &aws_config::SdkConfig,
        dynamodb: OnceLock<aws_sdk_dynamodb::Client>,
        at: Endpoints,
        loopback: Loopback,
    ) -> Self {
        Self(Arc::new(Parts {
            sdk: sdk.clone(),
            at,
            loopback,
            dynamodb,
            s3: OnceLock::new(),
            sqs: OnceLock::new(),
            eventbridge: OnceLock::new(),
            kms: OnceLock::new(),
        }))
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.0.at
    }

    /// The same clients, pointed elsewhere (tests point a part at a queue of their own, or at
    /// one that does not exist).
    pub fn at(&self, at: Endpoints) -> Self {
        Self(Arc::new(Parts {
            at,
            ..Parts::clone(&self.0)
        }))
    }

    /// From a function's environment as `template.yaml` sets it.
    pub async fn from_env() -> Result<Self, MissingVar> {
        let config = Config::from_env()?;
        let sdk = config.aws().await;
        let endpoints = Endpoints {
            table: config.table_name.clone(),
            bucket: config.require("BUCKET_NAME")?,
            match_queue_url: config.require("MATCH_QUEUE_URL")?,
            purge_queue_url: config.require("PURGE_QUEUE_URL")?,
            export_queue_url: config.require("EXPORT_QUEUE_URL")?,
            crm_queue_url: config.require("CRM_QUEUE_URL")?,
            parked_events_queue_url: config.require("PARKED_EVENTS_QUEUE_URL")?,
            crm_key_id: config.require("CRM_KEY_ID")?,
            event_bus_name: config.require("EVENT_BUS_NAME")?,
        };
        // A deployed function never calls this machine's addresses.
        Ok(Self::new(&sdk, endpoints, Loopback::Refused))
    }

    pub fn store(&self) -> Store {
        Store::new(
            self.client(&self.0.dynamodb, aws_sdk_dynamodb::Client::new),
            &self.0.at.table,
        )
    }

    pub fn blobs(&self) -> Blobs {
        Blobs::new(
            self.client(&self.0.s3, aws_sdk_s3::Client::new),
            &self.0.at.bucket,
        )
    }

    /// The matching worker's queue.
    pub fn matching(&self) -> Queue {
        self.queue(&self.0.at.match_queue_url)
    }

    /// The purge worker's queue (deleted contacts' notes, history and attachments).
    pub fn purge(&self) -> Queue {
        self.queue(&self.0.at.purge_queue_url)
    }

    /// The export worker's queue.
    pub fn exports(&self) -> Queue {
        self.queue(&self.0.at.export_queue_url)
    }

    /// `crm-sync`'s queue: lookups and write-backs.
    pub fn crm(&self) -> Queue {
        self.queue(&self.0.at.crm_queue_url)
    }

    /// Where the event relay parks the events of a record it cannot publish in time.
    pub fn parked_events(&self) -> Queue {
        self.queue(&self.0.at.parked_events_queue_url)
    }

    /// The stack's event bus, which the event relay publishes to.
    pub fn bus(&self) -> EventBus {
        EventBus::new(
            self.client(&self.0.eventbridge, aws_sdk_eventbridge::Client::new),
            &self.0.at.event_bus_name,
        )
    }

    /// Seals CRM signing secrets with the stack's KMS key.
    pub fn seal(&self) -> SecretSeal {
        SecretSeal::new(
            self.client(&self.0.kms, aws_sdk_kms::Client::new),
            &self.0.at.crm_key_id,
        )
    }

    /// Whether CRM URLs may name this machine: only the local runtime allows it.
    pub fn loopback(&self) -> Loopback {
        self.0.loopback
    }

    fn queue(&self, url: &str) -> Queue {
        Queue::new(self.client(&self.0.sqs, aws_sdk_sqs::Client::new), url)
    }

    /// An SDK client, made on first use from the process's one configuration.
    fn client<C: Clone>(&self, made: &OnceLock<C>, make: fn(&aws_config::SdkConfig) -> C) -> C {
        made.get_or_init(|| make(&self.0.sdk)).clone()
    }
}
