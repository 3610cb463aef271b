#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# ChaCha20-Poly1305 in one pass on the library ChaCha20 and Poly1305
# (chacha_lib=1, default) against the crypto API's rfc7539 template
# (chacha_lib=0, read when a key is installed): ovsa's key is made with the
# template, ovsb's with the library, so each direction is encrypted by one
# and decrypted by the other.  UDP datagrams of every size from 1 to 1,400
# bytes (every tail length of a 64-byte block) are echoed back byte for
# byte; then the tunnel's MTU goes to 4,000 over the veth's 1,500: outer
# packets arrive in IP fragments whose kmalloc'ed heads reassembly cannot
# coalesce, so they stay a frag_list and the ciphertext spans several
# scatterlist entries that end inside a ChaCha20 block (a path no linear or
# paged packet takes: skb_cow_data() pulls page fragments in); datagrams of
# 1,401-3,900 bytes go over it.  TCP streams both ways run before (TCP's
# DF packets meet the tunnel's path MTU and are not fragmented).  A
# library-only pair must not load the template module.  The fragmented half runs with parallel_crypto=2
# (library requests on workers).
# Disposable machines only.   tests/netns_chacha.sh [tools-dir] [tests-dir]
set -u
TOOLS=${1:-$(dirname "$0")/../tools}
TESTS=${2:-$(dirname "$0")}
# shellcheck source=two_ns.inc
. "$TESTS/two_ns.inc"
[ -w $P/chacha_lib ] || { echo "FAIL: no chacha_lib parameter"; exit 1; }
PAIR_NET=192.168.96 PAIR_ID=6 PAIR_PORT=1600

# drops of one end, as "reason=count" for the non-zero ones
drops() {
	ip netns exec "$1" $CTL get-dev tk | python3 -c '
import json, sys
d = json.load(sys.stdin)[0]["dev"]["drops"]
print(" ".join(f"{k}={v}" for k, v in sorted(d.items()) if v) or "none")'
}
# pair() with ChaCha20 keys: ovsa's under chacha_lib=$1, ovsb's under $2
pair_mixed() {
	pair_peers
	echo "$1" > $P/chacha_lib
	pair_key_a chacha
	echo "$2" > $P/chacha_lib
	pair_key_b chacha
	echo 1 > $P/chacha_lib
}
# no_auth_drop WHAT: the drops of both ends printed, a check that neither has an auth drop
no_auth_drop() {
	local da db
	da=$(drops ovsa) db=$(drops ovsb)
	echo "drops: ovsa $da, ovsb $db"
	check "$1: no auth drop at either end" bash -c "! echo '$da $db' | grep -q auth="
}
# echo_sizes FIRST LAST [STEP]: datagrams of each size from ovsa, echoed by ovsb, compared;
# an empty datagram stops the echo server, five lost in a row the sender
echo_sizes() {
	b python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7100))
s.settimeout(10)
while True:
    try:
        d, peer = s.recvfrom(65535)
    except socket.timeout:
        break
    if not d:
        break
    s.sendto(d, peer)' &
	local srv=$!
	sleep 0.5
	a python3 -c '
import os, socket, sys
first, last, step = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
bad, lost, sent = [], 0, 0
for n in range(first, last + 1, step):
    sent += 1
    d = os.urandom(n)
    s.sendto(d, ("192.168.96.2", 7100))
    try:
        back = s.recv(65535)
        lost = 0
    except socket.timeout:
        back = None
        lost += 1
    if back != d:
        bad.append(n)
    if lost == 5:
        print(f"five datagrams lost in a row, stopped at size {n}")
        break
s.sendto(b"", ("192.168.96.2", 7100))
print(f"sizes {first}-{last} step {step}: {sent - len(bad)} of {sent} echoed intact, bad: {bad[:20]}")
sys.exit(1 if bad else 0)' "$1" "$2" "${3:-1}"
	local rc=$?
	wait $srv
	return $rc
}
iperf_ok() { # iperf3 client args...: the run moved data
	serve_once
	# a stream whose fragments fail the tag stalls: bound it
	timeout 30 ip netns exec ovsa iperf3 -c $PAIR_NET.2 -t 2 --connect-timeout 5000 "$@" \
		> /tmp/ovs_chacha_iperf.txt 2>&1
	grep -E "sender|receiver" /tmp/ovs_chacha_iperf.txt
	grep -qE "receiver" /tmp/ovs_chacha_iperf.txt && ! grep -qE " 0\.00 Bytes .*receiver" /tmp/ovs_chacha_iperf.txt
}

echo "== library on both ends: the template module stays unloaded"
rmmod chacha20poly1305 2>/dev/null
pair_mixed 1 1
check "library both ends: ping" a ping -c 3 -i 0.2 -W 2 $PAIR_NET.2
check "library both ends: sizes 1-200 echoed intact" echo_sizes 1 200
no_auth_drop "library both ends"
if grep -q '^chacha20poly1305 ' /proc/modules; then
	echo "FAIL: the rfc7539 template module was loaded: keys did not use the library"; FAIL=1
else
	echo "PASS: no rfc7539 template module loaded (library path in use)"
fi
unpair

echo "== ovsa template (chacha_lib=0), ovsb library (chacha_lib=1)"
pair_mixed 0 1
grep -q '^chacha20poly1305 ' /proc/modules && echo "template module loaded for ovsa's key"
echo 0 > $P/parallel_crypto
check "mixed: sizes 1-1400 echoed intact (inline)" echo_sizes 1 1400
check "mixed: TCP a -> b" iperf_ok
check "mixed: TCP b -> a" iperf_ok -R
a ip link set tk mtu 4000; b ip link set tk mtu 4000
echo 2 > $P/parallel_crypto
check "mixed, outer packets in IP fragments: sizes 1401-3900 (step 3) echoed intact (on workers)" \
	echo_sizes 1401 3900 3
echo 1 > $P/parallel_crypto
check "outer packets were fragmented" bash -c \
	"ip netns exec ovsb nstat -az IpReasmOKs | awk '/IpReasmOKs/ { exit !(\$2 > 800) }'"
no_auth_drop "mixed"
unpair
finish
