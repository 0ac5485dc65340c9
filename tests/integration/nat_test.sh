#!/usr/bin/env bash
# NAT traversal, for real: two peers, each behind its own NAT router, and a relay on the
# "internet", all in network namespaces this script makes (and removes, whatever happens) with
# the functions of nat_lib.sh, which nat_mesh_test.sh shares:
#
#   pub        203.0.113.1    the relay (grove-nat-probe relay), a bridge joining the routers
#   nat-a/b    203.0.113.10/20 on "wan", 10.1.0.1 / 10.2.0.1 on "lan": nftables masquerade on
#              wan, and a filter that drops whatever arrives on wan unsolicited (no RST)
#   host-a/b   10.1.0.2 / 10.2.0.2 (grove-nat-probe peer), default route via their router
#
# Two cases, each on a fresh set of namespaces:
#   cone       plain `masquerade`: Linux keeps the source port when it can, so a port maps to
#              the same public port whatever the destination; TCP simultaneous open must work.
#   symmetric  `masquerade random`: a random public port per destination, so the mapping the
#              relay observed is useless to the other peer; the punch must fail within its
#              deadline and the relay's splice must carry the connection.
# In both the peers then exchange a message over the connection. The script prints which path
# each case took and fails if it is not the expected one.
#
# Usage: nat_test.sh PATH/TO/grove-nat-probe. Needs root (CAP_NET_ADMIN), iproute2, nftables.
set -euo pipefail

PROBE=${1:?usage: nat_test.sh PATH/TO/grove-nat-probe}
# shellcheck source-path=SCRIPTDIR source=nat_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/nat_lib.sh"
nat_init nat_test
RELAY_PORT=7000
PUNCH_MS=3000

declare -A FD=() PID_OF=()

# start NAME NAMESPACE ARGS...: runs the probe there, stdin from a FIFO we hold open.
start() {
  local name=$1 where=$2 fd
  shift 2
  rm -f "$WORK/$name.in" "$WORK/$name.out" "$WORK/$name.err"
  mkfifo "$WORK/$name.in"
  exec {fd}<>"$WORK/$name.in"
  FD[$name]=$fd
  ip netns exec "$(ns "$where")" "$PROBE" "$@" <"$WORK/$name.in" >"$WORK/$name.out" \
    2>"$WORK/$name.err" &
  nat_track $!
  PID_OF[$name]=$!
}

tell() { echo "$2" >&"${FD[$1]}"; }

# finish NAME: tells it to quit and checks it exits cleanly (a sanitizer's report fails it).
finish() {
  local pid=${PID_OF[$1]} rc=0 tries=0
  tell "$1" quit
  while kill -0 "$pid" 2>/dev/null && [ "$tries" -lt 100 ]; do
    sleep 0.05
    tries=$((tries + 1))
  done
  kill -0 "$pid" 2>/dev/null && fail "$1 did not exit within 5 s of quit"
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "$1 exited with status $rc"
}

