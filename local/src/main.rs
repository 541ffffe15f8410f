#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init();
    let config = local::LocalConfig::from_env()?;
    local::run(config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
