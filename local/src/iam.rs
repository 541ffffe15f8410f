//! Each function's IAM policy from `template.yaml`, evaluated as IAM evaluates it: a call is
//! allowed only when an `Allow` statement names its action and resource (wildcards `*` and `?`)
//! and its conditions hold, and no `Deny` statement matches. The local runtime checks every AWS
//! call a function makes against its own policy before the call is sent (`aws_guard`), and keeps
//! which grants the calls used, so a grant nothing exercises shows up (least privilege).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use anyhow::{Context, bail};
use serde_norway::Value;

/// The account and partition every local ARN names.
pub const ACCOUNT: &str = "000000000000";

/// How the template's resources are named in ARNs here; the same functions name what a request
/// touches, so both sides of a check agree.
#[derive(Debug, Clone)]
pub struct Arns {
    region: String,
    /// ARNs by logical id and attribute (`Arn`, `StreamArn`).
    by_logical_id: BTreeMap<(String, String), String>,
    /// A KMS alias (`alias/X`) → the key's ARN.
    key_aliases: BTreeMap<String, String>,
    /// What `!Ref X` gives, by logical id (a table's or bucket's name, a queue's URL).
    refs: BTreeMap<String, String>,
    /// A queue URL → the ARN of the template's queue it stands for.
    queues_by_url: BTreeMap<String, String>,
}

impl Arns {
    pub fn new(region: &str) -> Self {
        Self {
            region: region.to_owned(),
            by_logical_id: BTreeMap::new(),
            key_aliases: BTreeMap::new(),
            refs: BTreeMap::new(),
            queues_by_url: BTreeMap::new(),
        }
    }

    pub fn table(&self, name: &str) -> String {
        format!("arn:aws:dynamodb:{}:{ACCOUNT}:table/{name}", self.region)
    }

    pub fn queue(&self, name: &str) -> String {
        format!("arn:aws:sqs:{}:{ACCOUNT}:{name}", self.region)
    }

    pub fn bucket(name: &str) -> String {
        format!("arn:aws:s3:::{name}")
    }

    fn key(&self, key_id: &str) -> String {
        format!("arn:aws:kms:{}:{ACCOUNT}:key/{key_id}", self.region)
    }

    pub fn event_bus(&self, name: &str) -> String {
        format!("arn:aws:events:{}:{ACCOUNT}:event-bus/{name}", self.region)
    }

    /// The key an id names: an alias the runtime made, a key ARN, or a key id.
    pub fn key_named(&self, id: &str) -> String {
        if let Some(arn) = self.key_aliases.get(id) {
            return arn.clone();
        }
        if id.starts_with("arn:") {
            return id.to_owned();
        }
        self.key(id)
    }

    /// `logical_id.attribute` (`ContactsTable.Arn`) resolves to `arn`.
    pub fn define(&mut self, logical_id: &str, attribute: &str, arn: String) {
        self.by_logical_id
            .insert((logical_id.to_owned(), attribute.to_owned()), arn);
    }

    /// The queue at `url` is the template's `logical_id` (a test's own queue may stand in for it).
    pub fn queue_at_url(&mut self, url: &str, logical_id: &str) {
        let arn = self.queue(logical_id);
        self.queues_by_url.insert(url.to_owned(), arn);
    }

    /// The ARN of the queue at `url`: the template's queue it stands for, else by its name.
    pub fn queue_of_url(&self, url: &str) -> String {
        match self.queues_by_url.get(url) {
            Some(arn) => arn.clone(),
            None => self.queue(url.rsplit('/').next().unwrap_or_default()),
        }
    }

    /// `!Ref logical_id` (and `${logical_id}` in `!Sub`) is `value`.
    pub fn define_ref(&mut self, logical_id: &str, value: &str) {
        self.refs.insert(logical_id.to_owned(), value.to_owned());
    }

    /// Calls naming the key by `alias` are calls on `logical_id`'s key.
    pub fn alias_key(&mut self, alias: &str, logical_id: &str) {
        let arn = self.key(logical_id);
        self.define(logical_id, "Arn", arn.clone());
        self.key_aliases.insert(alias.to_owned(), arn);
    }

