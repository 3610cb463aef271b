"""Issue 5: stock OpenVPN clients against the patched server on ovpn_shortcut.

g1: the server, deployed by the role (playbooks/ovpn_shortcut.yml with DKMS off:
the module is built on the host and loaded by this file), so the config is the
role's template: UDP, topology subnet, tls-crypt, client-config-dir with static
VIPs and iroutes, keepalive, status file, systemd openvpn-server@ovpnsc.
g2: stock Debian openvpn (no offload anywhere on the client side): the role's
own client (g2, root namespace, openvpn-client@ovpnsc) and three more clients
c1..c3, each in a network namespace of its own with a macvlan on the lab LAN,
its own certificate and static VIP; c1 has 10.99.1.0/24 behind it (iroute); c3
renegotiates every few seconds (--reneg-sec) during its own test only.

Keepalive is 2/10 s (server side: 20 s) and the status file is rewritten every
2 s, so expiry is observable within a test. Numbers (iperf3 Mbit/s, kernel
per-peer counters against iperf3's bytes, server CPU seconds) are printed and
kept in the test report's timings; only generous relative bounds are asserted.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ovpn_lab.guest import Guest
from tests.conftest import TIMINGS
from tests.vm.iperf_kernel import measure
from tests.vm.role_helpers import copy_profiles, netns_on_lan, role_play, wait_for

NAME = "ovpnsc"
DEV = "ovpnsc0"
SERVER_VIP = "10.98.0.1"
G2_VIP = "10.98.0.100"  # the role's automatic VIP for the client group's first host
CLIENTS = {  # netns clients in g2: VIP, iroutes, LAN address
    # c1 reaches the server over IPv6 (the server's socket is dual stack), the
    # others over IPv4; every client also gets a VIPv6, c1 an IPv6 iroute
    "c1": {"vip": "10.98.0.11", "iroutes": ["10.99.1.0/24"], "lan": "198.18.0.21",
           "iroutes6": ["fd01:99:1::/64"], "lan6_suffix": "21"},
    "c2": {"vip": "10.98.0.12", "iroutes": [], "lan": "198.18.0.22"},
    "c3": {"vip": "10.98.0.13", "iroutes": [], "lan": "198.18.0.23"},
}
IROUTE_HOST = "10.99.1.1"  # an address on the network behind c1
NETWORK6 = "fd99::/64"  # ovpn_shortcut_server_network6: the server is fd99::1
SERVER_VIP6 = "fd99::1"
IROUTE6_HOST = "fd01:99:1::1"  # an address on the IPv6 network behind c1
RENEG_SEC = 4  # c3 renegotiates its data-channel keys this often
RUN = "/root/ovpn-clients"
STATUS = f"/run/openvpn-server/status-{NAME}.log"
BLOCK = "/etc/modprobe.d/ovpn-shortcut-test-block.conf"
DROPIN = f"/run/systemd/system/openvpn-server@{NAME}.service.d/ovpnsc-test.conf"


def _report(key: str, value: str) -> None:
    TIMINGS[f"openvpn clients: {key}"] = value
    print(f"{key}: {value}")


# -- the server, deployed by the role ---------------------------------------------------

@pytest.fixture(scope="module")
def deployed(lab, g1: Guest, g2: Guest, ovpn_module: str, openvpn_debs: dict[str, str],
             tmp_path_factory) -> Path:
    """Module loaded in g1, then the role's play; returns the controller's PKI directory."""
    g1.run(f"modprobe {ovpn_module}")
    pki = tmp_path_factory.mktemp("role") / "pki"
    t0 = time.monotonic()
    proc = _role_play(lab, pki, openvpn_debs)
    _report("role play (server + g2 client)", f"{time.monotonic() - t0:.0f} s")
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    return pki


def _role_play(lab, pki: Path, openvpn_debs: dict[str, str], *args: str,
               **more: object) -> subprocess.CompletedProcess:
    extra = {
        "ovpn_shortcut_dkms": False, "ovpn_shortcut_module_load": False,
        "ovpn_shortcut_pki_dir": str(pki),
        "ovpn_shortcut_openvpn_debs": openvpn_debs,
        # the server and its clients only. With the lab's site-to-site links g2 would
        # get the patched OpenVPN (a link end needs it) and c1..c3 would no longer be
        # stock clients but DCO ones; test_site.py covers that host (its client
        # killed and restarted on the module)
        "ovpn_shortcut_links": [],
        "ovpn_shortcut_server_keepalive_interval": 2,
        "ovpn_shortcut_server_keepalive_timeout": 10,
        "ovpn_shortcut_server_status_interval": 2,
        "ovpn_shortcut_server_network6": NETWORK6,
        "ovpn_shortcut_server_proto": "udp6",
        "ovpn_shortcut_server_clients": [
            {"name": n, "vip": c["vip"], "iroutes": c["iroutes"],
             "iroutes6": c.get("iroutes6", [])} for n, c in CLIENTS.items()],
        **more,
    }
    return role_play(lab, extra, *args)


def _journal(g1: Guest, since: str = "") -> str:
    since_arg = f"--since {shlex.quote(since)}" if since else ""
    return g1.run(f"journalctl -q -o cat --no-pager -u openvpn-server@{NAME} {since_arg}",
                  check=False).stdout


def _peers(g1: Guest) -> dict[str, dict]:
    """Kernel peers of the server device by VPN IPv4 (ovpn-shortcut peer get)."""
    out = g1.run(f"ovpn-shortcut --json peer get {DEV}").stdout
    return {p["vpn_ipv4"]: p for p in json.loads(out)["peers"]}


def _status_clients(g1: Guest) -> dict[str, str]:
    """CN -> VIP from OpenVPN's status file (status-version 2 CLIENT_LIST rows)."""
    text = g1.run(f"cat {STATUS}", check=False).stdout
    rows = [ln.split(",") for ln in text.splitlines() if ln.startswith("CLIENT_LIST,")]
    return {r[1]: r[3] for r in rows}


