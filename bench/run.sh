#!/usr/bin/env bash
# The HTTP benchmarks of BENCHMARKS.md, measured as the older implementation was: the gateway pinned to CPU 0,
# wrk pinned to CPU 1, SQLite in WAL mode with synchronous=NORMAL, LOG_LEVEL=warn.
#
# usage: bench/run.sh [scenario…]   scenarios: startup create get list decide wait kill9 webhooks ratelimit
#        postgres xwait   (default: all but ratelimit, postgres and xwait)
# env:   DUR (default 10s), CONNS (default "1 16 64"), PORT (default 3300), ROUNDS (ratelimit, postgres; default 3),
#        BENCH_DATABASE_URL (postgres, xwait: a PostgreSQL server URL; the database agentgate_bench is recreated)
# Needs wrk, taskset and python3 (and node for webhooks, redis-server for ratelimit). Results go to bench/results/
# and a summary to stdout. The binaries are taken from $CARGO_TARGET_DIR (default target/): the gateway, and for
# wait and xwait the waiter client bench/waiters (`waitbench`, and for wait its floor server `waitfloor`).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10s}
CONNS=${CONNS:-"1 16 64"}
PORT=${PORT:-3300}
SCENARIOS=${*:-startup create get list decide wait kill9 webhooks}
ROUNDS=${ROUNDS:-3}
export AGENTGATE_API_KEY=bench-admin-key-0123456789
URL=http://127.0.0.1:$PORT
BIN=${CARGO_TARGET_DIR:-target}/release/agentgate
WAITBENCH=${CARGO_TARGET_DIR:-target}/release/waitbench
WAITFLOOR=${CARGO_TARGET_DIR:-target}/release/waitfloor
OUT=bench/results
mkdir -p "$OUT"
WORK=$(mktemp -d)
PID=
RECEIVER=
REDIS_PID=
SERVER_ENV=
trap '[ -n "$PID" ] && kill -9 $PID 2>/dev/null; [ -n "$PID2" ] && kill -9 $PID2 2>/dev/null; [ -n "$RECEIVER" ] && kill $RECEIVER 2>/dev/null;
  [ -n "$REDIS_PID" ] && kill -9 $REDIS_PID 2>/dev/null; rm -rf "$WORK"' EXIT

cargo build --release -p agentgate >&2
case " $SCENARIOS " in
  *" wait "*|*" xwait "*) cargo build --release -p agentgate-waitbench >&2 ;;
esac
ulimit -n 65536 2>/dev/null || true   # 1,000 long polls need as many sockets

DATABASE=   # empty: a SQLite file in $WORK; else the PostgreSQL URL start_server uses
PID2=       # a second replica (postgres, xwait), on PORT+2
start_server() {  # a fresh database each time; SERVER_ENV adds variables (REDIS_URL=…)
  rm -f "$WORK"/db*
  if [ -n "$DATABASE" ]; then
    psql -q "$BENCH_DATABASE_URL" -c "DROP DATABASE IF EXISTS agentgate_bench WITH (FORCE)" -c "CREATE DATABASE agentgate_bench"
  fi
  # shellcheck disable=SC2086
  env $SERVER_ENV DATABASE_URL="${DATABASE:-$WORK/db.sqlite}" PORT=$PORT LOG_LEVEL=warn ADMIN_API_KEY=$AGENTGATE_API_KEY \
    AGENTGATE_ALLOW_PRIVATE_WEBHOOKS=true \
    taskset -c 0 "$BIN" serve >/dev/null 2>"$WORK/server.log" &
  PID=$!
  for _ in $(seq 1 200); do curl -sf "$URL/health" >/dev/null && return 0; sleep 0.05; done
  echo "server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}
start_second() {  # another replica on the same PostgreSQL database, port PORT+2, on CPU $1
  DATABASE_URL="$DATABASE" PORT=$((PORT + 2)) LOG_LEVEL=warn ADMIN_API_KEY=$AGENTGATE_API_KEY \
    taskset -c "$1" "$BIN" serve >/dev/null 2>"$WORK/server2.log" &
  PID2=$!
  for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$((PORT + 2))/health" >/dev/null && return 0; sleep 0.05; done
  echo "second replica did not start" >&2; cat "$WORK/server2.log" >&2; exit 1
}
stop_server() {
  kill "$PID"; wait "$PID" || true; PID=
  if [ -n "$PID2" ]; then kill "$PID2"; wait "$PID2" || true; PID2=; fi
}

# make_key RATE_LIMIT: creates a key that may create requests, with that rateLimit (or null); prints its secret.
make_key() {
  curl -sf -X POST "$URL/api/keys" -H "Authorization: Bearer $AGENTGATE_API_KEY" -H 'Content-Type: application/json' \
    -d "{\"name\":\"bench\",\"scopes\":[\"request:create\"],\"rateLimit\":$1}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])'
}

# cpu_ticks PID: user + system CPU time the process has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# worker_ticks PID: the same for the process's webhook-worker thread (0 when it has none).
worker_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    [ "$(cat "$t/comm")" = webhook-worker ] && { awk '{print $14 + $15}' "$t/stat"; return; }
  done
  echo 0
}