    fn get_att(&self, logical_id: &str, attribute: &str) -> anyhow::Result<&str> {
        self.by_logical_id
            .get(&(logical_id.to_owned(), attribute.to_owned()))
            .map(String::as_str)
            .with_context(|| format!("no local ARN for {logical_id}.{attribute}"))
    }

    /// A policy's `Resource` value: text, `!GetAtt`, `!Sub` with `${X.Arn}` and pseudo
    /// parameters, or a list of those.
    fn resolve(&self, value: &Value) -> anyhow::Result<Vec<String>> {
        match value {
            Value::String(text) => Ok(vec![text.clone()]),
            Value::Sequence(items) => {
                let mut all = Vec::new();
                for item in items {
                    all.extend(self.resolve(item)?);
                }
                Ok(all)
            }
            Value::Mapping(_) => {
                if let Some(target) = value.get("Fn::GetAtt") {
                    let (id, attribute) = match target {
                        Value::String(dotted) => dotted
                            .split_once('.')
                            .context("!GetAtt needs Resource.Attribute")?,
                        Value::Sequence(parts) => (
                            parts.first().and_then(Value::as_str).context("!GetAtt")?,
                            parts.get(1).and_then(Value::as_str).context("!GetAtt")?,
                        ),
                        _ => bail!("unreadable !GetAtt"),
                    };
                    return Ok(vec![self.get_att(id, attribute)?.to_owned()]);
                }
                if let Some(text) = value.get("Fn::Sub").and_then(Value::as_str) {
                    return Ok(vec![self.substitute(text)?]);
                }
                bail!("a policy resource the local runtime cannot resolve: {value:?}")
            }
            other => bail!("a policy resource the local runtime cannot resolve: {other:?}"),
        }
    }

    fn substitute(&self, text: &str) -> anyhow::Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').context("unclosed ${ in !Sub")? + start;
            let name = &rest[start + 2..end];
            let value = match name {
                "AWS::Region" => self.region.clone(),
                "AWS::AccountId" => ACCOUNT.to_owned(),
                "AWS::Partition" => "aws".to_owned(),
                named => match named.split_once('.') {
                    Some((id, attribute)) => self.get_att(id, attribute)?.to_owned(),
                    None => self
                        .refs
                        .get(named)
                        .cloned()
                        .with_context(|| format!("!Sub names ${{{named}}}, unknown here"))?,
                },
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// `LOCAL_IAM_LOG`: the file every process that checks calls (the runtime, handler tests) adds
/// the grants it used and the calls it refused to; `scripts/test` sets it and reads it after the
/// tests (`scripts/check_iam.py`).
pub fn usage_log() -> Option<std::path::PathBuf> {
    std::env::var_os("LOCAL_IAM_LOG")
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
}

/// One AWS call as IAM sees it: one action on one resource, with the condition keys it carries.
/// A transaction or a batch is several calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub action: String,
    pub resource: String,
    /// `dynamodb:LeadingKeys`: the partition key values the call touches.
    pub leading_keys: Vec<String>,
    /// `s3:prefix` of a listing.
    pub prefix: Option<String>,
}

impl Call {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
            leading_keys: Vec::new(),
            prefix: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
enum Condition {
    /// `ForAllValues:StringLike: {dynamodb:LeadingKeys: [...]}`
    AllLeadingKeysLike(Vec<String>),
    /// `StringLike: {s3:prefix: [...]}`
    PrefixLike(Vec<String>),
}

impl Condition {
    fn holds(&self, call: &Call) -> bool {
        match self {
            // ForAllValues holds for an empty set, as IAM's does.
            Self::AllLeadingKeysLike(patterns) => call
                .leading_keys
                .iter()
                .all(|key| patterns.iter().any(|p| wildcard_match(p, key))),
            // A single-valued operator on a missing key does not match.
            Self::PrefixLike(patterns) => call
                .prefix
                .as_deref()
                .is_some_and(|prefix| patterns.iter().any(|p| wildcard_match(p, prefix))),
        }
    }
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    actions: Vec<String>,
    resources: Vec<String>,
    conditions: Vec<Condition>,
}

/// One grant of a policy: an action of a statement on one of its resources.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Grant {
    pub statement: usize,
    pub action: String,
    pub resource: String,
}

/// A function's policy, and what its calls have used of it.
#[derive(Debug)]
pub struct Policy {
    pub function: String,
    statements: Vec<Statement>,
    used: Mutex<BTreeSet<Grant>>,
    denied: Mutex<BTreeSet<(String, String)>>,
    /// Where each grant's first use and each refusal is also written, one JSON line each, so
    /// that what several processes (the runtime, handler tests) used adds up in one place.
    log: Option<std::path::PathBuf>,
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub action: String,
    pub resource: String,
    pub explicit: bool,
}

impl Policy {
    /// The `Policies` of a function, untagged (long-form intrinsics).
    pub fn parse(function: &str, policies: &[Value], arns: &Arns) -> anyhow::Result<Self> {
        let mut statements = Vec::new();
        for policy in policies {
            let expanded = match policy {
                Value::Mapping(map) if map.contains_key("Statement") => policy.clone(),
                Value::Mapping(map) if map.len() == 1 => {
                    let (name, args) = map.iter().next().context("a policy template")?;
                    let name = name.as_str().context("a policy template's name")?;
                    policy_template(name, args)?
                }
                Value::String(managed) => {
                    bail!("{function}: managed policy {managed} is not modelled locally")
                }
                other => bail!("{function}: unreadable policy {other:?}"),
            };
            let list = match expanded.get("Statement") {
                Some(Value::Sequence(list)) => list.clone(),
                Some(single @ Value::Mapping(_)) => vec![single.clone()],
                _ => bail!("{function}: a policy without statements"),
            };
            for statement in &list {
                statements.push(
                    parse_statement(statement, arns)
                        .with_context(|| format!("a statement of {function}'s policy"))?,
                );
            }
        }
        Ok(Self {
            statements,
            ..Self::none(function)
        })
    }

