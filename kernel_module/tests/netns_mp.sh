#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# MP server with one userspace socket shared by two clients, TX by VIP,
# client-to-client through the server, cipher none, then rmmod with live
# devices and traffic.  Disposable machines only.
#   tests/netns_mp.sh [tools-dir]
set -u
TOOLS=${1:-$(dirname "$0")/../tools}
CTL="python3 $TOOLS/ovpn_sc_ctl.py"
FAIL=0
ns() { local n=$1; shift; ip netns exec "ovs$n" "$@"; }
check() { local what=$1; shift; if "$@"; then echo "PASS: $what"; else echo "FAIL: $what"; FAIL=1; fi; }
K1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
K2=202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f
K3=404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f
K4=606162636465666768696a6b6c6d6e6f
N1=a1a2a3a4a5a6a7a8
N2=b1b2b3b4b5b6b7b8
cleanup() { for n in a b c; do ip netns del ovs$n 2>/dev/null; done; }
trap cleanup EXIT
cleanup
dmesg -C
# cipher none (below) is off unless the module is loaded with this parameter
rmmod ovpn_shortcut 2>/dev/null
modprobe ovpn_shortcut allow_cipher_none=1 || exit 1
for n in a b c; do ip netns add ovs$n; ns $n ip link set lo up; done
ip link add ab netns ovsa type veth peer name ba netns ovsb
ip link add ac netns ovsa type veth peer name ca netns ovsc
ns a ip addr add 10.0.0.1/24 dev ab; ns b ip addr add 10.0.0.2/24 dev ba
ns a ip addr add 10.0.1.1/24 dev ac; ns c ip addr add 10.0.1.3/24 dev ca
for l in "a ab" "a ac" "b ba" "c ca"; do set -- $l; ns $1 ip link set $2 up; done
ns a sysctl -qw net.ipv4.ip_forward=1

ns a $CTL link-add srv --mode mp
ns a ip addr add 10.8.0.1/24 dev srv; ns a ip link set srv up
check "two peers on one userspace socket (batch, same fd)" ns a $CTL batch <<EOB
new-peer srv --id 1 --remote 10.0.0.2:1194 --bind 0.0.0.0:1194 --vip4 10.8.0.2 --vip6 fd08::2
new-peer srv --id 2 --remote 10.0.1.3:1194 --bind 0.0.0.0:1194 --vip4 10.8.0.3
new-key srv --id 1 --key-id 0 --alg aes-gcm --enc-key $K1 --enc-nonce $N1 --dec-key $K2 --dec-nonce $N2
new-key srv --id 2 --key-id 0 --alg aes-gcm --enc-key $K3 --enc-nonce $N1 --dec-key $K4 --dec-nonce $N2
EOB
check "a different socket is refused while one is attached" bash -c "ip netns exec ovsa $CTL new-peer srv --id 3 --remote 10.0.0.9:1194 --bind 0.0.0.0:1195 --vip4 10.8.0.9 2>&1 | grep -q 'another UDP socket'"
check "duplicate VIP refused" bash -c "ip netns exec ovsa $CTL new-peer srv --id 4 --remote 10.0.0.9:1194 --vip4 10.8.0.2 2>&1 | grep -q 'VPN IPv4 used by another peer'"
check "duplicate peer-id refused" bash -c "ip netns exec ovsa $CTL new-peer srv --id 2 --remote 10.0.0.9:1194 --vip4 10.8.0.9 2>&1 | grep -q 'peer with this peer-id exists'"
for n in b c; do
	ns $n $CTL link-add cli
	ns $n ip link set cli up
done
ns b ip addr add 10.8.0.2/24 dev cli; ns c ip addr add 10.8.0.3/24 dev cli
ns a ip -6 addr add fd08::1/64 dev srv nodad; ns b ip -6 addr add fd08::2/64 dev cli nodad
ns b $CTL new-peer cli --id 1 --remote 10.0.0.1:1194 --bind 10.0.0.2:1194
ns c $CTL new-peer cli --id 2 --remote 10.0.1.1:1194 --bind 10.0.1.3:1194
ns b $CTL new-key cli --id 1 --key-id 0 --alg aes-gcm --enc-key $K2 --enc-nonce $N2 --dec-key $K1 --dec-nonce $N1
ns c $CTL new-key cli --id 2 --key-id 0 --alg aes-gcm --enc-key $K4 --enc-nonce $N2 --dec-key $K3 --dec-nonce $N1
check "server -> client 1 by VIP" ns a ping -c 2 -i 0.2 -W 2 10.8.0.2
check "server -> client 2 by VIP" ns a ping -c 2 -i 0.2 -W 2 10.8.0.3
check "server -> client 1 by VIP6 (inner IPv6)" ns a ping -6 -c 2 -i 0.2 -W 2 fd08::2
check "client 1 -> client 2 through the server" ns b ping -c 2 -i 0.2 -W 2 10.8.0.3
# the packets left by the device they came in on: no ICMP redirect to client 1
redirects() { ns a nstat -az -j IcmpOutRedirects | python3 -c 'import json, sys; print(list(json.load(sys.stdin).values())[0]["IcmpOutRedirects"])'; }
check "MP: no ICMP redirect sent for client-to-client traffic" test "$(redirects)" = 0
check "unknown VIP: no peer, ICMP unreachable" bash -c "ip netns exec ovsa ping -c 1 -W 1 10.8.0.77 2>&1 | grep -qi 'unreachable'"
check "dump lists both peers" bash -c "ip netns exec ovsa $CTL get-peer srv | grep -c '\"peer_id\"' | grep -qx 2"

