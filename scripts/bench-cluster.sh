#!/usr/bin/env bash
# 3-node loopback Konsul cluster against a 3-node loopback etcd cluster, driven by the same
# konsul-bench loop on the same machine in one run (DESIGN.md §5, docs/benchmarks.md,
# "3-node clusters").
#
# For each target in turn: start three members on 127.0.0.1, each with its own temporary data
# dir and default durability (a write is acknowledged once a quorum has it fsynced), wait until
# the cluster has three voters, a leader and accepts a write, run each op (put by default; the
# catalog ops register, heartbeat and query too) at each client count against the leader, stop
# all three. The two clusters run one after the other, never side by
# side. Around every run the CPU time of each server process and of konsul-bench is read from
# /proc, so a result comes with where the machine's cores went, and each Konsul node's
# write-path counters (GET /debug/stages), so a result comes with where a write's time went. Then print a markdown table
# with both targets' numbers and the ratios Konsul/etcd.
#
# Everything listens on 127.0.0.1 only, every wait and every run is bounded, and an EXIT trap
# stops every process this script started and removes the temporary dirs (kept, with the
# server logs, when the script fails).
#
# Settings (environment):
#   BENCH_TARGETS         targets to run, in order               (default: "etcd konsul")
#   BENCH_CLIENTS         client counts                          (default: "1 16 64")
#   BENCH_OPS             operations: put get mixed register heartbeat query (default: put)
#   BENCH_CONNECTIONS     connections, capped at the clients     (default: 4)
#   BENCH_DURATION        measured window per run                (default: 10s)
#   BENCH_WARMUP          warmup before each window              (default: 2s)
#   BENCH_VALUE_SIZE      bytes per value                        (default: 256)
#   BENCH_KEY_SPACE       distinct keys                          (default: 10000)
#   BENCH_SEED            RNG seed                               (default: 1)
#   BENCH_QUERY_GROUPS    catalog ops: tag groups; a query asks for one (default: 100)
#   BENCH_SERVICE_TTL     catalog ops: TTL of every registration / etcd lease (default: 60s)
#   BENCH_KONSUL_CONSISTENCY  get/mixed on Konsul: strong, leader (lease reads) or stale;
#                         etcd's reads are always linearizable (default: strong)
#   BENCH_ETCD_REGISTER   register on etcd: lease-put (LeaseGrant + Put under it) or put
#                                                                (default: lease-put)
#   BENCH_ETCD_ENDPOINTS  leader: etcd's leader only; all: the three members, leader first,
#                         connections round-robin over them (followers forward to the
#                         leader)                                (default: leader)
#   BENCH_BUILD           0 to reuse already built binaries      (default: 1)
#   BENCH_BIN_DIR         where the binaries are                 (default: target/release)
#   BENCH_OUT_DIR         where JSON results and the table go    (default: target/bench/<timestamp>)
#   ETCD_BIN              etcd binary                            (default: etcd on PATH, /usr/bin/etcd)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGETS=${BENCH_TARGETS:-"etcd konsul"}
CLIENTS=${BENCH_CLIENTS:-"1 16 64"}
OPS=${BENCH_OPS:-put}
CONNECTIONS=${BENCH_CONNECTIONS:-4}
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
VALUE_SIZE=${BENCH_VALUE_SIZE:-256}
KEY_SPACE=${BENCH_KEY_SPACE:-10000}
SEED=${BENCH_SEED:-1}
QUERY_GROUPS=${BENCH_QUERY_GROUPS:-100}
SERVICE_TTL=${BENCH_SERVICE_TTL:-60s}
ETCD_REGISTER=${BENCH_ETCD_REGISTER:-lease-put}
KONSUL_CONSISTENCY=${BENCH_KONSUL_CONSISTENCY:-strong}
ETCD_ENDPOINTS=${BENCH_ETCD_ENDPOINTS:-leader}
BUILD=${BENCH_BUILD:-1}
OUT_DIR=${BENCH_OUT_DIR:-target/bench/$(date -u +%Y%m%dT%H%M%SZ)}
ETCD_BIN=${ETCD_BIN:-$(command -v etcd || echo /usr/bin/etcd)}
BIN_DIR=${BENCH_BIN_DIR:-target/release}
BENCH=$BIN_DIR/konsul-bench
KONSUL=$BIN_DIR/konsul

