//! What the benches share: latency figures, seeding the table directly, raw baseline requests,
//! and waiting for background work against a deadline.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use shared::channel::Network;
use shared::contacts::Contact;

/// Latency figures of one measured operation.
pub struct Timings {
    pub name: &'static str,
    samples: Vec<std::time::Duration>,
}

impl Timings {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            samples: Vec::new(),
        }
    }

    pub fn record(&mut self, took: std::time::Duration) {
        self.samples.push(took);
    }

    /// Awaits `work`, recording how long it took unless `record` is false (a warm-up round):
    /// its output.
    pub async fn time<T>(&mut self, record: bool, work: impl std::future::Future<Output = T>) -> T {
        let started = Instant::now();
        let output = work.await;
        if record {
            self.record(started.elapsed());
        }
        output
    }

    /// The median and the 99th percentile in milliseconds.
    pub fn p50_p99(&mut self) -> (f64, f64) {
        (self.percentile_ms(50.0), self.percentile_ms(99.0))
    }

    /// `<name> p50 <ms> ms, p99 <ms> ms`, for a bench's report.
    pub fn summary(&mut self) -> String {
        let (p50, p99) = self.p50_p99();
        format!("{} p50 {p50:.1} ms, p99 {p99:.1} ms", self.name)
    }

    /// The `p`th percentile (0..=100) in milliseconds, nearest-rank.
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        self.samples.sort();
        let rank = ((p / 100.0) * self.samples.len() as f64).ceil().max(1.0) as usize - 1;
        self.samples[rank.min(self.samples.len() - 1)].as_secs_f64() * 1000.0
    }
}

/// Writes items straight to the table, 25 per `BatchWriteItem`, until none is left unprocessed.
/// Items are taken from the iterator as they are written, so seeding holds one batch at a time.
pub async fn batch_put(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    items: impl IntoIterator<Item = HashMap<String, AttributeValue>>,
) {
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let batch: Vec<WriteRequest> = items
            .by_ref()
            .take(25)
            .map(|item| {
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                    .build()
            })
            .collect();
        let mut pending = HashMap::from([(table.to_owned(), batch)]);
        while !pending.is_empty() {
            let out = client
                .batch_write_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .expect("a batch write");
            pending = out.unprocessed_items.unwrap_or_default();
            pending.retain(|_, v| !v.is_empty());
        }
    }
}

/// A DynamoDB client and table for raw baseline requests against the runtime's endpoint.
pub async fn raw_dynamodb() -> (aws_sdk_dynamodb::Client, String) {
    let config = shared::config::Config::from_env().expect("TABLE_NAME and AWS_ENDPOINT_URL");
    let client = aws_sdk_dynamodb::Client::new(&config.aws().await);
    (client, config.table_name)
}

/// How many items are stored under partition keys starting with `prefix`, read straight from
/// the table (a strongly consistent scan): what a test checks is gone, whatever finds it.
pub async fn stored_under(prefix: &str) -> usize {
    let (client, table) = raw_dynamodb().await;
    client
        .scan()
        .table_name(&table)
        .consistent_read(true)
        .filter_expression("begins_with(PK, :prefix)")
        .expression_attribute_values(
            ":prefix",
            aws_sdk_dynamodb::types::AttributeValue::S(prefix.to_owned()),
        )
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("scan")
        .len()
}

/// A count from an environment variable, or `default` when it is unset or not a number.
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// Polls `done` every `every` until it holds; fails naming `what` once `within` has passed
/// since the call. A bench times the wait itself, so the limit is wall time, not attempts.
pub async fn poll_until<F, Fut>(what: &str, every: Duration, within: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(every).await;
    }
}

/// A stored contact as seeding wants it: `Contact::new` as written once (version 1) at the
/// start of 2026 under `name`; a bench sets the fields it measures over.
pub fn seeded_contact(id: String, name: String, network: Network) -> Contact {
    let mut contact = Contact {
        version: 1,
        ..Contact::new(id, network, "2026-01-01T00:00:00Z")
    };
    contact.profile.name = name;
    contact
}
