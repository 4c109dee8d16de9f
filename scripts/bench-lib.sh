# Helpers shared by scripts/bench.sh (single node) and scripts/bench-cluster.sh (3 nodes),
# sourced by both after they have read their settings: logging, prerequisites, stopping
# servers, the EXIT cleanup, building the binaries, duration arithmetic and the report's
# cells. Each script keeps what differs: how servers start, how a run is measured, the table.
#
# Expects, set by the sourcing script: BENCH_SCRIPT (its name, for log lines), TARGETS,
# ETCD_BIN, BUILD, BIN_DIR, BENCH, KONSUL, WORK, and a function `stop_servers`.
# shellcheck shell=bash

log() { echo "$BENCH_SCRIPT: $*" >&2; }
die() { log "$*"; exit 1; }

# check_prerequisites: jq and curl are installed, and every target is known and runnable.
check_prerequisites() {
    local t
    command -v jq >/dev/null || die "jq is needed to read JSON results and answers (apt-get install jq)"
    command -v curl >/dev/null || die "curl is needed to poll the servers"
    for t in $TARGETS; do
        case $t in
            etcd) [ -x "$ETCD_BIN" ] || die "no etcd at $ETCD_BIN (apt-get install etcd-server)" ;;
            konsul) ;;
            *) die "unknown target '$t' in BENCH_TARGETS" ;;
        esac
    done
}

# stop_pids PID...: SIGTERM to all, then up to 10 s each for a clean exit before SIGKILL.
stop_pids() {
    local pid
    for pid in "$@"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "$@"; do
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

# cleanup (the EXIT trap): stops the servers; removes $WORK after success, keeps its server
# logs after a failure.
cleanup() {
    local rc=$?
    stop_servers
    if [ "$rc" -eq 0 ]; then
        rm -rf "$WORK"
    else
        log "failed (exit $rc); server logs kept in $WORK"
    fi
}

# build_binaries: builds konsul-bench (and konsul when it is a target) in release mode unless
# BENCH_BUILD=0, then checks the binaries are there.
build_binaries() {
    local cmd
    if [ "$BUILD" != 0 ]; then
        [ "$BIN_DIR" = target/release ] || die "BENCH_BIN_DIR is only for BENCH_BUILD=0"
        cmd=(cargo build --release -p konsul-bench --bin konsul-bench)
        case " $TARGETS " in *" konsul "*) cmd+=(-p konsul --bin konsul) ;; esac
        log "building: ${cmd[*]}"
        "${cmd[@]}"
    fi
    [ -x "$BENCH" ] || die "no $BENCH; run without BENCH_BUILD=0"
    case " $TARGETS " in *" konsul "*) [ -x "$KONSUL" ] || die "no $KONSUL; run without BENCH_BUILD=0" ;; esac
}

# Whole seconds (rounded up) in a duration such as 10s, 500ms or 2m; 600 for other forms,
# which only loosens the bound of a run.
secs() {
    if [[ $1 =~ ^([0-9]+)(s?)$ ]]; then
        echo "${BASH_REMATCH[1]}"
    elif [[ $1 =~ ^([0-9]+)m$ ]]; then
        echo $((BASH_REMATCH[1] * 60))
    elif [[ $1 =~ ^[0-9]+ms$ ]]; then
        echo 1
    else
        echo 600
    fi
}

# ratio A B: A/B with two decimals, or "n/a".
ratio() {
    if [ -n "$1" ] && [ -n "$2" ]; then
        awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
    else
        echo "n/a"
    fi
}

# show VALUE: the value, or "not run" when empty.
show() { if [ -n "$1" ]; then echo "$1"; else echo "not run"; fi; }

# run_line LOAD_BEFORE: the report's first line (when, where, which versions, how busy).
run_line() {
    echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo);" \
        "konsul $(git rev-parse --short HEAD 2>/dev/null || echo unknown)," \
        "$("$ETCD_BIN" --version 2>/dev/null | awk 'NR == 1')," \
        "load average $1 before, $(cut -d' ' -f1-3 /proc/loadavg) after."
}
