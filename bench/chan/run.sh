#!/usr/bin/env bash
# Runs the channel, select and mutex microbenchmarks of weft (weft_chan_bench)
# and of its Go (go/) and Tokio (tokio/) counterparts, interleaved (weft go
# tokio, weft go tokio, ...) so that machine drift hits all alike, and ends with
# a table of weft/peer ns_per_op ratios (median over repeats; <1: weft is
# faster). Every run prints one line:
#   bench=<name> impl=<weft|go|tokio> threads=<n> ops=<N> seconds=<t> ns_per_op=<x> peak_rss_kb=<k>
#
# usage: bench/chan/run.sh [--repeat N] [--bench NAME] [--threads N]
#                          [--ours PATH] [--peers-dir DIR] [--rebuild]
#   --bench      one benchmark or a comma-separated list (default: all)
#   --ours       weft_chan_bench to run (default build/bench/chan/weft_chan_bench)
#   --peers-dir  where the Go and Tokio programs are built (default
#                /tmp/weft-chan-peers: never inside the source tree); they are
#                rebuilt when their sources are newer, or with --rebuild.
# Go builds with the standard library only and GOPROXY=off; Tokio builds
# offline against Debian's crates (tokio/.cargo/config.toml).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
repeat=3 only_bench="" only_threads="" rebuild=0
ours=$root/build/bench/chan/weft_chan_bench
P=/tmp/weft-chan-peers
usage() { sed -n '9,17p' "$0" | sed 's/^# //' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
        --repeat) repeat=$2; shift 2 ;;
        --bench) only_bench=$2; shift 2 ;;
        --threads) only_threads=$2; shift 2 ;;
        --ours) ours=$2; shift 2 ;;
        --peers-dir) P=$2; shift 2 ;;
        --rebuild) rebuild=1; shift ;;
        *) usage ;;
    esac
done
die() { echo "run.sh: $*" >&2; exit 1; }
[ -x "$ours" ] || die "$ours missing: meson setup build -Dbench=enabled && ninja -C build bench/chan/weft_chan_bench"
mkdir -p "$P" || die "cannot make $P"

# stale OUT SRCDIR: true when OUT is missing or older than a file under SRCDIR.
stale() {
    [ $rebuild = 1 ] || [ ! -x "$1" ] || [ -n "$(find "$2" -type f -newer "$1" ! -name Cargo.lock | head -1)" ]
}
if stale "$P/chan-go" "$here/go"; then
    command -v go >/dev/null || die "go missing (Debian: apt-get install golang-go)"
    (cd "$here/go" && env GOPROXY=off GOFLAGS=-mod=mod GOCACHE="$P/go-cache" GOPATH="$P/gopath" \
        go build -trimpath -o "$P/chan-go" .) >"$P/go.build.log" 2>&1 ||
        { tail -20 "$P/go.build.log" >&2; die "building the Go peer failed"; }
    echo "built $P/chan-go" >&2
fi
if stale "$P/chan-tokio" "$here/tokio"; then
    command -v cargo >/dev/null || export PATH=${HOME:-/root}/.cargo/bin:$PATH
    command -v cargo >/dev/null || die "cargo missing (Debian: apt-get install cargo librust-tokio-dev ...)"
    # Build a copy: cargo writes Cargo.lock next to Cargo.toml.
    rm -rf "$P/tokio-src" && cp -r "$here/tokio" "$P/tokio-src" || die "cannot copy tokio/ to $P"
    (cd "$P/tokio-src" && env CARGO_TARGET_DIR="$P/cargo" cargo build --release --offline --quiet) \
        >"$P/tokio.build.log" 2>&1 || { tail -30 "$P/tokio.build.log" >&2; die "building the Tokio peer failed"; }
    cp "$P/cargo/release/chan-tokio" "$P/chan-tokio" || die "chan-tokio missing after the build"
    echo "built $P/chan-tokio" >&2
fi

fails=0
out=$(mktemp); trap 'rm -f "$out"' EXIT
run() {  # impl binary args...: one run, bounded in time
    local impl=$1; shift
    local line
    if ! line=$(timeout 300 "$@"); then
        echo "run.sh: FAILED or timed out (300 s): $*" >&2
        fails=$((fails + 1))
    fi
    [ -n "$line" ] || return
    echo "$line"
    echo "$line" | sed "s/^/tag=$impl /" >>"$out"
}
echo "# $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start" >&2
for _ in $(seq "$repeat"); do
    for bench in chan_spsc chan_mpsc chan_mpmc select2 mutex; do
        if [ -n "$only_bench" ]; then case ",$only_bench," in *",$bench,"*) ;; *) continue ;; esac; fi
        for threads in 1 2; do
            [ -n "$only_threads" ] && [ "$threads" != "$only_threads" ] && continue
            run weft "$ours" --bench $bench --threads $threads
            run go "$P/chan-go" --bench $bench --threads $threads
            run tokio "$P/chan-tokio" --bench $bench --threads $threads
        done
    done
done
echo "# load average $(cut -d' ' -f1-3 /proc/loadavg) at end" >&2
echo "# weft/peer, median ns_per_op ratio over repeats (<1: weft is faster); medians in ns per operation"
awk '
function get(k,   i, n, f) { n = split($0, f, " "); for (i = 1; i <= n; i++) if (index(f[i], k "=") == 1) return substr(f[i], length(k) + 2); return "" }
{ t = get("tag"); b = get("bench"); th = get("threads"); key = b " " th
  if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
  n = ++cnt[t, key]; v[t, key, n] = get("ns_per_op") + 0 }
function med(t, key,   n, i, j, x, a) {
  n = cnt[t, key]; if (n == 0) return -1
  for (i = 1; i <= n; i++) a[i] = v[t, key, i]
  for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
END {
  printf "%-10s %7s %10s %10s %10s %8s %8s\n", "bench", "threads", "weft_ns", "go_ns", "tokio_ns", "/go", "/tokio"
  for (k = 1; k <= nk; k++) {
    split(order[k], kk, " "); o = med("weft", order[k]); g = med("go", order[k]); t = med("tokio", order[k])
    os = o > 0 ? sprintf("%.1f", o) : "-"; gs = g > 0 ? sprintf("%.1f", g) : "-"; ts = t > 0 ? sprintf("%.1f", t) : "-"
    rg = (o > 0 && g > 0) ? sprintf("%.2f", o / g) : "-"; rt = (o > 0 && t > 0) ? sprintf("%.2f", o / t) : "-"
    printf "%-10s %7s %10s %10s %10s %8s %8s\n", kk[1], kk[2], os, gs, ts, rg, rt } }' "$out"
[ $fails = 0 ] || { echo "run.sh: $fails run(s) failed" >&2; exit 1; }
