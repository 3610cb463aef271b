#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Wire-format interop check (see wire_check.py). Disposable machines only.
#   tests/netns_wire.sh [tools-dir] [tests-dir]
set -u
TOOLS=${1:-$(dirname "$0")/../tools}
TESTS=${2:-$(dirname "$0")}
CTL="python3 $TOOLS/ovpn_sc_ctl.py"
a() { ip netns exec ovsa "$@"; }
b() { ip netns exec ovsb "$@"; }
K1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
K2=202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f
N1=a1a2a3a4a5a6a7a8
N2=b1b2b3b4b5b6b7b8
RC=0
cleanup() { ip netns del ovsa 2>/dev/null; ip netns del ovsb 2>/dev/null; }
trap cleanup EXIT
cleanup
modprobe ovpn_shortcut || exit 1
ip netns add ovsa; ip netns add ovsb
ip link add veth-a netns ovsa type veth peer name veth-b netns ovsb
a ip addr add 10.0.0.1/24 dev veth-a; b ip addr add 10.0.0.2/24 dev veth-b
a ip link set veth-a up; b ip link set veth-b up; a ip link set lo up; b ip link set lo up

run() { # alg v1flag keyhex
	local alg=$1 v1=$2 key=$3
	echo "== wire check: $alg ${v1:-v2}"
	a ip link add tw type ovpn-shortcut
	a ip addr add 192.168.97.1/24 dev tw; a ip link set tw up
	a $CTL new-peer tw --id 9 --remote 10.0.0.2:1300 --bind 10.0.0.1:1300 $v1 || RC=1
	a $CTL new-key tw --id 9 --key-id 3 --alg $alg --enc-key $key --enc-nonce $N1 --dec-key $key --dec-nonce $N2 || RC=1
	a $CTL monitor --count 1 --timeout 20 > /tmp/ovs_float.txt &
	local mon=$!
	sleep 0.5
	b python3 $TESTS/wire_check.py --alg $alg $v1 --peer-id 9 --key-id 3 --kernel 10.0.0.1:1300 \
		--local 10.0.0.2:1300 --alt-port 1301 --enc-key $key --enc-nonce $N1 \
		--dec-key $key --dec-nonce $N2 --inner-local 192.168.97.2 --inner-kernel 192.168.97.1 || RC=1
	wait $mon
	cat /tmp/ovs_float.txt
	grep -q PEER_FLOAT_NTF /tmp/ovs_float.txt && echo "PASS: float notification" || { echo "FAIL: float notification"; RC=1; }
	a $CTL get-dev tw | python3 -c '
import json, sys
d = json.load(sys.stdin)[0]["dev"]
dr = d["drops"]
print("drops:", {k: v for k, v in dr.items() if v}, "userspace:", d["userspace_packets"], "keepalive_rx:", d["keepalive_rx"])
ok = dr["replay"] == 1 and dr["auth"] == 1 and d["keepalive_rx"] == 1 and d["userspace_packets"] >= 1
print("PASS: counters (replay 1, auth 1, keepalive 1, userspace >= 1)" if ok else "FAIL: counters")
sys.exit(0 if ok else 1)' || RC=1
	a ip link del tw
	sleep 0.5
}
run aes-gcm "" $K1
run chacha --v1 $K2
run aes-gcm --v1 000102030405060708090a0b0c0d0e0f
[ $RC = 0 ] && echo "ALL PASSED" || echo "SOME FAILED"
exit $RC
