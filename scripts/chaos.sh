#!/usr/bin/env bash
# The long fault run (docs/testing.md): a 3-node cluster of release `konsul` processes under
# the nemesis of tests/it/chaos.rs for N rounds of F faults, every round's history checked for
# linearizability. Prints the seed first, so a failure can be replayed with --seed.
#
#   scripts/chaos.sh --rounds 200 [--seed 42] [--faults-per-round 5] [--debug]
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=200
faults=5
seed=""
profile=(--release)
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --faults-per-round) faults="$2"; shift 2 ;;
    --debug) profile=(); shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "chaos.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$rounds" "$faults"; do
  case "$n" in ''|*[!0-9]*|0) echo "chaos.sh: --rounds and --faults-per-round take a positive number, got '$n'" >&2; exit 2 ;; esac
done
if [ -z "$seed" ]; then
  seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
fi
case "$seed" in ''|*[!0-9]*) echo "chaos.sh: --seed takes a number, got '$seed'" >&2; exit 2 ;; esac

echo "chaos: $rounds rounds x $faults faults, seed $seed (replay: scripts/chaos.sh --rounds $rounds --seed $seed)"
echo "chaos: started $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
KONSUL_CHAOS_ROUNDS="$rounds" KONSUL_CHAOS_FAULTS_PER_ROUND="$faults" KONSUL_CHAOS_SEED="$seed" \
  cargo test "${profile[@]}" --features konsul/failpoints --test it -- \
  --ignored --exact chaos::chaos_long --nocapture
echo "chaos: finished in $(( $(date +%s) - start )) s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
