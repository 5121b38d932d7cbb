#!/usr/bin/env python3
"""Webhook benchmark steps.

usage: webhooks.py subscribe <gateway port> <receiver port> <n>   create n webhooks for request.created
       webhooks.py count <receiver port>                           how many deliveries the receiver has had
       webhooks.py drain <receiver port> <expected count>          wait until the receiver's count reaches it,
                                                                   and print the delivery rate while draining
"""
import http.client, json, os, sys, time

def call(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    headers = {"Authorization": "Bearer " + os.environ["AGENTGATE_API_KEY"], "Content-Type": "application/json"}
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    res = conn.getresponse()
    return res.status, json.loads(res.read() or b"null")

def stats(port):
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    conn.request("GET", "/")
    return json.loads(conn.getresponse().read())

if sys.argv[1] == "subscribe":
    gateway, receiver, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
    for i in range(n):
        status, body = call(gateway, "POST", "/api/webhooks",
                            {"url": f"http://127.0.0.1:{receiver}/hook/{i}", "events": [os.environ.get("BENCH_EVENT", "request.created")]})
        assert status == 201, body
elif sys.argv[1] == "count":
    print(stats(sys.argv[2])["count"])
elif sys.argv[1] == "drain":
    receiver, expected = sys.argv[2], int(sys.argv[3])
    start, t0 = stats(receiver)["count"], time.perf_counter()
    seen, stalled_since = start, time.perf_counter()
    while seen < expected:
        time.sleep(0.2)
        now = stats(receiver)["count"]
        if now != seen:
            seen, stalled_since = now, time.perf_counter()
        elif time.perf_counter() - stalled_since > 15:
            sys.exit(f"deliveries stalled at {seen} of {expected}")
    elapsed = time.perf_counter() - t0
    drained = seen - start
    print(f"webhook deliveries: {drained} delivered after the load stopped, in {elapsed:.2f} s "
          f"= {drained / elapsed:,.0f} signed deliveries/s")