NODES="1 2 3"
# Upper bound on one konsul-bench run beyond its warmup and window: connecting, prefilling the
# key space or pre-registering the services, and the last requests' timeouts.
RUN_SLACK_S=180
READY_TIMEOUT_S=60
# A join returns once the node votes; it is bounded by the server's catch-up timeout (sent
# in the body) and by curl's --max-time a little above it.
JOIN_TIMEOUT_S=60

BENCH_SCRIPT=bench-cluster.sh
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
check_prerequisites
case $ETCD_ENDPOINTS in
    leader | all) ;;
    *) die "BENCH_ETCD_ENDPOINTS must be leader or all, not '$ETCD_ENDPOINTS'" ;;
esac

WORK=$(mktemp -d -t konsul-bench-cluster.XXXXXX)
# PIDS[i]: the running member i of the current cluster; NAMES[i]: its name (e1.. or n1..).
# CLIENT_ADDR[i]: its client address; RAFT_ADDR[i]: its Raft address (Konsul).
declare -A PIDS=() NAMES=() CLIENT_ADDR=() RAFT_ADDR=()
USED_PORTS=" "
PORT=""
LEADER=""
ENDPOINTS=""

stop_servers() {
    stop_pids "${PIDS[@]}"
    PIDS=()
}

trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port: sets PORT to a port nothing listens on right now and not handed out before in
# this run (a global, not output, so that the list of ports handed out survives). Another
# process could take it before the server binds; the server then fails to start and the waits
# below report it. Ports come from 20000-31999, below Linux's ephemeral range (32768 up),
# where a port that takes no connections may still be the local end of someone's
# connection, and binding it fails (seen once: etcd's "address already in use").
free_port() {
    local port
    for _ in $(seq 1 200); do
        port=$((20000 + RANDOM % 12000))
        case $USED_PORTS in *" $port "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            USED_PORTS+="$port "
            PORT=$port
            return 0
        fi
    done
    die "no free port found"
}

# alive I: fails (after showing its log) when member I has exited.
alive() {
    local i=$1
    kill -0 "${PIDS[$i]}" 2>/dev/null && return 0
    tail -n 20 "$WORK/${NAMES[$i]}.log" >&2 || true
    die "${NAMES[$i]} exited"
}

# wait_http I URL [STATUS]: poll until URL answers 200, member I exits, or READY_TIMEOUT_S.
wait_http() {
    local i=$1 url=$2
    for _ in $(seq 1 $((READY_TIMEOUT_S * 10))); do
        curl -sf -o /dev/null --max-time 1 "$url" && return 0
        alive "$i"
        sleep 0.1
    done
    tail -n 20 "$WORK/${NAMES[$i]}.log" >&2 || true
    die "${NAMES[$i]} did not answer $url within ${READY_TIMEOUT_S}s"
}

# wait_listening I PORT: member I accepts TCP connections on PORT.
wait_listening() {
    local i=$1 port=$2
    for _ in $(seq 1 $((READY_TIMEOUT_S * 10))); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        alive "$i"
        sleep 0.1
    done
    die "${NAMES[$i]} did not listen on $port within ${READY_TIMEOUT_S}s"
}

# wait_writable TARGET ENDPOINT: retry a single put until one succeeds or READY_TIMEOUT_S pass.
wait_writable() {
    local target=$1 endpoint=$2
    for _ in $(seq 1 $((READY_TIMEOUT_S / 2))); do
        if timeout 10 "$BENCH" --target "$target" --endpoints "$endpoint" --op put \
            --clients 1 --max-ops 1 --warmup 0s --duration 2s --timeout 2s \
            >/dev/null 2>&1; then
            return 0
        fi
        sleep 2
    done
    die "$target at $endpoint accepted no write within ${READY_TIMEOUT_S}s"
}

