#!/usr/bin/env python3
"""Time from a decide call to the waiting clients' responses, and server memory per waiting client.

usage: wait.py <port> <waiters> <server pid>      (AGENTGATE_API_KEY in the environment)

Creates a request, opens <waiters> long polls (GET /api/requests/:id/wait?timeout=60), each on its own
connection, measures the server's RSS before and after they connect, then decides the request and records, for
each waiter, the time from just before the decide call to its response. Latencies include this client's own
thread wake-ups (Python threads), so they are an upper bound on the server's.
"""
import http.client, json, os, sys, threading, time

port, waiters, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
headers = {"Authorization": "Bearer " + os.environ["AGENTGATE_API_KEY"], "Content-Type": "application/json"}

def call(method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
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
arrivals, start = [None] * waiters, threading.Barrier(waiters + 1)

def wait(i):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.connect()
    start.wait()
    conn.request("GET", f"/api/requests/{rid}/wait?timeout=60", headers=headers)
    res = conn.getresponse()
    body = json.loads(res.read())
    arrivals[i] = (time.perf_counter(), body["status"])

threads = [threading.Thread(target=wait, args=(i,)) for i in range(waiters)]
for t in threads: t.start()
start.wait()
time.sleep(1 + waiters / 500)  # let every long poll reach the server and register
after = rss_kb()
t0 = time.perf_counter()
status, _ = call("POST", f"/api/requests/{rid}/decide", {"decision": "approved"})
assert status == 200
for t in threads: t.join()
lat = sorted((a[0] - t0) * 1000 for a in arrivals)
assert all(a[1] == "approved" for a in arrivals)
pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
print(f"wait    waiters={waiters:<5} decide→response p50 {pct(50):.2f} ms  p99 {pct(99):.2f} ms  max {lat[-1]:.2f} ms;"
      f"  RSS +{(after - before) / waiters:.1f} KB per waiter")
