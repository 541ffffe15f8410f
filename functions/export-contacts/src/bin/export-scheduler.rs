#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::serve::lambda_scheduled::<export_contacts::App>().await
}
