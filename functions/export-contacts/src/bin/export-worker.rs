use aws_lambda_events::event::sqs::SqsEvent;
use export_contacts::App;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::clock::Env;
use shared::services::Services;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let s = Services::from_env().await?;
    let app = App::new(s.store, s.blobs, s.exports, Env::system());
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async {
        Ok::<_, Error>(app.handle_batch(event.payload).await)
    }))
    .await
}