def _diag(g1: Guest, g2: Guest | None = None) -> str:
    parts = ["--- server journal ---", "\n".join(_journal(g1).splitlines()[-40:]),
             "--- g1 ---", g1.run(f"ip -d link show {DEV}; ip route; cat {STATUS}; "
                                  f"ovpn-shortcut peer get {DEV}", check=False).stdout,
             g1.kernel_log_tail(20)]
    if g2 is not None:
        parts += ["--- g2 client logs ---",
                  g2.run(f"tail -n 15 {RUN}/*.log", check=False).stdout]
    return "\n".join(parts)


_wait = wait_for


def test_role_server_runs_on_the_module(g1, g2, deployed):
    assert g1.run(f"systemctl is-active openvpn-server@{NAME}").stdout.strip() == "active"
    # root only to start: then nobody/nogroup with CAP_NET_ADMIN (bit 12) alone
    assert g1.unit_privileges(f"openvpn-server@{NAME}") == ("nobody", "nogroup", 1 << 12)
    js = json.loads(g1.run(f"ip -d -j link show {DEV}").stdout)
    assert js[0]["linkinfo"]["info_kind"] == "ovpn-shortcut", js
    journal = _journal(g1)
    assert f"DCO device {DEV} opened" in journal, journal[-3000:]
    # the role's own client in g2 (stock openvpn, openvpn-client@) pings through
    assert g2.run(f"systemctl is-active openvpn-client@{NAME}").stdout.strip() == "active"
    ping = g2.run(f"ping -c 3 -i 0.5 -W 3 {SERVER_VIP}", check=False)
    assert ping.returncode == 0, ping.stdout + _diag(g1)
    peer = _peers(g1)[G2_VIP]
    assert peer["counters"]["vpn_rx_bytes"] > 0 and peer["counters"]["vpn_tx_bytes"] > 0, peer
    assert (peer["keepalive_interval"], peer["keepalive_timeout"]) == (2, 20), peer


# -- three more clients in network namespaces of g2 ---------------------------------------

def _start_client(g2: Guest, name: str, extra: str = "") -> None:
    ns, d = f"ns-{name}", RUN
    g2.run(f"rm -f {d}/{name}.log; ip netns exec {ns} openvpn --config {d}/{name}.ovpn "
           f"--daemon ovpn-{name} --writepid {d}/{name}.pid --log {d}/{name}.log --verb 3"
           f" {extra}")


def _client_up(g2: Guest, name: str) -> bool:
    text = g2.run(f"cat {RUN}/{name}.log 2>/dev/null", check=False).stdout
    return "Initialization Sequence Completed" in text


def _kill9(g2: Guest, name: str) -> None:
    g2.run(f"kill -9 $(cat {RUN}/{name}.pid); rm -f {RUN}/{name}.pid")


def _restart(g1: Guest, g2: Guest, name: str, extra: str = "") -> None:
    """Stop a client cleanly (exit notification to the server), start it again."""
    g2.run(f"kill $(cat {RUN}/{name}.pid); for i in $(seq 40); do "
           f"kill -0 $(cat {RUN}/{name}.pid) 2>/dev/null || break; sleep 0.5; done; "
           f"rm -f {RUN}/{name}.pid")
    _start_client(g2, name, extra)
    _wait(f"client {name} connected", lambda: _client_up(g2, name), 120,
          lambda: _diag(g1, g2))


