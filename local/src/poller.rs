//! Stands in for Lambda's SQS event source: long-polls a queue and hands batches to the
//! consumer; messages it reports as failed stay on the queue and reach the dead-letter queue
//! after the template's `maxReceiveCount`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};

use crate::functions::QueueHandler;

pub const CONCURRENCY: usize = 3;

pub fn spawn(sqs: aws_sdk_sqs::Client, queue_url: String, handler: QueueHandler) {
    tokio::spawn(async move {
        loop {
            if let Err(err) = poll_once(&sqs, &queue_url, &handler).await {
                tracing::warn!(queue = %queue_url, error = ?err, "queue poll failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
}

async fn poll_once(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    handler: &QueueHandler,
) -> anyhow::Result<()> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await?;
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok(());
    }
    let mut receipts = HashMap::new();
    let records = messages
        .into_iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body;
            record.event_source = Some("aws:sqs".into());
            if let (Some(id), Some(receipt)) = (m.message_id, m.receipt_handle) {
                receipts.insert(id, receipt);
            }
            record
        })
        .collect();
    let mut event = SqsEvent::default();
    event.records = records;
    let response = handler(event).await;
    let failed: HashSet<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    for (id, receipt) in receipts {
        if !failed.contains(&id) {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(receipt)
                .send()
                .await?;
        }
    }
    Ok(())
}
