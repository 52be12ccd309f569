#!/usr/bin/env bash
# make test-ray: a real two-node Ray cluster on this machine (a head node
# and a second node, each its own raylet with its own name and resources),
# then graft's Ray tests against it (GRAFT_RAY_ADDRESS). Every process it
# starts is stopped at the end, on failure too: each node runs under
# `ray start --block`, whose SIGTERM tears its node down, and whatever
# of the cluster remains is found by the session directory this script
# made (its path is in their command lines) and killed by PID.
#
#   scripts/test-ray.sh RAYENV [go test args...]
#   scripts/test-ray.sh RAYENV --up    # start the cluster, print its env, wait
set -euo pipefail
RAYENV=${1:?usage: test-ray.sh RAYENV [go test args]}
shift
RAY=$RAYENV/bin/ray
[ -x "$RAY" ] || { echo "test-ray: no $RAY: run make test-ray (it installs Ray into $RAYENV)" >&2; exit 1; }

# Ports of our own, away from Ray's defaults (another Ray on this host).
GCS_PORT=${GRAFT_RAY_GCS_PORT:-46379}
DASH_PORT=${GRAFT_RAY_DASHBOARD_PORT:-8265}
TMP=$(mktemp -d /tmp/graft-ray.XXXXXX)
pids=()

cleanup() {
  rc=$?
  set +e
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  # What the nodes left (their command lines name our session directory).
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    { tr '\0' ' ' < "$d/cmdline" | grep -qF "$TMP" && kill -KILL "$p"; } 2>/dev/null
  done
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT INT TERM

export RAY_USAGE_STATS_ENABLED=0 RAY_DISABLE_DOCKER_CPU_WARNING=1
# A stopped job's entrypoint gets SIGTERM, then SIGKILL after this.
export RAY_JOB_STOP_WAIT_TIME_S=${RAY_JOB_STOP_WAIT_TIME_S:-3}
# A lost node is declared dead after period x threshold.
export RAY_health_check_period_ms=1000 RAY_health_check_failure_threshold=5

common=(--num-gpus 0 --object-store-memory 100000000 --disable-usage-stats --block)
echo "test-ray: head node (session in $TMP)"
"$RAY" start --head --node-ip-address 127.0.0.1 --port "$GCS_PORT" \
  --dashboard-host 127.0.0.1 --dashboard-port "$DASH_PORT" --include-dashboard true \
  --num-cpus 1 --resources '{"graft_head": 1}' --node-name graft-head \
  --temp-dir "$TMP" --dashboard-agent-listen-port 52465 --metrics-export-port 58080 \
  "${common[@]}" > "$TMP/head.out" 2>&1 &
pids+=($!)
export GRAFT_RAY_ADDRESS=http://127.0.0.1:$DASH_PORT
for i in $(seq 1 120); do
  curl -fsS "$GRAFT_RAY_ADDRESS/api/version" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$TMP/head.out"; echo "test-ray: the head node did not start" >&2; exit 1; }
  sleep 1
done
echo "test-ray: second node"
"$RAY" start --address "127.0.0.1:$GCS_PORT" --node-ip-address 127.0.0.1 \
  --num-cpus 1 --resources '{"graft_second": 1}' --node-name graft-second \
  --dashboard-agent-listen-port 52466 --metrics-export-port 58081 \
  "${common[@]}" > "$TMP/second.out" 2>&1 &
pids+=($!)
export GRAFT_RAY_SECOND_PID=$!
# A test that adds a node of its own (and loses it) starts it with these.
export GRAFT_RAY_BIN=$(cd "$(dirname "$RAY")" && pwd)/ray GRAFT_RAY_GCS=127.0.0.1:$GCS_PORT
# Both nodes alive, as the state API sees them.
for i in $(seq 1 120); do
  n=$(curl -fsS "$GRAFT_RAY_ADDRESS/api/v0/nodes?limit=10" 2>/dev/null | grep -o '"state": *"ALIVE"' | wc -l || true)
  [ "$n" -ge 2 ] && break
  kill -0 "$GRAFT_RAY_SECOND_PID" 2>/dev/null || { cat "$TMP/second.out"; echo "test-ray: the second node did not start" >&2; exit 1; }
  sleep 1
done
[ "$n" -ge 2 ] || { echo "test-ray: the cluster has $n live nodes after 2 minutes, want 2" >&2; exit 1; }
echo "test-ray: cluster up at $GRAFT_RAY_ADDRESS (2 nodes), in $((SECONDS)) s"

if [ "${1:-}" = "--up" ]; then
  echo "GRAFT_RAY_ADDRESS=$GRAFT_RAY_ADDRESS GRAFT_RAY_SECOND_PID=$GRAFT_RAY_SECOND_PID"
  wait "${pids[0]}"
  exit 0
fi
go test "$@"
