#!/usr/bin/env bash
# Presence and rendezvous end to end (issue 6): the real grove-relay and two real grove-peers,
# each peer behind its own NAT router, in the network namespaces of nat_lib.sh (which
# nat_test.sh shares; that one proves the mechanisms with a probe program, this one the
# product).
#
# For each case, on fresh namespaces, with a fresh PostgreSQL, relay and peers:
#   1. a private PostgreSQL in pub (initdb into a folder of user postgres, on 127.0.0.1:5432);
#   2. grove-relay in pub on 203.0.113.1:7500; peer a in host-a, peer b in host-b, both with
#      --relay (each peer's HTTP API on its own namespace's 127.0.0.1:7401);
#   3. a makes a workspace and invites b, whose invitation can only come through the relay (the
#      routers drop whatever the inside did not open); b accepts; a writes a record and b must
#      read it;
#   4. the peers must then find each other: their direct dials die at the routers, so they ask
#      the relay for a rendezvous, punch, and on failure get spliced. Expected:
#        cone       (plain `masquerade`)  path=punched
#        symmetric  (`masquerade random`) path=spliced
#      The path each side's GET /api/v1/status reports for the other is printed and checked;
#   5. that connection must carry sync on its own (see prove_path below);
#   6. the relay must never have seen the record's plaintext: not in its log (at debug level)
#      nor in its database.
# Every process and namespace is removed on every way out (nat_lib.sh's clean-up).
#
# Usage: nat_mesh_test.sh PATH/TO/grove PATH/TO/grove-peer PATH/TO/grove-relay
# Needs root (CAP_NET_ADMIN), iproute2, nftables, curl, jq, setpriv and PostgreSQL's server
# binaries in /usr/lib/postgresql/*/bin (Debian's postgresql package) with a user `postgres`.
set -euo pipefail

GROVE=${1:?usage: nat_mesh_test.sh GROVE GROVE_PEER GROVE_RELAY}
PEER=${2:?usage: nat_mesh_test.sh GROVE GROVE_PEER GROVE_RELAY}
RELAY=${3:?usage: nat_mesh_test.sh GROVE GROVE_PEER GROVE_RELAY}
# shellcheck source-path=SCRIPTDIR source=nat_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/nat_lib.sh"
nat_init nat_mesh

RELAY_PORT=7500
PEER_PORT=7400
API_PORT=7401
PG_PORT=5432
# How long the peers may take to find each other once b has joined: a direct dial dies at the
# router after the handshake timeout (10 s), the next 2 s tick asks for a rendezvous, the punch
# takes at most 3 s, the splice a moment.
CONNECT_S=30

# (Not for processes started in the background, whose $! must be the process itself.)
in_ns() {
  local where=$1
  shift
  ip netns exec "$(ns "$where")" "$@"
}

# api WHO METHOD PATH [JSON]: calls peer WHO's HTTP API inside its namespace; prints the body,
# fails (non-zero) on an HTTP error.
api() {
  local who=$1 method=$2 path=$3 body=${4-}
  local -a args=(-sS --fail-with-body -m 10 -X "$method"
    -H "Authorization: Bearer $(cat "$WORK/$who/api-token")")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data "$body")
  in_ns "host-$who" curl "${args[@]}" "http://127.0.0.1:$API_PORT$path"
}

# wait_for SECONDS COMMAND...: runs COMMAND every 0.25 s until it succeeds or time is up.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.25
  done
}

