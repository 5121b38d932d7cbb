"""Drives AgentGate's MCP server with the official Python MCP SDK (PyPI `mcp`) and prints a JSON summary.

Usage:
  client.py stdio <agentgate binary>   (AGENTGATE_URL and AGENTGATE_API_KEY in the environment)
  client.py http <http://host:port/mcp> <api key>
  client.py scoped <http://host:port/mcp> <api key without admin>
  client.py unreachable <agentgate binary>   (AGENTGATE_URL pointing where nothing listens)

The Rust test (tests/it/mcp.rs) runs it against a real gateway and asserts on the summary.
"""

import json
import os
import sys

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def result_summary(result):
    text = "".join(getattr(block, "text", "") for block in result.content)
    return {"isError": bool(result.is_error), "structured": result.structured_content, "text": text}


async def exercise(client):
    out = {}
    tools = await client.list_tools()
    out["tools"] = sorted(tool.name for tool in tools.tools)
    out["schemas"] = {
        tool.name: {"input": tool.input_schema, "output": tool.output_schema} for tool in tools.tools
    }

    async def call(name, args=None, **kwargs):
        return result_summary(await client.call_tool(name, args or {}, **kwargs))

    created = await call(
        "agentgate_request",
        {"action": "send_email", "params": {"to": "a@example.com"}, "context": {"agentId": "mcp-test"},
         "urgency": "high"},
    )
    out["request"] = created
    request_id = (created["structured"] or {}).get("id")
    out["get"] = await call("agentgate_get", {"id": request_id})
    out["list"] = await call("agentgate_list", {"status": "pending", "limit": 10})
    # A wait that runs out returns the request, still pending.
    out["wait_pending"] = await call("agentgate_wait_for_decision", {"id": request_id, "timeoutSeconds": 1})
    out["decide"] = await call(
        "agentgate_decide", {"id": request_id, "decision": "approved", "reason": "looks fine", "decidedBy": "tester"}
    )
    out["wait_decided"] = await call("agentgate_wait_for_decision", {"id": request_id, "timeoutSeconds": 30})

    # A wait with a progress token: decide once the server reports that it is waiting.
    second = await call("agentgate_request", {"action": "deploy"})
    second_id = second["structured"]["id"]
    progress = []
    waiting = anyio.Event()

    async def on_progress(value, total, message):
        progress.append({"progress": value, "total": total, "message": message})
        waiting.set()

    async def decide_when_waiting():
        await waiting.wait()
        await call("agentgate_decide", {"id": second_id, "decision": "denied", "reason": "not today"})

    async with anyio.create_task_group() as tg:
        tg.start_soon(decide_when_waiting)
        out["wait_progress"] = await call(
            "agentgate_wait_for_decision", {"id": second_id, "timeoutSeconds": 120}, progress_callback=on_progress
        )
    out["progress"] = progress

    policy = await call(
        "agentgate_create_policy",
        {"name": "mcp policy", "rules": [{"match": {"action": "read_file"}, "decision": "auto_approve"}],
         "priority": 5},
    )
    out["create_policy"] = policy
    policy_id = (policy["structured"] or {}).get("id")
    out["update_policy"] = await call(
        "agentgate_update_policy",
        {"id": policy_id, "name": "mcp policy v2", "rules": [], "priority": 7, "enabled": False},
    )
    out["list_policies"] = await call("agentgate_list_policies")
    out["delete_policy"] = await call("agentgate_delete_policy", {"id": policy_id})
    out["audit"] = await call("agentgate_list_audit_logs", {"requestId": request_id, "limit": 20})
    out["actors"] = await call("agentgate_get_audit_actors")

    out["unknown"] = await call("agentgate_get", {"id": "req_does_not_exist"})
    out["bad_args"] = await call("agentgate_decide", {"id": request_id, "decision": "maybe"})
    return out


async def main():
    mode = sys.argv[1]
    if mode == "stdio":
        params = StdioServerParameters(command=sys.argv[2], args=["mcp"], env=dict(os.environ))
        async with Client(params) as client:
            print(json.dumps(await exercise(client)))
    elif mode == "unreachable":
        params = StdioServerParameters(command=sys.argv[2], args=["mcp"], env=dict(os.environ))
        async with Client(params) as client:
            first = result_summary(await client.call_tool("agentgate_get", {"id": "x"}))
            again = result_summary(await client.call_tool("agentgate_list", {}))
            print(json.dumps({"first": first, "again": again}))
    elif mode == "http":
        url, key = sys.argv[2], sys.argv[3]
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            print(json.dumps(await exercise(client)))
    elif mode == "scoped":
        url, key = sys.argv[2], sys.argv[3]
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            request = result_summary(await client.call_tool("agentgate_request", {"action": "deploy"}))
            policy = result_summary(
                await client.call_tool("agentgate_create_policy", {"name": "nope", "rules": []})
            )
            print(json.dumps({"request": request, "create_policy": policy}))
    else:
        sys.exit(f"unknown mode {mode}")


anyio.run(main)