# ---- etcd -----------------------------------------------------------------------------------

# etcd_leader: sets LEADER to the member index of etcd's leader, asking each member's
# maintenance status (through etcd's JSON gateway) until one names a leader that is a member.
etcd_leader() {
    local i j status member leader
    declare -A ids=()
    for _ in $(seq 1 $((READY_TIMEOUT_S * 2))); do
        for i in $NODES; do
            status=$(curl -sf --max-time 2 -X POST "http://${CLIENT_ADDR[$i]}/v3/maintenance/status" \
                -d '{}') || continue
            member=$(jq -r '.header.member_id // empty' <<<"$status")
            [ -n "$member" ] && ids[$member]=$i
        done
        for i in $NODES; do
            status=$(curl -sf --max-time 2 -X POST "http://${CLIENT_ADDR[$i]}/v3/maintenance/status" \
                -d '{}') || continue
            leader=$(jq -r '.leader // empty' <<<"$status")
            j=${ids[$leader]:-}
            if [ -n "$j" ]; then
                LEADER=$j
                return 0
            fi
        done
        sleep 0.5
    done
    die "etcd named no leader within ${READY_TIMEOUT_S}s"
}

start_etcd() {
    local i cluster="" client_port=() peer_port=()
    for i in $NODES; do
        free_port
        client_port[i]=$PORT
        free_port
        peer_port[i]=$PORT
        NAMES[$i]=e$i
        CLIENT_ADDR[$i]=127.0.0.1:${client_port[i]}
        cluster+="${cluster:+,}e$i=http://127.0.0.1:${peer_port[i]}"
    done
    for i in $NODES; do
        # Defaults otherwise: every commit is fsynced before it is acknowledged.
        "$ETCD_BIN" --name "e$i" --data-dir "$WORK/e$i" \
            --listen-client-urls "http://127.0.0.1:${client_port[i]}" \
            --advertise-client-urls "http://127.0.0.1:${client_port[i]}" \
            --listen-peer-urls "http://127.0.0.1:${peer_port[i]}" \
            --initial-advertise-peer-urls "http://127.0.0.1:${peer_port[i]}" \
            --initial-cluster "$cluster" --initial-cluster-token "bench-$$" \
            --initial-cluster-state new \
            --logger zap --log-level warn \
            >"$WORK/e$i.log" 2>&1 &
        PIDS[$i]=$!
    done
    # /health is 200 once the member sees a leader.
    for i in $NODES; do
        wait_http "$i" "http://${CLIENT_ADDR[$i]}/health"
    done
    etcd_leader
    local members
    members=$(curl -sf --max-time 2 -X POST "http://${CLIENT_ADDR[$LEADER]}/v3/cluster/member/list" \
        -d '{}' | jq '.members | length')
    [ "$members" = 3 ] || die "etcd cluster has ${members:-no} members, not 3"
    if [ "$ETCD_ENDPOINTS" = leader ]; then
        ENDPOINTS=${CLIENT_ADDR[$LEADER]}
    else
        ENDPOINTS=${CLIENT_ADDR[$LEADER]}
        for i in $NODES; do
            [ "$i" = "$LEADER" ] || ENDPOINTS+=",${CLIENT_ADDR[$i]}"
        done
    fi
}

# ---- Konsul ---------------------------------------------------------------------------------

# konsul_voters I: how many voters member I's /cluster/status lists (0 when it cannot say).
konsul_voters() {
    curl -sf --max-time 2 "http://${CLIENT_ADDR[$1]}/cluster/status" |
        jq '[.peers[] | select(.state == "Voter")] | length' 2>/dev/null || echo 0
}

