#!/bin/bash
# Guest side of the scale figures: one server device in bs per kernel path, each with N
# peers, and one client in bc talking to its peer 1 (no OpenVPN process):
#   ovpn-sc   ovpn-shortcut MP scs 10.202.0.1/16 <- P2P scc, UDP 1195   (ovpn_sc_ctl.py)
#   ovpn-dco  ovpn-dco MP dcs 10.203.0.1/16 <- P2P dcc, UDP 1196        (same tool, --family)
#   ovpn-up   in-tree ovpn MP ups 10.205.0.1/16 <- P2P upc, UDP 1197    (ovpn_up_nl.py)
#   wireguard wgs 10.204.0.1/16 <- wgc, UDP 51830/51831                 (wg)
# All of them stay up side by side, so every round measures them back to back.
#
#   scale.sh up CONFIG            bring one path up (and ping through it); prints nothing
#   scale.sh grow CONFIG FROM TO  add peers FROM..TO; JSON (peers.py)
#   scale.sh shrink CONFIG FROM TO  delete peers FROM..TO; JSON (peers.py)
#   scale.sh target CONFIG        the address to measure through (veth too)
#   scale.sh dev CONFIG           its server device, netlink family and /16 (peers.py)
#   scale.sh churn N              nl_fuzz.py --churn N on scs (JSON)
#   scale.sh down                 remove every scale device, unload the modules
set -euo pipefail
B=/root/bench
CTL="python3 $B/km/tools/ovpn_sc_ctl.py"
S() { ip netns exec bs "$@"; }
C() { ip netns exec bc "$@"; }
K1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
K2=202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f
N1=a1a2a3a4a5a6a7a8
N2=b1b2b3b4b5b6b7b8
MTU=1420

dev_of() {  # server device, family, /16
    case "$1" in
        ovpn-sc) echo "scs ovpn-shortcut 10.202" ;;
        ovpn-dco) echo "dcs ovpn-dco-v2 10.203" ;;
        wireguard) echo "wgs wireguard 10.204" ;;
        ovpn-up) echo "ups ovpn 10.205" ;;
        *) echo "unknown scale config $1" >&2; exit 2 ;;
    esac
}

ovpn_up() {  # ovpn_up FAMILY SERVERDEV CLIENTDEV NET PORT MODULE
    local fam=$1 sd=$2 cd=$3 net=$4 port=$5
    modprobe "$6"
    S $CTL link-add "$sd" --mode mp --family "$fam"
    S ip addr add "$net.0.1/16" dev "$sd"; S ip link set "$sd" mtu $MTU up
    C $CTL link-add "$cd" --mode p2p --family "$fam"
    C ip addr add "$net.0.2/16" dev "$cd"; C ip link set "$cd" mtu $MTU up
    S $CTL batch --family "$fam" <<EOB
new-peer $sd --id 1 --remote 10.200.0.2:$port --bind 10.200.0.1:$port --vip4 $net.0.2
new-key $sd --id 1 --key-id 0 --alg aes-gcm --enc-key $K1 --enc-nonce $N1 --dec-key $K2 --dec-nonce $N2
EOB
    C $CTL batch --family "$fam" <<EOB
new-peer $cd --id 1 --remote 10.200.0.1:$port --bind 10.200.0.2:$port
new-key $cd --id 1 --key-id 0 --alg aes-gcm --enc-key $K2 --enc-nonce $N2 --dec-key $K1 --dec-nonce $N1
EOB
    C ping -c 2 -W 5 -q "$net.0.1" >/dev/null
}

upstream_up() {  # in-tree ovpn: its own netlink numbering (ovpn_up_nl.py)
    local UPNL="python3 $B/guest/ovpn_up_nl.py" net=10.205 port=1197
    modprobe ovpn
    S $UPNL link-add ups --mode mp
    S ip addr add "$net.0.1/16" dev ups; S ip link set ups mtu $MTU up
    C $UPNL link-add upc --mode p2p
    C ip addr add "$net.0.2/16" dev upc; C ip link set upc mtu $MTU up
    S $UPNL batch <<EOB
new-peer ups --id 1 --remote 10.200.0.2:$port --bind 10.200.0.1:$port --vip4 $net.0.2
new-key ups --id 1 --enc-key $K1 --enc-nonce $N1 --dec-key $K2 --dec-nonce $N2
EOB
    C $UPNL batch <<EOB
new-peer upc --id 1 --remote 10.200.0.1:$port --bind 10.200.0.2:$port
new-key upc --id 1 --enc-key $K2 --enc-nonce $N2 --dec-key $K1 --dec-nonce $N1
EOB
    C ping -c 2 -W 5 -q "$net.0.1" >/dev/null
}

wg_up() {
    local ks kc
    ks=$(wg genkey); kc=$(wg genkey)
    S ip link add wgs type wireguard; C ip link add wgc type wireguard
    S wg set wgs listen-port 51830 private-key <(echo "$ks") \
        peer "$(echo "$kc" | wg pubkey)" allowed-ips 10.204.0.2/32 endpoint 10.200.0.2:51831
    C wg set wgc listen-port 51831 private-key <(echo "$kc") \
        peer "$(echo "$ks" | wg pubkey)" allowed-ips 10.204.0.0/16 endpoint 10.200.0.1:51830
    S ip addr add 10.204.0.1/16 dev wgs; C ip addr add 10.204.0.2/16 dev wgc
    S ip link set wgs mtu $MTU up; C ip link set wgc mtu $MTU up
    C ping -c 2 -W 5 -q 10.204.0.1 >/dev/null
}

case "$1" in
up)
    case "$2" in
        ovpn-sc) ovpn_up ovpn-shortcut scs scc 10.202 1195 ovpn_shortcut ;;
        ovpn-dco) ovpn_up ovpn-dco-v2 dcs dcc 10.203 1196 ovpn_dco_v2 ;;
        wireguard) wg_up ;;
        ovpn-up) upstream_up ;;
        *) echo "unknown scale config $2" >&2; exit 2 ;;
    esac
    ;;
grow|shrink)
    read -r dev fam net <<<"$(dev_of "$2")"
    op=add; [ "$1" = shrink ] && op=del
    S python3 $B/guest/peers.py $op "$dev" "$3" "$4" --family "$fam" --net "$net" \
        --bind 10.200.0.1
    ;;
dev)
    dev_of "$2"
    ;;
target)
    case "$2" in
        veth) echo 10.200.0.1 ;;
        *) read -r _ _ net <<<"$(dev_of "$2")"; echo "$net.0.1" ;;
    esac
    ;;
churn)
    S python3 $B/km/tests/harden/nl_fuzz.py --dev scs --churn "$2"
    ;;
down)
    for d in scs dcs wgs ups; do S ip link del $d 2>/dev/null || true; done
    for d in scc dcc wgc upc; do C ip link del $d 2>/dev/null || true; done
    sleep 0.5
    modprobe -r ovpn_shortcut 2>/dev/null || true
    modprobe -r ovpn_dco_v2 2>/dev/null || true
    modprobe -r ovpn 2>/dev/null || true
    ;;
*) sed -n '2,16p' "$0"; exit 2 ;;
esac