@pytest.fixture(scope="module")
def clients(g1: Guest, g2: Guest, deployed: Path) -> Iterator[dict]:
    copy_profiles(g2, deployed, list(CLIENTS), RUN)
    for i, (name, c) in enumerate(CLIENTS.items()):
        ns = f"ns-{name}"
        netns_on_lan(g2, ns, f"mv{i}", c["lan"])
        for r in c["iroutes"]:  # an address on the network behind the client
            host = r.split("/")[0].rsplit(".", 1)[0] + ".1"
            g2.run(f"ip -n {ns} addr add {host}/32 dev lo")
        for r in c.get("iroutes6", []):
            g2.run(f"ip -n {ns} addr add {r.split('/')[0]}1/128 dev lo")
        if "lan6_suffix" in c:  # this one connects to the server's IPv6 LAN address
            prefix = g1.spec.lan_ipv6.rsplit(":", 1)[0]
            g2.run(f"ip -n {ns} addr add {prefix}:{c['lan6_suffix']}/64 dev mv{i} nodad && "
                   f"sed -i 's/^remote .*/remote {g1.spec.lan_ipv6} 1194/' {RUN}/{name}.ovpn")
        _start_client(g2, name)
    for name in CLIENTS:
        _wait(f"client {name} connected", lambda n=name: _client_up(g2, n), 120,
              lambda: _diag(g1, g2))
    try:
        yield CLIENTS
    finally:
        g2.run(f"for p in {RUN}/*.pid; do kill $(cat $p) 2>/dev/null; done; sleep 1; "
               + "; ".join(f"ip netns del ns-{n}" for n in CLIENTS), check=False)


def test_clients_get_their_static_vips(g1, g2, clients):
    for name, c in clients.items():
        addr = g2.run(f"ip -n ns-{name} -4 -o addr show dev tun0").stdout.split()[3]
        assert addr == f"{c['vip']}/24", (name, addr)
        ping = g2.run(f"ip netns exec ns-{name} ping -c 2 -i 0.5 -W 3 {SERVER_VIP}",
                      check=False)
        assert ping.returncode == 0, f"{name}: {ping.stdout}\n{_diag(g1, g2)}"
    peers = _peers(g1)
    assert {c["vip"] for c in clients.values()} | {G2_VIP} <= set(peers), peers
    status = _status_clients(g1)
    assert {n: c["vip"] for n, c in clients.items()}.items() <= status.items(), status


def test_dual_stack_vips_ipv6_iroute_and_ipv6_outer(g1, g2, clients):
    """Every client has its VIPv6 (the IPv4 VIP's host offset in NETWORK6) and pings
    the server's IPv6 VPN address; the server reaches the IPv6 network behind c1
    (iroute-ipv6) through the module; c1's peer has an IPv6 remote, the others an
    IPv4 one (taken on the same dual-stack socket)."""
    peers = _peers(g1)
    for name, c in clients.items():
        vip6 = f"fd99::{int(c['vip'].rsplit('.', 1)[1]):x}"
        addrs = g2.run(f"ip -n ns-{name} -6 -o addr show dev tun0 scope global").stdout
        assert f"{vip6}/64" in addrs, (name, addrs)
        ping = g2.run(f"ip netns exec ns-{name} ping -6 -c 2 -i 0.5 -W 3 {SERVER_VIP6}",
                      check=False)
        assert ping.returncode == 0, f"{name}: {ping.stdout}\n{_diag(g1, g2)}"
        peer = peers[c["vip"]]
        assert peer["vpn_ipv6"] == vip6, peer
        remote = json.dumps(peer["remote"])
        assert (g1.spec.lan_ipv6.rsplit(":", 1)[0] in remote) == ("lan6_suffix" in c), peer
    ping = g1.run(f"ping -6 -c 3 -i 0.5 -W 3 {IROUTE6_HOST}", check=False)
    assert ping.returncode == 0, ping.stdout + _diag(g1, g2)
    c1 = _peers(g1)[CLIENTS["c1"]["vip"]]
    assert "fd01:99:1::/64" in c1["iroutes"], c1
    assert c1["counters"]["vpn_rx_packets"] > 0, c1