    /// A policy that grants nothing.
    pub fn none(function: &str) -> Self {
        Self {
            function: function.to_owned(),
            statements: Vec::new(),
            used: Mutex::default(),
            denied: Mutex::default(),
            log: None,
        }
    }

    /// Also appends each first use of a grant, and each refusal, to the file at `path`.
    pub fn logging_to(mut self, path: Option<std::path::PathBuf>) -> Self {
        self.log = path;
        self
    }

    fn write_log(&self, line: serde_json::Value) {
        let Some(path) = &self.log else { return };
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| {
                use std::io::Write;
                // One write of the whole line: appends from several processes and threads to
                // one file interleave only between writes, never inside one.
                file.write_all(format!("{line}\n").as_bytes())
            });
        if let Err(err) = appended {
            tracing::warn!(error = %err, path = %path.display(), "the IAM usage log cannot be written");
        }
    }

    /// Allowed, noting the grant it used; or why not, noting the refusal.
    pub fn check(&self, call: &Call) -> Result<(), Denied> {
        match self.decide(call) {
            Ok(grant) => {
                if lock(&self.used).insert(grant.clone()) {
                    self.write_log(serde_json::json!({"function": self.function, "used": grant}));
                }
                Ok(())
            }
            Err(denied) => {
                if lock(&self.denied).insert((call.action.clone(), call.resource.clone())) {
                    self.write_log(serde_json::json!({"function": self.function,
                        "denied": {"action": call.action, "resource": call.resource}}));
                }
                Err(denied)
            }
        }
    }

    /// Whether the policy allows `call`, noting nothing (what AWS asks itself on the function's
    /// behalf, such as whether a missing object may be told apart from a forbidden one).
    pub fn allows(&self, call: &Call) -> bool {
        self.decide(call).is_ok()
    }

