#!/usr/bin/env python3
"""Time from a decide call to the waiting clients' responses, and server memory per waiting client.

usage: wait.py <port> <waiters> <server pid> [decide port]      (AGENTGATE_API_KEY in the environment)

With a decide port (another replica on the same database), the request is created and decided there while the
waiters wait on <port>: the time it takes a decision to cross replicas.

Creates a request, opens <waiters> long polls (GET /api/requests/:id/wait?timeout=60), each on its own
connection (one asyncio event loop), measures the server's RSS before and after they connect, then decides the request and records, for
each waiter, the time from just before the decide call to its response. Latencies include this client's own
event loop's time to notice each response, so they are an upper bound on the server's.
"""
import asyncio, http.client, json, os, sys, time

port, waiters, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
decide_port = int(sys.argv[4]) if len(sys.argv) > 4 else port
headers = {"Authorization": "Bearer " + os.environ["AGENTGATE_API_KEY"], "Content-Type": "application/json"}

def call(method, path, body=None, on=None):
    conn = http.client.HTTPConnection("127.0.0.1", on or decide_port, timeout=120)
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    res = conn.getresponse()
    return res.status, json.loads(res.read() or b"null")

def rss_kb():
    return next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS"))

status, created = call("POST", "/api/requests", {"action": "deploy", "params": {"version": "2.1.0"}})
assert status == 201, created
rid = created["id"]
time.sleep(0.5)
before = rss_kb()

async def main():
    auth = headers["Authorization"]
    request = (f"GET /api/requests/{rid}/wait?timeout=60 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: {auth}\r\n\r\n").encode()
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(waiters)]
    for _, writer in conns:
        writer.write(request)
    await asyncio.gather(*(w.drain() for _, w in conns))
    await asyncio.sleep(1 + waiters / 500)  # let every long poll reach the server and register
    after = rss_kb()

    async def receive(reader):
        head = await reader.readuntil(b"\r\n\r\n")
        arrived = time.perf_counter()
        length = int(next(l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")))
        body = json.loads(await reader.readexactly(length))
        return arrived, body["status"]

    receivers = [asyncio.create_task(receive(r)) for r, _ in conns]
    t0 = time.perf_counter()
    status, _ = await asyncio.to_thread(call, "POST", f"/api/requests/{rid}/decide", {"decision": "approved"})
    assert status == 200
    results = await asyncio.gather(*receivers)
    for _, w in conns:
        w.close()
    return after, t0, results

after, t0, arrivals = asyncio.run(main())
lat = sorted((a[0] - t0) * 1000 for a in arrivals)
assert all(a[1] == "approved" for a in arrivals)
pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
print(f"wait    waiters={waiters:<5} decide→response p50 {pct(50):.2f} ms  p99 {pct(99):.2f} ms  max {lat[-1]:.2f} ms;"
      f"  RSS +{(after - before) / waiters:.1f} KB per waiter")
