# common.sh: helpers shared by the packaging test scripts (sourced, not run).
# Each script builds weft again from its source tree in a temporary directory
# that is removed on exit, whatever the outcome.

# fail prints a message and ends the test with a failure.
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# run prints a command, then runs it with a time bound (seconds in $RUN_LIMIT,
# default 600) so that a hung build or program fails the test instead of
# stalling it.
run() {
  echo "+ $*"
  timeout --kill-after=10 "${RUN_LIMIT:-600}" "$@"
}

# make_workdir sets $work to a new temporary directory and arranges for its
# removal when the script exits or is stopped (meson test sends SIGTERM on a
# timeout).
make_workdir() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/weft-packaging.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  trap 'exit 143' TERM INT HUP
}

# expect_line fails unless the text in $1 holds the exact line $2.
expect_line() {
  printf '%s\n' "$1"
  grep -qxF -- "$2" <<<"$1" || fail "expected the line '$2'"
}

# The consumer's single output line (see consumer_subproject/consumer.cpp).
consumer_expected='weft consumer: fibers=8 sum=204 unblock=42 in_fiber=1'

# Builds made by these tests never download anything: weft's dependencies are
# the system's, and a wrap that would fetch one is an error here.
meson_setup_flags=(--wrap-mode=nodownload)
