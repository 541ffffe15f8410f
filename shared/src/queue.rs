//! Sending work to SQS queues (the matching worker, later exports).

use serde::Serialize;

use crate::error::DomainError;

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

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn send<T: Serialize>(&self, message: &T) -> Result<(), DomainError> {
        self.send_delayed(message, 0).await
    }

    /// Sends a message that becomes visible after `delay_seconds` (at most 900).
    #[tracing::instrument(skip(self, message))]
    pub async fn send_delayed<T: Serialize>(
        &self,
        message: &T,
        delay_seconds: i32,
    ) -> Result<(), DomainError> {
        let body = serde_json::to_string(message).map_err(DomainError::failed)?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(delay_seconds)
            .send()
            .await
            .map_err(DomainError::failed)?;
        Ok(())
    }

    /// Makes a received message visible again after `seconds`: a retry sooner than the
    /// queue's visibility timeout, which is sized for a worker that dies.
    #[tracing::instrument(skip(self, receipt_handle))]
    pub async fn retry_after(&self, receipt_handle: &str, seconds: i32) -> Result<(), DomainError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(DomainError::failed)?;
        Ok(())
    }
}
