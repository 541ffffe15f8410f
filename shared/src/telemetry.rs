//! Logging. In Lambda, one JSON object a line (the template sets Lambda's JSON log format), and
//! every line carries the spans it was written in: the runtime's `Lambda runtime invoke` span
//! with the `requestId` (and `xrayTraceId` when tracing is on), then [`org_scope`]'s `org_id`
//! once the caller or the job is known. Compact text elsewhere. Lines hold ids, never personal
//! data.

use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

pub fn init() {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,aws_smithy_runtime=warn,aws_config=warn"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let result = if in_lambda {
        tracing::subscriber::set_global_default(lambda_json(filter, std::io::stderr))
            .map_err(|e| e.to_string())
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .compact()
            .try_init()
            .map_err(|e| e.to_string())
    };
    // A second init (tests, the local runtime hosting several functions) keeps the first.
    let _ = result;
}

/// The span every line about one org's request or job is written in.
pub fn org_scope(org_id: &str) -> tracing::Span {
    tracing::info_span!("org", org_id)
}

/// Lambda's lines: the event's fields at the top level beside `timestamp`, `level` and
/// `message` (which Lambda's log-level filter reads), and `spans`, outermost first.
fn lambda_json<W>(filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Lines {
        type Writer = Lines;
        fn make_writer(&'w self) -> Lines {
            self.clone()
        }
    }

    #[test]
    fn a_line_logged_for_an_org_in_an_invocation_carries_the_request_id_and_the_org_id() {
        let lines = Lines::default();
        let subscriber = lambda_json(EnvFilter::new("info"), lines.clone());
        tracing::subscriber::with_default(subscriber, || {
            let invocation = tracing::info_span!("Lambda runtime invoke", requestId = "8f5c-req");
            let _invocation = invocation.enter();
            let _org = org_scope("acme").entered();
            tracing::info!(contact_id = "c-1", "contact created");
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "contact created");
        assert_eq!(line["contact_id"], "c-1");
        assert!(line["timestamp"].is_string());
        let spans = line["spans"]
            .as_array()
            .expect("the spans the line was written in");
        assert_eq!(spans[0]["requestId"], "8f5c-req");
        assert_eq!(spans[1]["org_id"], "acme");
    }
}