# konsul_leader: sets LEADER to the member index whose client address /cluster/leader names.
konsul_leader() {
    local i addr
    for _ in $(seq 1 $((READY_TIMEOUT_S * 2))); do
        for i in $NODES; do
            addr=$(curl -sf --max-time 2 "http://${CLIENT_ADDR[$i]}/cluster/leader" |
                jq -r '.leader_client_addr // empty' 2>/dev/null) || continue
            for j in $NODES; do
                if [ "${CLIENT_ADDR[$j]}" = "$addr" ]; then
                    LEADER=$j
                    return 0
                fi
            done
        done
        sleep 0.5
    done
    die "no Konsul member named a leader within ${READY_TIMEOUT_S}s"
}

# konsul_join I: adds member I as a voter through member 1 (the bootstrapped leader), retrying
# while another membership change is in progress (409).
konsul_join() {
    local i=$1 code body
    body=$(printf '{"node_id":"n%s","address":"%s","client_address":"%s","catch_up_timeout_ms":%d}' \
        "$i" "${RAFT_ADDR[$i]}" "${CLIENT_ADDR[$i]}" $((JOIN_TIMEOUT_S * 1000)))
    for _ in $(seq 1 10); do
        code=$(curl -s -o "$WORK/join-n$i.json" -w '%{http_code}' --max-time $((JOIN_TIMEOUT_S + 10)) \
            -X POST "http://${CLIENT_ADDR[1]}/cluster/join" \
            -H 'Content-Type: application/json' -d "$body") || code=000
        case $code in
            200) return 0 ;;
            409 | 503 | 000) sleep 1 ;;
            *) break ;;
        esac
    done
    cat "$WORK/join-n$i.json" >&2 2>/dev/null || true
    die "joining n$i failed (HTTP $code)"
}

start_konsul() {
    local i
    for i in $NODES; do
        NAMES[$i]=n$i
        free_port
        CLIENT_ADDR[$i]=127.0.0.1:$PORT
        free_port
        RAFT_ADDR[$i]=127.0.0.1:$PORT
    done
    for i in $NODES; do
        local bootstrap=false
        [ "$i" != 1 ] || bootstrap=true
        # Durability is the server's default: an entry is acknowledged only once a quorum
        # has fsynced it (DESIGN.md §3).
        env RUST_LOG="${RUST_LOG:-warn}" \
            KONSUL_DATA_DIR="$WORK/n$i" \
            KONSUL_HOST=127.0.0.1 \
            KONSUL_PORT="${CLIENT_ADDR[$i]##*:}" \
            KONSUL_RAFT_ENABLED=true \
            KONSUL_RAFT_NODE_ID="n$i" \
            KONSUL_RAFT_BIND_ADDR="${RAFT_ADDR[$i]}" \
            KONSUL_RAFT_ADVERTISE_ADDR="${RAFT_ADDR[$i]}" \
            KONSUL_RAFT_BOOTSTRAP="$bootstrap" \
            "$KONSUL" >"$WORK/n$i.log" 2>&1 &
        PIDS[$i]=$!
    done
    wait_http 1 "http://${CLIENT_ADDR[1]}/health/ready"
    for i in 2 3; do
        wait_listening "$i" "${CLIENT_ADDR[$i]##*:}"
        konsul_join "$i"
    done
    for i in $NODES; do
        wait_http "$i" "http://${CLIENT_ADDR[$i]}/health/ready"
    done
    konsul_leader
    local voters=0
    for _ in $(seq 1 $((READY_TIMEOUT_S * 2))); do
        voters=$(konsul_voters "$LEADER")
        [ "$voters" != 3 ] || break
        sleep 0.5
    done
    [ "$voters" = 3 ] || die "Konsul cluster has ${voters:-0} voters, not 3"
    ENDPOINTS=${CLIENT_ADDR[$LEADER]}
}

# ---- CPU accounting -------------------------------------------------------------------------