# run_wrk NAME SCRIPT CONNECTIONS: one wrk run, its raw output kept, one summary line printed.
run_wrk() {
  local name=$1 script=$2 c=$3 file="$OUT/$1-c$3.txt"
  taskset -c 1 wrk -t1 -c"$c" -d"$DUR" --latency -s "bench/$script" "$URL" >"$file"
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec/ {print $2}' "$file")
  p50=$(awk '$1=="50%" {print $2}' "$file")
  p99=$(awk '$1=="99%" {print $2}' "$file")
  errors=$(awk '/Non-2xx/ {print $NF}' "$file")
  printf '%-8s c=%-3s %10s req/s   p50 %-9s p99 %-9s %s\n' "$name" "$c" "$rps" "$p50" "$p99" \
    "${errors:+NON-2XX: $errors}"
}

for scenario in $SCENARIOS; do
  case $scenario in
    startup)
      python3 bench/startup.py "$BIN" "$WORK/startup.sqlite" "$PORT" ;;
    create)
      for c in $CONNS; do start_server; run_wrk create create.lua "$c"; stop_server; done ;;
    get|list)
      start_server
      python3 bench/seed.py "$PORT" 10000
      python3 bench/ids.py "$WORK/db.sqlite" "$WORK/ids.txt" >/dev/null
      for c in $CONNS; do
        if [ "$scenario" = get ]; then IDS_FILE="$WORK/ids.txt" run_wrk get get.lua "$c"; else run_wrk list list.lua "$c"; fi
      done
      stop_server ;;
    decide)
      for c in $CONNS; do
        start_server
        # Seed more pending requests than one run can decide.
        taskset -c 1 wrk -t1 -c64 -d"$DUR" -s bench/create.lua "$URL" >/dev/null
        taskset -c 1 wrk -t1 -c64 -d"$DUR" -s bench/create.lua "$URL" >/dev/null
        echo "decide: $(python3 bench/ids.py "$WORK/db.sqlite" "$WORK/ids.txt") pending requests seeded" >&2
        IDS_FILE="$WORK/ids.txt" run_wrk decide decide.lua "$c"
        stop_server
      done ;;
    wait)
      for n in 1 100 1000; do start_server; taskset -c 1 "$WAITBENCH" "$PORT" "$n" "$PID"; stop_server; done
      # The floor: the same client against a server that only holds the waits and writes the answers
      # (`waitfloor`), on the same core; what the machine's TCP costs whatever the server.
      for n in 1 100 1000; do
        taskset -c 0 "$WAITFLOOR" "$PORT" & PID=$!
        for _ in $(seq 1 200); do curl -sf "$URL/health" >/dev/null && break; sleep 0.05; done
        echo -n "floor:  "; taskset -c 1 "$WAITBENCH" "$PORT" "$n" "$PID"
        kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
      done ;;
    kill9)
      # Every acknowledged create must survive kill -9: rows in the file >= 201s wrk received.
      start_server
      taskset -c 1 wrk -t1 -c64 -d6s -s bench/create.lua "$URL" >"$OUT/kill9-wrk.txt" 2>&1 &
      WRK=$!
      sleep 3
      kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=
      wait "$WRK" || true
      acked=$(awk '/requests in/ {print $1}' "$OUT/kill9-wrk.txt")
      rows=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from approval_requests').fetchone()[0])" "$WORK/db.sqlite")
      echo "kill -9 during creates: $acked responses received by wrk, $rows rows in the database"
      [ "$rows" -ge "$acked" ] || { echo "LOST ACKNOWLEDGED CREATES" >&2; exit 1; } ;;
    webhooks)
      # Create throughput without and with three webhooks subscribed to request.created (a local receiver on
      # CPU 1 with wrk), alternating for ROUNDS rounds; the gateway's CPU per create split into the API's threads
      # and the (lower-priority) webhook worker's; then the rate at which the backlog of signed deliveries drains
      # once the load stops.
      RPORT=$((PORT + 1))
      taskset -c 1 node bench/receiver.mjs "$RPORT" & RECEIVER=$!
      for round in $(seq 1 "$ROUNDS"); do
        for hooks in 0 3; do
          start_server
          [ "$hooks" = 0 ] || python3 bench/webhooks.py subscribe "$PORT" "$RPORT" "$hooks"
          received=$(python3 bench/webhooks.py count "$RPORT")
          before=$(cpu_ticks "$PID"); worker_before=$(worker_ticks "$PID")
          run_wrk "create-${hooks}wh" create.lua 64
          worker=$(( $(worker_ticks "$PID") - worker_before )); api=$(( $(cpu_ticks "$PID") - before - worker ))
          created=$(curl -sf -H "Authorization: Bearer $AGENTGATE_API_KEY" "$URL/api/requests?limit=1" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["pagination"]["total"])')
          awk -v a="$api" -v w="$worker" -v hz="$(getconf CLK_TCK)" -v n="$created" -v r="$round" 'BEGIN {
            printf "         round %d: API threads %.1f us CPU per create, webhook worker %.1f us\n", r,
              a / hz * 1e6 / n, w / hz * 1e6 / n }'
          if [ "$hooks" != 0 ] && [ "$round" = "$ROUNDS" ]; then
            python3 bench/webhooks.py drain "$RPORT" $((received + created * hooks))
          fi
          stop_server
        done
      done
      kill $RECEIVER; RECEIVER= ;;
    ratelimit)
      # Creates with a key without a limit, with a limit never reached (in memory), and the same with REDIS_URL
      # (a redis-server of its own, on the load generator's CPU, as a remote Redis would be off the gateway's).
      # The variants alternate for ROUNDS rounds, so drift in a shared VM's speed hits them alike.
      redis_port=$((PORT + 1))
      taskset -c 1 redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
      REDIS_PID=$!
      for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
      for round in $(seq 1 "$ROUNDS"); do
        for c in $CONNS; do
          for variant in none memory redis; do
            case $variant in
              none) SERVER_ENV= limit=null ;;
              memory) SERVER_ENV= limit=1000000000 ;;
              redis) SERVER_ENV="REDIS_URL=redis://127.0.0.1:$redis_port REDIS_KEY_PREFIX=bench$round:" limit=1000000000 ;;
            esac
            start_server
            key=$(make_key "$limit")
            before=$(cpu_ticks "$PID")
            AGENTGATE_API_KEY=$key run_wrk "ratelimit-$variant" create.lua "$c"
            # Throughput on a shared VM drifts; the gateway's CPU time per request is the steadier cost figure.
            ticks=$(( $(cpu_ticks "$PID") - before ))
            requests=$(awk '/requests in/ {print $1}' "$OUT/ratelimit-$variant-c$c.txt")
            awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$requests" -v r="$round" \
              'BEGIN { printf "         round %d: gateway CPU %.1f us per request\n", r, t / hz * 1e6 / n }'
            stop_server
          done
        done
      done
      SERVER_ENV=
      kill "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; REDIS_PID= ;;
    postgres)
      # Create throughput and latency at 64 connections: SQLite, PostgreSQL with one replica, and PostgreSQL with
      # two replicas sharing the load (two wrk processes, 32 connections each), alternating for ROUNDS rounds.
      : "${BENCH_DATABASE_URL:?set BENCH_DATABASE_URL to a PostgreSQL server URL}"
      pg_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/agentgate_bench")))' "$BENCH_DATABASE_URL")
      for round in $(seq 1 "$ROUNDS"); do
        DATABASE= ; start_server; run_wrk "sqlite-r$round" create.lua 64; stop_server
        DATABASE=$pg_url; start_server; run_wrk "pg1-r$round" create.lua 64; stop_server
        start_server; start_second 1
        taskset -c 1 wrk -t1 -c32 -d"$DUR" --latency -s bench/create.lua "http://127.0.0.1:$((PORT + 2))" \
          >"$OUT/pg2b-r$round-c32.txt" &
        other=$!
        run_wrk "pg2a-r$round" create.lua 32
        wait "$other"
        awk '/^Requests\/sec/ {rps = $2} $1=="50%" {p50 = $2} $1=="99%" {p99 = $2}
             END {printf "pg2b-r%s c=32  %10s req/s   p50 %-9s p99 %s\n", r, rps, p50, p99}' r="$round" \
          "$OUT/pg2b-r$round-c32.txt"
        stop_server
        DATABASE=
      done ;;
    xwait)
      # Decision-to-waiter latency across replicas: waiters on replica B, the decision made on replica A.
      : "${BENCH_DATABASE_URL:?set BENCH_DATABASE_URL to a PostgreSQL server URL}"
      DATABASE=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/agentgate_bench")))' "$BENCH_DATABASE_URL")
      for n in 1 100 1000; do
        # Both replicas on CPU 0, the client alone on CPU 1 (as in `wait`).
        start_server; start_second 0
        taskset -c 1 "$WAITBENCH" "$((PORT + 2))" "$n" "$PID2" "$PORT"
        stop_server
      done
      DATABASE= ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
done
