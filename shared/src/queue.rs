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

    pub async fn send<T: Serialize>(&self, message: &T) -> Result<(), ApiError> {
        self.send_delayed(message, 0).await
    }

    /// Sends a message that becomes visible after `delay_seconds` (at most 900).
    #[tracing::instrument(skip(self, message))]
    pub async fn send_delayed<T: Serialize>(
        &self,
        message: &T,
        delay_seconds: i32,
    ) -> Result<(), ApiError> {
        let body = serde_json::to_string(message).map_err(ApiError::internal)?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(delay_seconds)
            .send()
            .await
            .map_err(ApiError::internal)?;
        Ok(())
    }
}
