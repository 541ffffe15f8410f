//! Reading `template.yaml` as written: resources by type, intrinsic functions in their short
//! (`!Ref`, `!GetAtt`, `!Sub`, `!If`) and long forms, SAM's globals, and what alarms watch.

use std::collections::BTreeSet;

use serde_norway::Value;

pub fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).expect("reading template.yaml");
    serde_norway::from_str(&text).expect("template.yaml is YAML")
}

/// The template's resources of one type: logical id and resource.
/// Every resource of `kind`. Each caller checks something of every one, so a template with
/// none (a renamed type, a typo) fails here instead of passing every check vacuously.
pub fn resources_of<'t>(template: &'t Value, kind: &str) -> Vec<(&'t str, &'t Value)> {
    let found: Vec<(&str, &Value)> = template["Resources"]
        .as_mapping()
        .expect("template.yaml has Resources")
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
        .map(|(id, resource)| (id.as_str().expect("a logical id"), resource))
        .collect();
    assert!(!found.is_empty(), "template.yaml has no {kind}");
    found
}

pub fn properties(resource: &Value) -> &Value {
    &resource["Properties"]
}

pub fn list(value: &Value) -> &[Value] {
    value.as_sequence().map(Vec::as_slice).unwrap_or_default()
}

/// The argument of an intrinsic function, written `!Name arg` or `{Fn::Name: arg}` (`{Ref: arg}`).
pub fn intrinsic<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    match value {
        Value::Tagged(tagged) if tagged.tag == name => Some(&tagged.value),
        Value::Mapping(map) if map.len() == 1 => {
            let long = if name == "Ref" {
                name.to_owned()
            } else {
                format!("Fn::{name}")
            };
            map.get(long.as_str())
        }
        _ => None,
    }
}

/// The logical id or parameter a `!Ref` names.
pub fn ref_name(value: &Value) -> Option<&str> {
    intrinsic(value, "Ref")?.as_str()
}

/// The logical id a `!GetAtt X.Attribute` (or `!GetAtt [X, Attribute]`) names.
pub fn get_att_resource(value: &Value) -> Option<&str> {
    match intrinsic(value, "GetAtt")? {
        Value::String(path) => path.split('.').next(),
        Value::Sequence(parts) => parts.first()?.as_str(),
        _ => None,
    }
}

/// Whether `value` is a `!Ref` to `id` or a `!GetAtt` of it.
pub fn refers_to(value: &Value, id: &str) -> bool {
    ref_name(value) == Some(id) || get_att_resource(value) == Some(id)
}

/// The text of a `!Sub`, in its one-string or its `[text, variables]` form.
pub fn sub_text(value: &Value) -> Option<&str> {
    match intrinsic(value, "Sub")? {
        Value::String(text) => Some(text.as_str()),
        Value::Sequence(parts) => parts.first()?.as_str(),
        _ => None,
    }
}

/// The value an `!If [condition, when_true, when_false]` takes when its condition holds; any
/// other value as it is.
pub fn when_condition_holds(value: &Value) -> &Value {
    match intrinsic(value, "If").and_then(Value::as_sequence) {
        Some(branches) if branches.len() == 3 => &branches[1],
        _ => value,
    }
}

/// A function's own property, else the one `Globals.Function` gives every function.
pub fn function_setting<'t>(
    template: &'t Value,
    function: &'t Value,
    key: &str,
) -> Option<&'t Value> {
    properties(function)
        .get(key)
        .or_else(|| template["Globals"]["Function"].get(key))
}

/// A key of a function's `LoggingConfig`: its own, else `Globals.Function`'s (SAM merges the two).
pub fn logging_setting<'t>(
    template: &'t Value,
    function: &'t Value,
    key: &str,
) -> Option<&'t Value> {
    properties(function)["LoggingConfig"]
        .get(key)
        .or_else(|| template["Globals"]["Function"]["LoggingConfig"].get(key))
}

/// The metrics an alarm watches: its own, or each `MetricStat.Metric` of its metric math.
pub fn alarm_metrics(alarm: &Value) -> Vec<&Value> {
    let props = properties(alarm);
    if props.get("MetricName").is_some() {
        return vec![props];
    }
    list(&props["Metrics"])
        .iter()
        .filter_map(|query| query["MetricStat"].get("Metric"))
        .collect()
}

/// Whether `metric` is `namespace`/`name` with a dimension `dimension` that refers to `target`.
pub fn metric_is(
    metric: &Value,
    namespace: &str,
    name: &str,
    dimension: &str,
    target: &str,
) -> bool {
    metric["Namespace"].as_str() == Some(namespace)
        && metric["MetricName"].as_str() == Some(name)
        && list(&metric["Dimensions"])
            .iter()
            .any(|d| d["Name"].as_str() == Some(dimension) && refers_to(&d["Value"], target))
}

/// The alarms watching `namespace`/`name` for the resource `target` (by `dimension`).
pub fn alarms_on<'t>(
    template: &'t Value,
    namespace: &str,
    name: &str,
    dimension: &str,
    target: &str,
) -> Vec<(&'t str, &'t Value)> {
    resources_of(template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, alarm)| {
            alarm_metrics(alarm)
                .iter()
                .any(|metric| metric_is(metric, namespace, name, dimension, target))
        })
        .collect()
}

/// Whether an alarm goes off as soon as its statistic reaches one (one message, one error).
pub fn fires_at_one(alarm: &Value) -> bool {
    let props = properties(alarm);
    let threshold = props["Threshold"].as_f64().unwrap_or(f64::INFINITY);
    match props["ComparisonOperator"].as_str() {
        Some("GreaterThanOrEqualToThreshold") => threshold <= 1.0,
        Some("GreaterThanThreshold") => threshold < 1.0,
        _ => false,
    }
}

pub fn bool_at(value: &Value) -> bool {
    value.as_bool() == Some(true)
}

/// The queues another resource sends failures to: redrive targets of queues, and on-failure
/// destinations of functions' event sources (the table stream's, say).
pub fn dead_letter_queues(template: &Value) -> BTreeSet<String> {
    let queues: BTreeSet<&str> = resources_of(template, "AWS::SQS::Queue")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut targets = BTreeSet::new();
    for (_, queue) in resources_of(template, "AWS::SQS::Queue") {
        let target = &properties(queue)["RedrivePolicy"]["deadLetterTargetArn"];
        targets.extend(get_att_resource(target).or_else(|| ref_name(target)));
    }
    for (_, function) in resources_of(template, "AWS::Serverless::Function") {
        let events = properties(function)["Events"].as_mapping();
        for event in events.into_iter().flat_map(|events| events.values()) {
            let destination = &properties(event)["DestinationConfig"]["OnFailure"]["Destination"];
            targets.extend(get_att_resource(destination).or_else(|| ref_name(destination)));
        }
    }
    let dead_letters: BTreeSet<String> = targets
        .into_iter()
        .filter(|id| queues.contains(id))
        .map(str::to_owned)
        .collect();
    assert!(
        !dead_letters.is_empty(),
        "template.yaml names no dead-letter queue"
    );
    dead_letters
}
