//! The SDK (`agentgate-client`) against a real gateway: every family of methods, waiting for decisions, errors;
//! and against tiny stand-in servers on loopback: retries, and polling a gateway without the long-poll route.

use crate::support::TestServer;
use agentgate_client::wire::{
    BacktestInput, CreateApiKey, CreateOverride, CreateRequest, CreateWebhook, DecisionType, PolicyInput,
    RequestStatus, Rule, SimulateInput, UpdateApiKey, UpdateWebhook, Verdict,
};
use agentgate_client::{AuditFilter, Backoff, Client, DeliveryFilter, Error, Page, StatusCode, WaitOptions};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn admin(server: &TestServer) -> Client {
    Client::builder(&server.base_url)
        .api_key(&server.admin_key)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

fn rule(matcher: Value, decision: DecisionType) -> Rule {
    serde_json::from_value(json!({"match": matcher, "decision": decision})).expect("a rule")
}

fn ask(action: &str) -> CreateRequest {
    CreateRequest { action: action.into(), ..Default::default() }
}

#[tokio::test]
async fn policies_overrides_and_simulation() {
    let server = TestServer::start().await;
    let client = admin(&server);
    let input = PolicyInput {
        name: "reads".into(),
        rules: vec![rule(json!({"action": "read"}), DecisionType::AutoApprove)],
        priority: Some(5),
        enabled: None,
    };
    let created = client.create_policy(&input).await.expect("created");
    assert_eq!((created.name.as_str(), created.priority, created.version), ("reads", 5, 1));
    assert_eq!(client.get_policy(&created.id).await.expect("got"), created);
    let list = client.list_policies(&Page::default()).await.expect("listed");
    assert_eq!(list.policies, vec![created.clone()]);

    // Raw JSON works too, and the gateway's validation message comes back.
    let err = client
        .create_policy(&json!({"name": "bad", "rules": [{"match": {"n": {"$gtt": 1}}, "decision": "auto_deny"}]}))
        .await
        .expect_err("invalid");
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
    assert!(err.to_string().contains("rules[0].match.n"), "{err}");

    let replaced = client
        .replace_policy(&created.id, &PolicyInput { name: "reads v2".into(), ..input.clone() })
        .await
        .expect("replaced");
    assert_eq!((replaced.name.as_str(), replaced.version), ("reads v2", 2));

    let simulation = client
        .simulate_policies(&SimulateInput { requests: Some(vec![ask("read"), ask("write")]), ..Default::default() })
        .await
        .expect("simulated");
    assert_eq!(simulation.policies, "stored");
    assert_eq!(simulation.results[0].decision, DecisionType::AutoApprove);
    assert_eq!(simulation.results[0].matched.as_ref().map(|m| m.policy_name.as_str()), Some("reads v2"));
    assert_eq!(simulation.results[1].decision, DecisionType::RouteToHuman);
    assert_eq!(simulation.results[1].misses.len(), 1);

    client.create_request(&ask("write")).await.expect("asked");
    let backtest = client
        .backtest_policies(&BacktestInput {
            policies: vec![PolicyInput {
                name: "writes".into(),
                rules: vec![rule(json!({"action": "write"}), DecisionType::AutoDeny)],
                priority: None,
                enabled: None,
            }],
            days: Some(1),
            last: None,
        })
        .await
        .expect("backtested");
    assert_eq!((backtest.evaluated, backtest.changed), (1, 1));
    assert_eq!(backtest.changes[0].to, DecisionType::AutoDeny);

    let override_ = client
        .create_override(&CreateOverride {
            agent_id: "bot".into(),
            tool_pattern: "read*".into(),
            reason: Some("watching".into()),
            ttl_seconds: Some(60),
        })
        .await
        .expect("override");
    assert_eq!(client.list_overrides().await.expect("listed").overrides, vec![override_.clone()]);
    assert!(client.delete_override(&override_.id).await.expect("deleted").success);

    let deleted = client.delete_policy(&created.id).await.expect("deleted");
    assert_eq!((deleted.success, deleted.id.as_deref()), (true, Some(created.id.as_str())));
    let err = client.get_policy(&created.id).await.expect_err("gone");
    assert!(
        matches!(&err, Error::Api { status, message } if *status == StatusCode::NOT_FOUND && message == "Policy not found")
    );
}

#[tokio::test]
async fn keys_audit_links_and_health() {
    let server = TestServer::start().await;
    let client = admin(&server);
    let created = client
        .create_key(&CreateApiKey { name: "agent".into(), scopes: vec!["request:create".into()], rate_limit: None })
        .await
        .expect("created");
    assert!(created.key.starts_with("agk_"));
    let agent = Client::new(&server.base_url, &created.key).expect("client");
    let asked = agent.create_request(&ask("deploy")).await.expect("asked");

    let updated = client
        .update_key(
            &created.id,
            &UpdateApiKey {
                scopes: Some(vec!["request:read".into()]),
                rate_limit: Some(Some(100)),
                ..Default::default()
            },
        )
        .await
        .expect("updated");
    assert_eq!((updated.scopes.clone(), updated.rate_limit), (vec!["request:read".to_owned()], Some(100)));
    let keys = client.list_keys().await.expect("listed");
    assert!(keys.iter().any(|k| k.id == created.id && k.name == "agent"), "{keys:?}");

    let links = client.decision_links(&asked.id).await.expect("links");
    assert_eq!(links.request_id, asked.id);
    assert!(links.tokens.approve.url.ends_with(&links.tokens.approve.token));

    client.decide(&asked.id, Verdict::Approved, Some("go")).await.expect("decided");
    let trail = client.request_audit(&asked.id).await.expect("trail");
    assert_eq!(trail.first().map(|e| e.event_type.as_str()), Some("created"));
    let approvals = client
        .list_audit(&AuditFilter { event_type: Some("approved".into()), ..Default::default() })
        .await
        .expect("audit");
    assert_eq!(approvals.entries.len(), 1);
    assert_eq!(approvals.entries[0].request_id.as_deref(), Some(asked.id.as_str()));
    assert!(client.audit_actions().await.expect("actions").contains(&"deploy".to_owned()));
    assert!(client.audit_actors().await.expect("actors").iter().any(|a| a == &format!("key:{}", created.id)));

    assert!(client.revoke_key(&created.id).await.expect("revoked").success);
    let err = agent.get_request(&asked.id).await.expect_err("revoked");
    assert!(
        matches!(&err, Error::Api { status, message } if *status == StatusCode::UNAUTHORIZED && message == "Invalid API key")
    );

    assert_eq!(client.health(false).await.expect("health").status, "ok");
    let deep = client.health(true).await.expect("deep health");
    assert_eq!(deep.checks.as_ref().map(|c| &c["database"]["status"]), Some(&json!("healthy")));
}

#[tokio::test]
async fn webhooks_through_the_sdk() {
    let server = TestServer::start_with(|c| c.allow_private_webhooks = true).await;
    let client = admin(&server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let created = client
        .create_webhook(&CreateWebhook { url: url.clone(), events: vec!["request.created".into()], secret: None })
        .await
        .expect("created");
    assert!(!created.secret.is_empty());
    assert_eq!(client.list_webhooks().await.expect("listed").len(), 1);
    let updated = client
        .update_webhook(&created.id, &UpdateWebhook { enabled: Some(false), ..Default::default() })
        .await
        .expect("updated");
    assert!(!updated.enabled);
    let tested = client.test_webhook(&created.id).await.expect("tested");
    assert!(tested.success, "{tested:?}");
    assert_eq!(tested.status, Some(200));
    let detail = client.get_webhook(&created.id).await.expect("detail");
    assert_eq!(detail.webhook.url, url);
    assert_eq!(detail.deliveries[0].id, tested.delivery_id);
    let log = client.webhook_deliveries(&created.id, &DeliveryFilter::default()).await.expect("deliveries");
    assert_eq!(log.pagination.total, 1);
    let replayed = client.replay_delivery(&tested.delivery_id).await.expect("replayed");
    assert_eq!(replayed.delivery.replay_of.as_deref(), Some(tested.delivery_id.as_str()));
    assert!(client.delete_webhook(&created.id).await.expect("deleted").success);
}

#[tokio::test]
async fn wait_for_decision_resumes_across_long_polls_until_another_client_decides() {
    let server = TestServer::start().await;
    let client = admin(&server);
    let asked = client.create_request(&ask("deploy")).await.expect("asked");
    let decider = admin(&server);
    let id = asked.id.clone();
    let decision = tokio::spawn(async move {
        // After the first one-second poll has come back empty.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        decider.decide(&id, Verdict::Approved, None).await.expect("decided")
    });
    let options = WaitOptions { poll_timeout: Duration::from_secs(1), ..WaitOptions::within(Duration::from_secs(15)) };
    let decided = client.wait_for_decision(&asked.id, &options).await.expect("waited");
    assert_eq!(decided.status, RequestStatus::Approved);
    decision.await.expect("decider");

    // Nobody decides: the request comes back as it is, still pending.
    let asked = client.create_request(&ask("later")).await.expect("asked");
    let waited =
        client.wait_for_decision(&asked.id, &WaitOptions::within(Duration::from_secs(1))).await.expect("waited");
    assert_eq!(waited.status, RequestStatus::Pending);
    // A zero deadline is one look.
    let waited = client.wait_for_decision(&asked.id, &WaitOptions::within(Duration::ZERO)).await.expect("looked");
    assert_eq!(waited.status, RequestStatus::Pending);

    let err = client.wait_for_decision("no-such-id", &WaitOptions::default()).await.expect_err("unknown");
    assert!(
        matches!(&err, Error::Api { status, message } if *status == StatusCode::NOT_FOUND && message == "Request not found")
    );
}

#[tokio::test]
async fn transport_errors_name_the_gateway_and_the_cause() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let client = Client::builder(&origin).api_key("agk_x").retries(1).backoff(fast()).build().expect("client");
    let err = client.get_request("x").await.expect_err("refused");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.to_string(), format!("cannot reach the gateway at {origin}: connection refused"));
}

