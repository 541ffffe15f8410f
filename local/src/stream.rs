//! Stands in for Lambda's DynamoDB stream event source: reads every shard of the table's stream
//! in order and hands batches to the consumer. A batch that reports a failed record is handed
//! again from that record, as Lambda retries it, so nothing is skipped or reordered; after
//! [`MAX_RETRIES`] the record is set aside with an error, as Lambda's on-failure destination
//! would take it.

use std::collections::HashSet;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};

use crate::functions::StreamHandler;

const MAX_RETRIES: u32 = 10;
const IDLE_POLL: Duration = Duration::from_millis(50);

pub fn spawn(client: aws_sdk_dynamodbstreams::Client, stream_arn: String, handler: StreamHandler) {
    tokio::spawn(async move {
        // Shards open when the runtime starts are read from now on; later ones from their start.
        let mut known = HashSet::new();
        let mut start = ShardIteratorType::Latest;
        loop {
            match shards(&client, &stream_arn).await {
                Ok(found) => {
                    for shard in found {
                        if known.insert(shard.clone()) {
                            tokio::spawn(read_shard(
                                client.clone(),
                                stream_arn.clone(),
                                shard,
                                start.clone(),
                                handler.clone(),
                            ));
                        }
                    }
                    start = ShardIteratorType::TrimHorizon;
                }
                Err(err) => tracing::warn!(error = ?err, "describing the table's stream failed"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn shards(
    client: &aws_sdk_dynamodbstreams::Client,
    stream_arn: &str,
) -> anyhow::Result<Vec<String>> {
    let described = client
        .describe_stream()
        .stream_arn(stream_arn)
        .send()
        .await?;
    Ok(described
        .stream_description
        .map(|d| d.shards.unwrap_or_default())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.shard_id)
        .collect())
}

async fn read_shard(
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    shard: String,
    start: ShardIteratorType,
    handler: StreamHandler,
) {
    let mut iterator = loop {
        let got = client
            .get_shard_iterator()
            .stream_arn(&stream_arn)
            .shard_id(&shard)
            .shard_iterator_type(start.clone())
            .send()
            .await;
        match got.map(|g| g.shard_iterator) {
            Ok(Some(iterator)) => break iterator,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = ?err, shard, "opening a stream shard failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    loop {
        let out = match client
            .get_records()
            .shard_iterator(&iterator)
            .limit(100)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) => {
                tracing::warn!(error = ?err, shard, "reading a stream shard failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let records = out.records.unwrap_or_default();
        if records.is_empty() {
            tokio::time::sleep(IDLE_POLL).await;
        } else {
            deliver(&handler, records.into_iter().map(lambda_record).collect()).await;
        }
        match out.next_shard_iterator {
            Some(next) => iterator = next,
            // The shard is closed and read to its end.
            None => return,
        }
    }
}

/// Hands the records to the consumer until all are handled, retrying from a failed one.
async fn deliver(handler: &StreamHandler, mut records: Vec<EventRecord>) {
    let mut retries = 0;
    while !records.is_empty() {
        let mut event = Event::default();
        event.records = records.clone();
        let response = handler(event).await;
        let Some(failed) = response
            .batch_item_failures
            .first()
            .and_then(|f| f.item_identifier.clone())
        else {
            return;
        };
        let at = records
            .iter()
            .position(|r| r.change.sequence_number.as_deref() == Some(failed.as_str()))
            .unwrap_or(0);
        records.drain(..at);
        // A record that failed before is retried; one the function did not reach is new.
        retries = if at == 0 { retries + 1 } else { 1 };
        if retries > MAX_RETRIES {
            tracing::error!(sequence_number = %failed, "a stream record kept failing; set aside");
            records.remove(0);
            retries = 0;
        } else {
            tokio::time::sleep(Duration::from_millis(100 * u64::from(retries))).await;
        }
    }
}

/// A record as Lambda hands it to the function.
fn lambda_record(record: Record) -> EventRecord {
    let mut event = EventRecord::default();
    event.event_id = record.event_id.unwrap_or_default();
    event.event_name = record
        .event_name
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    event.event_source = record.event_source;
    event.aws_region = record.aws_region.unwrap_or_default();
    if let Some(change) = record.dynamodb {
        if let Some(at) = change.approximate_creation_date_time {
            let millis = at.to_millis().unwrap_or_default();
            if let Some(at) = chrono::DateTime::from_timestamp_millis(millis) {
                event.change.approximate_creation_date_time = at;
            }
        }
        event.change.keys = change.keys.unwrap_or_default().into();
        event.change.new_image = change.new_image.unwrap_or_default().into();
        event.change.old_image = change.old_image.unwrap_or_default().into();
        event.change.sequence_number = change.sequence_number;
        event.change.size_bytes = change.size_bytes.unwrap_or_default();
    }
    event
}