    /// The grant that allows `call`, or why none does.
    fn decide(&self, call: &Call) -> Result<Grant, Denied> {
        let applies = |s: &&Statement| {
            s.actions.iter().any(|a| action_match(a, &call.action))
                && s.resources
                    .iter()
                    .any(|r| wildcard_match(r, &call.resource))
                && s.conditions.iter().all(|c| c.holds(call))
        };
        let denied = |explicit| Denied {
            action: call.action.clone(),
            resource: call.resource.clone(),
            explicit,
        };
        if self
            .statements
            .iter()
            .filter(|s| s.effect == Effect::Deny)
            .any(|s| applies(&s))
        {
            return Err(denied(true));
        }
        let (index, statement) = self
            .statements
            .iter()
            .enumerate()
            .find(|(_, s)| s.effect == Effect::Allow && applies(s))
            .ok_or_else(|| denied(false))?;
        let action = statement
            .actions
            .iter()
            .find(|a| action_match(a, &call.action))
            .cloned()
            .unwrap_or_default();
        let resource = statement
            .resources
            .iter()
            .find(|r| wildcard_match(r, &call.resource))
            .cloned()
            .unwrap_or_default();
        Ok(Grant {
            statement: index,
            action,
            resource,
        })
    }

    /// Every grant of the policy (each allowed action on each of its statement's resources).
    pub fn grants(&self) -> Vec<Grant> {
        let mut all = Vec::new();
        for (index, statement) in self.statements.iter().enumerate() {
            if statement.effect != Effect::Allow {
                continue;
            }
            for action in &statement.actions {
                for resource in &statement.resources {
                    all.push(Grant {
                        statement: index,
                        action: action.clone(),
                        resource: resource.clone(),
                    });
                }
            }
        }
        all
    }

    pub fn used(&self) -> BTreeSet<Grant> {
        lock(&self.used).clone()
    }

