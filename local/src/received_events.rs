//! What the local bus received: a local-only rule on the bus copies every event of ours to a
//! queue, and this keeps what arrives there for `GET /_local/events`, oldest first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;

/// The runtime keeps the newest events only; a long session does not grow without bound.
const KEPT: usize = 100_000;

#[derive(Clone, Default)]
pub struct ReceivedEvents(Arc<Mutex<VecDeque<Value>>>);

impl ReceivedEvents {
    /// Reads the tap queue for as long as the runtime runs.
    pub fn spawn_tap(&self, sqs: aws_sdk_sqs::Client, queue_url: String) {
        let received = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(err) = received.read_tap(&sqs, &queue_url).await {
                    tracing::warn!(error = ?err, "reading the local events tap failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
    }

    async fn read_tap(&self, sqs: &aws_sdk_sqs::Client, queue_url: &str) -> anyhow::Result<()> {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await?;
        for message in out.messages.unwrap_or_default() {
            // The bus delivers its envelope; consumers read the event from `detail`.
            let detail = message
                .body
                .as_deref()
                .and_then(|b| serde_json::from_str::<Value>(b).ok())
                .and_then(|mut envelope| envelope.get_mut("detail").map(Value::take));
            if let Some(event) = detail {
                let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
                if kept.len() == KEPT {
                    kept.pop_front();
                }
                kept.push_back(event);
            }
            if let Some(receipt) = message.receipt_handle {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await?;
            }
        }
        Ok(())
    }

    /// The newest `limit` events of an org (of one type, if given), oldest first.
    pub fn of_org(&self, org: &str, kind: Option<&str>, limit: usize) -> Vec<Value> {
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut matching: Vec<Value> = kept
            .iter()
            .rev()
            .filter(|e| e["org_id"] == org && kind.is_none_or(|k| e["type"] == k))
            .take(limit)
            .cloned()
            .collect();
        matching.reverse();
        matching
    }
}
