#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::serve::lambda_queue::<match_contacts::App>().await
}
