#!/usr/bin/env python3
"""Time from exec to the first healthy response, and idle RSS, of a release build.

usage: startup.py <agentgate binary> <database path> <port>   (the database may or may not exist)
"""
import http.client, os, subprocess, sys, time

binary, db, port = sys.argv[1], sys.argv[2], sys.argv[3]
env = dict(os.environ, DATABASE_URL=db, PORT=port, LOG_LEVEL="warn", ADMIN_API_KEY="bench-admin-key-0123456789")
t0 = time.perf_counter()
proc = subprocess.Popen(["taskset", "-c", "0", binary, "serve"], env=env, stdout=subprocess.DEVNULL)
try:
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=1)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.001)
        if time.perf_counter() - t0 > 10:
            sys.exit("not healthy within 10 s")
    healthy_ms = (time.perf_counter() - t0) * 1000
    time.sleep(2)
    rss_kb = next(int(l.split()[1]) for l in open(f"/proc/{proc.pid}/status") if l.startswith("VmRSS"))
    print(f"time to healthy: {healthy_ms:.1f} ms; idle RSS: {rss_kb / 1024:.1f} MB")
finally:
    proc.terminate()
    proc.wait()
