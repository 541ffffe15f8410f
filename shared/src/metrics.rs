//! Business metrics, as CloudWatch Embedded Metric Format lines on stdout: CloudWatch Logs makes
//! each line a metric point, with no API call in the request and no permission to grant.
//! Dimensions are outcomes only (a handful of values each); the org id goes along as a property,
//! searchable in Logs Insights but never a dimension (one metric per org would cost per org).

use std::io::Write;

use serde_json::{Map, Value, json};

use crate::ids::OrgId;

/// The namespace every metric of the stack is in.
pub const NAMESPACE: &str = "InboxContacts";

/// Something the business counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// An inbound message made a new contact.
    ContactCreated,
    /// A CRM lookup ended; `result` is the contact's lookup status (`found`, `not_found`,
    /// `multiple`, `error`).
    CrmLookup { result: &'static str },
    /// An export job ended (`succeeded` or `failed`).
    ExportFinished { status: &'static str },
    /// Items and objects a purge invocation deleted.
    PurgedItems(u64),
}

impl Metric {
    fn name(self) -> &'static str {
        match self {
            Metric::ContactCreated => "ContactsCreated",
            Metric::CrmLookup { .. } => "CrmLookups",
            Metric::ExportFinished { .. } => "ExportsFinished",
            Metric::PurgedItems(_) => "PurgedItems",
        }
    }

    fn value(self) -> u64 {
        match self {
            Metric::PurgedItems(items) => items,
            _ => 1,
        }
    }

    fn dimension(self) -> Option<(&'static str, &'static str)> {
        match self {
            Metric::CrmLookup { result } => Some(("Result", result)),
            Metric::ExportFinished { status } => Some(("Status", status)),
            Metric::ContactCreated | Metric::PurgedItems(_) => None,
        }
    }
}

/// Writes `metric` for `org` as one EMF line on stdout, where Lambda's log capture finds it.
pub fn record(metric: Metric, org: &OrgId) {
    let at = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let line = emf_line(metric, org, i64::try_from(at).unwrap_or(i64::MAX));
    // One write of a whole line, so lines of concurrent invocations never interleave.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
}

/// The EMF document for one point of `metric`.
pub fn emf_line(metric: Metric, org: &OrgId, at_millis: i64) -> Value {
    let dimensions: Vec<&str> = metric
        .dimension()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let mut document = Map::new();
    document.insert(
        "_aws".into(),
        json!({
            "Timestamp": at_millis,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": [{"Name": metric.name(), "Unit": "Count"}],
            }],
        }),
    );
    document.insert(metric.name().into(), json!(metric.value()));
    if let Some((name, value)) = metric.dimension() {
        document.insert(name.into(), json!(value));
    }
    document.insert("org_id".into(), json!(org.as_str()));
    Value::Object(document)
}
