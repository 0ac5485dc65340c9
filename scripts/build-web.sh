#!/usr/bin/env bash
# Builds the peer's web app (web/app) into flat files the peer serves under /app/:
#
#   scripts/build-web.sh OUTDIR
#
# index.html, app.js, app.css, icon.svg, manifest.webmanifest, and a gzip sibling of each
# (name.gz, `gzip -9 -n`: no name or time inside, so the output is reproducible). Dependencies
# come from npm, pinned in web/app/package-lock.json; `npm ci` runs only when that lock file
# changed since the last install (a stamp in node_modules), from npm's cache when it can.
# CMake runs this at build time; deploy/install-deps.sh installs node and npm.
set -euo pipefail
OUT=${1:?usage: scripts/build-web.sh OUTDIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
APP=$ROOT/web/app

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "build-web.sh: node and npm are needed to build the web app (web/app); install them" \
       "with deploy/install-deps.sh (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi

STAMP=$APP/node_modules/.grove-installed-lock
if ! cmp -s "$APP/package-lock.json" "$STAMP" 2>/dev/null; then
  echo "build-web.sh: installing the web app's npm dependencies (npm ci in web/app)"
  if ! (cd "$APP" && npm ci --prefer-offline --no-audit --no-fund --silent); then
    echo "build-web.sh: npm ci in web/app failed (is the npm registry or npm's cache reachable?)" >&2
    exit 1
  fi
  cp "$APP/package-lock.json" "$STAMP"
fi

mkdir -p "$OUT"
node "$APP/build.mjs" "$OUT" >/dev/null
for f in "$OUT"/*; do
  case "$f" in *.gz) continue ;; esac
  [ -f "$f" ] && gzip -9 -n -k -f "$f"
done
