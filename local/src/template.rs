//! Reads `template.yaml`: the functions and their triggers, and the resources to provision.
//! The deployed stack and the local runtime share this one definition.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_norway::Value;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HttpRoute {
    pub method: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Http(HttpRoute),
    Queue {
        queue: String,
    },
    /// The table's stream (`Type: DynamoDB`).
    Stream,
    Schedule {
        name: String,
        expression: String,
    },
}

#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub logical_id: String,
    /// The cargo binary SAM builds (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    pub triggers: Vec<Trigger>,
    /// `Timeout` in seconds: the function's own, else `Globals.Function`'s, else SAM's default.
    pub timeout_s: u32,
    /// `Policies`, short-form tags in their long form (`iam` reads them).
    pub policies: Vec<Value>,
}

/// SAM's timeout for a function that sets none.
const DEFAULT_TIMEOUT_S: u32 = 3;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Projection {
    pub projection_type: String,
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GlobalSecondaryIndex {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: Projection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDef {
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeyElement>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<GlobalSecondaryIndex>,
    pub time_to_live_specification: Option<TtlSpec>,
    pub stream_specification: Option<StreamSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpec {
    pub stream_view_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlSpec {
    pub attribute_name: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDef {
    pub logical_id: String,
    pub visibility_timeout: Option<u32>,
    /// The dead-letter queue's logical id and the receive count that moves a message there.
    pub redrive: Option<(String, u32)>,
}

#[derive(Debug, Clone)]
pub struct Template {
    pub functions: Vec<FunctionDef>,
    pub table: TableDef,
    /// The table's logical id.
    pub table_id: String,
    pub buckets: Vec<String>,
    pub queues: Vec<QueueDef>,
    /// KMS keys by logical id.
    pub keys: Vec<String>,
    /// EventBridge buses by logical id.
    pub event_buses: Vec<String>,
    /// Event archives: their logical id and the bus they archive.
    pub archives: Vec<(String, String)>,
}

impl Template {
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let doc: Value = serde_norway::from_str(text).context("template.yaml is not YAML")?;
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .context("template has no Resources")?;
        let mut functions = Vec::new();
        let mut tables = Vec::new();
        let mut buckets = Vec::new();
        let mut queues = Vec::new();
        let mut keys = Vec::new();
        let mut event_buses = Vec::new();
        let mut archives = Vec::new();
        let global_timeout = doc
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| number(f.get("Timeout")))
            .map_or(DEFAULT_TIMEOUT_S, |n| n as u32);
        for (id, resource) in resources {
            let id = id.as_str().context("resource id")?.to_owned();
            match resource.get("Type").and_then(Value::as_str) {
                Some("AWS::Serverless::Function") => {
                    functions.push(parse_function(&id, resource, global_timeout)?)
                }
                Some("AWS::DynamoDB::Table") => {
                    let props = resource.get("Properties").context("table properties")?;
                    let table: TableDef = serde_norway::from_value(untag(props))
                        .with_context(|| format!("table {id}"))?;
                    tables.push((id, table));
                }
                Some("AWS::S3::Bucket") => buckets.push(id),
                Some("AWS::SQS::Queue") => queues.push(parse_queue(&id, resource)),
                Some("AWS::KMS::Key") => keys.push(id),
                Some("AWS::Events::EventBus") => event_buses.push(id),
                Some("AWS::Events::Archive") => {
                    let source = resource
                        .get("Properties")
                        .map(untag)
                        .and_then(|p| p.get("SourceArn").and_then(reference))
                        .with_context(|| format!("archive {id} has no SourceArn"))?;
                    archives.push((id, source));
                }
                _ => {}
            }
        }
        // Only the keys a function is handed: one that encrypts, say, the alarm topic has
        // nothing to do locally.
        let handed = environment_references(&doc, resources);
        keys.retain(|key| handed.contains(key));
        let (table_id, table) = match <[(String, TableDef); 1]>::try_from(tables) {
            Ok([table]) => table,
            Err(found) => bail!("expected one DynamoDB table, found {}", found.len()),
        };
        Ok(Self {
            functions,
            table,
            table_id,
            buckets,
            queues,
            keys,
            event_buses,
            archives,
        })
    }

    pub fn http_routes(&self) -> impl Iterator<Item = (&FunctionDef, &HttpRoute)> {
        self.functions.iter().flat_map(|f| {
            f.triggers.iter().filter_map(move |t| match t {
                Trigger::Http(route) => Some((f, route)),
                _ => None,
            })
        })
    }

    pub fn schedules(&self) -> impl Iterator<Item = (&FunctionDef, &str, &str)> {
        self.functions.iter().flat_map(|f| {
            f.triggers.iter().filter_map(move |t| match t {
                Trigger::Schedule { name, expression } => {
                    Some((f, name.as_str(), expression.as_str()))
                }
                _ => None,
            })
        })
    }
}

/// CloudFormation short-form tags (`!Ref X`) become their long form (`{Ref: X}`) so plain serde
/// structs can read the properties the local runtime needs.
fn untag(value: &Value) -> Value {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let key = if name == "Ref" {
                "Ref".to_owned()
            } else {
                format!("Fn::{name}")
            };
            let mut map = serde_norway::Mapping::new();
            map.insert(Value::String(key), untag(&tagged.value));
            Value::Mapping(map)
        }
        Value::Mapping(map) => {
            Value::Mapping(map.iter().map(|(k, v)| (k.clone(), untag(v))).collect())
        }
        Value::Sequence(seq) => Value::Sequence(seq.iter().map(untag).collect()),
        other => other.clone(),
    }
}

/// A whole number written as a number or a string.
fn number(value: Option<&Value>) -> Option<u64> {
    value.and_then(|v| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    })
}

