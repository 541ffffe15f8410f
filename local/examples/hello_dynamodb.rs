//! `scripts/init-times`' second floor: a `lambda_http` function that loads the SDK's
//! configuration and builds one DynamoDB client, as the SDK's own examples do.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    lambda_http::run(lambda_http::service_fn(move |_request| {
        let _client = dynamodb.clone();
        async {
            Ok::<_, lambda_http::Error>(lambda_http::Response::new(lambda_http::Body::from(
                "hello",
            )))
        }
    }))
    .await
}