def test_client_to_client_reach_and_iroute_from_server(g1, g2, clients):
    # a network behind c1, reached from the server side through the module
    ping = g1.run(f"ping -c 3 -i 0.5 -W 3 {IROUTE_HOST}", check=False)
    assert ping.returncode == 0, ping.stdout + _diag(g1, g2)
    assert "10.99.1.0/24" in _peers(g1)[CLIENTS["c1"]["vip"]]["iroutes"]


# -- iperf3 through the module: counters and server CPU ----------------------------------

@pytest.fixture(scope="module")
def iperf_server(g1: Guest, deployed: Path) -> Iterator[None]:
    g1.run(f"iperf3 -s -D -B {SERVER_VIP} --pidfile /run/ovpn-iperf3.pid")
    time.sleep(1)
    yield
    g1.run("kill $(cat /run/ovpn-iperf3.pid)", check=False)


def _server_cpu(g1: Guest) -> tuple[int, float]:
    """(MainPID, utime+stime seconds) of the OpenVPN server process."""
    pid = int(g1.run(f"systemctl show -p MainPID --value openvpn-server@{NAME}").stdout)
    stat = g1.run(f"cat /proc/{pid}/stat; getconf CLK_TCK").stdout.splitlines()
    fields = stat[0].rsplit(")", 1)[1].split()
    return pid, (int(fields[11]) + int(fields[12])) / int(stat[1])  # utime, stime


def _iperf(g2: Guest, name: str, secs: int, *, reverse: bool = False) -> dict:
    rev = " -R" if reverse else ""
    out = g2.run(f"ip netns exec ns-{name} iperf3 -c {SERVER_VIP} -t {secs} -i 1 -J{rev}",
                 timeout=secs + 120).stdout
    return json.loads(out)


def test_iperf3_kernel_counters_and_server_cpu(g1, g2, clients, iperf_server):
    vip = CLIENTS["c1"]["vip"]
    for reverse in (False, True):
        r = measure(lambda reverse=reverse: _iperf(g2, "c1", 10, reverse=reverse),
                    lambda: _peers(g1)[vip]["counters"], lambda: _server_cpu(g1), reverse)
        _report(f"iperf3 c1 {r.way}", r.summary())
        assert r.got > 0
        # the kernel saw every payload byte plus the TCP/IP headers, nothing much else
        assert r.got <= r.kernel <= r.got * 1.15, r
        # the data channel is in the kernel: OpenVPN's process stays nearly idle
        assert r.cpu < 0.10 * r.wall, r


def test_reneg_during_iperf3_no_stall(g1, g2, clients, iperf_server):
    """c3 renegotiates every few seconds while iperf3 runs: no interval without data.

    Only during this test: every renegotiation is a TLS handshake in the server
    process, which would spoil the CPU figures of the other tests.
    """
    vip = CLIENTS["c3"]["vip"]
    secs = 16
    _restart(g1, g2, "c3", f"--reneg-sec {RENEG_SEC}")
    g2.run(f"ip netns exec ns-c3 nohup iperf3 -c {SERVER_VIP} -t {secs} -i 1 -J "
           f"> {RUN}/reneg.json 2>&1 &")
    seen = []
    deadline = time.monotonic() + secs + 60
    while time.monotonic() < deadline:
        peer = _peers(g1).get(vip)
        if peer:
            seen.append(peer["primary_key_id"])
        done = g2.run(f"grep -q '\"end\"' {RUN}/reneg.json && ! pgrep -f 'iperf3 -c' "
                      f">/dev/null", check=False)
        if done.returncode == 0:
            break
        time.sleep(1)
    res = json.loads(g2.run(f"cat {RUN}/reneg.json").stdout)
    per_sec = [round(iv["sum"]["bytes"] / iv["sum"]["seconds"]) for iv in res["intervals"]]
    ids = [k for i, k in enumerate(seen) if i == 0 or k != seen[i - 1]]
    _report("reneg-sec c3", f"{len(ids) - 1} primary key swaps seen in the kernel "
            f"(key ids {ids}); iperf3 intervals B/s min {min(per_sec)} max {max(per_sec)}")
    assert len(ids) >= 3, (ids, _diag(g1, g2))
    # No stall: never two empty one-second intervals in a row. A single empty
    # interval was seen once (2026-11-25, host load ~6, 8 renegotiations in 16 s,
    # cause not analysed yet: the stock client does its TLS handshakes and its
    # data in one thread); it is reported, not failed.
    empty = [i for i, b in enumerate(per_sec) if b == 0]
    _report("reneg-sec c3 empty intervals", f"{len(empty)} of {len(per_sec)} ({empty})")
    assert not any(b - a == 1 for a, b in itertools.pairwise(empty)), per_sec
    assert sum(1 for b in per_sec if b > 0) >= len(per_sec) - 2, per_sec
    log = g2.run(f"cat {RUN}/c3.log").stdout
    _restart(g1, g2, "c3")  # back to the profile's key lifetime
    # OpenVPN gives a new instance the lowest free peer-id (multi_assign_peer_id)
    _report("peer-ids after c3's restarts", str({p["vpn_ipv4"]: p["peer_id"]
                                                  for p in _peers(g1).values()}))
    # one TLS handshake per renegotiation ("Data Channel:" is logged only once)
    assert log.count("Control Channel: TLS") >= 3, log[-3000:]