    /// The calls refused so far: `(action, resource)`.
    pub fn denied(&self) -> BTreeSet<(String, String)> {
        lock(&self.denied).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn parse_statement(statement: &Value, arns: &Arns) -> anyhow::Result<Statement> {
    let effect = match statement.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        other => bail!("Effect {other:?}"),
    };
    if statement.get("NotAction").is_some() || statement.get("NotResource").is_some() {
        bail!("NotAction and NotResource are not modelled locally");
    }
    let actions = arns.resolve(statement.get("Action").context("no Action")?)?;
    let resources = arns.resolve(statement.get("Resource").context("no Resource")?)?;
    let mut conditions = Vec::new();
    if let Some(Value::Mapping(operators)) = statement.get("Condition") {
        for (operator, keys) in operators {
            let Value::Mapping(keys) = keys else {
                bail!("a condition operator without keys");
            };
            for (key, values) in keys {
                let values = arns.resolve(values)?;
                match (operator.as_str(), key.as_str()) {
                    (Some("ForAllValues:StringLike"), Some("dynamodb:LeadingKeys")) => {
                        conditions.push(Condition::AllLeadingKeysLike(values))
                    }
                    (Some("StringLike"), Some("s3:prefix")) => {
                        conditions.push(Condition::PrefixLike(values))
                    }
                    (operator, key) => {
                        bail!("condition {operator:?} on {key:?} is not modelled locally")
                    }
                }
            }
        }
    }
    Ok(Statement {
        effect,
        actions,
        resources,
        conditions,
    })
}

/// The SAM policy templates a function may name instead of statements, expanded as SAM does.
fn policy_template(name: &str, args: &Value) -> anyhow::Result<Value> {
    let arg = |key: &str| -> anyhow::Result<Value> {
        args.get(key)
            .cloned()
            .with_context(|| format!("policy template {name} needs {key}"))
    };
    let sub = |text: String| {
        let mut map = serde_norway::Mapping::new();
        map.insert("Fn::Sub".into(), Value::String(text));
        Value::Mapping(map)
    };
    let plain = |value: Value| -> anyhow::Result<String> {
        value
            .as_str()
            .map(str::to_owned)
            .or_else(|| {
                value
                    .get("Ref")
                    .and_then(Value::as_str)
                    .map(|r| format!("${{{r}}}"))
            })
            .with_context(|| format!("policy template {name}: a name, or !Ref to one"))
    };
    let statement = |actions: &[&str], resources: Vec<Value>| -> Value {
        let mut map = serde_norway::Mapping::new();
        map.insert("Effect".into(), "Allow".into());
        map.insert(
            "Action".into(),
            Value::Sequence(actions.iter().map(|a| Value::from(*a)).collect()),
        );
        map.insert("Resource".into(), Value::Sequence(resources));
        Value::Mapping(map)
    };
    let table = |t: &str| {
        vec![
            sub(format!(
                "arn:${{AWS::Partition}}:dynamodb:${{AWS::Region}}:${{AWS::AccountId}}:table/{t}"
            )),
            sub(format!(
                "arn:${{AWS::Partition}}:dynamodb:${{AWS::Region}}:${{AWS::AccountId}}:table/{t}/index/*"
            )),
        ]
    };
    let statements = match name {
        "DynamoDBCrudPolicy" => vec![statement(
            &[
                "dynamodb:GetItem",
                "dynamodb:DeleteItem",
                "dynamodb:PutItem",
                "dynamodb:Scan",
                "dynamodb:Query",
                "dynamodb:UpdateItem",
                "dynamodb:BatchWriteItem",
                "dynamodb:BatchGetItem",
                "dynamodb:DescribeTable",
                "dynamodb:ConditionCheckItem",
            ],
            table(&plain(arg("TableName")?)?),
        )],
        "DynamoDBReadPolicy" => vec![statement(
            &[
                "dynamodb:GetItem",
                "dynamodb:Scan",
                "dynamodb:Query",
                "dynamodb:BatchGetItem",
                "dynamodb:DescribeTable",
            ],
            table(&plain(arg("TableName")?)?),
        )],
        "SQSSendMessagePolicy" => vec![statement(
            &["sqs:SendMessage*"],
            vec![sub(format!(
                "arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{}",
                plain(arg("QueueName")?)?
            ))],
        )],
        "KMSDecryptPolicy" => vec![statement(
            &["kms:Decrypt"],
            vec![sub(format!(
                "arn:${{AWS::Partition}}:kms:${{AWS::Region}}:${{AWS::AccountId}}:key/{}",
                plain(arg("KeyId")?)?
            ))],
        )],
        "EventBridgePutEventsPolicy" => vec![statement(
            &["events:PutEvents"],
            vec![sub(format!(
                "arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:event-bus/{}",
                plain(arg("EventBusName")?)?
            ))],
        )],
        other => bail!("SAM policy template {other} is not modelled locally"),
    };
    let mut map = serde_norway::Mapping::new();
    map.insert("Statement".into(), Value::Sequence(statements));
    Ok(Value::Mapping(map))
}

/// IAM actions are case-insensitive; `*` and `?` are wildcards.
fn action_match(pattern: &str, action: &str) -> bool {
    wildcard_match(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase())
}

/// IAM's `StringLike`: `*` any run of characters, `?` any one.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn arns() -> Arns {
        let mut arns = Arns::new("us-east-1");
        arns.define("Table", "Arn", arns.table("t"));
        arns.define("Jobs", "Arn", arns.queue("Jobs"));
        arns.define("Data", "Arn", Arns::bucket("data"));
        arns.alias_key("alias/Secret", "Secret");
        arns
    }

    fn policy(yaml: &str) -> Policy {
        let value: Value = serde_norway::from_str(yaml).unwrap();
        let policies = value.as_sequence().unwrap().clone();
        Policy::parse("f", &policies, &arns()).unwrap()
    }

    const POLICY: &str = r#"
- Statement:
    - Effect: Allow
      Action: [dynamodb:GetItem, dynamodb:Query]
      Resource:
        - { "Fn::GetAtt": [Table, Arn] }
        - { "Fn::Sub": "${Table.Arn}/index/GSI1" }
      Condition:
        ForAllValues:StringLike:
          dynamodb:LeadingKeys: ["ORG#*"]
    - Effect: Allow
      Action: s3:GetObject
      Resource: { "Fn::Sub": "${Data.Arn}/exports/*" }
    - Effect: Allow
      Action: s3:ListBucket
      Resource: { "Fn::GetAtt": Data.Arn }
      Condition: { StringLike: { s3:prefix: ["exports/*"] } }
