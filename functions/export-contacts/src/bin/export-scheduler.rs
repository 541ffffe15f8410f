use export_contacts::{App, ScheduledEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::clock::Env;
use shared::services::Services;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let s = Services::from_env().await?;
    let app = App::new(s.store, s.blobs, s.exports, Env::system());
    lambda_runtime::run(service_fn(|event: LambdaEvent<ScheduledEvent>| async {
        // An error makes Lambda retry the invocation; periods already started are skipped.
        Ok::<_, Error>(app.handle_scheduled(event.payload).await?)
    }))
    .await
}