# await NAME REGEX SECONDS: prints the first line of NAME's output matching REGEX.
await() {
  local deadline=$((SECONDS + $3)) line
  while :; do
    if line=$(grep -m1 -E "$2" "$WORK/$1.out" 2>/dev/null); then
      echo "$line"
      return 0
    fi
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# run_case LABEL MASQUERADE EXPECTED_PATH
run_case() {
  local label=$1 masquerade=$2 expected=$3
  local key_a key_b port_a port_b seen_a seen_b path token
  nat_setup "$masquerade"
  start relay pub relay --listen "$RELAY_IP:$RELAY_PORT"
  await relay '^listening' 5 >/dev/null || fail "$label: the relay did not start"
  start a host-a peer --name a --listen 0.0.0.0:0 --relay "$RELAY_IP:$RELAY_PORT"
  start b host-b peer --name b --listen 0.0.0.0:0 --relay "$RELAY_IP:$RELAY_PORT"
  key_a=$(await a '^key ' 5) || fail "$label: peer a did not start"
  key_b=$(await b '^key ' 5) || fail "$label: peer b did not start"
  key_a=${key_a#key }
  key_b=${key_b#key }
  port_a=$(await a '^listening ' 5) && port_a=${port_a##*:}
  port_b=$(await b '^listening ' 5) && port_b=${port_b##*:}
  seen_a=$(await relay '^observed a ' 10) || fail "$label: peer a never reached the relay"
  seen_b=$(await relay '^observed b ' 10) || fail "$label: peer b never reached the relay"
  seen_a=${seen_a#observed a }
  seen_b=${seen_b#observed b }
  log "$label: a listens on 10.1.0.2:$port_a, the relay sees it as $seen_a"
  log "$label: b listens on 10.2.0.2:$port_b, the relay sees it as $seen_b"

  # Control: the routers really filter. A plain connect from a to b's mapping gets no answer at
  # all (dropped, not refused), so only a punch or the relay can join them.
  local rc=0
  ip netns exec "$(ns host-a)" timeout 1 bash -c "exec 3<>/dev/tcp/${seen_b%:*}/${seen_b##*:}" \
    2>/dev/null || rc=$?
  [ "$rc" -eq 124 ] || fail "$label: a plain connect to b's mapping was not dropped (exit $rc)"
  log "$label: a plain connect from a to $seen_b is dropped by b's router"

  # What a coordinator would do: both punch, a as TLS server. b starts half a second late, as a
  # coordinator's two messages never arrive at once: a's first SYNs die at b's router until b's
  # own SYN opens it.
  tell a "punch $seen_b server $PUNCH_MS $key_b"
  sleep 0.5
  tell b "punch $seen_a client $PUNCH_MS $key_a"
  local wait_s=$((PUNCH_MS / 1000 + 5))
  local got_a got_b
  got_a=$(await a '^(connected|failed punch)' "$wait_s") || fail "$label: a heard nothing of its punch"
  got_b=$(await b '^(connected|failed punch)' "$wait_s") || fail "$label: b heard nothing of its punch"
  log "$label: punch: a: $got_a"
  log "$label: punch: b: $got_b"
  if [[ $got_a == "connected path=punched"* && $got_b == "connected path=punched"* ]]; then
    path=punched
  else
    [[ $got_a == failed* && $got_b == failed* ]] || fail "$label: only one side of the punch connected"
    token=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    tell relay "expect $token 10000"
    await relay "^(expecting|error)" 5 | grep -q '^expecting' || fail "$label: the relay refused the token"
    tell a "splice $token server $key_b"
    tell b "splice $token client $key_a"
    got_a=$(await a '^(connected|failed splice)' 10) || fail "$label: a heard nothing of its splice"
    got_b=$(await b '^(connected|failed splice)' 10) || fail "$label: b heard nothing of its splice"
    log "$label: splice: a: $got_a"
    log "$label: splice: b: $got_b"
    [[ $got_a == "connected path=spliced"* && $got_b == "connected path=spliced"* ]] ||
      fail "$label: the splice did not connect"
    path=spliced
    tell relay stats
    log "$label: relay $(await relay '^stats' 5)"
  fi
  await a '^received ping from b' 5 >/dev/null || fail "$label: a did not receive b's message"
  await b '^received ping from a' 5 >/dev/null || fail "$label: b did not receive a's message"
  log "$label: messages crossed both ways"
  echo "$label NAT: path=$path"
  [ "$path" = "$expected" ] || fail "$label NAT: expected path=$expected, took path=$path"
  finish a
  finish b
  finish relay
  nat_teardown
}

[ -x "$PROBE" ] || fail "no probe binary at $PROBE"
# shellcheck disable=SC2119 # it needs no command besides those nat_preflight always checks
nat_preflight
run_case cone "masquerade" punched
run_case symmetric "masquerade random" spliced
log "passed"
