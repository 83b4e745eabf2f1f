#!/usr/bin/env bash
# Installs a built tree into a temporary prefix and uses it as a user would
# (see tests/install/tests.cmake):
#   - `cmake --install BUILD --prefix TMP` puts the headers, liborbit.so
#     (with soname liborbit.so.MAJOR), the `orbit` command and orbit.pc in
#     place;
#   - pkg-config, pointed at TMP's pkgconfig directory, reports VERSION and
#     gives the flags that compile and link hello.c, which then runs against
#     the installed library (LD_LIBRARY_PATH) on each STORE given;
#   - the installed `orbit` runs without LD_LIBRARY_PATH (its RPATH is
#     $ORIGIN/../<libdir>) and loads the installed liborbit, not the build
#     tree's.
# Usage: test_install.sh BUILD_DIR CC VERSION STORE... ; extra compiler
# flags for hello.c (the sanitizer flags of a sanitizer build) come in
# $ORBIT_INSTALL_CFLAGS. STORE may contain {tmp}, replaced by a fresh
# directory. Exits non-zero after the first failed check, naming it.
set -uo pipefail

BUILD=${1:?usage: test_install.sh BUILD_DIR CC VERSION STORE...}
CC=${2:?}
VERSION=${3:?}
shift 3
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/orbit-install-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
unset LD_LIBRARY_PATH ORBIT_STORE
PREFIX=$TMP/prefix

fail() {
  echo "FAIL: $*" >&2
  [ -s "$TMP/log" ] && { echo "--- output:" >&2; tail -40 "$TMP/log" >&2; }
  exit 1
}

cmake --install "$BUILD" --prefix "$PREFIX" >"$TMP/log" 2>&1 || fail "cmake --install"

for h in error.h buf.h kv.h provider.h codec.h record.h strings.h orbit.h; do
  [ -f "$PREFIX/include/orbit/$h" ] || fail "include/orbit/$h not installed"
done
[ -x "$PREFIX/bin/orbit" ] || fail "bin/orbit not installed"

# lib/ or a multiarch lib/<triplet>/, whichever GNUInstallDirs chose.
pc=$(find "$PREFIX" -name orbit.pc -path '*/pkgconfig/*' | head -1)
[ -n "$pc" ] || fail "orbit.pc not installed"
PCDIR=$(dirname "$pc")
LIBDIR=$(dirname "$PCDIR")
major=${VERSION%%.*}
[ -f "$LIBDIR/liborbit.so.$VERSION" ] || fail "liborbit.so.$VERSION not in $LIBDIR"
[ -L "$LIBDIR/liborbit.so.$major" ] || fail "liborbit.so.$major link missing"
[ -L "$LIBDIR/liborbit.so" ] || fail "liborbit.so link missing"
if command -v readelf >/dev/null; then
  readelf -d "$LIBDIR/liborbit.so.$VERSION" >"$TMP/log" 2>&1
  grep -q "Library soname: \[liborbit.so.$major\]" "$TMP/log" || fail "soname is not liborbit.so.$major"
  # Only the public API is exported: no library-private orbit__ symbol.
  readelf --dyn-syms -W "$LIBDIR/liborbit.so.$VERSION" >"$TMP/log" 2>&1
  if awk '$7 != "UND" && $8 ~ /^orbit__/' "$TMP/log" | grep -q .; then
    fail "liborbit.so exports library-private orbit__ symbols"
  fi
  awk '$7 != "UND" && $8 == "orbit_kv_open"' "$TMP/log" | grep -q . || fail "liborbit.so does not export orbit_kv_open"
fi

export PKG_CONFIG_PATH=$PCDIR${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
got=$(pkg-config --modversion orbit 2>"$TMP/log") || fail "pkg-config --modversion orbit"
[ "$got" = "$VERSION" ] || fail "pkg-config says version $got, expected $VERSION"
flags=$(pkg-config --cflags --libs orbit 2>"$TMP/log") || fail "pkg-config --cflags --libs orbit"
case " $flags " in *" -I$PREFIX/include "*) ;; *) fail "pkg-config flags [$flags] lack -I$PREFIX/include";; esac

# shellcheck disable=SC2086  # word splitting of the flags is intended
"$CC" -std=c11 -Wall -Werror ${ORBIT_INSTALL_CFLAGS:-} -o "$TMP/hello" "$HERE/hello.c" $flags \
  >"$TMP/log" 2>&1 || fail "compiling hello.c with: $flags"

stores=()
n=0
for s in "$@"; do
  n=$((n + 1))
  mkdir -p "$TMP/store$n"
  stores+=("${s//\{tmp\}/$TMP/store$n/db}")
done
LD_LIBRARY_PATH=$LIBDIR "$TMP/hello" "${stores[@]}" >"$TMP/log" 2>&1 || fail "hello ${stores[*]}"
cat "$TMP/log"

# The installed command finds the installed library on its own.
if command -v ldd >/dev/null; then
  ldd "$PREFIX/bin/orbit" >"$TMP/log" 2>&1
  loaded=$(awk -v l="liborbit.so.$major" '$1 == l && $2 == "=>" {print $3}' "$TMP/log")
  [ -n "$loaded" ] && [ "$(realpath "$loaded")" = "$(realpath "$LIBDIR/liborbit.so.$major")" ] ||
    fail "installed orbit loads [$loaded], not $LIBDIR/liborbit.so.$major"
fi
"$PREFIX/bin/orbit" --store memory: help >"$TMP/log" 2>&1 || fail "installed orbit help"
# On a persistent store it reads what hello.c wrote through the strings model.
for s in "${stores[@]}"; do
  case $s in memory:*) continue;; esac
  "$PREFIX/bin/orbit" --store "$s" kv get hello >"$TMP/log" 2>&1 || fail "installed orbit --store $s kv get hello"
  [ "$(cat "$TMP/log")" = "orld" ] || fail "installed orbit kv get printed [$(cat "$TMP/log")], expected [orld]"
done
echo "install: ok ($PREFIX, pkg-config $flags)"
