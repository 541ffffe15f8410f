use export_contacts::App;
use lambda_http::{Error, service_fn};
use shared::clock::Env;
use shared::services::Services;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let s = Services::from_env().await?;
    let app = App::new(s.store, s.blobs, s.exports, Env::system());
    lambda_http::run(service_fn(|req| async {
        Ok::<_, Error>(app.handle(req).await)
    }))
    .await
}
