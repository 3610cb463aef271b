#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The ovpn-shortcut CLI (pyroute2 client) on tap devices, run in a guest by
# test_nl_control.py::test_cli_tap_in_guest: CLI="env PYTHONPATH=... python3 -m
# ovpn_shortcut_cli", from the folder holding module_utils/ and ovpn_shortcut_cli/.
set -u
CLI=${CLI:-python3 -m ovpn_shortcut_cli}
rm -f /tmp/reg-s /tmp/reg-c
FAIL=0
check() { local what=$1; shift; if "$@"; then echo "PASS: $what"; else echo "FAIL: $what"; FAIL=1; fi; }
hex() { python3 -c "import os; print(os.urandom($1).hex())"; }
for n in s c; do ip netns del cl$n 2>/dev/null; ip netns add cl$n; done
ip link add vs netns cls type veth peer name vc netns clc
ip -n cls addr add 10.70.0.1/24 dev vs; ip -n cls link set vs up
ip -n clc addr add 10.70.0.2/24 dev vc; ip -n clc link set vc up
modprobe ovpn_shortcut
ip netns exec cls $CLI dev add tp0 --mode mp --type tap
ip netns exec clc $CLI dev add tp1 --type tap
check "CLI made tap devices (link/ether)" bash -c "ip -n cls link show tp0 | grep -q link/ether && ip -n clc link show tp1 | grep -q link/ether"
KS=$(hex 32); KC=$(hex 32); NS=$(hex 8); NC=$(hex 8)
printf 'encrypt-key %s\nencrypt-nonce %s\ndecrypt-key %s\ndecrypt-nonce %s\n' $KS $NS $KC $NC >/tmp/ks
printf 'encrypt-key %s\nencrypt-nonce %s\ndecrypt-key %s\ndecrypt-nonce %s\n' $KC $NC $KS $NS >/tmp/kc
ip netns exec cls $CLI peer add tp0 1 --remote 10.70.0.2:1194 --bind 10.70.0.1:1194
ip netns exec clc $CLI peer add tp1 1 --remote 10.70.0.1:1194 --bind 10.70.0.2:1194
ip netns exec cls $CLI key add tp0 1 --key-file /tmp/ks --key-register /tmp/reg-s
ip netns exec clc $CLI key add tp1 1 --key-file /tmp/kc --key-register /tmp/reg-c
ip -n cls addr add 10.71.0.1/24 dev tp0; ip -n cls link set tp0 up
# the client sends nothing by itself (no IPv6 router solicitations, MLD or DAD)
ip netns exec clc sysctl -qw net.ipv6.conf.tp1.disable_ipv6=1
ip -n clc addr add 10.71.0.2/24 dev tp1; ip -n clc link set tp1 up
check "ping over the CLI-made tap link" ip netns exec clc ping -c 3 -i 0.3 -W 2 10.71.0.1
ip netns exec cls $CLI mac list tp0
CMAC=$(ip netns exec clc cat /sys/class/net/tp1/address)
check "mac list shows the client's MAC on peer 1" bash -c "ip netns exec cls $CLI mac list tp0 | grep -q '$CMAC *1 '"
ip netns exec cls $CLI --json mac list tp0 1
check "mac list --json, one peer" bash -c "ip netns exec cls $CLI --json mac list tp0 1 | python3 -c 'import json,sys; m=json.load(sys.stdin)[\"macs\"]; assert m[0][\"addr\"]==\"$CMAC\" and m[0][\"peer_id\"]==1'"
ip netns exec cls $CLI mac set tp0 --max-peer-entries 5 --ageing 60
# one show, printed and checked (a second call could see another table)
shown=$(ip netns exec cls $CLI show tp0 2>&1); echo "$shown"
check "show has the mac table line" grep -q 'mac table (tap): 1 entries, max 4096, max per peer 5, ageing 60 s' <<<"$shown"
check "mac set refuses ageing 5" bash -c "ip netns exec cls $CLI mac set tp0 --ageing 5 2>&1 | grep -q 'ageing outside 10..86400'"
learned() { ip netns exec cls $CLI show tp0 | grep -o 'learned [0-9]*' | cut -d' ' -f2; }
l0=$(learned)
ip netns exec cls $CLI mac flush tp0 1
# empty, or the client's MAC learnt again from a frame it sent after the flush (CI
# once saw one under load: the flush worked, the entry came back)
after=$(ip netns exec cls $CLI mac list tp0)
echo "after the flush: $after (learned $l0 -> $(learned))"
check "mac flush of peer 1 empties the table" bash -c "grep -q 'no learnt MAC' <<<'$after' || { [ \$(grep -c ' 1 ' <<<'$after') = 1 ] && grep -q '$CMAC' <<<'$after' && [ $(learned) -gt $l0 ]; }"
check "mac flush --addr of an absent MAC: ENOENT" bash -c "ip netns exec cls $CLI mac flush tp0 --addr 02:00:00:00:00:01 2>&1 | grep -q 'no such MAC table entry'"
check "mac list on a tun device: not a tap device" bash -c "ip netns exec cls $CLI dev add tn0 && ip netns exec cls $CLI mac list tn0 2>&1 | grep -q 'not a tap'"
for n in s c; do ip netns del cl$n; done
[ $FAIL = 0 ] && echo "ALL PASSED" || echo "SOME FAILED"
exit $FAIL
