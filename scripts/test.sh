#!/usr/bin/env bash
# Builds Grove and runs the whole test suite. Installs what it needs first (idempotent).
#
#   scripts/test.sh           CI build (-Werror) + all tests, bounded fuzzing, and the same suite
#                             again under AddressSanitizer + UndefinedBehaviorSanitizer
#   scripts/test.sh --quick   skip the sanitizer build
#   SIM_SEEDS=n, FUZZ_RUNS=n  size of the simulation and fuzzing runs
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-2}
SANITIZE=1
case "${1:-}" in
  --quick) SANITIZE=0 ;;
  "") ;;
  *) echo "usage: scripts/test.sh [--quick]" >&2; exit 2 ;;
esac

step() { printf '\n==> %s\n' "$*"; }

step "installing dependencies"
bash deploy/install-deps.sh
# The browser tests (the relay's console, the peer's web app) drive chromium with playwright-core,
# pinned in each folder's package-lock.json. Installed again only when a lock file changed; from
# npm's cache when it can (offline).
for browser_npm in tests/console tests/web; do
  if ! cmp -s "$browser_npm/package-lock.json" "$browser_npm/node_modules/.grove-installed-lock" 2>/dev/null; then
    if npm ci --prefix "$browser_npm" --prefer-offline --no-audit --no-fund --silent; then
      cp "$browser_npm/package-lock.json" "$browser_npm/node_modules/.grove-installed-lock"
    else
      echo "test.sh: npm ci in $browser_npm failed; its browser test will fail until it succeeds" >&2
    fi
  fi
done
# Shared by all clones on this machine; BASEDIR makes paths relative so they hit the same entries.
export CCACHE_DIR=${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/grove-ccache}
export CCACHE_BASEDIR=$ROOT
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-2G}

step "formatting check (clang-format)"
unformatted=$(git ls-files '*.cc' '*.h' | xargs clang-format --dry-run 2>&1 | grep -c 'warning:' || true)
if [ "$unformatted" != "0" ]; then
  git ls-files '*.cc' '*.h' | xargs clang-format --dry-run 2>&1 | grep 'warning:' | head -20
  echo "clang-format: $unformatted places differ; run: git ls-files '*.cc' '*.h' | xargs clang-format -i"
  exit 1
fi

run_suite() {
  local dir=$1; shift
  step "configuring $dir ($*)"
  cmake -S . -B "$dir" -G Ninja -DGROVE_WERROR=ON "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; exit 1; }
  step "building $dir"
  cmake --build "$dir" -j "$JOBS"
  step "testing $dir"
  ctest --test-dir "$dir" --output-on-failure -j "$JOBS" ${CTEST_EXCLUDE:+-E "$CTEST_EXCLUDE"}
}

mkdir -p build
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo

step "fuzzing the delta decoder and apply path (libFuzzer, bounded)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DGROVE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ >build-fuzz.configure.log 2>&1 || { cat build-fuzz.configure.log; exit 1; }
cmake --build build-fuzz -j "$JOBS" --target fuzz_delta
mkdir -p build-fuzz/corpus
build-fuzz/tests/fuzz_delta -runs="${FUZZ_RUNS:-20000}" -max_len=4096 -seed=1 \
  build-fuzz/corpus tests/fuzz/corpus 2>&1 | tail -3

if [ "$SANITIZE" = "1" ]; then
  # Fewer simulation seeds here: the sanitized build is several times slower. The browser tests
  # (they check pages and scripts; the peer code they reach runs in the integration tests here
  # too) and the benchmarks' smoke runs (timing, not memory safety) run in the build above only:
  # under the sanitizers each browser test took about 90 s of a run meant to stay short.
  SIM_SEEDS=${SIM_SEEDS_SANITIZE:-300} CTEST_EXCLUDE='_browser$|^bench_' \
    run_suite build-asan -DGROVE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
fi
step "all tests passed"
