#!/usr/bin/env bash
# Three grove-peer processes on loopback sharing a sample workspace: the demo behind
# scripts/demo.sh (which builds first). Runs until Ctrl-C, then stops the peers cleanly.
#
#   scripts/mesh-demo.sh BIN_DIR [--dir DIR] [--port BASE] [--check]
#     BIN_DIR  where grove and grove-peer are (build/bin)
#     --dir    keep the devices' data folders there (default: a new temp folder)
#     --port   first of the six ports used (default 7400): alice 7400/7401, bob 7410/7411, ...
#     --check  do everything, verify, stop the peers and exit (for tests)
set -euo pipefail

BIN=${1:?usage: mesh-demo.sh BIN_DIR [--dir DIR] [--port BASE] [--check]}
shift
DIR=""
BASE=7400
CHECK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR=$2; shift 2 ;;
    --port) BASE=$2; shift 2 ;;
    --check) CHECK=1; shift ;;
    *) echo "mesh-demo: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$DIR" ] || DIR=$(mktemp -d "${TMPDIR:-/tmp}/grove-demo.XXXXXX")
mkdir -p "$DIR"
GROVE="$BIN/grove"
NAMES=(alice bob carol)
declare -A SYNC API PID
for i in 0 1 2; do
  n=${NAMES[$i]}
  SYNC[$n]=127.0.0.1:$((BASE + 10 * i))
  API[$n]=127.0.0.1:$((BASE + 10 * i + 1))
done

say() { printf '%s\n' "$*"; }
g() {  # g NAME grove-args...: run the CLI against NAME's peer
  local n=$1; shift
  "$GROVE" "$@" --data "$DIR/$n" --api "${API[$n]}"
}
stop_peers() {
  for n in "${NAMES[@]}"; do
    [ -n "${PID[$n]:-}" ] && kill -TERM "${PID[$n]}" 2>/dev/null || true
  done
  for n in "${NAMES[@]}"; do
    [ -n "${PID[$n]:-}" ] && wait "${PID[$n]}" 2>/dev/null || true
    PID[$n]=""
  done
}
trap 'say ""; say "stopping the peers..."; stop_peers; say "stopped; data kept in $DIR"; exit 0' INT TERM
trap 'stop_peers' EXIT

# gq NAME FILTER grove-args...: true when the command succeeds and FILTER holds on its JSON.
# (jq 1.6 -e exits 0 on empty input, so a failing command must not be piped straight into it.)
gq() {
  local n=$1 filter=$2 out; shift 2
  out=$(g "$n" "$@" --json 2>/dev/null) || return 1
  jq -e "$filter" <<<"$out" >/dev/null
}

# Polls a command until it succeeds (bounded), showing progress.
wait_for() {
  local what=$1; shift
  local tries=0
  printf '  %-44s' "$what"
  until "$@" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ $tries -ge 200 ]; then say "timed out"; return 1; fi
    sleep 0.1
  done
  say "ok"
}

# share_workspace NAME [ws create options...]: alice's workspace NAME (created the first time,
# with bob and carol invited), joined by bob and carol; its id in SHARED. A second run of the demo
# on the same --dir finds everything in place.
share_workspace() {
  local name=$1 n; shift
  SHARED=$(g alice ws list --json | jq -r --arg name "$name" '.[] | select(.name == $name) | .id' |
    head -1)
  if [ -z "$SHARED" ]; then
    SHARED=$(g alice ws create "$name" "$@" --json | jq -r .id)
    for n in bob carol; do
      g alice ws invite "$SHARED" "$("$GROVE" identity --data "$DIR/$n" --json | jq -r .card)" \
        >/dev/null
    done
  fi
  for n in bob carol; do
    if ! g "$n" ws list --json | jq -e --arg ws "$SHARED" '.[] | select(.id == $ws)' >/dev/null; then
      wait_for "$n sees the invitation" gq "$n" ".[] | select(.workspace == \"$SHARED\")" invitations
      g "$n" ws accept "$SHARED" >/dev/null
    fi
  done
}

say "Grove demo: three peers on loopback (data in $DIR)"
for n in "${NAMES[@]}"; do
  [ -f "$DIR/$n/device.key" ] || "$GROVE" init --data "$DIR/$n" --name "$n" >/dev/null
done
say "1. starting the peers (bob connects to alice, carol to bob)"
"$BIN/grove-peer" --data "$DIR/alice" --listen "${SYNC[alice]}" --api "${API[alice]}" \
  2>"$DIR/alice.log" &
PID[alice]=$!
"$BIN/grove-peer" --data "$DIR/bob" --listen "${SYNC[bob]}" --api "${API[bob]}" \
  --connect "${SYNC[alice]}" 2>"$DIR/bob.log" &
PID[bob]=$!
"$BIN/grove-peer" --data "$DIR/carol" --listen "${SYNC[carol]}" --api "${API[carol]}" \
  --connect "${SYNC[bob]}" 2>"$DIR/carol.log" &
PID[carol]=$!
for n in "${NAMES[@]}"; do wait_for "$n's API at ${API[$n]}" g "$n" status; done

say "2. alice creates a workspace and invites bob and carol"
share_workspace "Demo warehouse"
WS=$SHARED

say "3. everyone works at once: alice adds items, bob and carol receive stock"
ITEMS=()
for sku in SKU-001 SKU-002 SKU-003; do
  ITEMS+=("$(g alice record create "$WS" item sku=$sku name="Item $sku" price=12.50EUR --json | jq -r .id)")
