#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Patch 0007 end to end in ONE guest (no second guest needed): the patched
# OpenVPN as a server (netns srv, DCO on ovpn-shortcut, multi.c path) and as a
# client (netns cli, DCO, init.c p2p path), then one iperf3 TCP connection; prints
# both devices' mss_clamp and mss_clamped_tx/rx.  Prerequisites in the guest: the
# patched .deb installed, ovpn_shortcut installed, kernel_module/tools in
# /root/ovpn-km/tools, a PKI (tests/vm/test_openvpn_build.py PKI_SCRIPT) in
# /root/e2e/pki.  MSSFIX="--mssfix 1300 mtu" passes extra options to both.
# Run by hand for issue 16 (default mssfix: 1400/1380; "mssfix 1300 mtu": 1208/1188).
set -u
P=/root/e2e/pki
CTL="python3 /root/ovpn-km/tools/ovpn_sc_ctl.py"
s() { ip netns exec srv "$@"; }
c() { ip netns exec cli "$@"; }
pkill -F /root/e2e/srv.pid 2>/dev/null; pkill -F /root/e2e/cli.pid 2>/dev/null
ip netns del srv 2>/dev/null; ip netns del cli 2>/dev/null
modprobe ovpn_shortcut
ip netns add srv; ip netns add cli
ip link add v-s netns srv type veth peer name v-c netns cli
s ip addr add 10.0.0.1/24 dev v-s; c ip addr add 10.0.0.2/24 dev v-c
s ip link set v-s up; c ip link set v-c up; s ip link set lo up; c ip link set lo up
MSSFIX=${MSSFIX:-}
s openvpn --daemon srv --log /root/e2e/srv.log --writepid /root/e2e/srv.pid --verb 4 \
  --dev ovpnsc0 --dev-type tun --proto udp --local 10.0.0.1 --port 1194 \
  --server 10.98.0.0 255.255.255.0 --topology subnet --data-ciphers AES-256-GCM \
  --keepalive 10 60 --ca $P/ca.crt --cert $P/server.crt --key $P/server.key --dh none $MSSFIX
c openvpn --daemon cli --log /root/e2e/cli.log --writepid /root/e2e/cli.pid --verb 4 \
  --client --dev ovpnsc1 --dev-type tun --proto udp --remote 10.0.0.1 1194 --nobind \
  --data-ciphers AES-256-GCM --remote-cert-tls server \
  --ca $P/ca.crt --cert $P/client.crt --key $P/client.key $MSSFIX
for i in $(seq 90); do grep -q "Initialization Sequence Completed" /root/e2e/cli.log 2>/dev/null && break; sleep 1; done
echo "--- server log (DCO/MSS)"; grep -E "DCO|MSS|mssfix|mss" /root/e2e/srv.log | tail -12
echo "--- client log (DCO/MSS)"; grep -E "DCO|MSS|mssfix|mss" /root/e2e/cli.log | tail -12
echo "--- server dev"; s $CTL get-dev ovpnsc0 | python3 -c "import json,sys; d=json.load(sys.stdin)[0]['dev']; print({k: d[k] for k in ('mss_clamp','mss_clamped_tx','mss_clamped_rx','peers')})"
echo "--- client dev"; c $CTL get-dev ovpnsc1 | python3 -c "import json,sys; d=json.load(sys.stdin)[0]['dev']; print({k: d[k] for k in ('mss_clamp','mss_clamped_tx','mss_clamped_rx','peers')})"
s iperf3 -s -1 -D -B 10.98.0.1; sleep 1
c timeout 60 iperf3 -c 10.98.0.1 -n 200K | tail -3
echo "--- after a TCP connection client -> server"
s $CTL get-dev ovpnsc0 | python3 -c "import json,sys; d=json.load(sys.stdin)[0]['dev']; print('server', {k: d[k] for k in ('mss_clamp','mss_clamped_tx','mss_clamped_rx')})"
c $CTL get-dev ovpnsc1 | python3 -c "import json,sys; d=json.load(sys.stdin)[0]['dev']; print('client', {k: d[k] for k in ('mss_clamp','mss_clamped_tx','mss_clamped_rx')})"
pkill -F /root/e2e/srv.pid; pkill -F /root/e2e/cli.pid; sleep 2
ip netns del srv; ip netns del cli
