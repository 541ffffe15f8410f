#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::serve::lambda_stream::<publish_events::App>().await
}