- SQSSendMessagePolicy: { QueueName: Jobs }
"#;

    #[test]
    fn a_call_is_allowed_only_for_a_granted_action_on_a_granted_resource() {
        let p = policy(POLICY);
        let table = arns().table("t");
        let mut get = Call::new("dynamodb:GetItem", &table);
        get.leading_keys = vec!["ORG#a#C#1".into()];
        assert_eq!(p.check(&get), Ok(()));
        let put = Call {
            action: "dynamodb:PutItem".into(),
            ..get.clone()
        };
        assert!(p.check(&put).is_err(), "no statement grants PutItem");
        let index = Call::new("dynamodb:Query", format!("{table}/index/GSI1"));
        assert_eq!(p.check(&index), Ok(()));
        let other_index = Call::new("dynamodb:Query", format!("{table}/index/GSI2"));
        assert!(p.check(&other_index).is_err(), "only GSI1 is granted");
        let foreign = Call {
            leading_keys: vec!["ORG#a".into(), "EXPORTSCHEDULES#H01".into()],
            ..get
        };
        assert!(p.check(&foreign).is_err(), "every leading key must match");
        assert_eq!(
            p.check(&Call::new(
                "s3:GetObject",
                "arn:aws:s3:::data/exports/o/x.csv"
            )),
            Ok(())
        );
        assert!(
            p.check(&Call::new(
                "s3:GetObject",
                "arn:aws:s3:::data/attachments/x"
            ))
            .is_err()
        );
        let mut list = Call::new("s3:ListBucket", "arn:aws:s3:::data");
        assert!(p.check(&list).is_err(), "a listing without a prefix");
        list.prefix = Some("exports/o/".into());
        assert_eq!(p.check(&list), Ok(()));
        assert_eq!(
            p.check(&Call::new("sqs:SendMessage", arns().queue("Jobs"))),
            Ok(()),
            "the SAM policy template is expanded"
        );
    }

    #[test]
    fn the_grants_a_call_used_are_kept_and_the_rest_are_listed_as_unused() {
        let p = policy(POLICY);
        let table = arns().table("t");
        p.check(&Call::new("dynamodb:Query", &table)).unwrap();
        let used = p.used();
        assert_eq!(used.len(), 1);
        let unused: Vec<_> = p
            .grants()
            .into_iter()
            .filter(|g| !used.contains(g))
            .collect();
        assert!(unused.iter().any(|g| g.action == "dynamodb:GetItem"));
        assert!(!unused.contains(used.iter().next().unwrap()));
        assert!(p.check(&Call::new("dynamodb:DeleteItem", &table)).is_err());
        assert_eq!(
            p.denied(),
            BTreeSet::from([("dynamodb:DeleteItem".to_owned(), table)])
        );
    }

    #[test]
    fn a_deny_wins_over_an_allow() {
        let p = policy(
            r#"
- Statement:
    - { Effect: Allow, Action: "sqs:*", Resource: "*" }
    - { Effect: Deny, Action: sqs:DeleteQueue, Resource: "*" }
"#,
        );
        assert_eq!(p.check(&Call::new("sqs:SendMessage", "arn:q")), Ok(()));
        assert!(
            p.check(&Call::new("sqs:DeleteQueue", "arn:q"))
                .unwrap_err()
                .explicit
        );
    }

    #[test]
    fn what_the_runtime_cannot_model_stops_it_instead_of_allowing_everything() {
        for yaml in [
            "- AWSLambdaBasicExecutionRole",
            "- S3FullAccessPolicy: { BucketName: x }",
            "- Statement: [{ Effect: Allow, Action: s3:GetObject, Resource: '*', Condition: { IpAddress: { aws:SourceIp: 1.2.3.4 } } }]",
            "- Statement: [{ Effect: Allow, NotAction: s3:GetObject, Resource: '*' }]",
            "- Statement: [{ Effect: Allow, Action: s3:GetObject, Resource: { \"Fn::GetAtt\": [Nothing, Arn] } }]",
        ] {
            let value: Value = serde_norway::from_str(yaml).unwrap();
            let policies = value.as_sequence().unwrap().clone();
            assert!(Policy::parse("f", &policies, &arns()).is_err(), "{yaml}");
        }
    }

    #[test]
    fn wildcards_match_as_string_like() {
        assert!(wildcard_match("ORG#*", "ORG#a#C#1"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "abbc"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("arn:*:index/*", "arn:x:index/GSI1"));
        assert!(!wildcard_match("ORG#*", "EXPORTSCHEDULES#H01"));
        assert!(action_match("sqs:SendMessage*", "sqs:sendmessage"));
    }
}
