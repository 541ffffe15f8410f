//! What the local bus received: a local-only rule on the bus copies every event of ours to a
//! queue, and this keeps what arrives there for `GET /_local/events`, oldest first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use serde_json::Value;

use crate::functions::QueueHandler;

/// The runtime keeps the newest events only; a long session does not grow without bound.
const KEPT: usize = 100_000;

#[derive(Clone, Default)]
pub struct ReceivedEvents(Arc<Mutex<VecDeque<Value>>>);

impl ReceivedEvents {
    /// The tap queue's consumer, for the runtime's one queue poller: it keeps each event (the
    /// bus delivers its envelope; the event is its `detail`).
    pub fn tap(&self) -> QueueHandler {
        let received = self.clone();
        Arc::new(move |batch: SqsEvent| {
            let received = received.clone();
            Box::pin(async move {
                for record in batch.records {
                    let detail = record
                        .body
                        .as_deref()
                        .and_then(|b| serde_json::from_str::<Value>(b).ok())
                        .and_then(|mut envelope| envelope.get_mut("detail").map(Value::take));
                    if let Some(event) = detail {
                        received.keep(event);
                    }
                }
                SqsBatchResponse::default()
            })
        })
    }

    fn keep(&self, event: Value) {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back(event);
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
