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

    /// Up to 10 messages that are visible now, each with the receipt that deletes it; none
    /// when the queue has none left to show.
    #[tracing::instrument(skip(self))]
    pub async fn receive(&self) -> Result<Vec<(String, String)>, DomainError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(DomainError::failed)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| Some((m.body?, m.receipt_handle?)))
            .collect())
    }

    #[tracing::instrument(skip(self, receipt_handle))]
    pub async fn delete(&self, receipt_handle: &str) -> Result<(), DomainError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
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
