//! A function's call that its policy does not grant never reaches the local endpoint: it fails
//! with the error AWS sends (DynamoDB's `AccessDeniedException`, S3's `AccessDenied`), nothing
//! is written, and the runtime's listing names the refused call. Against the endpoints
//! `scripts/test` starts (DynamoDB Local, moto).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use local::aws_guard::{Faults, Guard};
use local::iam::{Arns, Policy};
use shared::config::Config;

/// toggle-vip's policy before it was fixed: it reads and puts, but may not update.
const READ_AND_PUT_ONLY: &str = r#"
- Statement:
    - Effect: Allow
      Action: [dynamodb:BatchGetItem, dynamodb:GetItem, dynamodb:PutItem]
      Resource: { "Fn::GetAtt": [ContactsTable, Arn] }
    - Effect: Allow
      Action: s3:GetObject
      Resource: { "Fn::Sub": "${DataBucket.Arn}/exports/*" }
"#;

async fn guarded() -> (
    aws_config::SdkConfig,
    aws_config::SdkConfig,
    Arc<Policy>,
    String,
) {
    let config = Config::from_env().expect("TABLE_NAME is set by scripts/test");
    let sdk = config.aws().await;
    let mut arns = Arns::new(sdk.region().unwrap().as_ref());
    arns.define("ContactsTable", "Arn", arns.table(&config.table_name));
    arns.define("DataBucket", "Arn", Arns::bucket("inbox-local-databucket"));
    let hash_keys = BTreeMap::from([(String::new(), "PK".to_owned())]);
    let inner = sdk.http_client().expect("the SDK config's HTTP client");
    let guard = Guard::new(arns, hash_keys, Faults::default(), inner);
    let policies: serde_norway::Value = serde_norway::from_str(READ_AND_PUT_ONLY).unwrap();
    let policy = Arc::new(
        Policy::parse("toggle-vip", policies.as_sequence().unwrap(), guard.arns()).unwrap(),
    );
    let function = sdk
        .to_builder()
        .http_client(guard.for_function(policy.clone()))
        .build();
    (sdk, function, policy, config.table_name)
}

#[tokio::test]
async fn an_update_the_policy_does_not_grant_is_refused_as_aws_refuses_it_and_writes_nothing() {
    let (sdk, function, policy, table) = guarded().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&function);
    let pk = format!("ORG#iam-{}#C#1", uuid::Uuid::now_v7().simple());
    let key =
        |item: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder| {
            item.key("PK", AttributeValue::S(pk.clone()))
                .key("SK", AttributeValue::S("PROFILE".into()))
        };
    dynamodb
        .put_item()
        .table_name(&table)
        .item("PK", AttributeValue::S(pk.clone()))
        .item("SK", AttributeValue::S("PROFILE".into()))
        .item("vip", AttributeValue::Bool(false))
        .send()
        .await
        .expect("PutItem is granted");

    let refused = key(dynamodb.update_item().table_name(&table))
        .update_expression("SET vip = :t")
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .send()
        .await
        .expect_err("UpdateItem is not granted");
    let service = refused.into_service_error();
    let meta = aws_sdk_dynamodb::error::ProvideErrorMetadata::meta(&service);
    assert_eq!(meta.code(), Some("AccessDeniedException"), "{service:?}");
    let message = meta.message().unwrap();
    assert!(
        message.contains("not authorized to perform: dynamodb:UpdateItem")
            && message.contains(&format!("table/{table}")),
        "{message}"
    );

    let unguarded = aws_sdk_dynamodb::Client::new(&sdk);
    let item = unguarded
        .get_item()
        .table_name(&table)
        .key("PK", AttributeValue::S(pk.clone()))
        .key("SK", AttributeValue::S("PROFILE".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        item["vip"],
        AttributeValue::Bool(false),
        "the refused update never reached DynamoDB"
    );
    assert!(
        policy
            .denied()
            .iter()
            .any(|(action, _)| action == "dynamodb:UpdateItem"),
        "the listing names the refused call"
    );
}

#[tokio::test]
async fn an_object_outside_the_granted_prefix_is_access_denied_from_s3() {
    let (_, function, _, _) = guarded().await;
    let s3 = aws_sdk_s3::Client::new(&function);
    let refused = s3
        .get_object()
        .bucket("inbox-local-databucket")
        .key("attachments/someone-else/photo.png")
        .send()
        .await
        .expect_err("only exports/* may be read");
    let service = refused.into_service_error();
    let meta = aws_sdk_s3::error::ProvideErrorMetadata::meta(&service);
    assert_eq!(meta.code(), Some("AccessDenied"), "{service:?}");
}
