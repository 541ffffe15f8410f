//! The demo CRM: `demo-crm PORT [SEED.json]`, where the seed maps tenants to their secrets,
//! records and behaviour (see `local::demo_crm`).

use std::collections::HashMap;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().unwrap_or_else(|| "3100".into()).parse()?;
    let tenants: HashMap<String, local::demo_crm::Tenant> = match args.next() {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path)?)?,
        None => HashMap::new(),
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("demo-crm ready on http://127.0.0.1:{port}");
    axum::serve(listener, local::demo_crm::router(tenants)).await?;
    Ok(())
}
