#!/bin/bash
# Guest side of `./dev bench`: the same path for every configuration (two network
# namespaces joined by a veth pair), one tunnel at a time. Disposable guests only.
#
#   tunnels.sh ns                      create namespaces bs (server) and bc (client)
#   tunnels.sh up CONFIG CIPHER        bring one configuration up; prints its JSON facts
#   tunnels.sh down                    tear every tunnel down, unload the kernel modules
#
# CONFIG: veth wireguard ovpn-user ovpn-dco ovpn-up ovpn-sc ovpn-sc-serial ovpn-sc-chacha-api ovpn-dco-srv
# ovpn-sc-srv (ovpn-sc-serial: ovpn-sc with parallel_crypto=0, no crypto workers;
# ovpn-sc-chacha-api: ovpn-sc with chacha_lib=0, ChaCha through the rfc7539 template)
# (-srv: the kernel on the server only, userspace OpenVPN client; ovpn-up: stock
# OpenVPN 2.7 under /opt/openvpn-up driving the in-tree `ovpn` module, both ends),
# ovpn-user-tap ovpn-sc-tap ovpn-sc-tap-srv (dev tap), ovpn-sc-pmtu and
# ovpn-sc-pmtu-nomss (the veth's MTU at PMTU, below the tunnel's outer packets:
# mssfix PMTU mtu, clamped by the kernel, against mssfix 0 and outer fragments).
set -euo pipefail
B=/root/bench
RUN=$B/run
PKI=$B/pki
STOCK=/usr/sbin/openvpn
PATCHED=/opt/ovpnsc/usr/sbin/openvpn
UPSTREAM=/opt/openvpn-up/usr/sbin/openvpn   # OpenVPN 2.7 from trixie-backports (bench/setup.py)
MTU=1420            # inner MTU of every tunnel (WireGuard's default): no outer fragments
PMTU=1300           # the -pmtu rows' path MTU (the veth's)
DEVTYPE=tun         # dev-type of the OpenVPN rows (the -tap ones: tap)
EXTRA=()            # more options for both OpenVPN ends
S() { ip netns exec bs "$@"; }
C() { ip netns exec bc "$@"; }

stop_pid() {
    local f=$1 pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
}

make_ns() {
    stop_pid "$RUN/iperf3.pid"  # iperf3 -s -D refuses to start beside a live pidfile
    ip netns del bs 2>/dev/null || true
    ip netns del bc 2>/dev/null || true
    ip netns add bs; ip netns add bc
    ip link add vs netns bs type veth peer name vc netns bc
    S ip link set lo up; C ip link set lo up
    S ip addr add 10.200.0.1/24 dev vs; C ip addr add 10.200.0.2/24 dev vc
    S ip link set vs up; C ip link set vc up
    S iperf3 -s -D --pidfile "$RUN/iperf3.pid"
}

down() {
    stop_pid "$RUN/client.pid"
    stop_pid "$RUN/server.pid"
    S ip link del wgs 2>/dev/null || true
    C ip link del wgc 2>/dev/null || true
    for d in ovs0 ovc0; do S ip link del $d 2>/dev/null || true; C ip link del $d 2>/dev/null || true; done
    S ip link set vs mtu 1500 2>/dev/null || true; C ip link set vc mtu 1500 2>/dev/null || true
    sleep 0.5
    modprobe -r ovpn_dco_v2 2>/dev/null || true
    modprobe -r ovpn_shortcut 2>/dev/null || true
    modprobe -r ovpn 2>/dev/null || true
}

wait_log() {  # wait_log FILE PIDFILE NEEDLE SECONDS
    local i
    for i in $(seq "$4"); do
        grep -q "$3" "$1" 2>/dev/null && return 0
        kill -0 "$(cat "$2" 2>/dev/null)" 2>/dev/null || { echo "openvpn exited" >&2; tail -30 "$1" >&2; return 1; }
        sleep 1
    done
    echo "timeout waiting for '$3' in $1" >&2; tail -30 "$1" >&2; return 1
}

