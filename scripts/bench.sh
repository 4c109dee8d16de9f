#!/usr/bin/env bash
# Single-node Konsul against single-node etcd, driven by the same konsul-bench loop on the same
# machine in one run (DESIGN.md §5, docs/benchmarks.md).
#
# For each target in turn: start the server on 127.0.0.1 with a fresh temporary data dir and
# default (fsync-per-commit) durability, wait until it answers and accepts a write, run put and
# get at each client count, stop it. The servers run one after the other, never side by side,
# so neither steals CPU from the other's run on a small machine. Then print a markdown table
# with both numbers and the ratio Konsul/etcd.
#
# Everything listens on 127.0.0.1 only, every wait and every run is bounded by `timeout`, and an
# EXIT trap stops whatever server is still running.
#
# Settings (environment):
#   BENCH_TARGETS      targets to run, in order            (default: "etcd konsul")
#   BENCH_CLIENTS      client counts                       (default: "1 64")
#   BENCH_OPS          operations                          (default: "put get")
#   BENCH_CONNECTIONS  connections, capped at the clients  (default: 4)
#   BENCH_DURATION     measured window per run             (default: 10s)
#   BENCH_WARMUP       warmup before each window           (default: 2s)
#   BENCH_VALUE_SIZE   bytes per value                     (default: 256)
#   BENCH_KEY_SPACE    distinct keys                       (default: 10000)
#   BENCH_SEED         RNG seed                            (default: 1)
#   BENCH_BUILD        0 to reuse already built binaries    (default: 1)
#   BENCH_BIN_DIR      where the binaries are               (default: target/release)
#   BENCH_OUT_DIR      where JSON results and the table go (default: target/bench/<timestamp>)
#   ETCD_BIN           etcd binary                         (default: etcd on PATH, /usr/bin/etcd)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGETS=${BENCH_TARGETS:-"etcd konsul"}
CLIENTS=${BENCH_CLIENTS:-"1 64"}
OPS=${BENCH_OPS:-"put get"}
CONNECTIONS=${BENCH_CONNECTIONS:-4}
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
VALUE_SIZE=${BENCH_VALUE_SIZE:-256}
KEY_SPACE=${BENCH_KEY_SPACE:-10000}
SEED=${BENCH_SEED:-1}
BUILD=${BENCH_BUILD:-1}
OUT_DIR=${BENCH_OUT_DIR:-target/bench/$(date -u +%Y%m%dT%H%M%SZ)}
ETCD_BIN=${ETCD_BIN:-$(command -v etcd || echo /usr/bin/etcd)}
BIN_DIR=${BENCH_BIN_DIR:-target/release}
BENCH=$BIN_DIR/konsul-bench
KONSUL=$BIN_DIR/konsul

# Upper bound on one konsul-bench run beyond its warmup and window: connecting, prefilling
# the key space, and the last requests' timeouts.
RUN_SLACK_S=180
READY_TIMEOUT_S=30

BENCH_SCRIPT=bench.sh
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
check_prerequisites

WORK=$(mktemp -d -t konsul-bench.XXXXXX)
SERVER_PID=""

stop_servers() {
    [ -n "$SERVER_PID" ] || return 0
    stop_pids "$SERVER_PID"
    SERVER_PID=""
}

trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port [EXCEPT]: a port nothing listens on right now, other than EXCEPT. Another process
# could take it before the server binds; the server then fails to start and the wait below
# reports it. Ports come from 20000-31999, below Linux's ephemeral range (32768 up),
# where a port that takes no connections may still be the local end of someone's
# connection, and binding it fails (seen once: etcd's "address already in use").
free_port() {
    local port
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 12000))
        [ "$port" != "${1:-}" ] || continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    die "no free port found"
}

# wait_http URL NAME LOG: poll until URL answers 200, the server exits, or READY_TIMEOUT_S pass.
wait_http() {
    local url=$1 name=$2 logfile=$3
    for _ in $(seq 1 $((READY_TIMEOUT_S * 10))); do
        if curl -sf -o /dev/null --max-time 1 "$url"; then
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            tail -n 20 "$logfile" >&2 || true
            die "$name exited before answering $url"
        fi
        sleep 0.1
    done
    tail -n 20 "$logfile" >&2 || true
    die "$name did not answer $url within ${READY_TIMEOUT_S}s"
}

# wait_writable TARGET ENDPOINT: a server can be up before it has a leader; retry a single
# put until one succeeds or READY_TIMEOUT_S pass.
wait_writable() {
    local target=$1 endpoint=$2
    for _ in $(seq 1 "$READY_TIMEOUT_S"); do
        if timeout 10 "$BENCH" --target "$target" --endpoints "$endpoint" --op put \
            --clients 1 --max-ops 1 --warmup 0s --duration 2s --timeout 2s \
            >/dev/null 2>&1; then
            return 0
        fi
        sleep 1
    done
    die "$target at $endpoint accepted no write within ${READY_TIMEOUT_S}s"
}

