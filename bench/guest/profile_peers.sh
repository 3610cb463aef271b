#!/bin/bash
# Where the time of a bulk peer add and delete goes, for one scale path that is up
# (scale.sh up CONFIG): perf (cpu-clock, all CPUs, call graphs) over peers.py add, the
# kernel's share of it by symbol; then the kernel stacks of peers.py del sampled from
# /proc (a delete that waits, e.g. for a grace period, is off-CPU and invisible to perf).
#
#   profile_peers.sh CONFIG [PEERS [PIPELINE]]   prints the JSON of both runs and the text
set -euo pipefail
B=/root/bench
config=$1 n=${2:-2000} pipeline=${3:-64}
read -r dev fam net <<<"$("$B/guest/scale.sh" dev "$config")"
hi=$((n + 1))

echo "== $config: peers.py add $dev 2..$hi --pipeline $pipeline, under perf"
perf record -q -e cpu-clock -F 1999 -a -g -o /tmp/peers.data -- \
    ip netns exec bs python3 "$B/guest/peers.py" add "$dev" 2 "$hi" --family "$fam" \
    --net "$net" --bind 10.200.0.1 --pipeline "$pipeline" 2>/dev/null
echo "-- samples of the peers.py process by object (the rest of the machine idles)"
perf report -i /tmp/peers.data --no-children --comm python3 --sort dso -g none -q \
    2>/dev/null | grep -v '^$' | head -6
echo "-- kernel symbols, with callees (children), >= 0.3% of all samples"
perf report -i /tmp/peers.data --children --comm python3 --sort sym -g none -q \
    --percent-limit 0.3 2>/dev/null | grep -E '\[k\]|ovs_|ovpn_|genl|netlink|crypto|aead' \
    | head -40

echo "== $config: peers.py del $dev 2..$hi (one request each), kernel stacks every 0.2 s"
ip netns exec bs python3 "$B/guest/peers.py" del "$dev" 2 "$hi" --family "$fam" \
    > /tmp/peers-del.json &
sleep 1
pid=$(pgrep -f "^python3 $B/guest/peers.py del" | head -1 || true)
for _ in $(seq 10); do
    [ -n "$pid" ] && [ -r "/proc/$pid/stack" ] || break
    head -6 "/proc/$pid/stack" | sed 's/+0x[0-9a-f/x]*//'
    echo "--"
    sleep 0.2
done | sort | uniq -c | sort -rn | head -12
wait
cat /tmp/peers-del.json
