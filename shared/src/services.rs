//! The clients every function is built from, made once per process.

use crate::blobs::Blobs;
use crate::config::{Config, MissingVar};
use crate::queue::Queue;
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
}

impl Services {
    pub fn new(
        sdk: &aws_config::SdkConfig,
        table: &str,
        bucket: &str,
        match_queue_url: &str,
        purge_queue_url: &str,
        export_queue_url: &str,
    ) -> Self {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        Self {
            store: Store::new(aws_sdk_dynamodb::Client::new(sdk), table),
            blobs: Blobs::new(aws_sdk_s3::Client::new(sdk), bucket),
            matching: Queue::new(sqs.clone(), match_queue_url),
            purge: Queue::new(sqs.clone(), purge_queue_url),
            exports: Queue::new(sqs, export_queue_url),
        }
    }

    /// From a function's environment as `template.yaml` sets it.
    pub async fn from_env() -> Result<Self, MissingVar> {
        let config = Config::from_env()?;
        let sdk = config.aws().await;
        Ok(Self::new(
            &sdk,
            &config.table_name,
            &config.require("BUCKET_NAME")?,
            &config.require("MATCH_QUEUE_URL")?,
            &config.require("PURGE_QUEUE_URL")?,
            &config.require("EXPORT_QUEUE_URL")?,
        ))
    }
}
