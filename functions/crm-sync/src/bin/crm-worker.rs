#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::serve::lambda_queue::<crm_sync::App>().await
}
