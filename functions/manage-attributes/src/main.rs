use lambda_http::{Error, service_fn};
use manage_attributes::App;
use shared::clock::Env;
use shared::config::Config;
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let app = App::new(Store::connect(&config).await, Env::system());
    lambda_http::run(service_fn(|req| async {
        Ok::<_, Error>(app.handle(req).await)
    }))
    .await
}
