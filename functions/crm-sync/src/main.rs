#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve::lambda_http::<crm_sync::App>().await
}
