//! Configuration from the environment; nothing else reads environment variables.

use aws_config::{BehaviorVersion, Region};

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    /// Set for local and test endpoints (moto, DynamoDB Local); unset on AWS.
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

    /// SDK configuration with retries on (the SDK's standard mode) and this config's endpoint;
    /// every client made from it shares one HTTP client and the process's one trust store.
    pub async fn aws(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(crate::tls::sdk_http_client());
        if let Some(endpoint) = &self.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        loader.load().await
    }
}
