"""Drives `agentgate mcp-proxy -- python3 upstream.py` with the official Python MCP SDK; prints a JSON summary.

Usage: proxy_client.py <agentgate binary> <upstream.py>   (AGENTGATE_URL and an admin AGENTGATE_API_KEY set)

The Rust test (tests/it/mcp.rs) creates the policies first: echo is auto-approved, delete_file auto-denied,
write_note goes to a human, played here by a task that approves it through the gateway's API.
"""

import json
import os
import sys
import urllib.parse
import urllib.request

import anyio
from mcp import Client, StdioServerParameters

URL = os.environ["AGENTGATE_URL"]
KEY = os.environ["AGENTGATE_API_KEY"]


def api(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as res:
        return json.loads(res.read())


def summary(result):
    text = "".join(getattr(block, "text", "") for block in result.content)
    return {"isError": bool(result.is_error), "text": text}


def proxy(binary, upstream, wait_seconds):
    args = ["mcp-proxy", "--name", "upstream", "--wait-seconds", str(wait_seconds), "--", sys.executable, upstream]
    return StdioServerParameters(command=binary, args=args, env=dict(os.environ))


async def approve_when_pending(action, found):
    query = urllib.parse.urlencode({"status": "pending", "action": action})
    while True:
        pending = await anyio.to_thread.run_sync(api, "GET", f"/api/requests?{query}")
        if pending["requests"]:
            request = pending["requests"][0]
            found.append(request)
            await anyio.to_thread.run_sync(
                api, "POST", f"/api/requests/{request['id']}/decide", {"decision": "approved", "reason": "ok"}
            )
            return
        await anyio.sleep(0.2)


async def main():
    binary, upstream = sys.argv[1], sys.argv[2]
    out = {}
    async with Client(proxy(binary, upstream, 120)) as client:
        tools = await client.list_tools()
        out["tools"] = sorted(tool.name for tool in tools.tools)
        out["echo"] = summary(await client.call_tool("echo", {"text": "hi"}))
        out["delete"] = summary(await client.call_tool("delete_file", {"path": "/etc/passwd"}))
        found = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(approve_when_pending, "mcp:upstream:write_note", found)
            out["write_approved"] = summary(await client.call_tool("write_note", {"note": "hello"}))
        out["human_request"] = found[0]
    async with Client(proxy(binary, upstream, 0)) as client:
        out["write_pending"] = summary(await client.call_tool("write_note", {"note": "later"}))
    print(json.dumps(out))


anyio.run(main)