done
for item in "${ITEMS[@]}"; do
  wait_for "bob and carol see ${item}" sh -c "'$GROVE' record get '$WS' '$item' --data '$DIR/bob' --api '${API[bob]}' >/dev/null && '$GROVE' record get '$WS' '$item' --data '$DIR/carol' --api '${API[carol]}' >/dev/null"
done
for item in "${ITEMS[@]}"; do
  jobs_=()
  g alice record add "$WS" "$item" stock=5 >/dev/null & jobs_+=($!)
  g bob record add "$WS" "$item" stock=3 >/dev/null & jobs_+=($!)
  g carol record add "$WS" "$item" stock=2 >/dev/null & jobs_+=($!)
  for j in "${jobs_[@]}"; do wait "$j"; done
done

state_of() {  # the state digest NAME's peer computed for the workspace
  curl -sf -H "Authorization: Bearer $(cat "$DIR/$1/api-token")" \
    "http://${API[$1]}/api/v1/workspaces/$WS/digest" | jq -r .state
}
digests_equal() {
  local a b c
  a=$(state_of alice) && b=$(state_of bob) && c=$(state_of carol) &&
    [ -n "$a" ] && [ "$a" = "$b" ] && [ "$b" = "$c" ]
}
say "4. syncing"
wait_for "all three compute the same state" digests_equal
say ""
say "stock on carol's peer (5 from alice + 3 from bob + 2 from carol each):"
g carol record list "$WS"
for item in "${ITEMS[@]}"; do
  stock=$(g carol record get "$WS" "$item" --json | jq -r .fields.stock)
  if [ "$stock" != "10" ]; then say "FAILED: $item has stock $stock on carol, expected 10"; exit 1; fi
done

say ""
say "5. purchasing with the shipped tools: alice orders, bob approves and receives, carol sees stock"
share_workspace "Demo purchasing" --tools inventory,purchasing
PWS=$SHARED
SUPPLIER=$(g alice record create "$PWS" supplier name=ACME --json | jq -r .id)
BOLT=$(g alice record create "$PWS" item sku=BOLT-8 name="Bolt M8" --json | jq -r .id)
PO=$(g alice record create "$PWS" purchase_order number=PO-1 supplier="$SUPPLIER" location=Main --json | jq -r .id)
g alice record create "$PWS" po_line order="$PO" item="$BOLT" quantity=40 unit_price=1.25EUR >/dev/null
g alice record transition "$PWS" "$PO" submit >/dev/null
if g alice record transition "$PWS" "$PO" approve >/dev/null 2>"$DIR/refusal"; then
  say "FAILED: alice approved her own order"; exit 1
fi
say "  alice may not approve her own order: $(sed 's/^grove: //' "$DIR/refusal")"
wait_for "bob sees the submitted order" gq bob '.state == "submitted"' record get "$PWS" "$PO"
for step in approve order receive; do g bob record transition "$PWS" "$PO" "$step" >/dev/null; done
wait_for "carol sees 40 bolts at Main" gq carol '.keyed.on_hand.Main == 40' record get "$PWS" "$BOLT"
say "  bob approved, ordered and received PO-1; carol's peer shows the stock:"
g carol record get "$PWS" "$BOLT"

say ""
say "The peers' APIs (token in DIR/NAME/api-token):"
for n in "${NAMES[@]}"; do
  printf '  %-6s http://%s   sync %s   token %s\n' "$n" "${API[$n]}" "${SYNC[$n]}" "$DIR/$n/api-token"
done
say ""
say "The web app on each peer: open a link in a browser (one-time sign-in, valid 10 minutes):"
declare -A LINK
for n in "${NAMES[@]}"; do
  LINK[$n]=$(g "$n" web-link)
  printf '  %-6s %s\n' "$n" "${LINK[$n]}"
done
say "  another link (each works once): $GROVE web-link --data $DIR/alice --api ${API[alice]}"
say "  (bob: --data $DIR/bob --api ${API[bob]}, carol: --data $DIR/carol --api ${API[carol]})"
if [ "$CHECK" = 1 ]; then
  # Each link opens the app and signs in once; the session cookie then reads the API.
  for n in "${NAMES[@]}"; do
    jar="$DIR/$n.cookies"
    url=${LINK[$n]}
    code=${url#*#login=}
    curl -sf -o /dev/null "${url%%#*}" || { say "FAILED: $n's web app at ${url%%#*}"; exit 1; }
    curl -sf -o /dev/null -c "$jar" -H 'Content-Type: application/json' \
      -d "{\"link\":\"$code\"}" "http://${API[$n]}/api/v1/sessions" ||
      { say "FAILED: $n's link does not sign in"; exit 1; }
    curl -sf -b "$jar" "http://${API[$n]}/api/v1/workspaces" | jq -e 'length >= 2' >/dev/null ||
      { say "FAILED: $n's session cookie does not read the workspaces"; exit 1; }
    rm -f "$jar"
  done
  say "  the three web links sign in"
fi
say ""
say "Try, in another terminal:"
say "  $GROVE record list $WS --data $DIR/bob --api ${API[bob]}"
say "  $GROVE record add $WS ${ITEMS[0]} stock=-1 --data $DIR/carol --api ${API[carol]}"
say "  curl -H \"Authorization: Bearer \$(cat $DIR/alice/api-token)\" http://${API[alice]}/api/v1/events"
say "  curl http://${API[alice]}/metrics"
say "  $GROVE ws tools $PWS --data $DIR/bob --api ${API[bob]}"
say "  $GROVE record list $PWS --state received --data $DIR/carol --api ${API[carol]}"
if [ "$CHECK" = 1 ]; then
  stop_peers
  say "demo check passed"
  exit 0
fi
say ""
say "Peers are running; press Ctrl-C to stop them."
while true; do sleep 1; done