# -- vanished clients and reconnects ---------------------------------------------------

def _iroute_ok(g1: Guest) -> bool:
    return g1.run(f"ping -c 1 -W 2 {IROUTE_HOST}", check=False).returncode == 0


def test_vanished_client_expires_then_reconnects(g1, g2, clients):
    vip = CLIENTS["c1"]["vip"]
    assert vip in _peers(g1) and "c1" in _status_clients(g1)
    _kill9(g2, "c1")
    t0 = time.monotonic()
    _wait("kernel expires c1's peer", lambda: vip not in _peers(g1), 90, lambda: _diag(g1))
    gone = time.monotonic() - t0
    _wait("c1 leaves the status file", lambda: "c1" not in _status_clients(g1), 30,
          lambda: _diag(g1))
    _report("expiry of a kill -9 client", f"peer gone from the kernel after {gone:.0f} s "
            f"(keepalive 2/10, server timeout 20 s)")
    assert gone >= 10, gone  # not before the keepalive timeout can have passed
    journal = _journal(g1)
    assert re.search(r"c1/.*(expired|ping-restart|Inactivity timeout)", journal, re.I), \
        journal[-3000:]
    # the signature of the lost notification (patch 0004): the event loop woken for
    # a DEL_PEER that a request on the same socket had already consumed
    assert "netlink reports error" not in journal, journal[-3000:]
    assert not _iroute_ok(g1)

    _start_client(g2, "c1")
    _wait("c1 reconnected", lambda: _client_up(g2, "c1"), 120, lambda: _diag(g1, g2))
    _wait("c1's peer back in the kernel", lambda: vip in _peers(g1), 30, lambda: _diag(g1))
    assert _status_clients(g1).get("c1") == vip or _wait(
        "c1 back in the status file", lambda: _status_clients(g1).get("c1") == vip, 20,
        lambda: _diag(g1))
    _wait("iroute behind c1 reachable again", lambda: _iroute_ok(g1), 30, lambda: _diag(g1))
    assert "10.99.1.0/24" in _peers(g1)[vip]["iroutes"]


def test_fast_reconnect_keeps_vip_and_iroute(g1, g2, clients):
    """kill -9 and restart at once, before the kernel could expire the old peer."""
    vip = CLIENTS["c1"]["vip"]
    if g2.run(f"kill -0 $(cat {RUN}/c1.pid 2>/dev/null) 2>/dev/null", check=False).returncode:
        _start_client(g2, "c1")  # the previous test may have left it down
    _wait("c1 connected", lambda: _client_up(g2, "c1") and vip in _peers(g1), 120,
          lambda: _diag(g1, g2))
    old = _peers(g1)[vip]
    _kill9(g2, "c1")
    _start_client(g2, "c1")
    _wait("c1 reconnected", lambda: _client_up(g2, "c1"), 120, lambda: _diag(g1, g2))

    def new_peer() -> bool:
        p = _peers(g1).get(vip)
        return bool(p) and p["peer_id"] != old["peer_id"]

    _wait("c1's new peer in the kernel", new_peer, 60, lambda: _diag(g1))
    ping = g2.run(f"ip netns exec ns-c1 ping -c 2 -i 0.5 -W 3 {SERVER_VIP}", check=False)
    assert ping.returncode == 0, ping.stdout + _diag(g1, g2)
    _wait("iroute behind c1 after a fast reconnect", lambda: _iroute_ok(g1), 30,
          lambda: _diag(g1))
    # and it stays: the old instance's cleanup must not take the iroute along
    time.sleep(25)
    peers = _peers(g1)
    assert [p["peer_id"] for p in peers.values() if p["vpn_ipv4"] == vip] == [
        peers[vip]["peer_id"]]
    assert "10.99.1.0/24" in peers[vip]["iroutes"], peers[vip]
    assert _iroute_ok(g1), _diag(g1)
    assert _status_clients(g1).get("c1") == vip


