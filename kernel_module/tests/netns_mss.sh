#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# TCP MSS clamping (mssfix) of ovpn-shortcut, in one disposable machine: two
# network namespaces whose outer path (veth) has MTU 1300 while the tunnel
# devices have MTU 1420, so a full-sized inner TCP segment does not fit one
# outer packet.  Without a clamp the outer IPv4 packets are fragmented; with
# the clamp the SYN and SYN-ACK carry the clamped MSS (IPv4: the value, IPv6:
# the value - 20, as OpenVPN's mssfix), checksums stay correct and nothing
# is fragmented.  Also: crafted SYNs with odd option layouts, netlink checks.
# Run as root where the module can be loaded: NEVER on a development host.
#
#   tests/netns_mss.sh [path/to/tools]
set -u
TOOLS=${1:-$(dirname "$0")/../tools}
HERE=$(cd "$(dirname "$0")" && pwd)
CTL="python3 $TOOLS/ovpn_sc_ctl.py"
MC="python3 $HERE/mss_check.py"
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

# outer path MTU 1300, tunnel MTU 1420.  The clamp is what OpenVPN 2.6
# computes for "mssfix 1300 mtu" over UDP/IPv4 with an AEAD cipher:
# 1300 - (20 IPv4 + 8 UDP + 4 opcode/peer-id + 4 packet-id + 16 tag) - 40
# = 1208; IPv6 inner SYNs get 1208 - 20 = 1188.  Unclamped, the stacks
# advertise 1420 - 40 = 1380 (IPv4) and 1420 - 60 = 1360 (IPv6).
OUTER_MTU=1300
INNER_MTU=1420
CLAMP=1208
MSS4=1208
MSS6=1188
RAW4=1380
RAW6=1360
TMP=$(mktemp -d /tmp/ovs_mss.XXXXXX)

cleanup() {
	[ -n "${TMP:-}" ] && rm -rf "$TMP"
	ip netns pids ovsb 2>/dev/null | xargs -r kill 2>/dev/null
	ip netns del ovsa 2>/dev/null
	ip netns del ovsb 2>/dev/null
}
trap cleanup EXIT
ip netns del ovsa 2>/dev/null
ip netns del ovsb 2>/dev/null

modprobe ovpn_shortcut || { echo "FAIL: modprobe"; exit 1; }
ip netns add ovsa
ip netns add ovsb
ip link add veth-a netns ovsa type veth peer name veth-b netns ovsb
a ip link set lo up; b ip link set lo up
a ip addr add 10.0.0.1/24 dev veth-a; b ip addr add 10.0.0.2/24 dev veth-b
a ip link set veth-a mtu $OUTER_MTU up; b ip link set veth-b mtu $OUTER_MTU up

a ip link add tun-a type ovpn-shortcut; b ip link add tun-b type ovpn-shortcut
a ip link set tun-a mtu $INNER_MTU; b ip link set tun-b mtu $INNER_MTU
a ip addr add 192.168.97.1/24 dev tun-a; b ip addr add 192.168.97.2/24 dev tun-b
a ip -6 addr add fd97::1/64 dev tun-a nodad; b ip -6 addr add fd97::2/64 dev tun-b nodad
a ip link set tun-a up; b ip link set tun-b up
a $CTL new-peer tun-a --id 1 --remote 10.0.0.2:1194 --bind 10.0.0.1:1194
b $CTL new-peer tun-b --id 1 --remote 10.0.0.1:1194 --bind 10.0.0.2:1194
a $CTL new-key tun-a --id 1 --key-id 0 --alg aes-gcm --enc-key $K1 --enc-nonce $N1 --dec-key $K2 --dec-nonce $N2
b $CTL new-key tun-b --id 1 --key-id 0 --alg aes-gcm --enc-key $K2 --enc-nonce $N2 --dec-key $K1 --dec-nonce $N1
check "ping over the tunnel (outer MTU $OUTER_MTU, inner $INNER_MTU)" a ping -c 2 -i 0.2 -W 3 192.168.97.2
check "ping6 over the tunnel" a ping -6 -c 2 -i 0.2 -W 3 fd97::2
b iperf3 -s -D >/dev/null 2>&1
sleep 1

