#!/usr/bin/env bash
# demo.sh: start the http_hello sample on a free port, load it with weft_loadgen
# for a few seconds, stop it with SIGTERM and check that it shut down cleanly.
#
#   usage: samples/demo.sh [BUILD_DIR]     (default: build)
#   environment: THREADS (server workers, default 2), CONNS (default 64),
#                SECONDS_MEASURED (default 3)
#
# Needs a build configured with -Dsamples=enabled -Dbench=enabled. Every wait
# is bounded; the server is stopped by its own PID on any exit.
set -euo pipefail

build=${1:-build}
threads=${THREADS:-2}
conns=${CONNS:-64}
measured=${SECONDS_MEASURED:-3}
server=$build/samples/http_hello
loadgen=$build/bench/weft_loadgen

for bin in "$server" "$loadgen"; do
    [ -x "$bin" ] || { echo "demo.sh: $bin missing: build with -Dsamples=enabled -Dbench=enabled" >&2; exit 2; }
done

work=$(mktemp -d -t weft-demo.XXXXXX)
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# 1. The server picks a free port and says which on its first line.
"$server" --port 0 --threads "$threads" >"$work/out" 2>"$work/err" &
pid=$!
port=""
for _ in $(seq 100); do  # up to 10 s
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$work/out")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "demo.sh: the server did not start" >&2
    cat "$work/err" >&2
    exit 1
fi
echo "== $server --port 0 --threads $threads: listening on 127.0.0.1:$port"

# 2. Load it: keep-alive HTTP requests from $conns connections.
echo "== $loadgen --port $port --mode http --conns $conns --duration $measured --warmup 1"
timeout $((measured + 30)) "$loadgen" --port "$port" --mode http --conns "$conns" \
    --duration "$measured" --warmup 1 --server-pid "$pid"

# 3. Stop it: SIGTERM, then it must exit 0 within its 5 s drain (+ margin).
kill -TERM "$pid"
rc=""
for _ in $(seq 80); do  # up to 8 s
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" && rc=0 || rc=$?
        break
    fi
    sleep 0.1
done
pid_left=$pid
if [ -z "$rc" ]; then
    echo "demo.sh: the server did not exit within 8 s of SIGTERM" >&2
    exit 1
fi
pid=""
sed 's/^/   server: /' "$work/err"
if [ "$rc" != 0 ]; then
    echo "demo.sh: the server (pid $pid_left) exited with status $rc" >&2
    exit 1
fi
echo "== SIGTERM: the server shut down cleanly (exit 0)"
