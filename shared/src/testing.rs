//! For handler tests: the same clients and resources the local runtime uses, found from the
//! environment `scripts/test` sets up (`TABLE_NAME`, `AWS_ENDPOINT_URL`).

use crate::blobs::Blobs;
use crate::config::Config;
use crate::queue::Queue;
use crate::store::Store;

pub struct LocalServices {
    pub store: Store,
    pub blobs: Blobs,
    pub matching: Queue,
}

/// Bucket and queue names follow the local runtime's provisioning of `template.yaml`.
pub async fn local_services() -> LocalServices {
    let config = Config::from_env().expect("TABLE_NAME is set by scripts/test");
    let sdk = config.aws().await;
    let bucket = config
        .require("BUCKET_NAME")
        .unwrap_or_else(|_| "inbox-local-databucket".into());
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = sqs
        .get_queue_url()
        .queue_name("MatchQueue")
        .send()
        .await
        .expect("the local runtime provisioned MatchQueue")
        .queue_url
        .expect("a queue URL");
    LocalServices {
        store: Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name),
        blobs: Blobs::new(aws_sdk_s3::Client::new(&sdk), bucket),
        matching: Queue::new(sqs, queue_url),
    }
}
