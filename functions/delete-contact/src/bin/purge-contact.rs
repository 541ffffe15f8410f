#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::serve::lambda_queue::<delete_contact::App>().await
}