TICKS=$(getconf CLK_TCK)

# cpu_ticks PID: utime + stime of PID so far (fields 14 and 15 of /proc/PID/stat, counted
# after the command name, which may contain spaces).
cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}

# child_ticks: CPU of this shell's children that have been waited for (cutime + cstime),
# which after a run includes konsul-bench (waited for by timeout, waited for by us).
child_ticks() {
    local stat
    stat=$(cat "/proc/$$/stat")
    stat=${stat##*) }
    awk '{ print $14 + $15 }' <<<"$stat"
}

# ---- Runs -----------------------------------------------------------------------------------

# run_case TARGET OP CLIENTS: one konsul-bench run; its JSON and the CPU used by every process
# during it go to $OUT_DIR, a text summary to stderr.
run_case() {
    local target=$1 op=$2 clients=$3 conns extra=() out cpu i
    conns=$((clients < CONNECTIONS ? clients : CONNECTIONS))
    case $op in
        get | mixed)
            extra=(--prefill)
            [ "$target" != konsul ] || extra+=(--consistency "$KONSUL_CONSISTENCY")
            ;;
        # heartbeat and query pre-register --key-space services themselves.
        register | heartbeat | query)
            extra=(--query-groups "$QUERY_GROUPS" --service-ttl "$SERVICE_TTL")
            [ "$target" != etcd ] || extra+=(--etcd-register "$ETCD_REGISTER")
            ;;
    esac
    out=$OUT_DIR/$target-$op-$clients.json
    cpu=$OUT_DIR/$target-$op-$clients.cpu.json
    local cmd=("$BENCH" --target "$target" --endpoints "$ENDPOINTS" --op "$op"
        --clients "$clients" --connections "$conns" --value-size "$VALUE_SIZE"
        --key-space "$KEY_SPACE" --seed "$SEED" --duration "$DURATION" --warmup "$WARMUP"
        "${extra[@]}" --output json)
    log "running: ${cmd[*]}"
    local bound before=() after=() b_before b_after t0 t1 s_before=() s_after=()
    bound=$(($(secs "$DURATION") + $(secs "$WARMUP") + RUN_SLACK_S))
    if [ "$target" = konsul ]; then
        for i in $NODES; do s_before[i]=$(stages_of "$i"); done
    fi
    for i in $NODES; do before[i]=$(cpu_ticks "${PIDS[$i]}"); done
    b_before=$(child_ticks)
    t0=$(date +%s.%N)
    timeout "$bound" "${cmd[@]}" >"$out"
    t1=$(date +%s.%N)
    for i in $NODES; do after[i]=$(cpu_ticks "${PIDS[$i]}"); done
    b_after=$(child_ticks)
    if [ "$target" = konsul ]; then
        for i in $NODES; do s_after[i]=$(stages_of "$i"); done
    fi
    # CPU over the whole run (connect, warmup and window) in seconds and in cores, and per
    # call answered in warmup and window together.
    {
        local calls
        calls=$(jq '.result.ops + .result.warmup_ops' "$out")
        echo "{"
        echo "  \"wall_s\": $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'),"
        echo "  \"calls\": $calls,"
        echo "  \"leader\": \"${NAMES[$LEADER]}\","
        echo "  \"processes\": {"
        for i in $NODES; do
            echo "    \"${NAMES[$i]}\": $(cpu_json $((after[i] - before[i])) "$t0" "$t1" "$calls"),"
        done
        echo "    \"konsul-bench\": $(cpu_json $((b_after - b_before)) "$t0" "$t1" "$calls")"
        echo "  }"
        echo "}"
    } >"$cpu"
    jq -r '.result | "  \(.ops_per_sec | floor) ops/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, errors \(.errors)"' "$out" >&2
    jq -r '.processes | to_entries[] | "    \(.key): \(.value.cores) cores, \(.value.us_per_call) us/call"' "$cpu" >&2
    if [ "$target" = konsul ]; then
        local calls nodes=()
        calls=$(jq '.result.ops + .result.warmup_ops' "$out")
        for i in $NODES; do
            nodes+=("$(stage_delta "${s_before[i]}" "${s_after[i]}" "$calls")")
        done
        printf '%s\n' "${nodes[@]}" | jq -s --arg leader "${NAMES[$LEADER]}" --argjson calls "$calls" \
            '{leader: $leader, calls: $calls, nodes: map({(.node): .stages}) | add}' \
            >"$OUT_DIR/$target-$op-$clients.stages.json"
    fi
}

