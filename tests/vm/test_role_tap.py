"""The role deploys a bridged dev tap server on the module (issue 16).

g1: a second OpenVPN server, deployed by the role (playbooks/ovpn_shortcut.yml,
DKMS off: the session's module is loaded) with ovpn_shortcut_server_dev_type=tap
and ovpn_shortcut_server_bridge=brlan: a Linux bridge this test makes, holding
the server's address 10.95.0.1 and a "LAN host" (netns, veth) at 10.95.0.200.
OpenVPN puts its tap device (kind ovpn-shortcut, dev-type tap) in the bridge.
g2: the role's own client for that server (openvpn-client@ovpnsct, stock openvpn
in dev tap: userspace) and two more clients t1, t2 in network namespaces with the
role's profiles. Beside the tun server of test_openvpn_clients.py when both run.

Opt-in (a role play of its own, about 10 minutes under TCG): OVPN_TEST_FULL=1.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ovpn_lab.guest import Guest
from tests.conftest import TIMINGS
from tests.vm.role_helpers import copy_profiles, netns_on_lan, role_play, wait_for

from .conftest import FULL, NOT_FULL

pytestmark = pytest.mark.skipif(not FULL, reason=NOT_FULL)

NAME, DEV, PORT = "ovpnsct", "ovpnsct0", 1197
BRIDGE, BRIDGE_IP, NETWORK = "brlan", "10.95.0.1", "10.95.0.0/24"
LAN_NS, LAN_HOST = "tlan", "10.95.0.200"
G2_VIP = "10.95.0.100"  # the role's automatic VIP for the client group's host
CLIENTS = {"t1": {"vip": "10.95.0.11", "lan": "198.18.0.31"},
           "t2": {"vip": "10.95.0.12", "lan": "198.18.0.32"}}
RUN = "/root/ovpn-tap-clients"


def _report(key: str, value: str) -> None:
    TIMINGS[f"role tap: {key}"] = value
    print(f"{key}: {value}")


def _role_play(lab, pki: Path, openvpn_debs: dict[str, str]) -> subprocess.CompletedProcess:
    extra = {
        "ovpn_shortcut_dkms": False, "ovpn_shortcut_module_load": False,
        "ovpn_shortcut_pki_dir": str(pki), "ovpn_shortcut_openvpn_debs": openvpn_debs,
        "ovpn_shortcut_links": [],
        "ovpn_shortcut_server_name": NAME, "ovpn_shortcut_server_device": DEV,
        "ovpn_shortcut_server_port": PORT, "ovpn_shortcut_server_network": NETWORK,
        "ovpn_shortcut_server_dev_type": "tap", "ovpn_shortcut_server_bridge": BRIDGE,
        "ovpn_shortcut_server_bridge_ip": BRIDGE_IP,
        "ovpn_shortcut_server_keepalive_interval": 2,
        "ovpn_shortcut_server_keepalive_timeout": 10,
        "ovpn_shortcut_server_clients": [{"name": n, "vip": c["vip"]}
                                         for n, c in CLIENTS.items()],
    }
    return role_play(lab, extra)


def _journal(g1: Guest) -> str:
    return g1.run(f"journalctl -q -o cat --no-pager -u openvpn-server@{NAME}",
                  check=False).stdout


def _diag(g1: Guest, g2: Guest) -> str:
    return "\n".join([
        "--- server journal ---", "\n".join(_journal(g1).splitlines()[-40:]),
        "--- g1 ---", g1.run(f"ip -d link show {DEV}; bridge link; bridge fdb show br {BRIDGE}"
                             f" | grep -v permanent; ovpn-shortcut peer get {DEV}; "
                             f"ovpn-shortcut mac list {DEV}", check=False).stdout,
        g1.kernel_log_tail(20),
        "--- g2 ---", g2.run(f"tail -n 15 {RUN}/*.log; journalctl -q -o cat --no-pager -n 15 "
                             f"-u openvpn-client@{NAME}", check=False).stdout])


_wait = wait_for


@pytest.fixture(scope="module")
def bridge(g1: Guest) -> Iterator[None]:
    """The operator's part: bridge brlan with the server's address and a LAN host."""
    g1.run(f"""set -e