# -- fallback: the same clients, module unloaded -----------------------------------------

def test_fallback_to_userspace_without_the_module(g1, g2, clients, iperf_server):
    since = g1.run("date '+%F %T'").stdout.strip()
    # before the restart: c2 may reconnect before the server's device is checked
    g2.run(f"truncate -s 0 {RUN}/c2.log")
    # unloaded and not loadable: creating a device of kind ovpn-shortcut or looking
    # up its netlink family would otherwise load the module on demand
    g1.run(f"systemctl stop openvpn-server@{NAME} && modprobe -r ovpn_shortcut && "
           f"echo 'install ovpn_shortcut /bin/false' > {BLOCK} && "
           f"systemctl start openvpn-server@{NAME}")
    try:
        assert g1.run("test -d /sys/module/ovpn_shortcut", check=False).returncode != 0
        js = _wait("server up on a tun device",
                   lambda: g1.run(f"ip -d -j link show {DEV}", check=False).stdout.strip(),
                   60, lambda: _diag(g1))
        assert json.loads(js)[0]["linkinfo"]["info_kind"] == "tun", js
        journal = _journal(g1, since)
        assert f"DCO device {DEV} opened" not in journal, journal[-3000:]
        assert f"TUN/TAP device {DEV} opened" in journal, journal[-3000:]
        # c2 notices the restart (explicit-exit-notify) and reconnects on its own
        _wait("c2 reconnected to the userspace server", lambda: _client_up(g2, "c2"), 120,
              lambda: _diag(g1, g2))
        ping = g2.run(f"ip netns exec ns-c2 ping -c 3 -i 0.5 -W 3 {SERVER_VIP}", check=False)
        assert ping.returncode == 0, ping.stdout + _diag(g1, g2)
        _wait("iperf3 server back", lambda: g1.run(
            f"ip -4 -o addr show dev {DEV} | grep -q {SERVER_VIP}", check=False
        ).returncode == 0, 30, lambda: _diag(g1))
        g1.run("kill $(cat /run/ovpn-iperf3.pid); sleep 1; "
               f"iperf3 -s -D -B {SERVER_VIP} --pidfile /run/ovpn-iperf3.pid; sleep 1")
        _, cpu0 = _server_cpu(g1)
        t0 = time.monotonic()
        res = _iperf(g2, "c2", 5)
        wall = time.monotonic() - t0
        _, cpu1 = _server_cpu(g1)
        mbit = res["end"]["sum_received"]["bits_per_second"] / 1e6
        _report("iperf3 c2 client->server, module unloaded (userspace)",
                f"{mbit:.1f} Mbit/s; server CPU {cpu1 - cpu0:.2f} s in {wall:.1f} s")
        assert res["end"]["sum_received"]["bytes"] > 0
    finally:
        g1.run(f"systemctl stop openvpn-server@{NAME}; rm -f {BLOCK}; modprobe ovpn_shortcut; "
               f"systemctl start openvpn-server@{NAME}", check=False)


# -- the server killed with SIGKILL under traffic (issue 8, faults) -----------------------

def _kill9_and_snapshot(g1: Guest, pid: int) -> dict:
    """kill -9 the server and, in the same round trip, what is left: peers, device,
    UDP sockets, routes, and last whether an openvpn process exists again."""
    out = g1.run(
        f"kill -9 {pid}; echo PEERS; ovpn-shortcut --json peer get {DEV} 2>/dev/null || "
        f"echo '{{}}'; echo LINK; ip -d -j link show {DEV} || echo '[]'; echo UDP; "
        f"ss -uanpH 'sport = :1194'; echo ROUTES; ip -4 route show dev {DEV} 2>/dev/null; "
        "echo PIDS; pgrep -x openvpn || true; echo END", check=False).stdout
    parts = dict(re.findall(r"^(PEERS|LINK|UDP|ROUTES|PIDS)\n(.*?)(?=^(?:LINK|UDP|ROUTES|PIDS|"
                            r"END)$)", out, re.M | re.S))
    return {"peers": json.loads(parts["PEERS"] or "{}").get("peers", []),
            "link": json.loads(parts["LINK"] or "[]"), "pids": parts["PIDS"].split(),
            "udp": parts["UDP"].strip().splitlines(),
            "routes": parts["ROUTES"].strip().splitlines()}


