#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Smoke test of ovpn-shortcut inside one (disposable) machine: two network
# namespaces joined by a veth pair, kernel tunnels between them.
# Run as root where the module can be loaded: NEVER on a development host.
#
#   tests/netns_smoke.sh [path/to/tools]
set -u
TOOLS=${1:-$(dirname "$0")/../tools}
CTL="python3 $TOOLS/ovpn_sc_ctl.py"
FAIL=0
a() { ip netns exec ovsa "$@"; }
b() { ip netns exec ovsb "$@"; }
ok() { echo "PASS: $*"; }
bad() { echo "FAIL: $*"; FAIL=1; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

K1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
K2=202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f
N1=a1a2a3a4a5a6a7a8
N2=b1b2b3b4b5b6b7b8

cleanup() {
	ip netns del ovsa 2>/dev/null
	ip netns del ovsb 2>/dev/null
}
trap cleanup EXIT
cleanup

modprobe ovpn_shortcut || { echo "FAIL: modprobe"; exit 1; }
ip netns add ovsa
ip netns add ovsb
ip link add veth-a netns ovsa type veth peer name veth-b netns ovsb
a ip link set lo up; b ip link set lo up
a ip addr add 10.0.0.1/24 dev veth-a; b ip addr add 10.0.0.2/24 dev veth-b
a ip addr add fd00::1/64 dev veth-a nodad; b ip addr add fd00::2/64 dev veth-b nodad
a ip link set veth-a up; b ip link set veth-b up

echo "== 1: P2P, userspace socket fds, P_DATA_V2, AES-256-GCM over IPv4"
check "ip link add type ovpn-shortcut" a ip link add tun-a type ovpn-shortcut
b ip link add tun-b type ovpn-shortcut
a ip addr add 192.168.99.1/24 dev tun-a; b ip addr add 192.168.99.2/24 dev tun-b
a ip link set tun-a up; b ip link set tun-b up
check "new-peer a (fd)" a $CTL new-peer tun-a --id 5 --remote 10.0.0.2:1194 --bind 10.0.0.1:1194
check "new-peer b (fd)" b $CTL new-peer tun-b --id 5 --remote 10.0.0.1:1194 --bind 10.0.0.2:1194
check "new-key a" a $CTL new-key tun-a --id 5 --key-id 1 --alg aes-gcm --enc-key $K1 --enc-nonce $N1 --dec-key $K2 --dec-nonce $N2
check "new-key b" b $CTL new-key tun-b --id 5 --key-id 1 --alg aes-gcm --enc-key $K2 --enc-nonce $N2 --dec-key $K1 --dec-nonce $N1
check "ping over P2P tunnel" a ping -c 3 -i 0.2 -W 2 192.168.99.2
a ip -6 addr add fd99::1/64 dev tun-a nodad; b ip -6 addr add fd99::2/64 dev tun-b nodad
check "ping6 (inner IPv6) over P2P tunnel" a ping -6 -c 3 -i 0.2 -W 2 fd99::2
a $CTL get-peer tun-a
a $CTL get-dev tun-a
check "tcpdump sees P_DATA_V2 (0x49..) on the wire" bash -c "
	ip netns exec ovsb timeout 30 tcpdump -c 1 -nni veth-b -x udp port 1194 > /tmp/ovs_td.txt 2>&1 &
	sleep 3; ip netns exec ovsa ping -c 3 -W 5 192.168.99.2 >/dev/null; wait
	grep -A2 '10.0.0.[12].1194 > 10.0.0.[12].1194' /tmp/ovs_td.txt | grep -q ' 4900 0005'"
cat /tmp/ovs_td.txt | head -5
check "bad key length rejected with extack" bash -c "ip netns exec ovsa $CTL new-key tun-a --id 5 --alg aes-gcm --enc-key 0011 --enc-nonce $N1 --dec-key 0011 --dec-nonce $N2 2>&1 | grep -q 'AES-GCM key must be'"
check "unknown peer rejected with extack" bash -c "ip netns exec ovsa $CTL del-peer tun-a --id 77 2>&1 | grep -q 'no peer with this peer-id'"
# a key object starts its TX packet-id at 1: material the peer held (either
# direction) would repeat (key, nonce) pairs and reopen the replay window
check "same key material again refused with extack" bash -c "ip netns exec ovsa $CTL new-key tun-a --id 5 --slot 1 --key-id 3 --alg aes-gcm --enc-key $K1 --enc-nonce $N1 --dec-key $K2 --dec-nonce $N2 2>&1 | grep -q 'key material already used with this peer'"
check "other end's material as ours refused" bash -c "ip netns exec ovsa $CTL new-key tun-a --id 5 --slot 1 --key-id 3 --alg aes-gcm --enc-key $K2 --enc-nonce $N2 --dec-key $K1 --dec-nonce $N1 2>&1 | grep -q 'key material already used with this peer'"
check "encrypt = decrypt material refused" bash -c "ip netns exec ovsa $CTL new-key tun-a --id 5 --slot 1 --key-id 3 --alg aes-gcm --enc-key $K2 --enc-nonce 0101010101010101 --dec-key $K2 --dec-nonce 0101010101010101 2>&1 | grep -q 'encrypt and decrypt key material are the same'"
check "ping after the refused keys" a ping -c 2 -i 0.2 -W 2 192.168.99.2

echo "== 1b: key rotation: secondary slot, swap, delete old"
a $CTL new-key tun-a --id 5 --slot 1 --key-id 2 --alg chacha --enc-key $K2 --enc-nonce $N2 --dec-key $K1 --dec-nonce $N1
b $CTL new-key tun-b --id 5 --slot 1 --key-id 2 --alg chacha --enc-key $K1 --enc-nonce $N1 --dec-key $K2 --dec-nonce $N2
a $CTL swap-keys tun-a --id 5; b $CTL swap-keys tun-b --id 5
check "ping after swap to ChaCha20-Poly1305 key" a ping -c 2 -i 0.2 -W 2 192.168.99.2
a $CTL del-key tun-a --id 5 --slot 1; b $CTL del-key tun-b --id 5 --slot 1
check "ping after deleting old key" a ping -c 2 -i 0.2 -W 2 192.168.99.2

echo "== 1c: TCP (GSO, segmentation before encryption)"
b iperf3 -s -1 -D >/dev/null 2>&1; sleep 0.5
check "iperf3 3s over tunnel" bash -c "ip netns exec ovsa iperf3 -c 192.168.99.2 -t 3 | tail -4"
a ip -s link show tun-a | head -8

echo "== 2: MP with device-owned sockets (static), P_DATA_V1, ChaCha20, IPv6 transport, iroute"
check "MP device with listen port" a $CTL link-add mp-a --mode mp --listen-port 2000
b $CTL link-add p2p-b --listen-port 2000
a ip addr add 192.168.98.1/24 dev mp-a; b ip addr add 192.168.98.2/24 dev p2p-b
a ip link set mp-a up; b ip link set p2p-b up
check "new-peer on device socket (v1, vip)" a $CTL new-peer mp-a --id 7 --remote [fd00::2]:2000 --vip4 192.168.98.2 --v1
b $CTL new-peer p2p-b --id 7 --remote [fd00::1]:2000 --v1
a $CTL new-key mp-a --id 7 --key-id 0 --alg chacha --enc-key $K1 --enc-nonce $N1 --dec-key $K2 --dec-nonce $N2
b $CTL new-key p2p-b --id 7 --key-id 0 --alg chacha --enc-key $K2 --enc-nonce $N2 --dec-key $K1 --dec-nonce $N1
check "ping over MP/V1/IPv6 transport" a ping -c 3 -i 0.2 -W 2 192.168.98.2
b ip addr add 172.16.5.1/32 dev lo
a ip route add 172.16.5.0/24 dev mp-a
check "no iroute yet: unreachable" bash -c "! ip netns exec ovsa ping -c 1 -W 1 172.16.5.1 >/dev/null"
a $CTL new-iroute mp-a --id 7 --prefix 172.16.5.0/24
check "ping via iroute" a ping -c 2 -i 0.2 -W 2 172.16.5.1
b ip addr add 10.99.99.99/32 dev lo
b ping -c 2 -W 1 -I 10.99.99.99 192.168.98.1 >/dev/null 2>&1
check "spoofed source dropped and counted" bash -c "ip netns exec ovsa $CTL get-dev mp-a | python3 -c 'import json,sys; d=json.load(sys.stdin)[0][\"dev\"]; print(d[\"drops\"]); sys.exit(0 if d[\"drops\"][\"spoofed\"]>=2 else 1)'"
check "non-data packet on owned socket dropped" bash -c "
	ip netns exec ovsb python3 -c \"import socket; s=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.sendto(bytes([0x38])+bytes(20), ('fd00::1', 2000))\"; sleep 0.5
	ip netns exec ovsa $CTL get-dev mp-a | grep -q '\"non_data\": 1'"
a $CTL get-peer mp-a

echo "== 3: keepalive and expiry with notification"
a $CTL monitor --count 1 --timeout 40 > /tmp/ovs_mon.txt &
MON=$!
sleep 0.5
# timeout 6 s, not 3: a guest under TCG on a loaded host can be late by seconds
a $CTL set-peer mp-a --id 7 --interval 1 --timeout 6
b $CTL set-peer p2p-b --id 7 --interval 1 --timeout 0
sleep 8
check "keepalives keep the peer alive" bash -c "ip netns exec ovsa $CTL get-peer mp-a --id 7 >/dev/null"
b $CTL del-peer p2p-b --id 7
wait $MON
cat /tmp/ovs_mon.txt
check "expired notification (reason 2)" grep -q '"reason": 2' /tmp/ovs_mon.txt
check "peer gone after expiry" bash -c "! ip netns exec ovsa $CTL get-peer mp-a --id 7 2>/dev/null"

echo "== 4: teardown with peers and traffic"
a ping -f -c 2000 192.168.99.2 >/dev/null 2>&1 &
sleep 0.5
check "delete device with peer under traffic" a ip link del tun-a
wait
b ip link del tun-b
a ip link del mp-a; b ip link del p2p-b
cleanup
sleep 1
check "rmmod" rmmod ovpn_shortcut
dmesg | grep -iE "ovpn|WARNING|BUG|refcount|lockdep|unregister_netdevice" | tail -20
if dmesg | grep -qE "WARNING:|BUG:|refcount_t|unregister_netdevice: waiting"; then bad "kernel log clean"; else ok "kernel log clean"; fi
[ $FAIL = 0 ] && echo "ALL PASSED" || echo "SOME FAILED"
exit $FAIL