# --- PostgreSQL, private to this case ------------------------------------------------------------
PG_BIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_postgres() { (cd / && exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"); }

start_postgres() {
  PG_DIR=$(mktemp -d /tmp/grove-nat-mesh-pg.XXXXXX)
  nat_on_teardown "rm -rf '$PG_DIR'"
  chown postgres:postgres "$PG_DIR"
  as_postgres "$PG_BIN/initdb" -A trust -U grove -D "$PG_DIR/data" >"$WORK/initdb.out" 2>&1 ||
    fail "initdb failed"
  # Fast shutdown (SIGINT) at teardown: it ends the relay's sessions instead of waiting for them.
  (cd / && exec ip netns exec "$(ns pub)" setpriv --reuid=postgres --regid=postgres \
    --init-groups "$PG_BIN/postgres" -D "$PG_DIR/data" -p "$PG_PORT" -k "$PG_DIR" \
    -c listen_addresses=127.0.0.1 -c fsync=off) >"$WORK/postgres.log" 2>&1 &
  nat_track $! INT
  wait_for 20 in_ns pub "$PG_BIN/pg_isready" -q -U grove -d postgres -h 127.0.0.1 -p "$PG_PORT" ||
    fail "PostgreSQL did not start"
  in_ns pub "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U grove grove ||
    fail "createdb failed"
}

# The PostgreSQL processes (postmaster and backends) are everything in pub but the relay.
postgres_pids() {
  local pid
  for pid in $(ip netns pids "$(ns pub)"); do
    [ "$pid" = "$RELAY_PID" ] || echo "$pid"
  done
}

# --- The relay and the peers -----------------------------------------------------------------
# debug_config DIR [KEY VALUE]...: DIR.yaml, a configuration that logs at debug level. A file
# must hold every required key (data; db for the relay), which the command line then repeats.
debug_config() {
  local dir=$1
  shift
  {
    printf 'data: %s\nlog:\n  level: debug\n' "$dir"
    while [ $# -gt 0 ]; do
      printf '%s: "%s"\n' "$1" "$2"
      shift 2
    done
  } >"$dir.yaml"
}

start_relay() {
  mkdir -p "$WORK/relay"
  debug_config "$WORK/relay" db "postgresql://grove@127.0.0.1:$PG_PORT/grove"
  ip netns exec "$(ns pub)" "$RELAY" --config "$WORK/relay.yaml" --data "$WORK/relay" \
    --listen "$RELAY_IP:$RELAY_PORT" --admin "127.0.0.1:7501" \
    --db "postgresql://grove@127.0.0.1:$PG_PORT/grove" >"$WORK/relay.log" 2>&1 &
  nat_track $!
  RELAY_PID=$!
  wait_for 15 grep -q '"msg":"database ready"' "$WORK/relay.log" || fail "the relay did not start"
  [ -s "$WORK/relay/relay.card" ] || fail "the relay wrote no card"
}

start_peer() {
  local who=$1
  "$GROVE" init --data "$WORK/$who" --name "$who" >"$WORK/init-$who.out" 2>&1 ||
    fail "grove init $who failed"
  debug_config "$WORK/$who"
  ip netns exec "$(ns "host-$who")" "$PEER" --config "$WORK/$who.yaml" --data "$WORK/$who" \
    --listen "0.0.0.0:$PEER_PORT" --api "127.0.0.1:$API_PORT" \
    --relay "$RELAY_IP:$RELAY_PORT" --relay-card "@$WORK/relay/relay.card" >"$WORK/$who.log" 2>&1 &
  nat_track $!
  wait_for 15 api "$who" GET /api/v1/identity || fail "peer $who's API did not come up"
}

# connection WHO DEVICE: WHO's ready connection to DEVICE, as JSON (nothing if none).
connection() {
  api "$1" GET /api/v1/status |
    jq -c --arg d "$2" '[.connections[] | select(.device == $d)][0] // empty'
}
connected() { [ -n "$(connection "$1" "$2")" ]; }

# record_text WHO WS ID: the record's "text" field at WHO.
record_text() { api "$1" GET "/api/v1/workspaces/$2/records/$3" | jq -r '.fields.text // empty'; }
has_text() { [ "$(record_text "$1" "$2" "$3")" = "$4" ]; }

# keep_logs LABEL: with GROVE_NAT_LOGS=DIR set, copies the case's logs to DIR/LABEL-*
# (after each case, and on failure).
keep_logs() {
  local f
  [ -n "${GROVE_NAT_LOGS-}" ] || return 0
  mkdir -p "$GROVE_NAT_LOGS"
  for f in "$WORK"/*.log "$WORK"/*.out; do
    [ -e "$f" ] && cp "$f" "$GROVE_NAT_LOGS/$1-$(basename "$f")"
  done
  return 0
}
nat_on_fail() { keep_logs "${CASE:-preflight}"; }

# --- One case ----------------------------------------------------------------------------------
# run_case LABEL MASQUERADE EXPECTED_PATH
run_case() {
  local label=$1 masquerade=$2 expected=$3
  local dev_a dev_b card_b ws id secret edit conn_a conn_b path_a path_b
  CASE=$label
  rm -rf "${WORK:?}"/a "${WORK:?}"/b "${WORK:?}"/relay "$WORK"/*.log "$WORK"/*.out "$WORK"/*.yaml
  nat_setup "$masquerade"
  start_postgres
  start_relay
  start_peer a
  start_peer b
  dev_a=$(api a GET /api/v1/identity | jq -r .device)
  dev_b=$(api b GET /api/v1/identity | jq -r .device)
  card_b=$(api b GET /api/v1/identity | jq -r .card)
  log "$label: relay at $RELAY_IP:$RELAY_PORT, a (${dev_a:0:8}) at 10.1.0.2," \
    "b (${dev_b:0:8}) at 10.2.0.2"

  # 3. Share a workspace. The invitation reaches b through the relay: nothing else joins them.
  ws=$(api a POST /api/v1/workspaces '{"name":"nat-mesh"}' | jq -r .id) ||
    fail "$label: a could not make a workspace"
  api a POST "/api/v1/workspaces/$ws/members" "{\"card\":\"$card_b\",\"role\":\"member\"}" \
    >/dev/null || fail "$label: a could not invite b"
  wait_for 20 eval "api b GET /api/v1/invitations | grep -q '$ws'" ||
    fail "$label: b's invitation did not arrive through the relay within 20 s"
  api b POST "/api/v1/invitations/$ws/accept" '{}' >/dev/null || fail "$label: b could not accept"
  secret="nat-mesh-secret-$label-$RANDOM$RANDOM"
  id=$(api a POST "/api/v1/workspaces/$ws/records" \
    "{\"type\":\"note\",\"fields\":{\"text\":\"$secret\"}}" | jq -r .id) ||
    fail "$label: a could not write a record"
  wait_for 20 has_text b "$ws" "$id" "$secret" ||
    fail "$label: b did not read a's record within 20 s"
  log "$label: b joined a's workspace and read a's record"

  # 4. The peers find each other.
  wait_for "$CONNECT_S" eval "connected a $dev_b && connected b $dev_a" ||
    fail "$label: a and b did not connect to each other within $CONNECT_S s"
  conn_a=$(connection a "$dev_b")
  conn_b=$(connection b "$dev_a")
  path_a=$(jq -r .path <<<"$conn_a")
  path_b=$(jq -r .path <<<"$conn_b")
  log "$label: a sees b at $(jq -r .address <<<"$conn_a") path=$path_a;" \
    "b sees a at $(jq -r .address <<<"$conn_b") path=$path_b"
  [ "$path_a" = "$path_b" ] || fail "$label: a and b disagree on the path ($path_a, $path_b)"
  log "$label: a and b connected by path=$path_a"
  [ "$path_a" = "$expected" ] || fail "$label: expected path=$expected, took path=$path_a"

  # 6 (first half). The relay stored the workspace's deltas (a's status counts what it
  # acknowledged), yet neither its database nor its log holds the record's text.
  wait_for 10 eval "api a GET /api/v1/status |
    jq -e '.relay.workspaces[] | select(.acked_deltas > 0)'" ||
    fail "$label: the relay acknowledged nothing of a's"
  in_ns pub "$PG_BIN/pg_dump" -h 127.0.0.1 -p "$PG_PORT" -U grove grove >"$WORK/dump.sql" ||
    fail "$label: pg_dump failed"
  ! grep -qF "$secret" "$WORK/dump.sql" || fail "$label: the relay's database holds plaintext"

  # 5. The connection carries sync on its own: b edits, and the edit must reach a while the
  # relay can pass nothing of its own, with a's bytes_in on its b connection growing.
  prove_path "$label" "$path_a" "$ws" "$id" "$dev_b" "$conn_a"

  # 6 (second half). Neither text in the relay's log (debug level: everything it says).
  ! grep -qF "$secret" "$WORK/relay.log" || fail "$label: the relay's log holds plaintext"
  ! grep -qF "nat-mesh-edit" "$WORK/relay.log" || fail "$label: the relay's log holds plaintext"
  log "$label: no plaintext in the relay's log or database"
  log "$label: passed (path=$path_a)"
  nat_teardown
  keep_logs "$label"
}

# prove_path LABEL PATH WS ID DEVICE_B CONNECTION_AT_A
#   punched: the relay is killed (SIGKILL) first. The punched connection runs between the two
#     routers and does not touch it, so it must survive, and it is then the only way from b to a.
#   spliced: the connection runs through the relay, which must stay up. Instead its PostgreSQL is
#     frozen (SIGSTOP, its postmaster and backends): the relay's event loop, which runs its sync,
#     blocks on its next statement (it pings the database every second, and stores a delta
#     before it serves it, decision 0009), so it can pass nothing on by itself, while the
#     splice, copied by its network thread, goes on. The edit can then only reach a through the
#     splice; that the relay sent a nothing of its own meanwhile (a's relay connection's
#     bytes_in unchanged) is checked too. PostgreSQL is thawed (SIGCONT) afterwards (and by
#     nat_teardown on failure).
# In both, a must have made no new connection meanwhile (its log has a "connected" line for
# each), and its connection to b must have the same path and more bytes in.
prove_path() {
  local label=$1 path=$2 ws=$3 id=$4 dev_b=$5 before=$6 after edit pid connections relay_in
  connections=$(grep -c '"msg":"connected"' "$WORK/a.log")
  if [ "$path" = punched ]; then
    kill -KILL "$RELAY_PID"
    wait "$RELAY_PID" 2>/dev/null || true
    wait_for 10 eval "! api a GET /api/v1/status | jq -e '.connections[] | select(.relay)'" ||
      fail "$label: a still lists a relay connection after the relay was killed"
    log "$label: the relay is dead (SIGKILL)"
  else
    for pid in $(postgres_pids); do kill -STOP "$pid"; done
    log "$label: the relay's PostgreSQL is frozen (SIGSTOP)"
    # The relay pings the database every second: its loop is stuck within a second at most.
    sleep 1.5
    relay_in=$(api a GET /api/v1/status | jq -r '[.connections[] | select(.relay)][0].bytes_in')
  fi
  edit="nat-mesh-edit-$label-$RANDOM"
  api b PATCH "/api/v1/workspaces/$ws/records/$id" "{\"set\":{\"text\":\"$edit\"}}" >/dev/null ||
    fail "$label: b could not edit the record"
  wait_for 15 has_text a "$ws" "$id" "$edit" ||
    fail "$label: b's edit did not reach a over the $path connection within 15 s"
  after=$(connection a "$dev_b")
  [ "$(grep -c '"msg":"connected"' "$WORK/a.log")" = "$connections" ] ||
    fail "$label: a made a new connection meanwhile"
  [ "$(jq -r .path <<<"$after")" = "$path" ] ||
    fail "$label: a's connection to b is not the $path one ($before, now $after)"
  [ "$(jq -r .bytes_in <<<"$after")" -gt "$(jq -r .bytes_in <<<"$before")" ] ||
    fail "$label: a's connection to b received nothing ($before, now $after)"
  log "$label: b's edit reached a over the $path connection" \
    "(bytes_in $(jq -r .bytes_in <<<"$before") -> $(jq -r .bytes_in <<<"$after"))"
  if [ "$path" = spliced ]; then
    [ "$(api a GET /api/v1/status | jq -r '[.connections[] | select(.relay)][0].bytes_in')" = \
      "$relay_in" ] || fail "$label: the relay sent a something of its own while frozen"
    log "$label: the relay itself sent a nothing meanwhile (bytes_in $relay_in on that connection)"
    for pid in $(postgres_pids); do kill -CONT "$pid" 2>/dev/null || true; done
  fi
}

for f in "$GROVE" "$PEER" "$RELAY"; do [ -x "$f" ] || fail "no binary at $f"; done
[ -x "$PG_BIN/postgres" ] ||
  fail "PostgreSQL's server binaries are not in /usr/lib/postgresql/*/bin"
id postgres >/dev/null 2>&1 || fail "there is no user postgres to run PostgreSQL as"
nat_preflight curl jq setpriv
run_case cone "masquerade" punched
run_case symmetric "masquerade random" spliced
log "passed"
