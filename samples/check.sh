#!/usr/bin/env bash
# check.sh: end-to-end checks of the network samples, run by `meson test`.
#
#   usage: samples/check.sh BUILD_DIR
#
# echo_server: echo_client gets every line back, with 1 and 2 workers. After
# SIGTERM or SIGINT it refuses new connections, keeps echoing on an open one,
# and exits 0 as soon as that closes, or after its 5 s drain if it stays open.
# http_hello and echo_server --http: a GET gets the fixed 200 (keep-alive, and
# pipelined), a malformed or oversized request gets 400 and a close. With
# weft_loadgen built (-Dbench), a short load in both modes must see no error.
# Bad arguments, a port already taken and a refused client each end with a
# clear message and a failing status. Every wait is bounded.
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

# now_ms: a monotonic-enough clock in milliseconds, for the drain bounds.
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# stop SIGNAL [release|hold]: sends SIGNAL; the server must log that it stopped
# accepting, refuse new connections, and exit 0. With `release` the connection
# on fd 4 must still echo during the drain, then it closes and the server must
# exit well before its 5 s drain ends; with `hold` it stays open, and the
# server must wait out the drain (about 5 s, not much more) before it exits.
stop() {
    local sig=$1 mode=${2:-} t0 took line
    t0=$(now_ms)
    kill -"$sig" "$pid"
    for _ in $(seq 50); do
        grep -q "stopped accepting" "$work/err" && break
        sleep 0.1
    done
    grep -q "stopped accepting" "$work/err" || fail "no 'stopped accepting' within 5 s of SIG$sig"
    if timeout 2 bash -c "exec 5<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
        fail "a new connection was accepted after SIG$sig"
    fi
    if [ "$mode" = release ]; then
        printf 'still here\n' >&4
        IFS= read -r -t 3 line <&4 || fail "no echo on an open connection during the drain"
        [ "$line" = "still here" ] || fail "drain echo: got '$line'"
        exec 4<&-
    fi
    for _ in $(seq 80); do
        if ! kill -0 "$pid" 2>/dev/null; then
            local rc=0
            wait "$pid" || rc=$?
            pid=""
            took=$(( $(now_ms) - t0 ))
            [ $rc = 0 ] || fail "server exited with status $rc after SIG$sig"
            if [ "$mode" = release ] && [ $took -ge 4000 ]; then
                fail "server took ${took} ms to exit after its last connection closed"
            fi
            if [ "$mode" = hold ] && [ $took -lt 4500 ]; then
                fail "server exited after ${took} ms, before its 5 s drain, with a connection open"
            fi
            return 0
        fi
        sleep 0.1
    done
    fail "server still running 8 s after SIG$sig"
}

# http_exchange BYTES: sends raw bytes to the server, prints what comes back
# until the server closes; after 3 s without a close it appends NO-CLOSE.
http_exchange() {
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf '%b' "$1" >&3
    timeout 3 cat <&3 || echo "NO-CLOSE"
    exec 3<&-
}

# expect_error STATUS PATTERN CMD...: CMD must exit with STATUS (no input) and
# say PATTERN on stderr.
expect_error() {
    local want=$1 pattern=$2 rc=0
    shift 2
    timeout 10 "$@" </dev/null >/dev/null 2>"$work/bad" || rc=$?
    [ $rc = "$want" ] || fail "$*: exit status $rc, expected $want"
    grep -q -- "$pattern" "$work/bad" || fail "$*: no '$pattern' in: $(cat "$work/bad")"
}

# Bad input: a clear message and a failing status, nothing started.
expect_error 2 "bad value for --port" "$samples/echo_server" --port abc
expect_error 2 "bad value for --threads" "$samples/echo_server" --port 0 --threads 0
expect_error 2 "unknown argument" "$samples/echo_server" --port 0 --bogus
expect_error 2 "usage: echo_client" "$samples/echo_client" no-port-here
echo "ok   bad arguments"

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
    # The port taken: a second server says so and fails.
    expect_error 1 "Address already in use" "$samples/echo_server" --port "$port"
    exec 4<>"/dev/tcp/127.0.0.1/$port"  # open across the signal
    # SIGTERM with the connection released during the drain; SIGINT with it
    # held open through the whole drain.
    if [ "$threads" = 1 ]; then stop TERM release; else stop INT hold; exec 4<&-; fi
    # Nobody listens there now: the client is refused, and says so.
    expect_error 1 "Connection refused" "$samples/echo_client" "127.0.0.1:$port"
    echo "ok   echo_server --threads $threads"
done

hello=$'HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!'
bad=$'HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nBad Request'
huge="GET / HTTP/1.1\r\nX-Big: $(head -c 9000 /dev/zero | tr '\0' a)\r\n\r\n"
for server in "http_hello" "echo_server --http"; do
    # shellcheck disable=SC2086 # the name and its flag, split on purpose
    start "$samples/"$server --threads 2
    got=$(http_exchange 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    [ "$got" = "$hello" ] || fail "$server: GET: unexpected answer: $got"
    got=$(http_exchange 'GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n')
    [ "$got" = "$hello$hello" ] || fail "$server: two pipelined GETs: unexpected answer: $got"
    # A malformed request and one whose head passes 8 KiB: 400, then a close.
    got=$(http_exchange 'this is not http\r\n\r\n')
    [ "$got" = "$bad" ] || fail "$server: malformed request: expected 400 and a close, got: $got"
    got=$(http_exchange "$huge")
    [ "$got" = "$bad" ] || fail "$server: oversized request: expected 400 and a close, got: $got"
    # A keep-alive connection stays open after its answer.
    got=$(http_exchange 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    [ "$got" = "${hello}NO-CLOSE" ] || fail "$server: keep-alive GET: unexpected answer: $got"
    if [ -x "$loadgen" ]; then
        timeout 30 "$loadgen" --port "$port" --mode http --conns 20 --threads 2 --warmup 0.2 \
            --duration 1 >"$work/lg" || fail "$server: weft_loadgen http: $(cat "$work/lg")"
    fi
    stop TERM
    echo "ok   $server"
done
