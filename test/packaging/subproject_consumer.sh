#!/usr/bin/env bash
# pkg_subproject: weft used as a Meson subproject.
#
# Copies consumer_subproject/ to a temporary directory, links this weft source
# tree in as its subprojects/weft, builds and runs the consumer, and checks
# that weft's own tests, benchmarks and samples stay out of the parent's build
# (the feature options default to off in a subproject).
#
# Usage: subproject_consumer.sh WEFT_SOURCE_ROOT
set -euo pipefail

src=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$here/common.sh"
make_workdir

cp -r "$here/consumer_subproject" "$work/consumer"
mkdir "$work/consumer/subprojects"
ln -s "$src" "$work/consumer/subprojects/weft"

run meson setup "${meson_setup_flags[@]}" "$work/build" "$work/consumer"
run meson compile -C "$work/build"

out=$(RUN_LIMIT=60 run "$work/build/consumer") || fail "the consumer failed: $out"
expect_line "$out" "$consumer_expected"

# The parent project gets weft's library and nothing else: no target may come
# from weft's test/, bench/ or samples/ folders.
meson introspect --targets "$work/build" >"$work/targets.json"
python3 - "$work/targets.json" <<'PY' || fail "unexpected targets in the parent build"
import json, sys
targets = json.load(open(sys.argv[1]))
weft = [t for t in targets if "/subprojects/weft/" in t["defined_in"]]
for t in targets:
    print(f"  target {t['name']:<24} from {t['defined_in']}")
if not any("/subprojects/weft/lib/" in t["defined_in"] for t in weft):
    sys.exit("no library target from subprojects/weft/lib")
extra = [t["name"] for t in weft
         if any(f"/subprojects/weft/{d}/" in t["defined_in"] for d in ("test", "bench", "samples"))]
if extra:
    sys.exit(f"weft's tests, benchmarks or samples were built in a subproject: {extra}")
PY

echo "PASS: weft builds and runs as a Meson subproject"
