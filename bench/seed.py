#!/usr/bin/env python3
"""Create N pending requests through the API (16 keep-alive connections), for read benchmarks.

usage: seed.py <port> <count>      (AGENTGATE_API_KEY in the environment)
"""
import http.client, json, os, sys, threading

port, count = int(sys.argv[1]), int(sys.argv[2])
headers = {"Authorization": "Bearer " + os.environ["AGENTGATE_API_KEY"], "Content-Type": "application/json"}
body = json.dumps({"action": "send_email", "params": {"to": "a@b.c", "subject": "hi"}, "urgency": "normal"})
threads, per = 16, -(-count // 16)

def work(n):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(n):
        conn.request("POST", "/api/requests", body, headers)
        res = conn.getresponse()
        res.read()
        assert res.status == 201, res.status

workers = [threading.Thread(target=work, args=(min(per, count - i * per),)) for i in range(threads) if count - i * per > 0]
for w in workers: w.start()
for w in workers: w.join()