ip link add {BRIDGE} type bridge
ip addr add {BRIDGE_IP}/24 dev {BRIDGE}
ip link set {BRIDGE} up
ip netns add {LAN_NS}
ip link add tlan0 type veth peer name tlan1
ip link set tlan1 netns {LAN_NS}
ip link set tlan0 master {BRIDGE} up
ip -n {LAN_NS} addr add {LAN_HOST}/24 dev tlan1
ip -n {LAN_NS} link set tlan1 up
ip -n {LAN_NS} link set lo up""")
    try:
        yield
    finally:
        g1.run(f"systemctl stop openvpn-server@{NAME}; ip netns del {LAN_NS}; "
               f"ip link del {BRIDGE}", check=False)


@pytest.fixture(scope="module")
def deployed(lab, g1: Guest, g2: Guest, ovpn_module: str, openvpn_debs: dict[str, str],
             bridge: None, tmp_path_factory) -> Iterator[Path]:
    g1.run(f"modprobe {ovpn_module}")
    pki = tmp_path_factory.mktemp("role-tap") / "pki"
    t0 = time.monotonic()
    proc = _role_play(lab, pki, openvpn_debs)
    _report("role play (bridged tap server + g2 client)", f"{time.monotonic() - t0:.0f} s")
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    try:
        yield pki
    finally:
        g2.run(f"systemctl stop openvpn-client@{NAME}", check=False)


@pytest.fixture(scope="module")
def clients(g1: Guest, g2: Guest, deployed: Path) -> Iterator[dict]:
    copy_profiles(g2, deployed, list(CLIENTS), RUN)
    for i, (name, c) in enumerate(CLIENTS.items()):
        ns = f"ns-{name}"
        netns_on_lan(g2, ns, f"mt{i}", c["lan"])
        g2.run(f"ip netns exec {ns} openvpn --config {RUN}/{name}.ovpn --dev tap0 "
               f"--daemon ovpn-{name} --writepid {RUN}/{name}.pid --log {RUN}/{name}.log")
    for name in CLIENTS:
        _wait(f"client {name} connected", lambda n=name: "Initialization Sequence Completed"
              in g2.run(f"cat {RUN}/{n}.log", check=False).stdout, 120, lambda: _diag(g1, g2))
    try:
        yield CLIENTS
    finally:
        g2.run(f"for p in {RUN}/*.pid; do kill $(cat $p) 2>/dev/null; done; sleep 1; "
               + "; ".join(f"ip netns del ns-{n}" for n in CLIENTS), check=False)


def _peer_of(g1: Guest, lan: str) -> dict:
    peers = json.loads(g1.run(f"ovpn-shortcut --json peer get {DEV}").stdout)["peers"]
    # remote: "IP:PORT" or "[IPv6]:PORT" (a dual-stack socket's IPv4 client: v4-mapped)
    mine = [p for p in peers
            if p["remote"].rsplit(":", 1)[0].strip("[]") in (lan, f"::ffff:{lan}")]
    assert len(mine) == 1, (lan, peers)
    return mine[0]


def _macs(g1: Guest) -> dict[str, int]:
    out = json.loads(g1.run(f"ovpn-shortcut --json mac list {DEV}").stdout)
    return {m["addr"]: m["peer_id"] for m in out["macs"]}


def _ping(g: Guest, target: str, ns: str = "") -> bool:
    pre = f"ip netns exec {ns} " if ns else ""
    return g.run(f"{pre}ping -c 3 -i 0.5 -w 15 {target}", check=False).returncode == 0


def test_tap_server_in_the_bridge_on_the_module(g1, g2, deployed):
    assert g1.run(f"systemctl is-active openvpn-server@{NAME}").stdout.strip() == "active"
    js = json.loads(g1.run(f"ip -d -j link show {DEV}").stdout)[0]
    assert js["linkinfo"]["info_kind"] == "ovpn-shortcut", js
    assert js["link_type"] == "ether", js  # a dev-type tap device: Ethernet
    assert js.get("master") == BRIDGE, js  # the role's up script put it there
    conf = g1.run(f"cat /etc/openvpn/server/{NAME}.conf").stdout
    assert "dev-type tap" in conf and f"server-bridge {BRIDGE_IP} 255.255.255.0" in conf, conf
    # the role's own client (stock openvpn, dev tap in userspace) reaches the bridge
    assert g2.run(f"systemctl is-active openvpn-client@{NAME}").stdout.strip() == "active"
    assert _ping(g2, BRIDGE_IP), _diag(g1, g2)
    g2_dev = f"{NAME[:12]}-c"
    link = json.loads(g2.run(f"ip -j link show {g2_dev}").stdout)[0]
    assert link["link_type"] == "ether", link
    addr = g2.run(f"ip -4 -o addr show dev {g2_dev}").stdout.split()[3]
    assert addr == f"{G2_VIP}/24", addr
    # its MAC was learnt by the kernel, for the peer of g2's address
    peer = _peer_of(g1, g2.spec.lan_ipv4)
    assert _macs(g1).get(link["address"]) == peer["peer_id"], (_macs(g1), peer)
    assert peer["counters"]["vpn_rx_bytes"] > 0 and peer["counters"]["vpn_tx_bytes"] > 0, peer


def test_tap_clients_reach_the_lan_host_through_the_bridge(g1, g2, clients):
    for name, c in clients.items():
        ns = f"ns-{name}"
        addr = g2.run(f"ip -n {ns} -4 -o addr show dev tap0").stdout.split()[3]
        assert addr == f"{c['vip']}/24", (name, addr)  # the role's ccd: static VIP
        assert _ping(g2, LAN_HOST, ns), f"{name} -> LAN host\n{_diag(g1, g2)}"
        assert _ping(g1, c["vip"], LAN_NS), f"LAN host -> {name}\n{_diag(g1, g2)}"
    macs = _macs(g1)
    lan_mac = g1.run(f"ip netns exec {LAN_NS} cat /sys/class/net/tlan1/address").stdout.strip()
    assert lan_mac not in macs, macs  # a LAN host is no peer's
    for name, c in clients.items():
        mac = g2.run(f"ip netns exec ns-{name} cat /sys/class/net/tap0/address").stdout.strip()
        assert macs.get(mac) == _peer_of(g1, c["lan"])["peer_id"], (name, mac, macs)
    # a tap server has no routes of its own for the clients: the bridge switches
    assert "10.95.0.11" not in g1.run("ip route").stdout


def _mac_table(g1: Guest) -> dict:
    (dev,) = json.loads(g1.run(f"ovpn-shortcut --json show {DEV}").stdout)["devices"]
    return dev["device"]["mac_table"]


def test_tap_broadcast_reaches_every_client(g1, g2, clients):
    """A broadcast from the LAN host: the bridge sends it down the tap device, the
    kernel floods it to every peer (one frame, a copy per further peer), and each
    stock client (the role's on g2, t1, t2: userspace dev tap) answers."""
    vips = {G2_VIP, *(c["vip"] for c in clients.values())}
    g2.run("sysctl -qw net.ipv4.icmp_echo_ignore_broadcasts=0")
    for name in clients:
        g2.run(f"ip netns exec ns-{name} sysctl -qw net.ipv4.icmp_echo_ignore_broadcasts=0")
    before = _mac_table(g1)
    out = g1.run(f"ip netns exec {LAN_NS} ping -b -c 4 -i 0.5 -w 15 10.95.0.255",
                 check=False).stdout
    after = _mac_table(g1)
    answered = {ln.split()[3].rstrip(":") for ln in out.splitlines() if " bytes from " in ln}
    _report("broadcast answered by", f"{sorted(answered & vips)}; flooded "
            f"+{after['flooded'] - before['flooded']}, copies "
            f"+{after['flood_copies'] - before['flood_copies']}")
    assert vips <= answered, f"{out}\n{_diag(g1, g2)}"
    assert after["flooded"] - before["flooded"] >= 4, (before, after)
    # three peers: each flooded frame is sent once and copied for two more
    assert after["flood_copies"] - before["flood_copies"] >= 8, (before, after)


def test_tap_server_sigusr1_keeps_the_device_in_the_bridge(g1, g2, clients):
    """persist-tun: a SIGUSR1 restart (OpenVPN no longer root) keeps the device,
    bridged; the clients reconnect and reach the LAN host again."""
    before = json.loads(g1.run(f"ip -j link show {DEV}").stdout)[0]["ifindex"]
    g1.run(f"systemctl kill -s USR1 openvpn-server@{NAME}")
    _wait("the server restarted", lambda: _journal(g1).count(
        "Initialization Sequence Completed") >= 2, 60, lambda: _diag(g1, g2))
    js = json.loads(g1.run(f"ip -d -j link show {DEV}").stdout)[0]
    assert js["ifindex"] == before and js.get("master") == BRIDGE, js
    for name in clients:
        _wait(f"{name} reaches the LAN host after the restart",
              lambda n=name: _ping(g2, LAN_HOST, f"ns-{n}"), 120, lambda: _diag(g1, g2))
    assert "DCO device" in _journal(g1), _journal(g1)[-2000:]
