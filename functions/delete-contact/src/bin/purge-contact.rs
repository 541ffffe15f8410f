use aws_lambda_events::event::sqs::SqsEvent;
use delete_contact::App;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::clock::Env;
use shared::services::Services;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let s = Services::from_env().await?;
    let app = App::new(s.store, s.blobs, s.purge, Env::system());
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async {
        Ok::<_, Error>(app.handle_purge_batch(event.payload).await)
    }))
    .await
}