echo "== P2P peer on a socket bound to another address, no local IP given"
# The addresses sit on a's loopback, off the link's prefix: routing alone would
# send from 10.0.0.1 / fd00::1, a userspace sender on that socket from .11.
ns a ip addr add 10.0.5.11/32 dev lo; ns b ip route add 10.0.5.11/32 via 10.0.0.1
ns a ip -6 addr add fd00::1/64 dev ab nodad; ns b ip -6 addr add fd00::2/64 dev ba nodad
ns a ip -6 addr add fd05::11/128 dev lo nodad; ns b ip -6 route add fd05::11/128 via fd00::1
for v in 4 6; do
	ns a $CTL link-add bs$v; ns b $CTL link-add bc$v
	ns a ip addr add 10.9.$v.1/30 dev bs$v; ns b ip addr add 10.9.$v.2/30 dev bc$v
	ns a ip link set bs$v up; ns b ip link set bc$v up
done
ns a $CTL new-peer bs4 --id 5 --remote 10.0.0.2:1196 --bind 10.0.5.11:1196
ns b $CTL new-peer bc4 --id 5 --remote 10.0.5.11:1196 --bind 10.0.0.2:1196
ns a $CTL new-peer bs6 --id 6 --remote [fd00::2]:1197 --bind [fd05::11]:1197
ns b $CTL new-peer bc6 --id 6 --remote [fd05::11]:1197 --bind [fd00::2]:1197
for v in 4 6; do
	ns a $CTL new-key bs$v --id $((v == 4 ? 5 : 6)) --key-id 0 --alg aes-gcm --enc-key $K1 --enc-nonce $N1 --dec-key $K2 --dec-nonce $N2
	ns b $CTL new-key bc$v --id $((v == 4 ? 5 : 6)) --key-id 0 --alg aes-gcm --enc-key $K2 --enc-nonce $N2 --dec-key $K1 --dec-nonce $N1
done
# -Z root: tcpdump would write as its own user, and a file left by a run before
# (another owner, sticky /tmp) would be read again instead
rm -f /tmp/netns_mp_bound.pcap
ns b timeout 8 tcpdump -Z root -n -U -i ba -w /tmp/netns_mp_bound.pcap 'udp and (port 1196 or port 1197)' 2>/dev/null &
TD=$!
sleep 2
check "bound v4 socket: ping through" ns a ping -c 2 -i 0.2 -W 2 10.9.4.2
check "bound v6 socket: ping through" ns a ping -c 2 -i 0.2 -W 2 10.9.6.2
wait $TD
ns b tcpdump -n -r /tmp/netns_mp_bound.pcap 2>/dev/null | tail -4
sent_from() { ns b tcpdump -n -r /tmp/netns_mp_bound.pcap "src host $1" 2>/dev/null | wc -l; }
check "v4: the server sent from its bound 10.0.5.11" test "$(sent_from 10.0.5.11)" -ge 2
check "v4: nothing sent from the routing-chosen 10.0.0.1" test "$(sent_from 10.0.0.1)" = 0
check "v6: the server sent from its bound fd05::11" test "$(sent_from fd05::11)" -ge 2
check "v6: nothing sent from the routing-chosen fd00::1" test "$(sent_from fd00::1)" = 0

echo "== cipher none between b and a"
ns a $CTL new-key srv --id 1 --key-id 1 --alg none
ns b $CTL new-key cli --id 1 --key-id 1 --alg none
check "ping with cipher none" ns b ping -c 2 -i 0.2 -W 2 10.8.0.1

echo "== rmmod with live devices, peers and traffic"
ns b ping -f -c 100000 10.8.0.3 >/dev/null 2>&1 &
P1=$!
ns c ping -f -c 100000 10.8.0.2 >/dev/null 2>&1 &
P2=$!
sleep 2
check "rmmod while flooding" rmmod ovpn_shortcut
kill $P1 $P2 2>/dev/null
wait
check "no ovpn-shortcut links left" bash -c "! ip -all netns exec ip -d link show 2>/dev/null | grep -q ovpn-shortcut"
dmesg | grep -E "ovpn|WARNING|BUG|refcount|waiting for" | tail -8
if dmesg | grep -qE "WARNING:|BUG:|refcount_t|unregister_netdevice: waiting"; then echo "FAIL: kernel log clean"; FAIL=1; else echo "PASS: kernel log clean"; fi
[ $FAIL = 0 ] && echo "ALL PASSED" || echo "SOME FAILED"
exit $FAIL
