#!/usr/bin/env bash
# Checks that /openapi.json tells the truth: starts one standalone `konsul` node (the debug
# build, its own temp dir, fresh ports) and runs schemathesis (PyPI, installed into .bin-py/
# by scripts/install-test-tools.sh) over every operation of the node's own OpenAPI
# document: requests generated from the schema, valid and invalid, and every answer checked
# against it (no 5xx, only documented status codes and content types, bodies matching their
# schemas, valid input accepted, invalid input refused). Any failure fails the run. The
# few rules JSON Schema cannot state are excused, with reasons, in scripts/schemathesis.toml.
#
# Usage: scripts/openapi-fuzz.sh [--examples N] [--seed S] [--bin PATH]
#   --examples  test cases per operation and phase (default 25: a few minutes on 2 cores)
#   --seed      the generator's seed (default 1, so CI replays the same cases; any other
#               number explores new ones, and the run prints it for a replay)
#   --bin       the konsul binary (default target/debug/konsul)
set -euo pipefail
cd "$(dirname "$0")/.."

examples=${OPENAPI_FUZZ_EXAMPLES:-25}
seed=${OPENAPI_FUZZ_SEED:-1}
bin=target/debug/konsul
while [ $# -gt 0 ]; do
  case "$1" in
    --examples) examples=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "openapi-fuzz.sh: unknown argument '$1' (see the usage at the top of the script)" >&2; exit 2 ;;
  esac
done
for n in "$examples" "$seed"; do
  case "$n" in ''|*[!0-9]*) echo "openapi-fuzz.sh: --examples and --seed take a number, got '$n'" >&2; exit 2 ;; esac
done
st=.bin-py/bin/schemathesis
[ -x "$st" ] || { echo "openapi-fuzz.sh: no $st; run scripts/install-test-tools.sh" >&2; exit 2; }
[ -x "$bin" ] || { echo "openapi-fuzz.sh: no konsul binary at $bin (cargo build first)" >&2; exit 2; }

work=$(mktemp -d)
node_pid=""
cleanup() {
  if [ -n "$node_pid" ]; then kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# One standalone node on fresh loopback ports; its startup line names the client address.
mkfifo "$work/stdout"
# A short request timeout: reads at a min_index that never comes answer 504 after 1 s.
env -i PATH="$PATH" KONSUL_DATA_DIR="$work/data" KONSUL_PORT=0 \
  KONSUL_RAFT_BIND_ADDR=127.0.0.1:0 KONSUL_LOG_LEVEL=warn KONSUL_REQUEST_TIMEOUT=1s \
  "$bin" >"$work/stdout" 2>"$work/konsul.log" &
node_pid=$!
exec 3<"$work/stdout"
line=""
read -r -t 30 line <&3 || { cat "$work/konsul.log" >&2; echo "openapi-fuzz.sh: no startup line from $bin" >&2; exit 1; }
# Keep draining the node's stdout so it never blocks on a full pipe.
cat <&3 >/dev/null &
addr=${line#*gRPC+REST on }
addr=${addr%%,*}
base="http://$addr"
for _ in $(seq 1 100); do
  curl -sf -o /dev/null --max-time 1 "$base/health/ready" && break
  sleep 0.1
done
curl -sf -o /dev/null --max-time 1 "$base/health/ready" ||
  { cat "$work/konsul.log" >&2; echo "openapi-fuzz.sh: $base never became ready" >&2; exit 1; }

echo "openapi-fuzz: schemathesis over $base/openapi.json, $examples examples per operation, seed $seed"
echo "openapi-fuzz: replay with scripts/openapi-fuzz.sh --examples $examples --seed $seed"
status=0
"$st" --config-file scripts/schemathesis.toml run "$base/openapi.json" \
  --checks all \
  --max-examples "$examples" \
  --seed "$seed" \
  --workers 1 \
  --request-timeout 20 \
  --generation-database none \
  --no-color \
  --report junit --report-dir target/openapi-fuzz || status=$?
if [ "$status" != 0 ]; then
  echo "openapi-fuzz.sh: schemathesis found failures (above); the node's log:" >&2
  tail -n 40 "$work/konsul.log" >&2 || true
fi
exit "$status"
