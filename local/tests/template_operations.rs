//! What an operator relies on in `template.yaml`: every function logs (JSON, traced) to a group
//! with the retention parameter and raises an alarm when it fails or is throttled; every queue
//! has a dead-letter queue or is one, and then an alarm; every store is encrypted; the table and
//! the bucket outlive the stack; the API answers CORS, is throttled and writes an access log; and
//! every alarm reaches the alarm topic. Read from the template as written, short-form tags
//! (`!Ref`, `!GetAtt`, `!Sub`, `!If`) and their long forms alike.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod template_yaml;

use std::collections::BTreeSet;

use serde_norway::Value;
use template_yaml::*;

#[test]
fn every_function_has_a_log_group_with_the_retention_parameter() {
    let template = template();
    let groups = resources_of(&template, "AWS::Logs::LogGroup");
    for (function, _) in resources_of(&template, "AWS::Serverless::Function") {
        let wanted = format!("/aws/lambda/${{{function}}}");
        let (group_id, group) = groups
            .iter()
            .find(|(_, group)| {
                sub_text(&properties(group)["LogGroupName"]) == Some(wanted.as_str())
            })
            .unwrap_or_else(|| {
                panic!("{function} has no AWS::Logs::LogGroup named !Sub \"{wanted}\"")
            });
        assert_eq!(
            *group_id,
            format!("{function}LogGroup"),
            "{function}'s log group should be called {function}LogGroup"
        );
        assert_eq!(
            ref_name(&properties(group)["RetentionInDays"]),
            Some("LogRetentionDays"),
            "{group_id} ({function}) should keep its logs !Ref LogRetentionDays days"
        );
    }
}

#[test]
fn every_function_raises_an_alarm_when_it_fails_or_is_throttled() {
    let template = template();
    for (function, _) in resources_of(&template, "AWS::Serverless::Function") {
        for metric in ["Errors", "Throttles"] {
            let alarms = alarms_on(&template, "AWS/Lambda", metric, "FunctionName", function);
            assert!(
                !alarms.is_empty(),
                "{function} has no alarm on AWS/Lambda {metric} with FunctionName !Ref {function}"
            );
            for (id, alarm) in alarms {
                assert_eq!(
                    properties(alarm)["TreatMissingData"].as_str(),
                    Some("notBreaching"),
                    "{id}: no invocations is not a failure (TreatMissingData notBreaching)"
                );
            }
        }
    }
}

#[test]
fn every_function_logs_json_lines_and_is_traced() {
    let template = template();
    for (function, resource) in resources_of(&template, "AWS::Serverless::Function") {
        assert_eq!(
            logging_setting(&template, resource, "LogFormat").and_then(Value::as_str),
            Some("JSON"),
            "{function} should log in Lambda's JSON format (LoggingConfig LogFormat JSON, its own or Globals')"
        );
        assert_eq!(
            function_setting(&template, resource, "Tracing").and_then(Value::as_str),
            Some("Active"),
            "{function} should be traced by X-Ray (Tracing: Active, its own or Globals')"
        );
    }
}

#[test]
fn every_queue_has_a_dead_letter_queue_or_is_one_with_an_alarm() {
    let template = template();
    let queues: BTreeSet<&str> = resources_of(&template, "AWS::SQS::Queue")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let dead_letter_queues = dead_letter_queues(&template);
    for (queue, resource) in resources_of(&template, "AWS::SQS::Queue") {
        if dead_letter_queues.contains(queue) {
            let alarms = alarms_on(
                &template,
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                "QueueName",
                queue,
            );
            assert!(
                alarms.iter().any(|(_, alarm)| fires_at_one(alarm)),
                "dead-letter queue {queue} has no alarm that fires on one visible message \
                 (AWS/SQS ApproximateNumberOfMessagesVisible, QueueName !GetAtt {queue}.QueueName)"
            );
        } else {
            let policy = &properties(resource)["RedrivePolicy"];
            let target = &policy["deadLetterTargetArn"];
            let target = get_att_resource(target).or_else(|| ref_name(target));
            assert!(
                target.is_some_and(|target| queues.contains(target)),
                "{queue} is no queue's dead-letter queue, so it needs a RedrivePolicy whose \
                 deadLetterTargetArn is a queue of the template (found {target:?})"
            );
        }
    }
}

