#!/usr/bin/env bash
# pkg_install: weft installed into a prefix and used through pkg-config.
#
# Configures this weft source tree with --prefix in a temporary directory,
# installs it, checks what was installed (the public headers under
# include/weft/, none of lib/'s internal headers, nothing but the library, its
# headers and weft.pc, and the hook library with weft_hook.pc), compiles each public header on its own, builds the
# consumer with `c++ $(pkg-config --cflags --libs weft)` and runs it.
#
# Usage: install_pkgconfig.sh WEFT_SOURCE_ROOT
set -euo pipefail

src=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$here/common.sh"
make_workdir
prefix="$work/prefix"
cxx=${CXX:-c++}

run meson setup "${meson_setup_flags[@]}" "$work/build" "$src" --prefix="$prefix" \
  -Dtests=disabled -Dbench=disabled -Dsamples=disabled
run meson compile -C "$work/build"
run meson install -C "$work/build" --quiet

echo "installed files:"
(cd "$prefix" && find . \( -type f -o -type l \) | sort | sed 's/^/  /')

# weft.pc sits in the libdir Meson chose (lib/x86_64-linux-gnu on Debian).
mapfile -t pcs < <(find "$prefix" -path '*/pkgconfig/weft.pc')
[[ ${#pcs[@]} -eq 1 ]] || fail "expected one weft.pc under the prefix, found ${#pcs[@]}"
pcdir=$(dirname "${pcs[0]}")
libdir=$(dirname "$pcdir")
export PKG_CONFIG_PATH="$pcdir"

# Headers: exactly the files of include/weft/, installed under include/weft/.
diff -u <(cd "$src/include" && find weft -type f | sort) \
        <(cd "$prefix/include" && find . -type f | sed 's|^\./||' | sort) \
  || fail "installed headers differ from include/weft/"

# Nothing from lib/ is installed: no installed file is a copy of one of lib/'s
# headers or sources (the checks above and below also keep every installed file
# inside include/weft/ and the libdir).
while IFS= read -r internal; do
  while IFS= read -r same_name; do
    ! cmp -s "$internal" "$same_name" || fail "internal file $internal was installed as $same_name"
  done < <(find "$prefix" -type f -name "$(basename "$internal")")
done < <(find "$src/lib" -type f \( -name '*.hpp' -o -name '*.h' -o -name '*.ipp' -o -name '*.cpp' \))

# Nothing else: only include/weft/, the libraries (weft, and the hook when
# built) and their pkg-config files.
stray=$(cd "$prefix" && find . \( -type f -o -type l \) \
  ! -path './include/weft/*' \
  ! -path "./${libdir#"$prefix"/}/libweft.*" \
  ! -path "./${libdir#"$prefix"/}/libweft_hook.*" \
  ! -path "./${pcdir#"$prefix"/}/weft.pc" \
  ! -path "./${pcdir#"$prefix"/}/weft_hook.pc")
[[ -z $stray ]] || fail "unexpected installed files: $stray"

# pkg-config answers, with the project's version, and its private requirements
# (for static linking) resolve.
version=$(meson introspect --projectinfo "$work/build" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
[[ $(pkg-config --modversion weft) == "$version" ]] || fail "weft.pc version is not $version"
echo "+ pkg-config --cflags --libs weft: $(pkg-config --cflags --libs weft)"
echo "+ pkg-config --static --libs weft: $(pkg-config --static --libs weft)"
pkg-config --print-errors --exists weft || fail "weft.pc does not resolve"
pkg-config --static --libs weft >/dev/null || fail "weft.pc's private requirements do not resolve"
if [[ -f $pcdir/weft_hook.pc ]]; then
  echo "+ pkg-config --libs weft_hook: $(pkg-config --libs weft_hook)"
  pkg-config --print-errors --exists weft_hook || fail "weft_hook.pc does not resolve"
  [[ $(pkg-config --libs weft_hook) == *-lweft_hook* ]] || fail "weft_hook.pc does not link the hook"
fi
read -r -a cflags <<<"$(pkg-config --cflags weft)"
if compgen -G "$libdir/libweft.so*" >/dev/null; then
  read -r -a libs <<<"$(pkg-config --libs weft)"
else
  read -r -a libs <<<"$(pkg-config --static --libs weft)"
fi

# Every installed header compiles on its own, with the flags pkg-config gives.
while IFS= read -r header; do
  echo "<$header>:"
  echo "#include <$header>" | run "$cxx" -std=c++20 -fsyntax-only "${cflags[@]}" -x c++ - \
    || fail "<$header> does not compile on its own"
done < <(cd "$prefix/include" && find weft -name '*.hpp' | sort)

run "$cxx" -std=c++20 -O1 -o "$work/consumer" "$here/consumer_subproject/consumer.cpp" \
  "${cflags[@]}" "${libs[@]}"
out=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" RUN_LIMIT=60 \
  run "$work/consumer") || fail "the consumer failed: $out"
expect_line "$out" "$consumer_expected"

echo "PASS: weft installs cleanly and works through pkg-config"