fn parse_queue(id: &str, resource: &Value) -> QueueDef {
    let props = resource.get("Properties").map(untag).unwrap_or(Value::Null);
    let redrive = props.get("RedrivePolicy").and_then(|policy| {
        let target = policy.get("deadLetterTargetArn").and_then(reference)?;
        let max = number(policy.get("maxReceiveCount")).unwrap_or(5) as u32;
        Some((target, max))
    });
    QueueDef {
        logical_id: id.to_owned(),
        visibility_timeout: number(props.get("VisibilityTimeout")).map(|n| n as u32),
        redrive,
    }
}

fn parse_function(id: &str, resource: &Value, global_timeout: u32) -> anyhow::Result<FunctionDef> {
    let binary = resource
        .get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str)
        .with_context(|| format!("function {id} has no Metadata.BuildProperties.Binary"))?
        .to_owned();
    let events = resource
        .get("Properties")
        .and_then(|p| p.get("Events"))
        .and_then(Value::as_mapping)
        .cloned()
        .unwrap_or_default();
    let mut triggers = Vec::new();
    for (name, event) in events {
        let name = name.as_str().context("event name")?.to_owned();
        let event = untag(&event);
        let props = event.get("Properties");
        let prop = |key: &str| -> anyhow::Result<String> {
            props
                .and_then(|p| p.get(key))
                .and_then(|v| v.as_str().map(str::to_owned).or_else(|| reference(v)))
                .with_context(|| format!("event {name} of {id} has no {key}"))
        };
        match event.get("Type").and_then(Value::as_str) {
            Some("HttpApi") => triggers.push(Trigger::Http(HttpRoute {
                method: prop("Method")?.to_uppercase(),
                path: prop("Path")?,
            })),
            Some("SQS") => triggers.push(Trigger::Queue {
                queue: prop("Queue")?,
            }),
            Some("DynamoDB") => triggers.push(Trigger::Stream),
            Some("Schedule") | Some("ScheduleV2") => triggers.push(Trigger::Schedule {
                expression: prop("Schedule").or_else(|_| prop("ScheduleExpression"))?,
                name,
            }),
            other => bail!("event {name} of {id} has unsupported type {other:?}"),
        }
    }
    let timeout_s = resource
        .get("Properties")
        .and_then(|p| number(p.get("Timeout")))
        .map_or(global_timeout, |n| n as u32);
    let policies = match resource.get("Properties").and_then(|p| p.get("Policies")) {
        None => Vec::new(),
        Some(Value::Sequence(list)) => list.iter().map(untag).collect(),
        Some(one) => vec![untag(one)],
    };
    Ok(FunctionDef {
        logical_id: id.to_owned(),
        binary,
        triggers,
        timeout_s,
        policies,
    })
}

/// The logical id a `{Ref: X}` or `{Fn::GetAtt: [X, Arn]}` points at.
/// Every resource a function's environment variables (its own or `Globals.Function`'s) name.
fn environment_references(
    doc: &Value,
    resources: &serde_norway::Mapping,
) -> std::collections::BTreeSet<String> {
    let globals = doc.get("Globals").and_then(|g| g.get("Function"));
    let functions = resources
        .values()
        .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
        .filter_map(|r| r.get("Properties"));
    globals
        .into_iter()
        .chain(functions)
        .filter_map(|p| p.get("Environment").and_then(|e| e.get("Variables")))
        .filter_map(|vars| match untag(vars) {
            Value::Mapping(vars) => Some(vars),
            _ => None,
        })
        .flat_map(|vars| vars.into_iter().filter_map(|(_, value)| reference(&value)))
        .collect()
}

