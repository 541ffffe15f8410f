//! For handler tests: the same clients and resources the local runtime uses, found from the
//! environment `scripts/test` sets up (`TABLE_NAME`, `AWS_ENDPOINT_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support fails a test by panicking

use crate::config::Config;
use crate::services::Services;

/// The store over the table `scripts/test` points at.
pub async fn local_store() -> crate::store::Store {
    let config = Config::from_env().expect("TABLE_NAME is set by scripts/test");
    let sdk = config.aws().await;
    crate::store::Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name)
}

/// Bucket and queue names follow the local runtime's provisioning of `template.yaml`.
pub async fn local_services() -> Services {
    let config = Config::from_env().expect("TABLE_NAME is set by scripts/test");
    let sdk = config.aws().await;
    let bucket = config
        .require("BUCKET_NAME")
        .unwrap_or_else(|_| "inbox-local-databucket".into());
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut urls = Vec::new();
    for queue in ["MatchQueue", "PurgeQueue", "ExportQueue", "CrmQueue"] {
        let url = sqs
            .get_queue_url()
            .queue_name(queue)
            .send()
            .await
            .unwrap_or_else(|e| panic!("the local runtime provisioned {queue}: {e}"))
            .queue_url
            .expect("a queue URL");
        urls.push(url);
    }
    let endpoints = crate::services::Endpoints {
        table: &config.table_name,
        bucket: &bucket,
        match_queue_url: &urls[0],
        purge_queue_url: &urls[1],
        export_queue_url: &urls[2],
        crm_queue_url: &urls[3],
        crm_key_id: LOCAL_CRM_KEY,
        event_bus_name: LOCAL_EVENT_BUS,
    };
    Services::new(&sdk, &endpoints, crate::crm::Loopback::Allowed)
}

/// The alias under which the local runtime creates the template's CRM secret key.
pub const LOCAL_CRM_KEY: &str = "alias/CrmSecretKey";

/// The name under which the local runtime creates the template's event bus.
pub const LOCAL_EVENT_BUS: &str = "ContactEvents";

/// A queue nobody polls, for handler tests that drive a worker themselves while the local
/// runtime's pollers serve the template's queues.
pub async fn unpolled_queue(name: &str) -> crate::queue::Queue {
    let config = Config::from_env().expect("TABLE_NAME is set by scripts/test");
    let sqs = aws_sdk_sqs::Client::new(&config.aws().await);
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("a local queue")
        .queue_url
        .expect("a queue URL");
    crate::queue::Queue::new(sqs, url)
}

/// A sample event from `events/<function>/<name>.json`.
pub fn load_event(function: &str, name: &str) -> serde_json::Value {
    let path = format!(
        "{}/../events/{function}/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Points an API Gateway event's verified claims at `org` (and `role`, if given).
pub fn with_caller(
    mut event: serde_json::Value,
    org: &str,
    role: Option<&str>,
) -> serde_json::Value {
    let claims = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
    claims["org_id"] = org.into();
    if let Some(role) = role {
        claims["role"] = role.into();
    }
    event
}

/// Status and JSON body of a handler's response.
pub fn decode(response: lambda_http::Response<lambda_http::Body>) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let body = match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).expect("JSON body"),
        lambda_http::Body::Binary(bytes) => serde_json::from_slice(bytes).expect("JSON body"),
        _ => serde_json::Value::Null,
    };
    (status, body)
}

/// A fresh org id for one test.
pub fn new_org(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}
