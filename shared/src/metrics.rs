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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn org() -> OrgId {
        OrgId::parse("acme").unwrap()
    }

    /// What CloudWatch requires of an EMF document: each metric it declares is a number at the
    /// top level, and each dimension it names is a string there.
    fn assert_valid_emf(line: &Value) {
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert!(line["_aws"]["Timestamp"].is_i64());
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_u64(), "{name} is a number at the top level");
        }
        for set in directive["Dimensions"].as_array().unwrap() {
            for dimension in set.as_array().unwrap() {
                let name = dimension.as_str().unwrap();
                assert!(
                    line[name].is_string(),
                    "{name} is a string at the top level"
                );
            }
        }
    }

    #[test]
    fn a_crm_lookup_is_counted_under_its_result_with_the_org_as_a_property_only() {
        let line = emf_line(
            Metric::CrmLookup {
                result: "not_found",
            },
            &org(),
            1_700_000_000_000,
        );
        assert_valid_emf(&line);
        assert_eq!(line["CrmLookups"], 1);
        assert_eq!(line["Result"], "not_found");
        assert_eq!(line["org_id"], "acme");
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Result"]]),
            "never one metric per org"
        );
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000_i64);
    }

    #[test]
    fn purged_items_carry_their_count_and_no_dimension() {
        let line = emf_line(Metric::PurgedItems(3_001), &org(), 0);
        assert_valid_emf(&line);
        assert_eq!(line["PurgedItems"], 3_001);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }

    #[test]
    fn contacts_created_and_finished_exports_are_their_own_metrics() {
        let created = emf_line(Metric::ContactCreated, &org(), 0);
        assert_valid_emf(&created);
        assert_eq!(created["ContactsCreated"], 1);
        let export = emf_line(Metric::ExportFinished { status: "failed" }, &org(), 0);
        assert_valid_emf(&export);
        assert_eq!(export["ExportsFinished"], 1);
        assert_eq!(export["Status"], "failed");
    }
}
