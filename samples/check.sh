#!/usr/bin/env bash
# check.sh: end-to-end checks of the network samples, run by `meson test`.
#
#   usage: samples/check.sh BUILD_DIR
#
# echo_server: echo_client gets every line back, with 1 and 2 workers; SIGTERM
# with a connection open exits 0, once it closes or after the 5 s drain. http_hello: a GET gets the fixed 200, a
# malformed request gets 400 and a close. With weft_loadgen built (-Dbench),
# a short load in both modes must see no error. Every wait is bounded.
set -euo pipefail

build=${1:?usage: check.sh BUILD_DIR}
samples=$build/samples
loadgen=$build/bench/weft_loadgen
work=$(mktemp -d -t weft-check.XXXXXX)
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "check.sh: FAIL: $*" >&2; [ -s "$work/err" ] && sed 's/^/  server: /' "$work/err" >&2; exit 1; }

# start BIN ARGS...: starts a server on a free port; sets pid and port.
start() {
    "$@" --port 0 >"$work/out" 2>"$work/err" &
    pid=$!
    port=""
    for _ in $(seq 100); do
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$work/out")
        [ -n "$port" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    fail "$* did not print 'listening on 127.0.0.1:PORT'"
}

# stop [release]: SIGTERM, then the server must exit 0 within its 5 s drain
# plus margin. With `release`, the connection on fd 4 closes just after the
# signal, so the drain ends early.
stop() {
    kill -TERM "$pid"
    if [ "${1:-}" = release ]; then sleep 0.2; exec 4<&-; fi
    for _ in $(seq 80); do
        if ! kill -0 "$pid" 2>/dev/null; then
            local rc=0
            wait "$pid" || rc=$?
            pid=""
            [ $rc = 0 ] || fail "server exited with status $rc after SIGTERM"
            return 0
        fi
        sleep 0.1
    done
    fail "server still running 8 s after SIGTERM"
}

# http_exchange BYTES: sends raw bytes to the server, prints what comes back
# until the server closes (or 2 s pass).
http_exchange() {
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf '%b' "$1" >&3
    timeout 2 cat <&3 || true
    exec 3<&-
}

printf 'one\ntwo\n\nthree, the last\n' >"$work/lines"
for threads in 1 2; do
    start "$samples/echo_server" --threads "$threads"
    timeout 20 "$samples/echo_client" "127.0.0.1:$port" <"$work/lines" >"$work/replies" ||
        fail "echo_client exited with status $?"
    cmp -s "$work/lines" "$work/replies" || fail "echo_client replies differ from its input"
    if [ -x "$loadgen" ]; then
        timeout 30 "$loadgen" --port "$port" --mode echo --conns 20 --threads "$threads" \
            --size 1000 --warmup 0.2 --duration 1 >"$work/lg" || fail "weft_loadgen echo: $(cat "$work/lg")"
    fi
    exec 4<>"/dev/tcp/127.0.0.1/$port"  # open across the SIGTERM
    if [ "$threads" = 1 ]; then stop release; else stop; exec 4<&-; fi
    echo "ok   echo_server --threads $threads"
done

start "$samples/http_hello" --threads 2
hello=$'HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!'
got=$(http_exchange 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
[ "$got" = "$hello" ] || fail "GET: unexpected answer: $got"
got=$(http_exchange 'GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n')
[ "$got" = "$hello$hello" ] || fail "two pipelined GETs: unexpected answer: $got"
got=$(http_exchange 'this is not http\r\n\r\n')
[[ $got == "HTTP/1.1 400 Bad Request"* ]] || fail "malformed request: expected 400, got: $got"
if [ -x "$loadgen" ]; then
    timeout 30 "$loadgen" --port "$port" --mode http --conns 20 --threads 2 --warmup 0.2 \
        --duration 1 >"$work/lg" || fail "weft_loadgen http: $(cat "$work/lg")"
fi
stop
echo "ok   http_hello"
