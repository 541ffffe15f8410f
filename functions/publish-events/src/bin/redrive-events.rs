//! An operator's tool, run with the stack's environment and credentials: publishes the events
//! the relay parked on the events dead-letter queue (README, Operations).

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::telemetry::init();
    let services = shared::services::Services::from_env().await?;
    let done = publish_events::redrive(&services.parked_events(), &services.bus()).await?;
    println!(
        "{} parked records published; {} messages left on the queue to look at",
        done.published, done.left
    );
    Ok(())
}
