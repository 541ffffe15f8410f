//! Counts the DynamoDB requests each HTTP request makes, so tests can hold routes to their
//! round-trip budget. Every attempt counts, retries included.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

pub const HEADER: &str = "x-local-dynamodb-requests";

tokio::task_local! {
    static REQUESTS: Arc<AtomicUsize>;
}

#[derive(Debug)]
pub struct CountRequests;

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let _ = REQUESTS.try_with(|count| count.fetch_add(1, Ordering::Relaxed));
        Ok(())
    }
}

/// Runs `work` and says how many DynamoDB requests it made.
pub async fn metered<T>(work: impl Future<Output = T>) -> (T, usize) {
    let count = Arc::new(AtomicUsize::new(0));
    let out = REQUESTS.scope(count.clone(), work).await;
    (out, count.load(Ordering::Relaxed))
}
