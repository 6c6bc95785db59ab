#!/usr/bin/env bash
# readme_quote: README.md's first C++ block must be readme_example.cpp from its
# first #include on, so the example that the suite compiles and runs is the one
# the README shows.
#
# Usage: readme_quote.sh README.md readme_example.cpp
set -euo pipefail

quoted=$(awk '/^```cpp$/ && !seen { inside = 1; seen = 1; next } inside && /^```$/ { exit } inside' "$1")
source=$(sed -n '/^#include/,$p' "$2")
if [[ $quoted != "$source" ]]; then
  echo "FAIL: README.md's example differs from $2:" >&2
  diff -u <(printf '%s\n' "$source") <(printf '%s\n' "$quoted") >&2 || true
  exit 1
fi
echo "PASS: README.md quotes $2"