fn fast() -> Backoff {
    Backoff { base: Duration::from_millis(5), max: Duration::from_millis(20) }
}

/// A request in the gateway's JSON, with `status`.
fn request_json(id: &str, status: &str) -> Value {
    json!({
        "id": id, "action": "deploy", "params": {}, "context": {}, "status": status, "urgency": "normal",
        "createdAt": "2026-11-25T10:00:00.000Z", "updatedAt": "2026-11-25T10:00:00.000Z",
        "decidedAt": null, "decidedBy": null, "decisionReason": null, "expiresAt": null,
    })
}

/// A stand-in gateway on loopback: `handler(call number, method)` answers each call; returns the base URL and
/// the call counter.
async fn stand_in(
    handler: impl Fn(usize, &axum::http::Method, &str) -> (StatusCode, HeaderMap, Value) + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let handler = Arc::new(handler);
    let app = axum::Router::new().fallback(move |method: axum::http::Method, uri: axum::http::Uri| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let (status, headers, body) = handler(n, &method, uri.path());
        async move { (status, headers, axum::Json(body)) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, calls)
}

#[tokio::test]
async fn idempotent_calls_are_retried_on_5xx_and_429_and_posts_are_not() {
    let (url, calls) = stand_in(|n, _, _| match n {
        0 | 1 => (StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new(), json!({"error": "busy"})),
        2 => {
            let mut headers = HeaderMap::new();
            headers.insert("retry-after", "0".parse().expect("header"));
            (StatusCode::TOO_MANY_REQUESTS, headers, json!({"error": "slow down"}))
        }
        _ => (StatusCode::OK, HeaderMap::new(), request_json("r1", "pending")),
    })
    .await;
    let client = Client::builder(&url).api_key("agk_x").retries(3).backoff(fast()).build().expect("client");
    let got = client.get_request("r1").await.expect("retried until it worked");
    assert_eq!(got.id, "r1");
    assert_eq!(calls.load(Ordering::SeqCst), 4, "503, 503, 429, then 200");

    // Out of retries: the last answer is the error.
    let (url, calls) =
        stand_in(|_, _, _| (StatusCode::BAD_GATEWAY, HeaderMap::new(), json!({"error": "upstream down"}))).await;
    let client = Client::builder(&url).api_key("agk_x").retries(2).backoff(fast()).build().expect("client");
    let err = client.list_requests(&Default::default()).await.expect_err("fails");
    assert!(
        matches!(&err, Error::Api { status, message } if *status == StatusCode::BAD_GATEWAY && message == "upstream down")
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // A POST is never retried: creating twice would ask twice.
    let err = client.create_request(&ask("deploy")).await.expect_err("fails");
    assert_eq!(err.status(), Some(StatusCode::BAD_GATEWAY));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let err = client.decide("r1", Verdict::Approved, None).await.expect_err("fails");
    assert_eq!(err.status(), Some(StatusCode::BAD_GATEWAY));
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    // A 4xx other than 429 is an answer, not a hiccup.
    let (url, calls) = stand_in(|_, _, _| (StatusCode::NOT_FOUND, HeaderMap::new(), json!({"error": "nope"}))).await;
    let client = Client::builder(&url).api_key("agk_x").retries(3).backoff(fast()).build().expect("client");
    client.get_request("r1").await.expect_err("404");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Retries off.
    let (url, calls) = stand_in(|_, _, _| (StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new(), json!({}))).await;
    let client = Client::builder(&url).api_key("agk_x").retries(0).build().expect("client");
    client.get_request("r1").await.expect_err("503");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_older_gateway_without_the_wait_route_is_polled() {
    let polls = Arc::new(AtomicUsize::new(0));
    let seen = polls.clone();
    let (url, _) = stand_in(move |_, _, path| {
        if path.ends_with("/wait") {
            // What a gateway without the route answers.
            return (StatusCode::NOT_FOUND, HeaderMap::new(), json!({"error": "Not Found"}));
        }
        let status = if seen.fetch_add(1, Ordering::SeqCst) < 2 { "pending" } else { "approved" };
        (StatusCode::OK, HeaderMap::new(), request_json("r1", status))
    })
    .await;
    let client = Client::new(&url, "agk_x").expect("client");
    let options = WaitOptions {
        poll_interval: Duration::from_millis(10),
        max_poll_interval: Duration::from_millis(40),
        ..WaitOptions::within(Duration::from_secs(30))
    };
    let decided = client.wait_for_decision("r1", &options).await.expect("waited");
    assert_eq!(decided.status, RequestStatus::Approved);
    assert_eq!(polls.load(Ordering::SeqCst), 3);
}
