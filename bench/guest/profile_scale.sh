#!/bin/bash
# Per-packet cost with N peers on one path alone (no other module's peers loaded):
# scale.sh up CONFIG, grow the server device to each N in turn, and at each N run a
# single-stream TCP through peer 1 under perf (cpu-clock, all CPUs). Prints, per N,
# the throughput and the top symbols; the same N measured on veth first (same moment).
#
#   profile_scale.sh CONFIG "1 10000" [SECONDS]
set -euo pipefail
B=/root/bench
config=$1 counts=$2 secs=${3:-8}
"$B/guest/scale.sh" down >/dev/null 2>&1 || true
"$B/guest/scale.sh" up "$config"
target=$("$B/guest/scale.sh" target "$config")
have=1
tcp() {  # tcp TARGET: Mbit/s of a single TCP stream from bc, secs long
    ip netns exec bc iperf3 -c "$1" -t "$secs" -J | python3 -c '
import json, sys
e = json.load(sys.stdin)["end"]
print(round((e.get("sum_received") or e["sum"])["bits_per_second"] / 1e6, 1))'
}
ip netns exec bs iperf3 -s -D >/dev/null 2>&1 || true
sleep 0.5
for n in $counts; do
    if [ "$n" -gt "$have" ]; then
        "$B/guest/scale.sh" grow "$config" $((have + 1)) "$n" >/dev/null
        have=$n
    fi
    veth=$(tcp 10.200.0.1)
    ip netns exec bc iperf3 -c "$target" -t $((secs + 3)) -J > /tmp/pscale.json &
    ipid=$!
    sleep 1
    perf record -q -e cpu-clock -F 499 -a -g -o "/tmp/pscale-$n.data" -- sleep "$secs" \
        2>/dev/null
    wait $ipid || true
    got=$(python3 -c '
import json
e = json.load(open("/tmp/pscale.json"))["end"]
print(round((e.get("sum_received") or e["sum"])["bits_per_second"] / 1e6, 1))')
    echo "== $config, $n peers: TCP 1 stream $got Mbit/s (veth just before: $veth Mbit/s," \
        "share $(python3 -c "print(round($got / $veth, 3))"))"
    for key in sym dso; do
        echo "-- top $key (self, all CPUs)"
        perf report -i "/tmp/pscale-$n.data" --no-children --sort "$key" --stdio \
            < /dev/null > "/tmp/pscale-$n.$key.txt" 2>&1 || true
        grep -E '^ +[0-9.]+%' "/tmp/pscale-$n.$key.txt" | head -25 || true
    done
done
pkill -x iperf3 || true
"$B/guest/scale.sh" down >/dev/null 2>&1 || true