fn reference(value: &Value) -> Option<String> {
    if let Some(id) = value.get("Ref").and_then(Value::as_str) {
        return Some(id.to_owned());
    }
    let target = value.get("Fn::GetAtt")?;
    match target {
        Value::String(s) => s.split('.').next().map(str::to_owned),
        Value::Sequence(parts) => parts.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// Routes grouped by function binary, for comparing with what the code serves.
pub fn routes_by_binary(template: &Template) -> BTreeMap<String, Vec<HttpRoute>> {
    let mut map: BTreeMap<String, Vec<HttpRoute>> = BTreeMap::new();
    for (function, route) in template.http_routes() {
        map.entry(function.binary.clone())
            .or_default()
            .push(route.clone());
    }
    for routes in map.values_mut() {
        routes.sort();
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
Globals:
  Function:
    Timeout: 10
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - { AttributeName: PK, AttributeType: S }
        - { AttributeName: SK, AttributeType: S }
      KeySchema:
        - { AttributeName: PK, KeyType: HASH }
        - { AttributeName: SK, KeyType: RANGE }
      StreamSpecification: { StreamViewType: NEW_AND_OLD_IMAGES }
  Bus:
    Type: AWS::Events::EventBus
    Properties: { Name: !Sub "${AWS::StackName}-bus" }
  BusArchive:
    Type: AWS::Events::Archive
    Properties: { SourceArn: !GetAtt Bus.Arn }
  Inbox:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      RedrivePolicy: { deadLetterTargetArn: !GetAtt InboxDlq.Arn, maxReceiveCount: 3 }
  InboxDlq:
    Type: AWS::SQS::Queue
  SecretKey:
    Type: AWS::KMS::Key
  TopicKey:
    Type: AWS::KMS::Key
  Fn:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: some-fn
    Properties:
      Timeout: 900
      Environment:
        Variables:
          KEY_ID: !Ref SecretKey
      Events:
        Get:
          Type: HttpApi
          Properties: { ApiId: !Ref Api, Path: "/things/{id}", Method: get }
        Queue:
          Type: SQS
          Properties: { Queue: !GetAtt Inbox.Arn }
        Hourly:
          Type: Schedule
          Properties: { Schedule: rate(1 hour) }
        Changes:
          Type: DynamoDB
          Properties: { Stream: !GetAtt Table.StreamArn, StartingPosition: TRIM_HORIZON }
"#;

    #[test]
    fn reads_functions_triggers_and_resources() {
        let t = Template::parse(SAMPLE).unwrap();
        let inbox = t.queues.iter().find(|q| q.logical_id == "Inbox").unwrap();
        assert_eq!(inbox.visibility_timeout, Some(60));
        assert_eq!(inbox.redrive, Some(("InboxDlq".into(), 3)));
        assert_eq!(t.table.key_schema.len(), 2);
        let f = &t.functions[0];
        assert_eq!(f.binary, "some-fn");
        assert!(f.triggers.contains(&Trigger::Http(HttpRoute {
            method: "GET".into(),
            path: "/things/{id}".into()
        })));
        assert!(f.triggers.contains(&Trigger::Queue {
            queue: "Inbox".into()
        }));
        assert!(f.triggers.contains(&Trigger::Schedule {
            name: "Hourly".into(),
            expression: "rate(1 hour)".into()
        }));
        assert!(f.triggers.contains(&Trigger::Stream));
        assert_eq!(
            t.table.stream_specification.map(|s| s.stream_view_type),
            Some("NEW_AND_OLD_IMAGES".into())
        );
        assert_eq!(t.event_buses, ["Bus"]);
        assert_eq!(t.keys, ["SecretKey"], "only the key a function is handed");
        assert_eq!(t.archives, [("BusArchive".to_owned(), "Bus".to_owned())]);
    }

    #[test]
    fn a_functions_timeout_is_its_own_else_the_global_one_else_sams_default() {
        let t = Template::parse(SAMPLE).unwrap();
        assert_eq!(t.functions[0].timeout_s, 900);
        let global = Template::parse(&SAMPLE.replace("      Timeout: 900\n", "")).unwrap();
        assert_eq!(global.functions[0].timeout_s, 10);
        let none = SAMPLE
            .replace("      Timeout: 900\n", "")
            .replace("Globals:\n  Function:\n    Timeout: 10\n", "");
        assert_eq!(Template::parse(&none).unwrap().functions[0].timeout_s, 3);
    }

    #[test]
    fn a_function_without_a_binary_is_an_error() {
        let broken = SAMPLE.replace("Binary: some-fn", "Other: x");
        assert!(Template::parse(&broken).is_err());
    }
}