def test_server_sigkill_under_iperf3_then_restart(g1, g2, clients, iperf_server):
    """kill -9 of the OpenVPN server while iperf3 runs through the kernel.

    What is left: the device, its peers and the UDP socket they hold (the kernel
    does not know the process died; the data path goes on). systemd restarts the
    server (Restart=on-failure; 5 s later in Debian's unit, 20 s in this test so that
    the leftovers can be looked at first); patch 0005 makes it delete the stale
    device first, which drops the peers and releases the socket, so the new
    server binds the port and creates a fresh device; the clients miss their
    keepalives, ping-restart and reconnect.
    """
    vip = CLIENTS["c2"]["vip"]
    _wait("c2 on the DCO server", lambda: vip in _peers(g1) and _client_up(g2, "c2"), 120,
          lambda: _diag(g1, g2))
    g1.run("kill $(cat /run/ovpn-iperf3.pid); sleep 1; "
           f"iperf3 -s -D -B {SERVER_VIP} --pidfile /run/ovpn-iperf3.pid; sleep 1")
    old_ifindex = json.loads(g1.run(f"ip -j link show {DEV}").stdout)[0]["ifindex"]
    old_pid = int(g1.run(f"systemctl show -p MainPID --value openvpn-server@{NAME}").stdout)
    since = g1.run("date '+%F %T'").stdout.strip()
    g2.run(f"rm -f {RUN}/kill.json; ip netns exec ns-c2 nohup iperf3 -c {SERVER_VIP} -t 20 "
           f"-i 1 -J > {RUN}/kill.json 2>&1 &")
    time.sleep(5)
    for name in CLIENTS:  # to see each client's reconnect
        g2.run(f"truncate -s 0 {RUN}/{name}.log")
    # Debian's unit restarts 5 s after a failure; on this loaded TCG host one look at
    # the leftovers can take longer, so systemd waits 20 s during this test only
    g1.run(f"mkdir -p {DROPIN.rsplit('/', 1)[0]} && printf '[Service]\\nRestartSec=20s\\n'"
           f" > {DROPIN} && systemctl daemon-reload")
    try:
        t_kill = time.monotonic()
        snap = _kill9_and_snapshot(g1, old_pid)
        snap_at = time.monotonic() - t_kill
        _report("server SIGKILL: left behind", f"{len(snap['peers'])} peers, device "
                f"{'present' if snap['link'] else 'gone'}, UDP :1194 sockets {snap['udp']}, "
                f"{len(snap['routes'])} routes on {DEV} (looked within {snap_at:.1f} s)")
        assert not snap["pids"], f"restarted before the look: {snap}"
        # the device outlives the process (patch 0005 deletes it at the restart), but
        # the peers went with the process's socket (issue 13, finding 5: the module
        # holds no file reference, the owner's last close detaches every peer on
        # it) and the port is free
        assert snap["link"] and snap["link"][0]["ifindex"] == old_ifindex, snap
        assert vip not in {p["vpn_ipv4"] for p in snap["peers"]}, snap
        assert snap["udp"] == [], snap["udp"]

        def restarted() -> bool:
            pid = int(g1.run(f"systemctl show -p MainPID --value openvpn-server@{NAME}").stdout)
            return pid not in (0, old_pid) and "Initialization Sequence Completed" in _journal(
                g1, since)

        _wait("systemd restarted the server", restarted, 150, lambda: _diag(g1, g2))
    finally:
        g1.run(f"rm -f {DROPIN}; systemctl daemon-reload", check=False)

    back = time.monotonic() - t_kill
    journal = _journal(g1, since)
    assert f"DCO device {DEV} already exists" in journal, journal[-3000:]
    assert f"DCO device {DEV} opened" in journal, journal[-3000:]
    new_pid = int(g1.run(f"systemctl show -p MainPID --value openvpn-server@{NAME}").stdout)
    starts = journal.count("Initialization Sequence Completed")
    binds = journal.count("Address already in use")
    _report("server SIGKILL: restart", f"server up again {back:.0f} s after the kill "
            f"({starts} start(s) completed, {binds} bind failure(s))")

    # a fresh device: the stale one was deleted with its peers, routes and socket
    js = json.loads(g1.run(f"ip -d -j link show {DEV}").stdout)[0]
    assert js["linkinfo"]["info_kind"] == "ovpn-shortcut" and js["ifindex"] != old_ifindex
    udp = g1.run("ss -uanpH 'sport = :1194'").stdout.strip().splitlines()
    assert len(udp) == 1 and f"pid={new_pid}," in udp[0], udp

    # every client notices (keepalive), reconnects and pings; the iroute comes back
    for name in CLIENTS:
        _wait(f"{name} reconnected after the server's restart", lambda n=name: _client_up(g2, n),
              180, lambda: _diag(g1, g2))
    ping = g2.run(f"ip netns exec ns-c2 ping -c 3 -i 0.5 -W 3 {SERVER_VIP}", check=False)
    assert ping.returncode == 0, ping.stdout + _diag(g1, g2)
    _wait("iroute behind c1 after the server's restart", lambda: _iroute_ok(g1), 60,
          lambda: _diag(g1))
    _report("server SIGKILL: clients back", f"all {len(CLIENTS)} netns clients reconnected "
            f"{time.monotonic() - t_kill:.0f} s after the kill")

    # no route on the device points at a client VIP without a kernel peer (OpenVPN's
    # iroute routes are "via <client VIP>"; the server's own "route" lines go via
    # its route gateway, 10.98.0.2 in topology subnet, which is no client)
    peers = _peers(g1)
    vips = {c["vip"] for c in CLIENTS.values()} | {G2_VIP}
    routes = g1.run(f"ip -4 route show dev {DEV}").stdout.splitlines()
    for line in routes:
        m = re.search(r" via (\S+)", line)
        assert not m or m[1] not in vips or m[1] in peers, (line, sorted(peers))
    assert any(r.startswith("10.99.1.0/24 via " + CLIENTS["c1"]["vip"]) for r in routes), routes
    # the kernel's peers are exactly the clients OpenVPN lists
    status = _status_clients(g1)
    _wait("status file lists the reconnected clients",
          lambda: set(_status_clients(g1).values()) == set(_peers(g1)), 30,
          lambda: f"{status}\n{sorted(_peers(g1))}\n{_diag(g1)}")

    res = g2.run(f"cat {RUN}/kill.json", check=False).stdout
    g2.run("pkill -x iperf3", check=False)
    try:
        per_sec = [round(iv["sum"]["bytes"]) for iv in json.loads(res)["intervals"]]
    except (ValueError, KeyError):
        per_sec = []
    _report("server SIGKILL: iperf3 c2 per second", f"{per_sec} (killed at ~5 s)")


