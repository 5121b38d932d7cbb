//! An agent that asks before it acts: it requests approval to deploy, waits for a person (or a policy) to
//! decide, and deploys only if the request was approved.
//!
//! ```sh
//! AGENTGATE_URL=http://127.0.0.1:3000 AGENTGATE_API_KEY=agk_... cargo run -p agentgate-client --example agent
//! ```
//!
//! Then approve it from another terminal: `agentgate approve <id>` (or deny it, or let it time out).

use agentgate_client::wire::{CreateRequest, RequestStatus, Urgency};
use agentgate_client::{Client, WaitOptions};
use serde_json::json;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AGENTGATE_URL").unwrap_or_else(|_| "http://127.0.0.1:3000".to_owned());
    let key = std::env::var("AGENTGATE_API_KEY")
        .map_err(|_| "set AGENTGATE_API_KEY to a key with request:create and request:read")?;
    let client = Client::builder(url).api_key(key).timeout(Duration::from_secs(10)).build()?;

    let request = client
        .create_request(&CreateRequest {
            action: "deploy".into(),
            params: Some(json!({"service": "billing", "version": "2.1.0"})),
            context: Some(json!({"agentId": "example-agent", "reason": "release train"})),
            urgency: Some(Urgency::High),
            expires_at: None,
        })
        .await?;
    println!("asked for approval: request {} is {}", request.id, request.status);

    let request = client.wait_for_decision(&request.id, &WaitOptions::within(Duration::from_secs(300))).await?;
    match request.status {
        RequestStatus::Approved => {
            let by = request.decided_by.as_deref().unwrap_or("a policy");
            println!("approved by {by}: deploying billing 2.1.0");
            // ... the real work goes here ...
        }
        RequestStatus::Denied => {
            let reason = request.decision_reason.as_deref().unwrap_or("no reason given");
            println!("denied ({reason}): not deploying");
        }
        RequestStatus::Expired => println!("the request expired before anyone decided: not deploying"),
        RequestStatus::Pending => println!("no decision within five minutes: not deploying"),
    }
    Ok(())
}