#[test]
fn every_queue_is_encrypted() {
    let template = template();
    for (queue, resource) in resources_of(&template, "AWS::SQS::Queue") {
        let props = properties(resource);
        assert!(
            bool_at(&props["SqsManagedSseEnabled"]) || props.get("KmsMasterKeyId").is_some(),
            "{queue} should be encrypted (SqsManagedSseEnabled: true or a KmsMasterKeyId)"
        );
    }
}

#[test]
fn the_table_cannot_be_deleted_by_accident_and_is_recoverable_and_encrypted() {
    let template = template();
    let tables = resources_of(&template, "AWS::DynamoDB::Table");
    assert!(!tables.is_empty(), "template.yaml has no DynamoDB table");
    for (table, resource) in tables {
        let props = properties(resource);
        assert!(
            bool_at(&props["DeletionProtectionEnabled"]),
            "{table} should have DeletionProtectionEnabled: true"
        );
        assert_eq!(
            resource["DeletionPolicy"].as_str(),
            Some("Retain"),
            "{table} should be kept when the stack is deleted (DeletionPolicy: Retain)"
        );
        assert_eq!(
            resource["UpdateReplacePolicy"].as_str(),
            Some("Retain"),
            "{table} should be kept when an update replaces it (UpdateReplacePolicy: Retain)"
        );
        assert!(
            bool_at(&props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]),
            "{table} should have point-in-time recovery"
        );
        assert!(
            bool_at(&props["SSESpecification"]["SSEEnabled"]),
            "{table} should state its encryption (SSESpecification SSEEnabled: true)"
        );
    }
}

#[test]
fn the_bucket_outlives_the_stack_and_is_encrypted() {
    let template = template();
    let buckets = resources_of(&template, "AWS::S3::Bucket");
    assert!(!buckets.is_empty(), "template.yaml has no S3 bucket");
    for (bucket, resource) in buckets {
        for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
            assert_eq!(
                resource[policy].as_str(),
                Some("Retain"),
                "{bucket} should have {policy}: Retain"
            );
        }
        let rules =
            list(&properties(resource)["BucketEncryption"]["ServerSideEncryptionConfiguration"]);
        assert!(
            !rules.is_empty()
                && rules.iter().all(|rule| {
                    rule["ServerSideEncryptionByDefault"]
                        .get("SSEAlgorithm")
                        .is_some()
                }),
            "{bucket} should state its encryption (BucketEncryption with an SSEAlgorithm)"
        );
    }
}

#[test]
fn the_api_answers_cors_for_the_allowed_origins_parameter() {
    let template = template();
    for (api, resource) in resources_of(&template, "AWS::Serverless::HttpApi") {
        let cors = when_condition_holds(&properties(resource)["CorsConfiguration"]);
        assert!(
            cors.as_mapping().is_some(),
            "{api} has no CorsConfiguration"
        );
        let origins = &cors["AllowOrigins"];
        let split = intrinsic(origins, "Split")
            .and_then(|args| list(args).get(1))
            .and_then(ref_name);
        assert!(
            ref_name(origins) == Some("AllowedOrigins") || split == Some("AllowedOrigins"),
            "{api}'s CorsConfiguration AllowOrigins should come from the AllowedOrigins parameter"
        );
        let named = |key: &str| -> BTreeSet<String> {
            list(&cors[key])
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect()
        };
        for header in [
            "authorization",
            "content-type",
            "if-match",
            "idempotency-key",
        ] {
            assert!(
                named("AllowHeaders").contains(header),
                "{api}'s CORS should allow the request header {header}"
            );
        }
        for method in ["get", "post", "put", "patch", "delete"] {
            assert!(
                named("AllowMethods").contains(method),
                "{api}'s CORS should allow {method}"
            );
        }
        assert!(
            named("ExposeHeaders").contains("etag"),
            "{api}'s CORS should expose ETag, which If-Match needs"
        );
    }
}

#[test]
fn the_api_throttles_every_route_with_the_parameters() {
    let template = template();
    for (api, resource) in resources_of(&template, "AWS::Serverless::HttpApi") {
        let settings = &properties(resource)["DefaultRouteSettings"];
        for limit in ["ThrottlingBurstLimit", "ThrottlingRateLimit"] {
            assert_eq!(
                ref_name(&settings[limit]),
                Some(limit),
                "{api}'s DefaultRouteSettings {limit} should be !Ref {limit}"
            );
        }
    }
}