# stages_of I: Konsul node I's write-path counters (GET /debug/stages, cumulative).
stages_of() {
    curl -sf --max-time 5 "http://${CLIENT_ADDR[$1]}/debug/stages" || die "${NAMES[$1]}: GET /debug/stages failed"
}

# stage_delta BEFORE AFTER CALLS: what one node's stages did between two readings, with the
# time per answered call and per step, in microseconds.
stage_delta() {
    jq -n --argjson b "$1" --argjson a "$2" --argjson calls "$3" '{
        node: $a.node,
        stages: [range(0; $a.stages | length) as $k
            | ($a.stages[$k]) as $x | ($b.stages[$k]) as $y
            | {stage: $x.stage, count: ($x.count - $y.count), items: ($x.items - $y.items),
               total_us: ($x.total_us - $y.total_us)}
            | . + {us_per_call: (if $calls > 0 then .total_us / $calls else 0 end),
                   us_per_step: (if .count > 0 then .total_us / .count else 0 end)}]
    }'
}

# cpu_json TICKS T0 T1 CALLS: {"cpu_s", "cores", "us_per_call"} for one process.
cpu_json() {
    awk -v t="$1" -v hz="$TICKS" -v a="$2" -v b="$3" -v n="$4" 'BEGIN {
        s = t / hz
        printf "{\"cpu_s\": %.2f, \"cores\": %.2f, \"us_per_call\": %.0f}", s, s / (b - a), (n > 0 ? s * 1e6 / n : 0)
    }'
}

# rss_line TARGET: "name MiB, ..." of every member of the current cluster (VmRSS), to $OUT_DIR.
rss_line() {
    local i kib parts=()
    for i in $NODES; do
        kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/${PIDS[$i]}/status")
        parts+=("${NAMES[$i]} $((kib / 1024))")
    done
    (IFS=,; echo "${parts[*]}") >"$OUT_DIR/$1.rss"
}

build_binaries

mkdir -p "$OUT_DIR"
# Other processes on the machine skew every number; record how busy it was.
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A ENDPOINTS_USED=() LEADER_USED=()
for target in $TARGETS; do
    log "starting a 3-node $target cluster"
    "start_$target"
    log "$target leader: ${NAMES[$LEADER]} at ${CLIENT_ADDR[$LEADER]}; benchmark endpoints: $ENDPOINTS"
    ENDPOINTS_USED[$target]=$ENDPOINTS
    LEADER_USED[$target]=${NAMES[$LEADER]}
    wait_writable "$target" "${CLIENT_ADDR[$LEADER]}"
    for op in $OPS; do
        for clients in $CLIENTS; do
            first_leader=$LEADER
            run_case "$target" "$op" "$clients"
            # A leader change during a run shows as errors (Konsul) or forwarded writes (etcd);
            # say so rather than let it pass as a slow server.
            "${target}_leader"
            [ "$LEADER" = "$first_leader" ] ||
                die "$target's leader moved from ${NAMES[$first_leader]} to ${NAMES[$LEADER]} during the run"
        done
    done
    rss_line "$target"
    stop_servers
done

# ---- Report (scripts/bench-cluster-report.sh) -----------------------------------------------

. scripts/bench-cluster-report.sh
write_report | tee "$OUT_DIR/results.md"
log "JSON results and results.md in $OUT_DIR"
