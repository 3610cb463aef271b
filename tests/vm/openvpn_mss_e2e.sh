#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mssfix end to end in ONE guest: the patched OpenVPN as a server (netns mssrv)
# and as a client (netns mscli), with the data channel in the kernel on both
# ends (MODE=dco) or in userspace on both ends (MODE=user, --disable-dco), for
# DEV_TYPE=tun or tap, IPv4 and IPv6 inside. One TCP connection per family from
# the client to the server; tcpdump on each far side prints what arrived: the
# client's SYN on the server's device, the server's SYN-ACK on the client's.
# tests/vm/test_openvpn_build.py runs it in both modes and compares the MSS
# options: the kernel must write what userspace OpenVPN writes.
#
# Needs in the guest: the patched openvpn, ovpn_shortcut loaded, tcpdump,
# python3, and the test PKI (server and client) in $PKI.
# MSSFIX="--mssfix 1300 mtu" (by hand) passes extra options to both ends.
# Prints "CAPTURE server|client <tcpdump line>" and "LOG ..." lines; exit 0 when
# both ends came up and the connections were made.
set -u
MODE=${MODE:?dco or user}
DEV_TYPE=${DEV_TYPE:?tun or tap}
PKI=${PKI:-/root/ovpn-test/pki}
MSSFIX=${MSSFIX:-}
W=/root/mss-e2e
S=mssrv
C=mscli
SDEV=mss${DEV_TYPE}s
CDEV=mss${DEV_TYPE}c
PORT=5555

s() { ip netns exec $S "$@"; }
c() { ip netns exec $C "$@"; }
cleanup() {
	for p in "$W"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
	sleep 1
	ip netns del $S 2>/dev/null
	ip netns del $C 2>/dev/null
}
fail() { echo "FAIL $*"; tail -25 "$W"/srv.log "$W"/cli.log 2>/dev/null | sed 's/^/LOG /'; cleanup; exit 1; }

cleanup
rm -rf "$W"; mkdir -p "$W"
ip netns add $S && ip netns add $C || fail "netns"
ip link add msv-s netns $S type veth peer name msv-c netns $C || fail "veth"
for ns in $S $C; do
	ip netns exec $ns sysctl -qw net.ipv6.conf.default.accept_dad=0
	ip netns exec $ns sysctl -qw net.ipv6.conf.all.accept_dad=0
	ip -n $ns link set lo up
done
s ip addr add 10.0.0.1/24 dev msv-s; c ip addr add 10.0.0.2/24 dev msv-c
s ip link set msv-s up; c ip link set msv-c up

dco=()
[ "$MODE" = user ] && dco=(--disable-dco)
common=(--verb 4 --dev-type "$DEV_TYPE" --proto udp --data-ciphers AES-256-GCM
	--ca "$PKI/ca.crt" "${dco[@]}")
# shellcheck disable=SC2086 # MSSFIX holds options
s openvpn --daemon mss-srv --log "$W/srv.log" --writepid "$W/srv.pid" "${common[@]}" \
	--dev "$SDEV" --local 10.0.0.1 --port 1194 --cert "$PKI/server.crt" \
	--key "$PKI/server.key" --dh none --server 10.98.7.0 255.255.255.0 --topology subnet \
	--server-ipv6 fd98:7::/64 --keepalive 10 60 $MSSFIX || fail "server start"
# shellcheck disable=SC2086
c openvpn --daemon mss-cli --log "$W/cli.log" --writepid "$W/cli.pid" "${common[@]}" \
	--dev "$CDEV" --client --nobind --remote 10.0.0.1 1194 --remote-cert-tls server \
	--cert "$PKI/client.crt" --key "$PKI/client.key" $MSSFIX || fail "client start"
for _ in $(seq 90); do
	grep -q "Initialization Sequence Completed" "$W/cli.log" 2>/dev/null && break
	sleep 1
done
grep -q "Initialization Sequence Completed" "$W/cli.log" || fail "client not connected in 90 s"
grep -E "DCO device|TUN/TAP device|clamps the TCP MSS|mssfix|MSS" "$W"/srv.log "$W"/cli.log |
	sed 's/^/LOG /'

s tcpdump -i "$SDEV" -nn -l -U "tcp port $PORT" > "$W/srv.cap" 2> "$W/srv.cap.err" &
echo $! > "$W/tcpdump-srv.pid"
c tcpdump -i "$CDEV" -nn -l -U "tcp port $PORT" > "$W/cli.cap" 2> "$W/cli.cap.err" &
echo $! > "$W/tcpdump-cli.pid"
s python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
s.listen(4)
s.settimeout(60)
for _ in range(2):
    conn, _peer = s.accept()
    conn.close()
' $PORT &
echo $! > "$W/listener.pid"
sleep 2 # tcpdump and the listener ready
for dst in 10.98.7.1 fd98:7::1; do
	ok=
	for _ in $(seq 15); do # the server's v6 address may arrive late
		if c python3 -c '
import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()
' $dst $PORT 2>/dev/null; then ok=1; break; fi
		sleep 1
	done
	[ -n "$ok" ] || fail "no TCP connection to $dst"
done
sleep 2
kill "$(cat "$W/tcpdump-srv.pid")" "$(cat "$W/tcpdump-cli.pid")" 2>/dev/null
sleep 1
sed 's/^/CAPTURE server /' "$W/srv.cap"
sed 's/^/CAPTURE client /' "$W/cli.cap"
cleanup
echo "DONE mode=$MODE dev_type=$DEV_TYPE"
