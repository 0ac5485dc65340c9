# shellcheck shell=bash
# Shared by the NAT tests (nat_test.sh, nat_mesh_test.sh), which source it: network namespaces
# with two NAT routers between two hosts and a public "internet", the processes started in them,
# logging, and a clean-up that runs on every way out (success, failure, Ctrl-C, TERM).
#
#   pub        203.0.113.1    a bridge joining the routers (the relay lives here)
#   nat-a/b    203.0.113.10/20 on "wan", 10.1.0.1 / 10.2.0.1 on "lan": nftables masquerade on
#              wan, and a filter that drops whatever arrives on wan unsolicited (no RST)
#   host-a/b   10.1.0.2 / 10.2.0.2, default route via their router
#
# The sourcing script calls nat_init NAME first (NAME prefixes every log line), then:
#   nat_preflight [COMMAND...]   checks root, iproute2, nftables, and the commands named
#   nat_setup MASQUERADE         a fresh set of namespaces ("masquerade" is a cone NAT,
#                                "masquerade random" a symmetric one)
#   ns WHICH                     the name of namespace WHICH (pub, nat-a, host-b, ...)
#   nat_track PID [SIGNAL]       a process to stop at teardown: SIGNAL (TERM unless named), then
#                                SIGKILL if it still runs 5 s later
#   nat_on_teardown COMMAND      run at teardown, after the tracked processes were stopped
#   nat_teardown                 stops everything and deletes the namespaces (between cases)
#   log MESSAGE / fail MESSAGE   fail runs nat_on_fail if the script defines it, prints the tail
#                                of every *.out, *.err, *.log in $WORK and exits 1
# Needs bash 4.3+, root (CAP_NET_ADMIN), iproute2 and nftables.

RELAY_IP=203.0.113.1

nat_init() {
  NAT_NAME=$1
  RUN="grove-$$-${RANDOM}"  # every namespace this run makes starts with it
  WORK=$(mktemp -d)
  NAT_PIDS=()
  NAT_NAMESPACES=()
  NAT_HOOKS=()
  trap nat_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

log() { echo "$NAT_NAME: $*"; }

fail() {
  log "FAILED: $*"
  local f
  # The sourcing script may define nat_on_fail (to keep its logs, say).
  if declare -F nat_on_fail >/dev/null; then nat_on_fail || true; fi
  for f in "$WORK"/*.out "$WORK"/*.err "$WORK"/*.log; do
    [ -s "$f" ] && { echo "--- $(basename "$f") (last 25 lines)"; tail -n 25 "$f"; }
  done
  exit 1
}

nat_track() { NAT_PIDS+=("$1:${2:-TERM}"); }
nat_on_teardown() { NAT_HOOKS+=("$1"); }

# Stops the tracked processes (their signal, then KILL for those still there after 5 s), runs
# the hooks, kills whatever still runs in our namespaces (a process's own children, such as a
# database's backends) and deletes the namespaces.
nat_teardown() {
  local entry pid ns hook tries=0
  # A test may have stopped (SIGSTOP) some: they must run to see their signal.
  for ns in "${NAT_NAMESPACES[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -CONT "$pid" 2>/dev/null || true; done
  done
  for entry in "${NAT_PIDS[@]}"; do kill -"${entry#*:}" "${entry%%:*}" 2>/dev/null || true; done
  for entry in "${NAT_PIDS[@]}"; do
    pid=${entry%%:*}
    while kill -0 "$pid" 2>/dev/null && [ "$tries" -lt 100 ]; do
      sleep 0.05
      tries=$((tries + 1))
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  for hook in "${NAT_HOOKS[@]}"; do eval "$hook" || true; done
  for ns in "${NAT_NAMESPACES[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  NAT_PIDS=()
  NAT_HOOKS=()
  NAT_NAMESPACES=()
}

nat_cleanup() {
  local rc=$?
  trap - EXIT
  trap '' INT TERM  # a second Ctrl-C must not cut the clean-up short (it takes 5 s at most)
  nat_teardown
  rm -rf "$WORK"
  exit "$rc"
}

nat_preflight() {
  local cmd why
  [ "$(id -u)" -eq 0 ] || fail "this test needs root (network namespaces, nftables)"
  for cmd in ip nft "$@"; do
    command -v "$cmd" >/dev/null || fail "$cmd is not installed"
  done
  if ! why=$(ip netns add "$RUN-check" 2>&1); then
    fail "cannot create network namespaces ($why); this test needs root or CAP_NET_ADMIN"
  fi
  NAT_NAMESPACES+=("$RUN-check")
  if ! why=$(ip netns exec "$RUN-check" nft list ruleset 2>&1); then
    fail "nftables does not work in a network namespace: $why"
  fi
  nat_teardown
}

ns() { echo "$RUN-$1"; }

nat_add_ns() {
  ip netns add "$(ns "$1")"
  NAT_NAMESPACES+=("$(ns "$1")")
  ip -n "$(ns "$1")" link set lo up
}

# The router's rules: masquerade out of wan ($1 is "masquerade" or "masquerade random"); from
# wan, only what belongs to a connection the inside opened, forwarded or to the router itself.
nat_rules() {
  cat <<EOF
table ip grove_nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" $1
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "wan" ct state established,related accept
    iifname "wan" drop
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan" ct state established,related accept
    iifname "wan" drop
  }
}
EOF
}

nat_setup() {
  local masquerade=$1 side n
  nat_add_ns pub
  ip -n "$(ns pub)" link add br0 type bridge
  ip -n "$(ns pub)" addr add "$RELAY_IP/24" dev br0
  ip -n "$(ns pub)" link set br0 up
  n=1
  for side in a b; do
    nat_add_ns "nat-$side"
    nat_add_ns "host-$side"
    ip link add wan netns "$(ns "nat-$side")" type veth peer name "up-$side" netns "$(ns pub)"
    ip link add lan netns "$(ns "nat-$side")" type veth peer name eth0 netns "$(ns "host-$side")"
    ip -n "$(ns pub)" link set "up-$side" master br0 up
    ip -n "$(ns "nat-$side")" addr add "203.0.113.${n}0/24" dev wan
    ip -n "$(ns "nat-$side")" addr add "10.$n.0.1/24" dev lan
    ip -n "$(ns "nat-$side")" link set wan up
    ip -n "$(ns "nat-$side")" link set lan up
    ip netns exec "$(ns "nat-$side")" sysctl -qw net.ipv4.ip_forward=1
    nat_rules "$masquerade" | ip netns exec "$(ns "nat-$side")" nft -f -
    ip -n "$(ns "host-$side")" addr add "10.$n.0.2/24" dev eth0
    ip -n "$(ns "host-$side")" link set eth0 up
    ip -n "$(ns "host-$side")" route add default via "10.$n.0.1"
    n=$((n + 1))
  done
}
