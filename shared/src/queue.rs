//! Sending work to SQS queues (the matching worker, later exports).

use serde::Serialize;

use crate::error::ApiError;

#[derive(Clone)]
pub struct Queue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    #[tracing::instrument(skip(self, message))]
    pub async fn send<T: Serialize>(&self, message: &T) -> Result<(), ApiError> {
        let body = serde_json::to_string(message).map_err(ApiError::internal)?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(ApiError::internal)?;
        Ok(())
    }
}