#[test]
fn the_api_writes_a_json_access_log_with_the_request_id() {
    let template = template();
    for (api, resource) in resources_of(&template, "AWS::Serverless::HttpApi") {
        let settings = &properties(resource)["AccessLogSettings"];
        let format = settings["Format"]
            .as_str()
            .unwrap_or_else(|| panic!("{api} has no AccessLogSettings Format"));
        let line: serde_json::Value = serde_json::from_str(format)
            .unwrap_or_else(|e| panic!("{api}'s access log Format is not JSON: {e}"));
        let fields = line.as_object().expect("the access log line is an object");
        assert!(
            fields
                .values()
                .any(|v| v.as_str() == Some("$context.requestId")),
            "{api}'s access log should carry $context.requestId"
        );
        assert!(
            format.contains("$context.authorizer.claims.org_id"),
            "{api}'s access log should carry the caller's org ($context.authorizer.claims.org_id)"
        );
        let group = get_att_resource(&settings["DestinationArn"])
            .unwrap_or_else(|| panic!("{api}'s access log goes to no log group of the template"));
        let (_, group_resource) = resources_of(&template, "AWS::Logs::LogGroup")
            .into_iter()
            .find(|(id, _)| *id == group)
            .unwrap_or_else(|| panic!("{api}'s access log group {group} is not a LogGroup"));
        assert_eq!(
            ref_name(&properties(group_resource)["RetentionInDays"]),
            Some("LogRetentionDays"),
            "{group} ({api}'s access log) should keep its logs !Ref LogRetentionDays days"
        );
    }
}

#[test]
fn the_api_raises_alarms_on_its_5xx_rate_and_p99_latency() {
    let template = template();
    for (api, _) in resources_of(&template, "AWS::Serverless::HttpApi") {
        assert!(
            !alarms_on(&template, "AWS/ApiGateway", "5xx", "ApiId", api).is_empty(),
            "{api} has no alarm on AWS/ApiGateway 5xx (ApiId !Ref {api})"
        );
        let latency = alarms_on(&template, "AWS/ApiGateway", "Latency", "ApiId", api);
        assert!(
            latency
                .iter()
                .any(|(_, alarm)| properties(alarm)["ExtendedStatistic"].as_str() == Some("p99")),
            "{api} has no alarm on AWS/ApiGateway Latency p99 (ApiId !Ref {api})"
        );
    }
}

#[test]
fn every_alarm_notifies_the_alarm_topic() {
    let template = template();
    let alarms = resources_of(&template, "AWS::CloudWatch::Alarm");
    assert!(!alarms.is_empty(), "template.yaml has no alarms");
    for (alarm, resource) in alarms {
        for actions in ["AlarmActions", "OKActions"] {
            assert!(
                list(&properties(resource)[actions])
                    .iter()
                    .any(|action| ref_name(action) == Some("AlarmTopic")),
                "{alarm}'s {actions} should include !Ref AlarmTopic"
            );
        }
    }
}

#[test]
fn the_alarm_topic_is_encrypted_and_its_email_subscription_optional() {
    let template = template();
    let (_, topic) = resources_of(&template, "AWS::SNS::Topic")
        .into_iter()
        .find(|(id, _)| *id == "AlarmTopic")
        .expect("template.yaml has no AWS::SNS::Topic AlarmTopic");
    assert!(
        properties(topic).get("KmsMasterKeyId").is_some(),
        "AlarmTopic should be encrypted (KmsMasterKeyId)"
    );
    for (subscription, resource) in resources_of(&template, "AWS::SNS::Subscription") {
        if refers_to(&properties(resource)["TopicArn"], "AlarmTopic") {
            assert_eq!(
                resource["Condition"].as_str(),
                Some("HasAlarmEmail"),
                "{subscription} should exist only when AlarmEmail is given (Condition: HasAlarmEmail)"
            );
        }
    }
}

#[test]
fn the_dashboard_shows_every_dead_letter_queue_and_function() {
    let template = template();
    let dashboards = resources_of(&template, "AWS::CloudWatch::Dashboard");
    let (dashboard, resource) = dashboards
        .first()
        .expect("template.yaml has no AWS::CloudWatch::Dashboard");
    let body = sub_text(&properties(resource)["DashboardBody"])
        .unwrap_or_else(|| panic!("{dashboard}'s DashboardBody should be a !Sub of JSON"));
    for queue in dead_letter_queues(&template) {
        assert!(
            body.contains(&format!("${{{queue}.QueueName}}")),
            "{dashboard} does not show dead-letter queue {queue}"
        );
    }
    for (function, _) in resources_of(&template, "AWS::Serverless::Function") {
        assert!(
            body.contains(&format!("\"${{{function}}}\"")),
            "{dashboard} does not show function {function}"
        );
    }
}
