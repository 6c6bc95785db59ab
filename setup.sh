#!/usr/bin/env bash
# setup.sh: install what weft needs from Debian, build it, and run it.
#
#   ./setup.sh demo       build everything in build/, serve samples/http_hello and
#                         drive it for a few seconds with bench/weft_loadgen
#   ./setup.sh test       build everything in build/, run the whole test suite,
#                         then the sanitizer legs; fails if anything failed
#   ./setup.sh sanitize   the sanitizer leg alone (build-asan/)
#   ./setup.sh build      install packages, configure and compile build/ only
#   ./setup.sh deps       install the missing Debian packages only
#
# Packages come from apt (Debian 12); Meson never downloads a dependency here
# (--wrap-mode=nodownload), so the subprojects/*.wrap files stay unused.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

# cmake is how Meson finds doctest: doctest-dev ships a CMake package, no .pc.
packages=(
  g++ meson ninja-build pkg-config cmake
  libboost-context1.81-dev libboost-fiber1.81-dev
  libspdlog-dev doctest-dev
  libhiredis-dev redis-server
)

# build/ holds everything: the library, the tests, the benchmarks, the samples.
build_dir=build
build_opts=(-Dtests=enabled -Dbench=enabled -Dsamples=enabled -Dwrap_mode=nodownload)

# The sanitizer leg builds the library and its tests with AddressSanitizer and
# UndefinedBehaviorSanitizer. Why each option is set, and why there is no
# ThreadSanitizer leg, is explained in README.md ("Sanitizers"): in short,
# Debian's Boost.Context switches stacks without telling the sanitizers, so
# stack instrumentation is off (asan-stack=0) and so is use-after-return.
asan_dir=build-asan
asan_opts=(-Db_sanitize=address,undefined -Dbuildtype=debugoptimized -Db_lundef=false
  -Dcpp_args=--param=asan-stack=0
  -Dtests=enabled -Dbench=disabled -Dsamples=disabled -Dwrap_mode=nodownload)
asan_env=(
  ASAN_OPTIONS=detect_stack_use_after_return=0:detect_leaks=1:handle_segv=1:use_sigaltstack=1:allow_user_segv_handler=1:halt_on_error=1:abort_on_error=1:print_summary=1
  UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1
)

log() { printf '\n==> %s\n' "$*"; }

# as_root runs a command as root, through sudo when not root already.
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "setup.sh: need root (or sudo) to run: $*" >&2
    return 1
  fi
}

# deps installs the packages that are missing; apt-get update runs only then.
deps() {
  local missing=() p
  for p in "${packages[@]}"; do
    if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) != "install ok installed" ]]; then
      missing+=("$p")
    fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "setup.sh: all packages present"
    return 0
  fi
  log "installing ${missing[*]}"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
}

# configure DIR OPTS... sets up a build directory, or applies OPTS to one that
# exists (Meson regenerates only what changed); a directory it cannot reuse
# (another Meson version, a broken setup) is wiped and set up again.
configure() {
  local dir=$1
  shift
  if [[ -f $dir/meson-private/coredata.dat ]]; then
    meson configure "$dir" "$@" || meson setup --wipe "$dir" "$@"
  else
    meson setup "$dir" "$@"
  fi
}

build() {
  deps
  log "configuring $build_dir/"
  configure "$build_dir" "${build_opts[@]}"
  log "compiling $build_dir/"
  meson compile -C "$build_dir"
}

# Results of the test legs, for the closing line.
failed_legs=()

# run_leg NAME DIR MINUTES [VAR=VALUE...] -- [MESON-TEST-ARGS...] runs one leg
# of `meson test` with those environment variables, stopped after MINUTES so
# that hung tests cannot eat CI's 90 minutes, and records whether it passed; a
# failed leg does not stop the others.
run_leg() {
  local name=$1 dir=$2 minutes=$3 vars=()
  shift 3
  while [[ $# -gt 0 && $1 != -- ]]; do
    vars+=("$1")
    shift
  done
  [[ $# -gt 0 ]] && shift
  log "test leg '$name' ($dir/, at most $minutes min)${vars[*]:+ with ${vars[*]}}"
  rm -f "$dir/meson-logs/testlog.json"
  if ! timeout --kill-after=30 "${minutes}m" \
    env "${vars[@]}" meson test -C "$dir" --print-errorlogs "$@"; then
    failed_legs+=("$name")
  fi
}

# count_results prints, for each test that failed, its name, result and the
# end of its output (a long CI log may be shown only in part: its end then
# still says what failed and why), and then, as its last line,
# "N passed, N failed, N skipped" over the legs' logs.
count_results() {
  python3 - "$@" <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        if not line.strip():
            continue
        test = json.loads(line)
        result = test["result"]
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
            tail = (test.get("stdout") or "").splitlines()[-60:]
            print(f"--- failed: {test['name']} in {path.rsplit('/meson-logs', 1)[0]}/: "
                  f"{result} after {test.get('duration', 0):.1f} s, "
                  f"exit {test.get('returncode')}; the end of its output:")
            print("\n".join("  " + t for t in tail))
print(f"weft: {passed} passed, {failed} failed, {skipped} skipped")
PY
}

sanitize_legs() {
  deps
  rm -f "$asan_dir/meson-logs/testlog.json"
  log "configuring and compiling $asan_dir/ (AddressSanitizer + UndefinedBehaviorSanitizer)"
  if configure "$asan_dir" "${asan_opts[@]}" && meson compile -C "$asan_dir"; then
    # The packaging suite rebuilds weft from scratch without sanitizers: skipped.
    run_leg asan "$asan_dir" 25 "${asan_env[@]}" -- --no-suite packaging --timeout-multiplier 2
  else
    failed_legs+=("asan-build")
  fi
}

# finish DIR... prints the failed legs, if any, and then, as the last line,
# the count of test results over the legs run in those build directories;
# it fails if any leg failed.
finish() {
  local logs=() d
  for d in "$@"; do logs+=("$d/meson-logs/testlog.json"); done
  echo
  if [[ ${#failed_legs[@]} -gt 0 ]]; then
    echo "setup.sh: failed: ${failed_legs[*]}"
  fi
  count_results "${logs[@]}"
  [[ ${#failed_legs[@]} -eq 0 ]]
}

usage() {
  sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

case ${1:-} in
  deps) deps ;;
  build) build ;;
  demo)
    build
    log "running samples/demo.sh: http_hello served, driven by bench/weft_loadgen"
    samples/demo.sh "$build_dir"
    ;;
  test)
    start=$SECONDS
    build
    run_leg tests "$build_dir" 30 --
    sanitize_legs
    echo
    echo "setup.sh test: $((SECONDS - start)) s"
    finish "$build_dir" "$asan_dir"
    ;;
  sanitize)
    sanitize_legs
    finish "$asan_dir"
    ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
