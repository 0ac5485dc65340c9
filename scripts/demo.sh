#!/usr/bin/env bash
# Builds Grove and runs its demo: three grove-peer processes on loopback sharing a sample
# workspace, until Ctrl-C. Installs what it needs first (idempotent).
#   scripts/demo.sh [--dir DIR] [--port BASE]     (see scripts/mesh-demo.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
echo "==> installing dependencies"
bash deploy/install-deps.sh
export CCACHE_DIR=${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/grove-ccache}
export CCACHE_BASEDIR=$PWD
echo "==> building (first time: a few minutes)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >build.configure.log 2>&1 ||
  { cat build.configure.log; exit 1; }
cmake --build build -j "$JOBS" --target grove grove-peer
echo "==> running the demo"
exec scripts/mesh-demo.sh build/bin "$@"