ovpn_up() {  # ovpn_up SERVER_BIN SERVER_DCO(0/1) CLIENT_BIN CLIENT_DCO CIPHER [LINK_KIND]
    # LINK_KIND: the kind both devices must have (the kernel module really used)
    local sbin=$1 sdco=$2 cbin=$3 cdco=$4 cipher=$5 want=${6:-} sx=() cx=()
    [ "$sdco" = 1 ] || sx=(--disable-dco)
    [ "$cdco" = 1 ] || cx=(--disable-dco)
    rm -f "$RUN/server.log" "$RUN/client.log"
    S "$sbin" --daemon bench-server --log "$RUN/server.log" --writepid "$RUN/server.pid" \
        --verb 3 --dev ovs0 --dev-type $DEVTYPE --proto udp --local 10.200.0.1 --port 1194 \
        --server 10.201.0.0 255.255.255.0 --topology subnet --data-ciphers "$cipher" \
        --tun-mtu $MTU --keepalive 10 60 --ca $PKI/ca.crt --cert $PKI/server.crt \
        --key $PKI/server.key --dh none "${EXTRA[@]}" "${sx[@]}"
    wait_log "$RUN/server.log" "$RUN/server.pid" "Initialization Sequence Completed" 60
    C "$cbin" --daemon bench-client --log "$RUN/client.log" --writepid "$RUN/client.pid" \
        --verb 3 --client --dev ovc0 --dev-type $DEVTYPE --proto udp --remote 10.200.0.1 1194 \
        --nobind --data-ciphers "$cipher" --tun-mtu $MTU --remote-cert-tls server \
        --ca $PKI/ca.crt --cert $PKI/client.crt --key $PKI/client.key "${EXTRA[@]}" "${cx[@]}"
    wait_log "$RUN/client.log" "$RUN/client.pid" "Initialization Sequence Completed" 120
    # the offload each side really uses, read back from the logs and the links
    local skind ckind
    skind=$(S ip -d -j link show ovs0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["linkinfo"]["info_kind"])')
    ckind=$(C ip -d -j link show ovc0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["linkinfo"]["info_kind"])')
    if [ -n "$want" ] && { [ "$skind" != "$want" ] || [ "$ckind" != "$want" ]; }; then
        echo "devices are $skind/$ckind, not $want: the kernel data path is not in use" >&2
        grep -i dco "$RUN/server.log" "$RUN/client.log" >&2 || true
        return 1
    fi
    local cipher_used dco_version
    cipher_used=$(grep -o "Data Channel: cipher '[^']*'" "$RUN/client.log" | tail -1 | cut -d"'" -f2)
    # what OpenVPN's DCO layer found: the module's version (the in-tree ovpn: the kernel's)
    dco_version=$(grep -m1 -o "DCO version: .*" "$RUN/client.log" | cut -c14-120 | tr -d '"\\' || true)
    printf '{"target": "10.201.0.1", "server_link": "%s", "client_link": "%s", "cipher_used": "%s", "client_dco_version": "%s", "pids": "%s %s"}\n' \
        "$skind" "$ckind" "$cipher_used" "$dco_version" "$(cat "$RUN/server.pid")" "$(cat "$RUN/client.pid")"
}

wg_up() {
    local ks kc
    ks=$(wg genkey); kc=$(wg genkey)
    S ip link add wgs type wireguard; C ip link add wgc type wireguard
    S wg set wgs listen-port 51820 private-key <(echo "$ks") \
        peer "$(echo "$kc" | wg pubkey)" allowed-ips 10.201.0.2/32 endpoint 10.200.0.2:51821
    C wg set wgc listen-port 51821 private-key <(echo "$kc") \
        peer "$(echo "$ks" | wg pubkey)" allowed-ips 10.201.0.1/32 endpoint 10.200.0.1:51820
    S ip addr add 10.201.0.1/24 dev wgs; C ip addr add 10.201.0.2/24 dev wgc
    S ip link set wgs mtu $MTU up; C ip link set wgc mtu $MTU up
    printf '{"target": "10.201.0.1", "server_link": "wireguard", "client_link": "wireguard", "cipher_used": "CHACHA20-POLY1305", "pids": ""}\n'
}

up() {
    local config=$1 cipher=${2:-AES-256-GCM}
    down
    case "$config" in
        veth) printf '{"target": "10.200.0.1", "server_link": "veth", "client_link": "veth", "cipher_used": "none", "pids": ""}\n' ;;
        wireguard) wg_up ;;
        ovpn-user) ovpn_up $STOCK 0 $STOCK 0 "$cipher" ;;
        ovpn-dco) modprobe ovpn_dco_v2; ovpn_up $STOCK 1 $STOCK 1 "$cipher" ;;
        ovpn-dco-srv) modprobe ovpn_dco_v2; ovpn_up $STOCK 1 $STOCK 0 "$cipher" ;;
        ovpn-up) modprobe ovpn; ovpn_up $UPSTREAM 1 $UPSTREAM 1 "$cipher" ovpn ;;
        ovpn-sc) modprobe ovpn_shortcut; ovpn_up $PATCHED 1 $PATCHED 1 "$cipher" ovpn-shortcut ;;
        ovpn-sc-serial) modprobe ovpn_shortcut parallel_crypto=0
            ovpn_up $PATCHED 1 $PATCHED 1 "$cipher" ovpn-shortcut ;;
        ovpn-sc-chacha-api) modprobe ovpn_shortcut chacha_lib=0
            ovpn_up $PATCHED 1 $PATCHED 1 "$cipher" ovpn-shortcut ;;
        ovpn-sc-srv) modprobe ovpn_shortcut; ovpn_up $PATCHED 1 $STOCK 0 "$cipher" ;;
        ovpn-user-tap) DEVTYPE=tap; ovpn_up $STOCK 0 $STOCK 0 "$cipher" ;;
        ovpn-sc-tap) DEVTYPE=tap; modprobe ovpn_shortcut
            ovpn_up $PATCHED 1 $PATCHED 1 "$cipher" ovpn-shortcut ;;
        ovpn-sc-tap-srv) DEVTYPE=tap; modprobe ovpn_shortcut; ovpn_up $PATCHED 1 $STOCK 0 "$cipher" ;;
        ovpn-sc-pmtu|ovpn-sc-pmtu-nomss)
            S ip link set vs mtu $PMTU; C ip link set vc mtu $PMTU
            if [ "$config" = ovpn-sc-pmtu ]; then EXTRA=(--mssfix $PMTU mtu); else EXTRA=(--mssfix 0); fi
            modprobe ovpn_shortcut; ovpn_up $PATCHED 1 $PATCHED 1 "$cipher" ovpn-shortcut ;;
        *) echo "unknown config $config" >&2; exit 2 ;;
    esac
    C ping -c 2 -W 5 -q "$( [ "$config" = veth ] && echo 10.200.0.1 || echo 10.201.0.1 )" >/dev/null
}

mkdir -p "$RUN"
case "${1:-}" in
    ns) make_ns ;;
    up) shift; up "$@" ;;
    down) down ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
esac
