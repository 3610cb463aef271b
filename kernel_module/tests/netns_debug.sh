#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Test-knob checks: asynchronous AEAD completion (cryptd) and packet-id
# exhaustion (notification near the end, hard stop at 0xFFFFFFFF).
# Disposable machines only.   tests/netns_debug.sh [tools-dir] [tests-dir]
set -u
TOOLS=${1:-$(dirname "$0")/../tools}
TESTS=${2:-$(dirname "$0")}
# shellcheck source=two_ns.inc
. "$TESTS/two_ns.inc"

PAIR_NET=192.168.96 PAIR_ID=3 PAIR_PORT=1400

echo "== async AEAD completion (debug_async_aead: requests run from a work item)"
echo 1 > $P/debug_async_aead
for alg in aes-gcm chacha; do
	pair $alg
	check "$alg async: ping" a ping -c 3 -i 0.2 -W 2 192.168.96.2
	serve_once
	check "$alg async: iperf3 2s" bash -c "ip netns exec ovsa iperf3 -c 192.168.96.2 -t 2 | grep -E 'sender|receiver'"
	del_under_flood "$alg async: delete device while requests are in flight"
done
echo 0 > $P/debug_async_aead

echo "== packet-id exhaustion"
a $CTL monitor --count 1 --timeout 60 > /tmp/ovs_exh.txt &
MON=$!
sleep 0.5
echo $((0xFEFFFFFE)) > $P/debug_tx_pktid_start
pair aes-gcm
echo 0 > $P/debug_tx_pktid_start
check "ping across 0xFF000000" a ping -c 3 -i 0.2 -W 2 192.168.96.2
wait $MON
cat /tmp/ovs_exh.txt
check "key-exhausted notification" grep -q KEY_EXHAUSTED_NTF /tmp/ovs_exh.txt
unpair
echo $((0xFFFFFFFE)) > $P/debug_tx_pktid_start
pair aes-gcm
echo 0 > $P/debug_tx_pktid_start
a ping -c 4 -i 0.2 -W 1 192.168.96.2 > /tmp/ovs_ping.txt 2>&1
grep -E "transmitted" /tmp/ovs_ping.txt
check "TX stops after packet-id 0xFFFFFFFF (drops counted)" bash -c "ip netns exec ovsa $CTL get-dev tk | python3 -c 'import json,sys; d=json.load(sys.stdin)[0][\"dev\"][\"drops\"]; print(\"pktid_exhausted:\", d[\"pktid_exhausted\"]); sys.exit(0 if d[\"pktid_exhausted\"] >= 3 else 1)'"
check "tx-pktid reported as 0xffffffff" bash -c "ip netns exec ovsa $CTL get-peer tk --id 3 | grep -q '\"tx_pktid\": 4294967295'"
unpair
finish
