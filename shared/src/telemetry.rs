//! Logging: JSON lines in Lambda (CloudWatch parses them), compact text elsewhere.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,aws_smithy_runtime=warn,aws_config=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let result = if in_lambda {
        builder.json().with_current_span(true).try_init()
    } else {
        builder.compact().try_init()
    };
    // A second init (tests, the local runtime hosting several functions) keeps the first.
    let _ = result;
}
