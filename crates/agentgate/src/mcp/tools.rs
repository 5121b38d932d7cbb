//! The MCP tools, all in one place: names, descriptions, input schemas (those of the older TypeScript server,
//! plus `agentgate_wait_for_decision`) and output schemas.

use rmcp::model::{JsonObject, Tool};
use serde_json::{Value, json};
use std::sync::Arc;

/// The longest `agentgate_wait_for_decision` waits in one call.
pub const MAX_WAIT_SECONDS: u64 = 300;
/// Its default when `timeoutSeconds` is not given.
pub const DEFAULT_WAIT_SECONDS: u64 = 60;

const STATUSES: [&str; 4] = ["pending", "approved", "denied", "expired"];
const URGENCIES: [&str; 4] = ["low", "normal", "high", "critical"];
const EVENT_TYPES: [&str; 5] = ["created", "approved", "denied", "expired", "viewed"];

/// Every tool the server offers, in the order `tools/list` shows them.
pub fn all() -> Vec<Tool> {
    let request = request_schema();
    let list = |item: Value, key: &str| {
        json!({"type": "object", "properties": {
            key: {"type": "array", "items": item},
            "pagination": {"type": "object"}
        }, "required": [key]})
    };
    vec![
        tool(
            "agentgate_request",
            "Ask for approval of an action. Policies may decide it at once; otherwise it stays pending until a \
             human decides (use agentgate_wait_for_decision or agentgate_get to learn the outcome).",
            json!({"type": "object", "properties": {
                "action": {"type": "string", "description": "The action to approve, e.g. send_email"},
                "params": {"type": "object", "description": "The action's parameters"},
                "context": {"type": "object", "description": "Context for the approver (agentId, reason, …)"},
                "urgency": {"type": "string", "enum": URGENCIES}
            }, "required": ["action"]}),
            request.clone(),
        ),
        tool(
            "agentgate_get",
            "Get an approval request by id, with its current status.",
            json!({"type": "object", "properties": {"id": {"type": "string", "description": "Request id"}},
                   "required": ["id"]}),
            request.clone(),
        ),
        tool(
            "agentgate_list",
            "List approval requests, newest first.",
            json!({"type": "object", "properties": {
                "status": {"type": "string", "enum": STATUSES},
                "limit": {"type": "number", "description": "How many (default 50, at most 100)"}
            }}),
            list(json!({"type": "object"}), "requests"),
        ),
        tool(
            "agentgate_decide",
            "Approve or deny a pending request. The gateway records the API key's identity as the decider.",
            json!({"type": "object", "properties": {
                "id": {"type": "string", "description": "Request id"},
                "decision": {"type": "string", "enum": ["approved", "denied"]},
                "reason": {"type": "string"},
                "decidedBy": {"type": "string", "description": "Accepted for compatibility; the gateway records \
                              the authenticated key as the decider"}
            }, "required": ["id", "decision"]}),
            request.clone(),
        ),
        tool(
            "agentgate_wait_for_decision",
            "Wait until a request is decided or expires, up to timeoutSeconds (default 60, at most 300). \
             Returns the request; a status still 'pending' means the wait ran out first: call again later.",
            json!({"type": "object", "properties": {
                "id": {"type": "string", "description": "Request id"},
                "timeoutSeconds": {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS,
                                   "description": "How long to wait at most (default 60, at most 300)"}
            }, "required": ["id"]}),
            request,
        ),
        tool(
            "agentgate_list_policies",
            "List the approval policies.",
            json!({"type": "object", "properties": {}}),
            list(json!({"type": "object"}), "policies"),
        ),
        tool(
            "agentgate_create_policy",
            "Create an approval policy (see the gateway's policy language).",
            policy_input(false),
            policy_schema(),
        ),
        tool("agentgate_update_policy", "Replace an approval policy.", policy_input(true), policy_schema()),
        tool(
            "agentgate_delete_policy",
            "Delete an approval policy.",
            json!({"type": "object", "properties": {"id": {"type": "string", "description": "Policy id"}},
                   "required": ["id"]}),
            json!({"type": "object"}),
        ),
        tool(
            "agentgate_list_audit_logs",
            "List audit log entries, newest first, with optional filters.",
            json!({"type": "object", "properties": {
                "action": {"type": "string"},
                "status": {"type": "string", "enum": STATUSES},
                "eventType": {"type": "string", "enum": EVENT_TYPES},
                "actor": {"type": "string"},
                "from": {"type": "string", "description": "ISO-8601 timestamp or date"},
                "to": {"type": "string", "description": "ISO-8601 timestamp or date"},
                "requestId": {"type": "string"},
                "limit": {"type": "number"},
                "offset": {"type": "number"}
            }}),
            list(json!({"type": "object"}), "entries"),
        ),
        tool(
            "agentgate_get_audit_actors",
            "List the distinct actors found in the audit log.",
            json!({"type": "object", "properties": {}}),
            json!({"type": "object", "properties": {"actors": {"type": "array", "items": {"type": "string"}}},
                   "required": ["actors"]}),
        ),
    ]
}

fn tool(name: &'static str, description: &'static str, input: Value, output: Value) -> Tool {
    Tool::new(name, description, object(input)).with_raw_output_schema(Arc::new(object(output)))
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

fn request_schema() -> Value {
    json!({"type": "object", "properties": {
        "id": {"type": "string"},
        "action": {"type": "string"},
        "status": {"type": "string", "enum": STATUSES},
        "urgency": {"type": "string"},
        "params": {},
        "context": {}
    }, "required": ["id", "action", "status"]})
}

fn policy_schema() -> Value {
    json!({"type": "object", "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "rules": {"type": "array"},
        "priority": {"type": "number"},
        "enabled": {"type": "boolean"}
    }, "required": ["id", "name"]})
}

fn policy_input(with_id: bool) -> Value {
    let mut schema = json!({"type": "object", "properties": {
        "name": {"type": "string"},
        "rules": {"type": "array", "items": {"type": "object"},
                  "description": "Rules tried in order: {match, decision, approvers?, requireReason?}"},
        "priority": {"type": "number", "description": "Lower goes first (default 100)"},
        "enabled": {"type": "boolean"}
    }, "required": ["name", "rules"]});
    if with_id {
        schema["properties"]["id"] = json!({"type": "string", "description": "Policy id"});
        schema["required"] = json!(["id", "name", "rules"]);
    }
    schema
}
