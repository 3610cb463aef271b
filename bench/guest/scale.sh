#!/bin/bash
# Guest side of the scale figures: ovpn-shortcut MP device in bs with N peers, one P2P
# client in bc talking to peer 1, driven by ovpn_sc_ctl.py (no OpenVPN process).
#
#   scale.sh up                 server device + peer 1 + client; prints nothing
#   scale.sh grow FROM TO       add peers FROM..TO (ids, each with a key); JSON (peers.py)
#   scale.sh shrink FROM TO     delete peers FROM..TO; JSON (peers.py)
#   scale.sh churn N            nl_fuzz.py --churn N on the server device (JSON)
#   scale.sh down
set -euo pipefail
B=/root/bench
CTL="python3 $B/km/tools/ovpn_sc_ctl.py"
S() { ip netns exec bs "$@"; }
C() { ip netns exec bc "$@"; }
K1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
K2=202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f
N1=a1a2a3a4a5a6a7a8
N2=b1b2b3b4b5b6b7b8


case "$1" in
up)
    "$B/guest/tunnels.sh" down
    modprobe ovpn_shortcut
    S $CTL link-add scs --mode mp
    S ip addr add 10.202.0.1/16 dev scs; S ip link set scs mtu 1420 up
    C $CTL link-add scc --mode p2p
    C ip addr add 10.202.0.2/16 dev scc; C ip link set scc mtu 1420 up
    S $CTL batch <<EOB
new-peer scs --id 1 --remote 10.200.0.2:1195 --bind 10.200.0.1:1195 --vip4 10.202.0.2
new-key scs --id 1 --key-id 0 --alg aes-gcm --enc-key $K1 --enc-nonce $N1 --dec-key $K2 --dec-nonce $N2
EOB
    C $CTL batch <<EOB
new-peer scc --id 1 --remote 10.200.0.1:1195 --bind 10.200.0.2:1195
new-key scc --id 1 --key-id 0 --alg aes-gcm --enc-key $K2 --enc-nonce $N2 --dec-key $K1 --dec-nonce $N1
EOB
    C ping -c 2 -W 5 -q 10.202.0.1 >/dev/null
    ;;
grow)
    # peer 1 attached the socket: the others use the device's (no socket attribute)
    S python3 $B/guest/peers.py add scs "$2" "$3"
    ;;
shrink)
    S python3 $B/guest/peers.py del scs "$2" "$3"
    ;;
churn)
    S python3 $B/km/tests/harden/nl_fuzz.py --dev scs --churn "$2"
    ;;
down)
    S ip link del scs 2>/dev/null || true
    C ip link del scc 2>/dev/null || true
    sleep 0.5
    modprobe -r ovpn_shortcut 2>/dev/null || true
    ;;
esac
