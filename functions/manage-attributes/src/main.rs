use lambda_http::{Error, service_fn};
use manage_attributes::App;
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
        Queue::new(
            aws_sdk_sqs::Client::new(&sdk),
            config.require("MATCH_QUEUE_URL")?,
        ),
        Env::system(),
    );
    lambda_http::run(service_fn(|req| async {
        Ok::<_, Error>(app.handle(req).await)
    }))
    .await
}
