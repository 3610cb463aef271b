#!/bin/bash
# Where the time goes in one configuration: perf (cpu-clock, all CPUs) during a
# single-stream iperf3 through it. perf comes from linux-perf .debs the host copied in.
#
#   profile.sh CONFIG CIPHER [SECONDS [IPERF_ARGS]]  prints perf's top symbols, the callers of
#                                                   the hot kernel spots, softirq counts
# IPERF_ARGS: extra iperf3 client arguments, e.g. "-u -b 0 -l 64" or "-R" (default: TCP)
set -euo pipefail
B=/root/bench
config=$1 cipher=$2 secs=${3:-8} extra=${4:-}
"$B/guest/tunnels.sh" up "$config" "$cipher" >/dev/null
target=10.201.0.1; [ "$config" = veth ] && target=10.200.0.1
cat /proc/softirqs > /tmp/softirqs.0
# shellcheck disable=SC2086
ip netns exec bc iperf3 -c $target -t $((secs + 4)) -J $extra > /tmp/prof-iperf.json &
ipid=$!
sleep 2
perf record -q -e cpu-clock -F 499 -a -g -o /tmp/perf.data -- sleep "$secs" 2>/dev/null
wait $ipid || true
cat /proc/softirqs > /tmp/softirqs.1
got=$(python3 - <<'PY'
import json
e = json.load(open("/tmp/prof-iperf.json"))["end"]
s = e.get("sum_received") or e["sum"]
if "packets" in s:
    pps = (s["packets"] - s["lost_packets"]) / s["seconds"]
    print(f"{pps:.0f} pps delivered, {s['lost_percent']:.1f}% lost")
else:
    print(f"{s['bits_per_second'] / 1e6:.1f} Mbit/s")
PY
)
echo "== $config $cipher iperf3 ${extra:-TCP}: $got while profiled"
echo "== top symbols (self, all CPUs)"
perf report -i /tmp/perf.data --no-children --sort sym --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | head -30 || true
echo "== who takes the contended spinlocks (call chains into the slow path)"
perf report -i /tmp/perf.data --no-children -S native_queued_spin_lock_slowpath -G --stdio \
    2>/dev/null | grep -vE '^(#|$)' | head -45 || true
for sym in _raw_spin_unlock_irqrestore read_hpet; do
    echo "== callers of $sym"
    perf report -i /tmp/perf.data --no-children -S "$sym" -G --stdio 2>/dev/null \
        | grep -vE '^(#|$)' | head -40 || true
done
echo "== processes' share (self, all CPUs)"
perf report -i /tmp/perf.data --no-children --sort comm --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | head -10 || true
echo "== modules' share (self, all CPUs)"
perf report -i /tmp/perf.data --no-children --sort dso --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | head -8 || true
echo "== softirq deltas (NET_RX NET_TX) during the run"
paste <(grep -E 'NET_RX|NET_TX' /tmp/softirqs.0) <(grep -E 'NET_RX|NET_TX' /tmp/softirqs.1) \
    | awk '{n=(NF-2)/2; s0=0; s1=0; for(i=2;i<=n+1;i++) s0+=$i; for(i=n+3;i<=NF;i++) s1+=$i; print $1, s1-s0}'
"$B/guest/tunnels.sh" down