# dev field of get-dev in netns $1 for device $2
devget() { ip netns exec "$1" $CTL get-dev "$2" | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['dev'].get('$3', 0))"; }
frags() { echo $(( $(a $MC snmp Ip:FragCreates) + $(b $MC snmp Ip:FragCreates) )); }
# wait (at most 60 s) until the capture writing its stderr to $1 is ready
ready() { local i; for i in $(seq 120); do grep -q capturing "$1" 2>/dev/null && return 0; sleep 0.5; done; return 1; }
# first captured packet matching a python condition on the JSON line "p"
pick() { python3 -c "
import json,sys
for ln in open('$1'):
    p = json.loads(ln)
    if $2:
        print(p.get('$3')); break
else:
    print('none')"; }

# run_case TITLE DST CLAMP_A CLAMP_B EXPECT_MSS [-R]
# sets the clamps, runs a 2 MB iperf3 transfer while capturing on both
# tunnel devices; the SYN arriving at tun-b and the SYN-ACK arriving at
# tun-a must carry EXPECT_MSS with a correct TCP checksum; echoes the
# fragment count delta to $TMP/frags
run_case() {
	local title=$1 dst=$2 ca=$3 cb=$4 want=$5 rev=${6:-}
	local f0 f1 syn synack csa cssa
	a $CTL set-dev tun-a --mss "$ca" >/dev/null
	b $CTL set-dev tun-b --mss "$cb" >/dev/null
	f0=$(frags)
	b $MC capture tun-b --port 5201 --count 8 --timeout 90 >"$TMP/b.json" 2>"$TMP/b.err" &
	local pb=$!
	a $MC capture tun-a --port 5201 --count 8 --timeout 90 >"$TMP/a.json" 2>"$TMP/a.err" &
	local pa=$!
	ready "$TMP/b.err" && ready "$TMP/a.err" || { bad "$title: captures not ready"; cat "$TMP"/*.err; }
	if a timeout 120 iperf3 -c "$dst" -n 2M $rev >"$TMP/iperf.txt" 2>&1; then
		ok "$title: iperf3 2 MB $rev transfer completes ($(grep -m1 -o '[0-9.]* [KMG]bits/sec' "$TMP/iperf.txt" | tail -1))"
	else
		bad "$title: iperf3 2 MB $rev transfer"; tail -5 "$TMP/iperf.txt"
	fi
	wait $pa $pb
	f1=$(frags)
	echo $((f1 - f0)) >"$TMP/frags"
	syn=$(pick "$TMP/b.json" "p['syn'] and not p['ack'] and p['dir'] == 'in'" mss)
	csa=$(pick "$TMP/b.json" "p['syn'] and not p['ack'] and p['dir'] == 'in'" csum_ok)
	synack=$(pick "$TMP/a.json" "p['syn'] and p['ack'] and p['dir'] == 'in'" mss)
	cssa=$(pick "$TMP/a.json" "p['syn'] and p['ack'] and p['dir'] == 'in'" csum_ok)
	echo "   $title: SYN at tun-b mss $syn (csum ok $csa), SYN-ACK at tun-a mss $synack (csum ok $cssa), outer fragments created $((f1 - f0))"
	[ "$syn" = none ] || [ "$synack" = none ] && head -4 "$TMP/a.json" "$TMP/b.json" "$TMP/a.err" "$TMP/b.err"
	check "$title: SYN arrives with MSS $want (saw $syn)" [ "$syn" = "$want" ]
	check "$title: SYN-ACK arrives with MSS $want (saw $synack)" [ "$synack" = "$want" ]
	check "$title: TCP checksums of SYN and SYN-ACK correct" [ "$csa/$cssa" = "True/True" ]
}

# run_case, and the clamp must have kept every outer packet whole
clamped_case() {
	run_case "$@"
	local n; n=$(cat "$TMP/frags")
	check "$1: no outer fragment ($n)" [ "$n" -eq 0 ]
}

echo "== 1: clamp off: full-sized segments, outer IPv4 packets fragmented"
run_case "v4 off" 192.168.97.2 0 0 $RAW4
n=$(cat "$TMP/frags")
check "v4 off: outer packets were fragmented ($n fragments created)" [ "$n" -gt 0 ]
syn=$(pick "$TMP/b.json" "p['syn'] and not p['ack'] and p['dir'] == 'in'" mss)
if [ "$syn" = "$MSS4" ]; then
	bad "clamp off: the clamp's assertion (MSS $MSS4) must fail here"
else
	ok "clamp off: the clamped-MSS assertion fails as it must (MSS $syn != $MSS4)"
fi
run_case "v6 off" fd97::2 0 0 $RAW6
n=$(cat "$TMP/frags")
check "v6 off: outer packets were fragmented ($n fragments created)" [ "$n" -gt 0 ]

echo "== 2: clamp $CLAMP on the sender's device only (TX clamps the SYN, RX the SYN-ACK)"
tx0=$(devget ovsa tun-a mss_clamped_tx); rx0=$(devget ovsa tun-a mss_clamped_rx)
clamped_case "v4 clamp@a" 192.168.97.2 $CLAMP 0 $MSS4
clamped_case "v4 clamp@a reverse" 192.168.97.2 $CLAMP 0 $MSS4 -R
clamped_case "v6 clamp@a" fd97::2 $CLAMP 0 $MSS6
tx1=$(devget ovsa tun-a mss_clamped_tx); rx1=$(devget ovsa tun-a mss_clamped_rx)
# iperf3 opens 2 connections per run (control, data): 3 runs = 6 SYNs, 6 SYN-ACKs
echo "   tun-a mss_clamped_tx $tx0 -> $tx1, mss_clamped_rx $rx0 -> $rx1"
check "clamp@a: 6 SYNs counted clamped on TX ($((tx1 - tx0)))" [ $((tx1 - tx0)) -eq 6 ]
check "clamp@a: 6 SYN-ACKs counted clamped on RX ($((rx1 - rx0)))" [ $((rx1 - rx0)) -eq 6 ]
check "get-dev shows mss_clamp $CLAMP" [ "$(devget ovsa tun-a mss_clamp)" = "$CLAMP" ]

echo "== 3: clamp $CLAMP on the receiver's device only (RX clamps the SYN, TX the SYN-ACK)"
tx0=$(devget ovsb tun-b mss_clamped_tx); rx0=$(devget ovsb tun-b mss_clamped_rx)
clamped_case "v4 clamp@b" 192.168.97.2 0 $CLAMP $MSS4
clamped_case "v6 clamp@b" fd97::2 0 $CLAMP $MSS6
tx1=$(devget ovsb tun-b mss_clamped_tx); rx1=$(devget ovsb tun-b mss_clamped_rx)
echo "   tun-b mss_clamped_tx $tx0 -> $tx1, mss_clamped_rx $rx0 -> $rx1"
check "clamp@b: 4 SYN-ACKs clamped on TX ($((tx1 - tx0)))" [ $((tx1 - tx0)) -eq 4 ]
check "clamp@b: 4 SYNs clamped on RX ($((rx1 - rx0)))" [ $((rx1 - rx0)) -eq 4 ]

echo "== 4: crafted SYNs (raw sockets, TX clamp at tun-a, seen at tun-b)"
a $CTL set-dev tun-a --mss $CLAMP >/dev/null
b $CTL set-dev tun-b --mss 0 >/dev/null
# craft DST CASE: prints "mss opts csum_ok" of the SYN arriving at tun-b
craft() {
	b $MC capture tun-b --port 7009 --count 1 --timeout 30 >"$TMP/c.json" 2>"$TMP/c.err" &
	local pc=$!
	ready "$TMP/c.err" || cat "$TMP/c.err" >&2
	a $MC send "$1" --port 7009 --case "$2"
	wait $pc
	python3 -c "
import json
ls = [json.loads(l) for l in open('$TMP/c.json')]
p = ls[0] if ls else {}
print(p.get('mss'), p.get('opts'), p.get('csum_ok'))"
}
# case, then the expected "mss opts csum_ok" at tun-b; W is the clamped MSS
# as 4 hex digits (IPv4 1208 = 04b8, IPv6 1188 = 04a4)
CRAFTED="plain:@W 0204W01010100 True
odd:@W 010204W010100 True
badlen:None 020305b4 True
zerolen:None 0800020405b40000 True
overrun:None 01010828020405b4 True
lastkind:None 01010102 True
small:256 02040100 True"
for fam in 4 6; do
	if [ $fam = 4 ]; then dst=192.168.97.2; want=$MSS4; else dst=fd97::2; want=$MSS6; fi
	wh=$(printf '%04x' $want)
	while IFS=: read -r case expect <&3; do
		expect=${expect//@W/$want}; expect=${expect//W/$wh}
		r=$(craft $dst "$case")
		check "v$fam crafted SYN '$case': arrives as '$expect' (saw '$r')" [ "$r" = "$expect" ]
	done 3<<<"$CRAFTED"
done

echo "== 5: netlink"
check "mss clamp 50 refused with extack" bash -c "ip netns exec ovsa $CTL set-dev tun-a --mss 50 2>&1 | grep -q 'mss clamp must be 0 (off) or at least 88'"
check "refused value left the clamp at $CLAMP" [ "$(devget ovsa tun-a mss_clamp)" = "$CLAMP" ]
check "set-dev without any setting refused" bash -c "ip netns exec ovsa $CTL set-dev tun-a 2>&1 | grep -q 'nothing to set'"
check "mss clamp 88 accepted" a $CTL set-dev tun-a --mss 88
check "mss clamp 0 turns it off" a $CTL set-dev tun-a --mss 0
check "get-dev shows mss_clamp 0" [ "$(devget ovsa tun-a mss_clamp)" = "0" ]

echo "== 6: teardown"
ip netns pids ovsb | xargs -r kill 2>/dev/null
a ip link del tun-a; b ip link del tun-b
ip netns del ovsa; ip netns del ovsb
sleep 1
check "rmmod" rmmod ovpn_shortcut
if dmesg | grep -qE "WARNING:|BUG:|refcount_t|unregister_netdevice: waiting"; then bad "kernel log clean"; else ok "kernel log clean"; fi
[ $FAIL = 0 ] && echo "ALL PASSED" || echo "SOME FAILED"
exit $FAIL