# -- revocation (last: a revoked certificate stays revoked) --------------------------------

def test_revoked_client_is_refused_others_connect(lab, g1, g2, clients, deployed,
                                                  openvpn_debs):
    """c3 revoked by the role's PKI part alone (--tags ovpn_shortcut_pki, the fast
    path docs/server.md gives operators): the CRL reaches the server, which restarts
    (a changed CRL cuts connected clients); c3 is refused at its handshake, c1 and c2
    come back."""
    for name in CLIENTS:
        _wait(f"{name} connected", lambda n=name: _client_up(g2, n), 120, lambda: _diag(g1, g2))
    since = g1.run("date '+%F %T'").stdout.strip()
    for name in CLIENTS:
        g2.run(f"truncate -s 0 {RUN}/{name}.log")
    t0 = time.monotonic()
    proc = _role_play(lab, deployed, openvpn_debs, "--tags", "ovpn_shortcut_pki",
                      ovpn_shortcut_pki_revoked=["c3"])
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    _report("revocation play (--tags ovpn_shortcut_pki)", f"{time.monotonic() - t0:.0f} s")
    # the PKI part and the server's files only: no package, module or client task ran
    assert "OpenVPN | " not in proc.stdout and "Client | " not in proc.stdout, \
        proc.stdout[-4000:]
    assert "crl.pem" in g1.run(f"ls /etc/openvpn/server/{NAME}/").stdout
    assert not (deployed / "issued" / "c3.crt").exists()  # easy-rsa moved it to revoked/
    for name in ("c1", "c2"):
        _wait(f"{name} back after the revocation", lambda n=name: _client_up(g2, n), 180,
              lambda: _diag(g1, g2))
    ping = g2.run(f"ip netns exec ns-c1 ping -c 3 -i 0.5 -W 3 {SERVER_VIP}", check=False)
    assert ping.returncode == 0, ping.stdout + _diag(g1, g2)
    # OpenSSL's verify error, as OpenVPN logs it: "VERIFY ERROR: depth=0,
    # error=certificate revoked: CN=c3, serial=..."
    _wait("the server refuses c3's certificate", lambda: re.search(
        r"certificate revoked.*CN=c3\b", _journal(g1, since)), 120, lambda: _diag(g1, g2))
    assert "c3" not in _status_clients(g1)
    assert CLIENTS["c3"]["vip"] not in _peers(g1)
    _report("revocation", f"c3 refused, c1/c2 back {time.monotonic() - t0:.0f} s after the "
            "role play started (CRL, server restart)")
