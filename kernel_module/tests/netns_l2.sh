#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Layer 2 (dev-type tap): an MP tap server with three peers, each a netns
# with a P2P tap device; ARP, ping, broadcast to every client, the MAC table
# over netlink, the server device in a bridge with a veth "LAN host", no
# client-to-client without hairpin, a spoofed MAC and a MAC flood refused
# and counted, mssfix of SYNs both ways, per-peer flush, ageing, entries gone
# with their peer, rmmod.
# Disposable machines only.
#   tests/netns_l2.sh [tools-dir]
set -u
TOOLS=${1:-$(dirname "$0")/../tools}
CTL="python3 $TOOLS/ovpn_sc_ctl.py"
FAIL=0
ns() { local n=$1; shift; ip netns exec "ovs$n" "$@"; }
check() { local what=$1; shift; if "$@"; then echo "PASS: $what"; else echo "FAIL: $what"; FAIL=1; fi; }
hex() { python3 -c "import os; print(os.urandom($1).hex())"; }
# json helpers: the MAC table, a device counter, a drop counter
macs() { ns a $CTL get-mac srv "$@" | python3 -c 'import json, sys
d = sys.stdin.read().strip()
for m in (json.loads(d) if d else []):
    m = m["mac"]; print(m["addr"], m["peer_id"], m["age_ms"])'; }
nmacs() { macs "$@" | grep -c .; }
mt() { ns a $CTL get-dev srv | python3 -c "import json, sys; print(json.load(sys.stdin)[0]['mac_table']['$1'])"; }
drops() { ns a $CTL get-dev srv | python3 -c "import json, sys; print(json.load(sys.stdin)[0]['dev']['drops']['$1'])"; }
peer_drops() { ns a $CTL get-peer srv --id "$1" | python3 -c "import json, sys; print(json.load(sys.stdin)[0]['get_peer']['drops']['$2'])"; }
mac_of() { ns "$1" cat /sys/class/net/cli/address; }
has() { grep -q "$1" <<<"$2"; }
CLIENTS="b c d"
cleanup() { for n in a b c d l; do ip netns del ovs$n 2>/dev/null; done; }
trap cleanup EXIT
cleanup
dmesg -C
rmmod ovpn_shortcut 2>/dev/null
modprobe ovpn_shortcut || exit 1
for n in a b c d l; do ip netns add ovs$n; ns $n ip link set lo up; done
i=0
for n in $CLIENTS; do
	i=$((i + 1))
	# (not "a$n": "ip link add ad" reads "ad" as "address")
	ip link add w$n netns ovsa type veth peer name ${n}w netns ovs$n
	ns a ip addr add 10.0.$i.1/24 dev w$n; ns a ip link set w$n up
	ns $n ip addr add 10.0.$i.2/24 dev ${n}w; ns $n ip link set ${n}w up
done

ns a $CTL link-add srv --mode mp --type tap
check "tap device is Ethernet (link/ether, broadcast)" bash -c "ip netns exec ovsa ip -d link show srv | grep -q 'link/ether .* brd ff:ff:ff:ff:ff:ff'"
check "tap device reports dev-type tap over rtnetlink and genl" bash -c "ip netns exec ovsa $CTL get-dev srv | grep -q '\"dev_type\": 1'"
check "tap MTU is the IP MTU (1500)" bash -c "ip netns exec ovsa cat /sys/class/net/srv/mtu | grep -qx 1500"
ns a ip addr add 10.9.0.1/24 dev srv; ns a ip link set srv up

i=0
BATCH=""
for n in $CLIENTS; do
	i=$((i + 1))
	eval "KS$i=$(hex 32) KC$i=$(hex 32) NS$i=$(hex 8) NC$i=$(hex 8)"
	eval "ks=\$KS$i kc=\$KC$i nsv=\$NS$i nc=\$NC$i"
	BATCH+="new-peer srv --id $i --remote 10.0.$i.2:1194 --bind 0.0.0.0:1194
new-key srv --id $i --key-id 0 --alg aes-gcm --enc-key $ks --enc-nonce $nsv --dec-key $kc --dec-nonce $nc
"
	ns $n $CTL link-add cli --type tap
	ns $n ip addr add 10.9.0.$((i + 1))/24 dev cli
	ns $n ip link set cli up
	ns $n sysctl -qw net.ipv4.icmp_echo_ignore_broadcasts=0
	ns $n $CTL new-peer cli --id $i --remote 10.0.$i.1:1194 --bind 10.0.$i.2:1194
	ns $n $CTL new-key cli --id $i --key-id 0 --alg aes-gcm --enc-key $kc --enc-nonce $nc --dec-key $ks --dec-nonce $nsv
done
check "three peers on the MP tap server" ns a $CTL batch <<<"$BATCH"

for i in 1 2 3; do
	check "server -> client $i: ARP and ping" ns a ping -c 2 -i 0.2 -W 2 10.9.0.$((i + 1))
done
check "client 1 -> server ping" ns b ping -c 2 -i 0.2 -W 2 10.9.0.1
check "server learnt client 1's MAC by ARP (neighbour entry)" bash -c "ip netns exec ovsa ip neigh show dev srv 10.9.0.2 | grep -q '$(mac_of b)'"

echo "== mssfix on a tap device: the client's SYN (RX) and the server's SYN-ACK (TX)"
devctr() { ns a $CTL get-dev srv | python3 -c "import json, sys; print(json.load(sys.stdin)[0]['dev']['$1'])"; }
rx0=$(devctr mss_clamped_rx); tx0=$(devctr mss_clamped_tx)
ns a $CTL set-dev srv --mss 1000
rm -f /tmp/l2mss_a.pcap /tmp/l2mss_b.pcap
ns a timeout 15 tcpdump -Z root -U -n -c 1 -i srv -w /tmp/l2mss_a.pcap 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' 2>/dev/null &
TA=$!
ns b timeout 15 tcpdump -Z root -U -n -c 1 -i cli -w /tmp/l2mss_b.pcap 'tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)' 2>/dev/null &
TB=$!
ns a timeout 15 socat -u TCP-LISTEN:5001,reuseaddr OPEN:/dev/null &
sleep 2
ns b timeout 10 socat -u OPEN:/dev/null TCP:10.9.0.1:5001
wait $TA $TB
syn=$(tcpdump -v -n -r /tmp/l2mss_a.pcap 2>/dev/null); synack=$(tcpdump -v -n -r /tmp/l2mss_b.pcap 2>/dev/null)
echo "$syn" | tail -2; echo "$synack" | tail -2
check "tap RX: the client's SYN reaches the server with MSS 1000 (client sent 1460)" has "mss 1000," "$syn"
check "tap TX: the server's SYN-ACK reaches the client with MSS 1000" has "mss 1000," "$synack"
bad=$(printf '%s\n%s\n' "$syn" "$synack" | grep -c incorrect)
check "tap: both clamped segments carry a right TCP checksum" test "$bad" = 0
check "tap: mss_clamped_rx and _tx counted one each" test "$(( $(devctr mss_clamped_rx) - rx0 )) $(( $(devctr mss_clamped_tx) - tx0 ))" = "1 1"
ns a $CTL set-dev srv --mss 0

echo "== broadcast to every client"
f0=$(mt flooded)
ns a ping -b -c 3 -i 0.3 -W 2 10.9.0.255 >/tmp/l2_bcast.txt 2>&1
for i in 1 2 3; do
	check "broadcast ping answered by client $i" grep -q "from 10.9.0.$((i + 1))" /tmp/l2_bcast.txt
done
check "broadcast flooded: flooded counter grew by >= 3" test $(($(mt flooded) - f0)) -ge 3
check "flood copies counted (2 clones per flooded frame)" test "$(mt flood_copies)" -ge 6

echo "== MAC table over netlink"
TABLE=$(macs)
echo "$TABLE"
check "table holds the 3 client MACs" test "$(grep -c . <<<"$TABLE")" = 3
i=0
for n in $CLIENTS; do
	i=$((i + 1))
	check "client $i's MAC belongs to peer $i" has "^$(mac_of $n) $i " "$TABLE"
done
check "get-mac filtered by peer-id lists one entry" test "$(nmacs --id 2)" = 1
check "table size reported in get-dev" test "$(mt entries)" = 3

echo "== client-to-client: delivered up, not forwarded in the kernel"
check "client 1 -> client 2 is not forwarded without a bridge" bash -c "! ip netns exec ovsb ping -c 1 -W 1 10.9.0.3 >/dev/null 2>&1"

echo "== server device in bridge br0 with a LAN host"
ns a ip addr flush dev srv
ns a ip link add br0 type bridge
ns a ip link set srv master br0
ip link add lan netns ovsa type veth peer name eth0 netns ovsl
ns a ip link set lan master br0; ns a ip link set lan up
ns a ip addr add 10.9.0.1/24 dev br0; ns a ip link set br0 up
ns l ip addr add 10.9.0.100/24 dev eth0; ns l ip link set eth0 up
sleep 1
check "srv is a bridge port" bash -c "ip netns exec ovsa bridge link show dev srv | grep -q 'master br0'"
check "client 1 -> LAN host 10.9.0.100 through the bridge" ns b ping -c 3 -i 0.2 -W 2 10.9.0.100
check "client 3 -> LAN host" ns d ping -c 2 -i 0.2 -W 2 10.9.0.100
check "LAN host -> client 2" ns l ping -c 2 -i 0.2 -W 2 10.9.0.3
check "client 2 -> server on br0" ns c ping -c 2 -i 0.2 -W 2 10.9.0.1
check "bridge learnt client 1's MAC on port srv" bash -c "ip netns exec ovsa bridge fdb show br br0 | grep -q '$(mac_of b) dev srv'"
check "client 1 -> client 2: no hairpin, not forwarded (OpenVPN without client-to-client)" bash -c "! ip netns exec ovsb ping -c 1 -W 1 10.9.0.3 >/dev/null 2>&1"
ns a bridge link set dev srv hairpin on
# the refused attempt left a FAILED neighbour entry: resolve afresh
ns b ip neigh flush dev cli
check "hairpin on: client 1 -> client 2 through the bridge" ns b ping -c 3 -i 0.3 -W 2 10.9.0.3
ns a bridge link set dev srv hairpin off

echo "== spoofed source MAC (client 1's, sent by client 3)"
sp0=$(peer_drops 3 mac_spoofed)
ns d $CTL send-frames cli --count 50 --src "$(mac_of b)"
sleep 1
check "50 frames with client 1's MAC from peer 3 dropped as mac-spoofed" test $(($(peer_drops 3 mac_spoofed) - sp0)) = 50
check "client 1's MAC still owned by peer 1" bash -c "ip netns exec ovsa $CTL get-mac srv --mac $(mac_of b) | grep -q '\"peer_id\": 1'"
check "client 1 still reaches the LAN host" ns b ping -c 2 -i 0.2 -W 2 10.9.0.100
ns d $CTL send-frames cli --count 20 --src 01:00:5e:00:00:01
sleep 1
check "20 frames with a multicast source MAC dropped as mac-bad-src" test "$(peer_drops 3 mac_bad_src)" = 20

echo "== MAC flood from client 1: 5000 random source MACs, bound 100 per peer"
ns a $CTL set-mac-table srv --max-peer 100
check "bound set (max-peer-entries 100)" test "$(mt max_peer_entries)" = 100
lim0=$(drops mac_limit)
before2=$(macs --id 2 | cut -d' ' -f1,2)
start=$(date +%s.%N)
ns b $CTL send-frames cli --count 5000 --src random
sleep 2
echo "flood of 5000 frames sent in $(python3 -c "print(round($(date +%s.%N) - $start - 2, 2))") s"
n1=$(nmacs --id 1)
lim=$(($(drops mac_limit) - lim0))
echo "peer 1 entries: $n1, mac-limit drops: $lim, table: $(mt entries), bridge fdb on srv: $(ns a bridge fdb show br br0 | grep -c 'dev srv')"
check "peer 1 holds exactly 100 entries" test "$n1" = 100
check "every frame over the bound dropped and counted (mac-limit >= 4900)" test "$lim" -ge 4900
check "mac-limit counted on peer 1" test "$(peer_drops 1 mac_limit)" -ge 4900
check "the bridge learnt at most 100 MACs behind srv from the flood" test "$(ns a bridge fdb show br br0 | grep -v permanent | grep -c 'dev srv')" -le 103
check "peer 2's entries unchanged by the flood" test "$before2" = "$(macs --id 2 | cut -d' ' -f1,2)"
check "client 2 unaffected: reaches the LAN host" ns c ping -c 3 -i 0.2 -W 2 10.9.0.100
check "client 3 unaffected: reaches the server" ns d ping -c 3 -i 0.2 -W 2 10.9.0.1

echo "== 20000 fuzzed frames from client 2 (odd source MACs, lengths, ethertypes)"
# every frame the server authenticates from peer 2 is delivered or dropped under a
# reason: link rx counts a packet once authentic and inside the replay window, so
# the drops before that point (auth, replay, crypto, no-key) are not in it (CI saw
# one packet of a 20,000 burst reordered out of the window: a replay drop)
pc() { ns a $CTL get-peer srv --id 2 | python3 -c "import json, sys
p = json.load(sys.stdin)[0]['get_peer']
pre = ('auth', 'replay', 'crypto', 'no_key', 'bad_header')
print(p['link_rx_packets64'], p['vpn_rx_packets64'],
      sum(v for k, v in p['drops'].items() if k not in pre))"; }
read -r l0 v0 d0 <<<"$(pc)"
sent=$(ns c $CTL send-frames cli --count 20000 --fuzz --seed 16 --dst "$(ns a cat /sys/class/net/srv/address)")
sleep 2
read -r l1 v1 d1 <<<"$(pc)"
echo "fuzz: sent $sent, server peer 2: link rx $((l1 - l0)), delivered $((v1 - v0)), dropped $((d1 - d0))"
ns a $CTL get-peer srv --id 2 | python3 -c 'import json, sys; print({k: v for k, v in json.load(sys.stdin)[0]["get_peer"]["drops"].items() if v})'
check "fuzz: every authenticated frame delivered or counted under a reason" test $((l1 - l0)) = $(((v1 - v0) + (d1 - d0)))
check "fuzz: at least 99% of the sent frames reached the server" test $((100 * (l1 - l0))) -ge $((99 * sent))
check "fuzz: peer 2 within its bound (<= 100 entries)" test "$(nmacs --id 2)" -le 100
check "fuzz: client 2 still reaches the LAN host" ns c ping -c 2 -i 0.2 -W 2 10.9.0.100
check "fuzz: client 1 unaffected" ns b ping -c 2 -i 0.2 -W 2 10.9.0.100

echo "== per-peer flush"
check "before the flush peer 1 holds its 100 entries" test "$(nmacs --id 1)" = 100
ns a $CTL del-mac srv --id 1
# client 1 may send a frame (ARP, ND) right after: only its own MAC can come back
after=$(macs --id 1 | cut -d' ' -f1)
echo "peer 1 after the flush: ${after:-none}"
check "peer 1's entries flushed (the 99 flood MACs gone)" test -z "$after" -o "$after" = "$(mac_of b)"
check "peer 2's entries kept" test "$(nmacs --id 2)" -ge 1
check "client 1 learnt again on its next frame" bash -c "ip netns exec ovsb ping -c 2 -i 0.2 -W 2 10.9.0.100 >/dev/null && test \$(ip netns exec ovsa $CTL get-mac srv --id 1 | grep -c '\"addr\"') = 1"
check "get-mac of an unknown address: ENOENT" bash -c "ip netns exec ovsa $CTL get-mac srv --mac 02:00:00:00:00:99 2>&1 | grep -q 'no such MAC table entry'"
check "del-mac of an unknown address is refused" bash -c "ip netns exec ovsa $CTL del-mac srv --mac 02:00:00:00:00:99 2>&1 | grep -q 'no such MAC table entry'"

echo "== entries go with their peer"
ns a $CTL del-peer srv --id 3
check "peer 3 deleted: none of its entries left" test "$(nmacs --id 3)" = 0

echo "== ageing (10 s)"
ns a $CTL set-mac-table srv --ageing 10
check "ageing set" test "$(mt ageing)" = 10
before=$(macs)
sleep 16
# every entry left must have been refreshed during the wait (a client's own
# chatter is not idle: CI once saw an entry left here); an entry idle for longer
# than ageing (10 s) + a collection interval (2.5 s) + 2.5 s of slack for a
# loaded machine must be gone.  Without ageing every entry would be >= 16 s old.
after=$(macs)
echo "entries before the wait:"; echo "$before"
echo "entries after 16 s:"; echo "${after:-none}"
check "idle entries aged out (none idle for > 15 s)" \
	test "$(awk '$3 > 15000' <<<"$after" | grep -c .)" = 0
check "aged counter counts them" test "$(mt aged)" -ge 2
check "after ageing, client 2 learnt again and reaches the LAN host" ns c ping -c 2 -i 0.2 -W 2 10.9.0.100
echo "device counters:"; ns a $CTL get-dev srv | python3 -c 'import json, sys; r = json.load(sys.stdin)[0]; print(r["mac_table"]); print({k: v for k, v in r["dev"]["drops"].items() if v})'
ns a ip -s link show srv | head -8

echo "== rmmod"
ns a ip link del br0
check "rmmod with live tap devices" rmmod ovpn_shortcut
check "no ovpn-shortcut links left" bash -c "! ip -all netns exec ip -d link show 2>/dev/null | grep -q ovpn-shortcut"
dmesg | grep -E "ovpn|WARNING|BUG|refcount|waiting for" | tail -8
if dmesg | grep -qE "WARNING:|BUG:|refcount_t|unregister_netdevice: waiting"; then echo "FAIL: kernel log clean"; FAIL=1; else echo "PASS: kernel log clean"; fi
[ $FAIL = 0 ] && echo "ALL PASSED" || echo "SOME FAILED"
exit $FAIL
