//! Configuration from the environment; nothing else reads environment variables.

use aws_config::{BehaviorVersion, Region};

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    /// `AWS_ENDPOINT_URL`: set for local and test endpoints (moto, DynamoDB Local), unset on
    /// AWS. The SDK reads it, and the service-specific `AWS_ENDPOINT_URL_<SERVICE>` variables
    /// (`AWS_ENDPOINT_URL_DYNAMODB`, `…_DYNAMODB_STREAMS`) that take precedence over it, itself.
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("missing environment variable {0}")]
pub struct MissingVar(pub &'static str);

impl Config {
    pub fn from_env() -> Result<Self, MissingVar> {
        let var = |name: &'static str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Ok(Self {
            table_name: var("TABLE_NAME").ok_or(MissingVar("TABLE_NAME"))?,
            endpoint_url: var("AWS_ENDPOINT_URL"),
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
        })
    }

    /// Another required variable of a function (a bucket or queue of the stack).
    pub fn require(&self, name: &'static str) -> Result<String, MissingVar> {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or(MissingVar(name))
    }

    /// SDK configuration with [`sdk_retries`] and the endpoints the environment names (each
    /// service's own variable before `AWS_ENDPOINT_URL`, as the SDK resolves them); every
    /// client made from it shares one HTTP client and the process's one trust store.
    pub async fn aws(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(crate::tls::sdk_http_client())
            .retry_config(sdk_retries());
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        loader.load().await
    }
}

/// How every SDK client retries what AWS answers with a throttle, a 5xx or a dropped connection
/// (conditional failures and lost races are ours to retry: `crate::retry`). The SDK's standard
/// mode, with:
/// - 6 attempts (its default is 3): a brownout that fails 5% of DynamoDB requests fails three
///   in a row once in 8,000 calls, which a busy org meets within minutes; six in a row is once
///   in 64 million;
/// - backoff from 25 ms (DynamoDB's own SDKs' base) doubling to at most 1 s, with full jitter:
///   all six fit well inside an HTTP function's 3 s, and a throttled partition gets room;
/// - the retry quota kept: each process (a Lambda instance) spends 5 of 500 tokens a retry and
///   earns them back on success, so during a real outage it stops multiplying the load instead
///   of retrying every call six times.
pub fn sdk_retries() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(SDK_ATTEMPTS)
        .with_initial_backoff(std::time::Duration::from_millis(25))
        .with_max_backoff(std::time::Duration::from_secs(1))
}

/// Attempts per SDK call, the first included.
pub const SDK_ATTEMPTS: u32 = 6;
