#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Test-knob checks: asynchronous AEAD completion (cryptd) and packet-id
# exhaustion (notification near the end, hard stop at 0xFFFFFFFF).
# Disposable machines only.   tests/netns_debug.sh [tools-dir] [tests-dir]
set -u
TOOLS=${1:-$(dirname "$0")/../tools}
TESTS=${2:-$(dirname "$0")}
CTL="python3 $TOOLS/ovpn_sc_ctl.py"
P=/sys/module/ovpn_shortcut/parameters
FAIL=0
a() { ip netns exec ovsa "$@"; }
b() { ip netns exec ovsb "$@"; }
check() { local what=$1; shift; if "$@"; then echo "PASS: $what"; else echo "FAIL: $what"; FAIL=1; fi; }
K1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
K2=202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f
N1=a1a2a3a4a5a6a7a8
N2=b1b2b3b4b5b6b7b8
cleanup() { ip netns del ovsa 2>/dev/null; ip netns del ovsb 2>/dev/null; }
trap cleanup EXIT
cleanup
dmesg -C
modprobe ovpn_shortcut || exit 1
ip netns add ovsa; ip netns add ovsb
ip link add veth-a netns ovsa type veth peer name veth-b netns ovsb
a ip addr add 10.0.0.1/24 dev veth-a; b ip addr add 10.0.0.2/24 dev veth-b
a ip link set veth-a up; b ip link set veth-b up; a ip link set lo up; b ip link set lo up

pair() { # alg
	a ip link add tk type ovpn-shortcut; b ip link add tk type ovpn-shortcut
	a ip addr add 192.168.96.1/24 dev tk; b ip addr add 192.168.96.2/24 dev tk
	a ip link set tk up; b ip link set tk up
	a $CTL new-peer tk --id 3 --remote 10.0.0.2:1400 --bind 10.0.0.1:1400
	b $CTL new-peer tk --id 3 --remote 10.0.0.1:1400 --bind 10.0.0.2:1400
	a $CTL new-key tk --id 3 --alg $1 --enc-key $K1 --enc-nonce $N1 --dec-key $K2 --dec-nonce $N2
	b $CTL new-key tk --id 3 --alg $1 --enc-key $K2 --enc-nonce $N2 --dec-key $K1 --dec-nonce $N1
}
unpair() { a ip link del tk; b ip link del tk; sleep 0.5; }

echo "== async AEAD completion (debug_async_aead: requests run from a work item)"
echo 1 > $P/debug_async_aead
for alg in aes-gcm chacha; do
	pair $alg
	check "$alg async: ping" a ping -c 3 -i 0.2 -W 2 192.168.96.2
	b iperf3 -s -1 -D >/dev/null 2>&1; sleep 0.5
	check "$alg async: iperf3 2s" bash -c "ip netns exec ovsa iperf3 -c 192.168.96.2 -t 2 | grep -E 'sender|receiver'"
	a ping -f -c 3000 192.168.96.2 >/dev/null 2>&1 &
	PF=$!
	sleep 1
	check "$alg async: delete device while requests are in flight" a ip link del tk
	kill $PF 2>/dev/null; wait $PF 2>/dev/null
	b ip link del tk; sleep 0.5
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
cleanup
sleep 1
check "rmmod" rmmod ovpn_shortcut
if dmesg | grep -qE "WARNING:|BUG:|refcount_t|unregister_netdevice: waiting"; then echo "FAIL: kernel log clean"; dmesg | tail; FAIL=1; else echo "PASS: kernel log clean"; fi
[ $FAIL = 0 ] && echo "ALL PASSED" || echo "SOME FAILED"
exit $FAIL
