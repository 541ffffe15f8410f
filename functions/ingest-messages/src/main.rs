use aws_lambda_events::event::sqs::SqsEvent;
use ingest_messages::App;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::blobs::Blobs;
use shared::clock::Env;
use shared::config::Config;
use shared::queue::Queue;
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let sdk = config.aws().await;
    let app = App::new(
        Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name),
        Blobs::new(
            aws_sdk_s3::Client::new(&sdk),
            config.require("BUCKET_NAME")?,
        ),
        Queue::new(
            aws_sdk_sqs::Client::new(&sdk),
            config.require("MATCH_QUEUE_URL")?,
        ),
        Env::system(),
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async {
        Ok::<_, Error>(app.handle_batch(event.payload).await.0)
    }))
    .await
}
