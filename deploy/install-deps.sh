#!/usr/bin/env bash
# Installs every Debian package Grove's build, tests and benchmarks need. Idempotent: packages
# already installed are skipped, and apt-get runs only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  clang clang-format libclang-rt-14-dev
  libssl-dev libsqlite3-dev sqlite3 libprotobuf-dev protobuf-compiler libzstd-dev
  libyaml-cpp-dev libpoco-dev
  libpqxx-dev postgresql  # the relay's store; pg_store_test starts its own server
  libargon2-dev  # the relay's admin console hashes passwords with argon2id
  libgtest-dev libgmock-dev libbenchmark-dev librapidcheck-dev
  jq procps curl
  prometheus  # ships promtool: metrics_test checks our exposition text with it
  nftables iproute2  # nat_traversal and nat_mesh build NAT routers in network namespaces
  chromium  # console_browser drives the relay's web console in it (playwright-core, tests/console)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# Node.js may come from another packaging that bundles npm: only a missing command counts.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