start_etcd() {
    local client_port peer_port dir=$WORK/etcd
    client_port=$(free_port)
    peer_port=$(free_port "$client_port")
    mkdir -p "$dir"
    # Defaults otherwise: every commit is fsynced before it is acknowledged.
    "$ETCD_BIN" --name bench --data-dir "$dir/data" \
        --listen-client-urls "http://127.0.0.1:$client_port" \
        --advertise-client-urls "http://127.0.0.1:$client_port" \
        --listen-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-cluster "bench=http://127.0.0.1:$peer_port" \
        --initial-cluster-state new \
        --logger zap --log-level warn \
        >"$dir/etcd.log" 2>&1 &
    SERVER_PID=$!
    wait_http "http://127.0.0.1:$client_port/health" etcd "$dir/etcd.log"
    ENDPOINT=127.0.0.1:$client_port
}

start_konsul() {
    local port raft_port dir=$WORK/konsul
    port=$(free_port)
    raft_port=$(free_port "$port")
    mkdir -p "$dir"
    # A single-node cluster that bootstraps itself. Durability is the server's default: an
    # append is acknowledged only after fsync (DESIGN.md §3).
    env RUST_LOG="${RUST_LOG:-warn}" \
        KONSUL_DATA_DIR="$dir/data" \
        KONSUL_HOST=127.0.0.1 \
        KONSUL_PORT="$port" \
        KONSUL_RAFT_NODE_ID=1 \
        KONSUL_RAFT_BIND_ADDR="127.0.0.1:$raft_port" \
        KONSUL_RAFT_ADVERTISE_ADDR="127.0.0.1:$raft_port" \
        KONSUL_RAFT_BOOTSTRAP=true \
        "$KONSUL" >"$dir/konsul.log" 2>&1 &
    SERVER_PID=$!
    wait_http "http://127.0.0.1:$port/health/ready" konsul "$dir/konsul.log"
    ENDPOINT=127.0.0.1:$port
}

# run_case TARGET OP CLIENTS: one konsul-bench run; JSON to $OUT_DIR, text summary to stderr.
run_case() {
    local target=$1 op=$2 clients=$3 conns prefill=() out
    conns=$((clients < CONNECTIONS ? clients : CONNECTIONS))
    [ "$op" = put ] || prefill=(--prefill)
    out=$OUT_DIR/$target-$op-$clients.json
    local cmd=("$BENCH" --target "$target" --endpoints "$ENDPOINT" --op "$op"
        --clients "$clients" --connections "$conns" --value-size "$VALUE_SIZE"
        --key-space "$KEY_SPACE" --seed "$SEED" --duration "$DURATION" --warmup "$WARMUP"
        "${prefill[@]}" --output json)
    log "running: ${cmd[*]}"
    local bound
    bound=$(($(secs "$DURATION") + $(secs "$WARMUP") + RUN_SLACK_S))
    timeout "$bound" "${cmd[@]}" >"$out"
    jq -r '.result | "  \(.ops_per_sec | floor) ops/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, errors \(.errors)"' "$out" >&2
}

build_binaries

mkdir -p "$OUT_DIR"
# Other processes on the machine skew every number; record how busy it was.
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for target in $TARGETS; do
    log "starting $target"
    "start_$target"
    wait_writable "$target" "$ENDPOINT"
    for op in $OPS; do
        for clients in $CLIENTS; do
            run_case "$target" "$op" "$clients"
        done
    done
    stop_servers
done

# ---- Report ---------------------------------------------------------------------------------

# field TARGET OP CLIENTS JQ_PATH: a number from one result, or empty when it was not run.
field() {
    local f=$OUT_DIR/$1-$2-$3.json
    [ -s "$f" ] && jq -r "$4" "$f" || true
}

{
    run_line "$LOAD_BEFORE"
    echo "Values $VALUE_SIZE B, $KEY_SPACE keys, $DURATION measured after $WARMUP warmup," \
        "up to $CONNECTIONS connections, strong reads, default fsync durability, single node each."
    echo
    echo "| op | clients | conns | Konsul ops/s | etcd ops/s | ops/s Konsul/etcd | Konsul p50 / p99 ms | etcd p50 / p99 ms | p99 Konsul/etcd | errors K / e |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for op in $OPS; do
        for clients in $CLIENTS; do
            k_ops=$(field konsul "$op" "$clients" '.result.ops_per_sec | floor')
            e_ops=$(field etcd "$op" "$clients" '.result.ops_per_sec | floor')
            k_lat=$(field konsul "$op" "$clients" '"\(.result.latency_ms.p50) / \(.result.latency_ms.p99)"')
            e_lat=$(field etcd "$op" "$clients" '"\(.result.latency_ms.p50) / \(.result.latency_ms.p99)"')
            k_p99=$(field konsul "$op" "$clients" '.result.latency_ms.p99')
            e_p99=$(field etcd "$op" "$clients" '.result.latency_ms.p99')
            k_err=$(field konsul "$op" "$clients" '.result.errors')
            e_err=$(field etcd "$op" "$clients" '.result.errors')
            conns=$((clients < CONNECTIONS ? clients : CONNECTIONS))
            echo "| $op | $clients | $conns | $(show "$k_ops") | $(show "$e_ops") | $(ratio "$k_ops" "$e_ops")" \
                "| $(show "$k_lat") | $(show "$e_lat") | $(ratio "$k_p99" "$e_p99") | ${k_err:--} / ${e_err:--} |"
        done
    done
} | tee "$OUT_DIR/results.md"
log "JSON results and results.md in $OUT_DIR"
