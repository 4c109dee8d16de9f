# The results table of scripts/bench-cluster.sh, sourced by it after every run: throughput
# and latency side by side, CPU per process and per call, resident memory, and Konsul's
# write-path stages. Reads the JSON results in $OUT_DIR and the run's settings.
# shellcheck shell=bash

# field TARGET OP CLIENTS JQ_PATH [SUFFIX]: a value from one result, or empty when not run.
field() {
    local f=$OUT_DIR/$1-$2-$3${5:-}.json
    if [ -s "$f" ]; then jq -r "$4" "$f"; fi
}

# cores TARGET OP CLIENTS: "leader / followers / bench" cores, e.g. "0.61 / 0.20+0.19 / 0.30".
cores() {
    # shellcheck disable=SC2016 # $l is a jq variable
    field "$1" "$2" "$3" '.leader as $l | .processes
        | "\(.[$l].cores) / \([to_entries[] | select(.key != $l and .key != "konsul-bench") | .value.cores] | map(tostring) | join("+")) / \(.["konsul-bench"].cores)"' .cpu
}

# write_report: the whole table, as Markdown, on stdout.
write_report() {
    run_line "$LOAD_BEFORE"
    echo "3-node loopback clusters, default fsync durability; values $VALUE_SIZE B, $KEY_SPACE keys," \
        "$DURATION measured after $WARMUP warmup, up to $CONNECTIONS connections."
    case " $OPS " in *" get "* | *" mixed "*)
        echo "Reads: Konsul $KONSUL_CONSISTENCY, etcd linearizable." ;;
    esac
    case " $OPS " in *" register "* | *" heartbeat "* | *" query "*)
        echo "Catalog ops: $KEY_SPACE services pre-registered for heartbeat and query, $QUERY_GROUPS tag groups," \
            "TTL $SERVICE_TTL; etcd register = $ETCD_REGISTER." ;;
    esac
    for t in $TARGETS; do
        echo "$t: leader ${LEADER_USED[$t]}, konsul-bench --endpoints ${ENDPOINTS_USED[$t]}."
    done
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
    echo
    echo "CPU during each run (connect + warmup + window), in cores: leader / followers / konsul-bench;"
    echo "and CPU of the leader per answered call."
    echo
    echo "| op | clients | Konsul cores | etcd cores | Konsul leader µs/call | etcd leader µs/call |"
    echo "|---|---:|---:|---:|---:|---:|"
    for op in $OPS; do
        for clients in $CLIENTS; do
            k_us=$(field konsul "$op" "$clients" '.processes[.leader].us_per_call' .cpu)
            e_us=$(field etcd "$op" "$clients" '.processes[.leader].us_per_call' .cpu)
            echo "| $op | $clients | $(show "$(cores konsul "$op" "$clients")") | $(show "$(cores etcd "$op" "$clients")")" \
                "| $(show "$k_us") | $(show "$e_us") |"
        done
    done
    echo
    echo "Resident memory (VmRSS) of each member after all its runs, MiB:" \
        "$(for t in $TARGETS; do [ -s "$OUT_DIR/$t.rss" ] && printf '%s: %s; ' "$t" "$(cat "$OUT_DIR/$t.rss")"; done)"
    if compgen -G "$OUT_DIR/konsul-*.stages.json" >/dev/null; then
        echo
        echo "Konsul write-path stages (GET /debug/stages, the run's difference on the leader and on"
        echo "one follower): µs per answered call, then in parentheses µs per step. Stages overlap"
        echo "(append and replicate run inside propose), and the counts include the bench's own"
        echo "setup writes (prefill, pre-registration)."
        echo
        echo "| op | clients | node | queue | propose | append | log_write | replicate | peer_decode | apply |"
        echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
        for op in $OPS; do
            for clients in $CLIENTS; do
                f=$OUT_DIR/konsul-$op-$clients.stages.json
                [ -s "$f" ] || continue
                # shellcheck disable=SC2016 # $l, $f are jq variables
                jq -r --arg op "$op" --arg clients "$clients" '.leader as $l
                    | (.nodes | keys | map(select(. != $l)) | first) as $f
                    | [["leader", $l], ["follower", $f]][] as [$role, $n]
                    | select($n != null)
                    | "| \($op) | \($clients) | \($role) \($n) | "
                      + ([.nodes[$n][] | "\(.us_per_call | floor) (\(.us_per_step | floor))"] | join(" | "))
                      + " |"' "$f"
            done
        done
    fi
}
