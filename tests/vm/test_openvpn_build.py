"""The patched openvpn package in a guest, driving the ovpn-shortcut module.

g1: the patched openvpn .debs (ovpn_lab.openvpn_deb) installed with dpkg -i,
ovpn_shortcut built on the host and loaded, an OpenVPN server (UDP, topology
subnet, AES-256-GCM) with a throwaway PKI (openssl on the host: the image has
no openssl command).
g2: the image's stock openvpn as a client; the module is not used there (stock
OpenVPN looks for ovpn-dco-v2), so the client's data channel is userspace and
only the server side is offloaded.

dev tap (patch 0008): a second server on g1 in dev tap with the data channel in the
kernel (dev-type tap device, MAC learning in the kernel), a second stock client on g2
in dev tap (userspace): pings both ways, ARP, the kernel's MAC table, iperf3 with the
server process's CPU, the server's device in a bridge with a LAN host, the patched
OpenVPN as a p2p tap client with DCO (in a netns of g1); last, with a module built
from before layer 2, the same server falls back to userspace tap.

The patched openvpn stays installed in g1 for the rest of the session (the
guest disk is a snapshot: the next boot is stock again); the server, client and
the module are stopped/unloaded when this module's tests are done.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ovpn_lab import paths
from ovpn_lab.guest import Guest
from ovpn_lab.kbuild import build_module
from ovpn_lab.openvpn_deb import deb_version, ensure_openvpn_debs, openvpn_deb
from tests.conftest import TIMINGS
from tests.vm.iperf_kernel import measure
from tests.vm.km_scenarios import copy_km_files
from tests.vm.role_helpers import default_suffix

DEV = "ovpnsc0"
VPN_NET = "10.98.0"
IROUTE_NET = "10.99.1"  # a subnet behind the client (--iroute)
PORT = 1194
RUN = "/root/ovpn-test"
SWAP_BLOCK = "/etc/modprobe.d/ovpnsc-test-swap.conf"  # while a test swaps the module
AUTOLOAD_SEEN = "/run/ovpnsc-test-autoload.txt"  # processes when SWAP_BLOCK refused one


@pytest.fixture(scope="module")
def debs(g1_mod: Guest) -> list[Path]:
    t0 = time.monotonic()
    debs = ensure_openvpn_debs(release=g1_mod.release_name())
    TIMINGS["patched openvpn debs (build or cache)"] = f"{time.monotonic() - t0:.1f} s"
    return debs


@pytest.fixture(scope="module")
def installed(g1_mod: Guest, debs: list[Path]) -> str:
    """Install the patched openvpn in g1; return the .deb's version."""
    for deb in debs:
        g1_mod.copy_in(deb, "/root/ovpn-debs")
    g1_mod.run(f"dpkg -i /root/ovpn-debs/{shlex.quote(openvpn_deb(debs).name)}")
    return deb_version(openvpn_deb(debs))


@pytest.fixture(scope="module")
def g1_mod(guests: list[Guest]) -> Guest:
    return guests[0]


@pytest.fixture(scope="module")
def g2_mod(guests: list[Guest]) -> Guest:
    return guests[1]


def test_patched_openvpn_installed(g1, installed):
    assert installed.endswith(default_suffix()), installed
    version = g1.run("dpkg-query -W -f '${Version}' openvpn").stdout.strip()
    assert version == installed
    status = g1.run("dpkg-query -W -f '${Status}' openvpn").stdout.strip()
    assert status == "install ok installed"
    out = g1.run("openvpn --version", check=False).stdout  # exits 1 after printing
    first = out.splitlines()[0]
    assert first.startswith("OpenVPN 2.6.14 ") and "[DCO]" in first, out
    assert "DCO version:" in out, out
    # the binary looks for our family and our module's version file
    strings = g1.run("grep -c -a -e /sys/module/ovpn_shortcut/version /usr/sbin/openvpn").stdout
    assert int(strings) >= 1


# -- a server on g1 and a client on g2 ---------------------------------------------------

PKI_SCRIPT = r"""
set -e
cd "$1"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj /CN=ovpnsc-test-ca 2>/dev/null
for who in server client; do
  openssl req $ec -keyout $who.key -out $who.csr -subj /CN=$who 2>/dev/null
  eku=serverAuth; [ $who = client ] && eku=clientAuth
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyAgreement\n' > $who.ext
  printf 'extendedKeyUsage=%s\n' $eku >> $who.ext
  openssl x509 -req -in $who.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -out $who.crt -days 2 -extfile $who.ext 2>/dev/null
done
chmod 600 *.key
"""


def _wait_log(g: Guest, log: str, pidfile: str, needle: str, timeout: float) -> str:
    """Wait until `needle` is in `log`; fail with the log and dmesg if it never comes."""
    deadline = time.monotonic() + timeout
    while True:
        text = g.run(f"cat {log} 2>/dev/null || true").stdout
        if needle in text:
            return text
        alive = g.run(f"kill -0 $(cat {pidfile} 2>/dev/null) 2>/dev/null", check=False)
        if alive.returncode != 0 or time.monotonic() > deadline:
            why = "openvpn exited" if alive.returncode != 0 else f"not within {timeout:.0f} s"
            pytest.fail(f"[{g.name}] {needle!r} not in {log} ({why})\n--- {log} ---\n{text}\n"
                        f"--- {g.name} dmesg ---\n{g.kernel_log_tail(40)}", pytrace=False)
        time.sleep(1)


def _stop(g: Guest, pidfile: str) -> None:
    g.run(f"[ -f {pidfile} ] && kill $(cat {pidfile}) 2>/dev/null; "
          f"for i in $(seq 20); do kill -0 $(cat {pidfile}) 2>/dev/null || break; sleep 0.5; "
          f"done; rm -f {pidfile}", check=False)


def _launch(g: Guest, name: str, who: str, *opts: str, netns: str = "") -> tuple[str, str]:
    """Start `openvpn --daemon` in `g` (in network namespace `netns` if given) with the
    throwaway PKI's `who` (server or client) certificate, AES-256-GCM and `opts`; log and
    pid in RUN/NAME.log and .pid. Returns (pidfile, log); a start that fails shows the
    log (it says why)."""
    pid, log = f"{RUN}/{name}.pid", f"{RUN}/{name}.log"
    argv = ["openvpn", "--daemon", f"ovpnsc-{name}", "--log", log, "--writepid", pid,
            "--verb", "4", "--data-ciphers", "AES-256-GCM", "--ca", f"{RUN}/pki/ca.crt",
            "--cert", f"{RUN}/pki/{who}.crt", "--key", f"{RUN}/pki/{who}.key"]
    argv += ["--client", "--nobind", "--remote-cert-tls", "server"] if who == "client" \
        else ["--dh", "none"]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    g.run(f"rm -f {log}; {shlex.join(argv + list(opts))} || {{ cat {log}; exit 1; }}")
    return pid, log


@pytest.fixture(scope="module")
def module_loaded(g1_mod: Guest, image, tmp_path_factory) -> Iterator[str]:
    """ovpn_shortcut built from kernel_module/ and loaded in g1; yields its version."""
    t0 = time.monotonic()
    kos = build_module(paths.REPO_ROOT / "kernel_module", tmp_path_factory.mktemp("kbuild"),
                       image=image)
    TIMINGS["kbuild for the openvpn test"] = f"{time.monotonic() - t0:.1f} s"
    g1_mod.install_modules(kos, load="ovpn_shortcut")
    yield g1_mod.run("cat /sys/module/ovpn_shortcut/version").stdout.strip()
    g1_mod.run(f"ip link del {DEV} 2>/dev/null; modprobe -r ovpn_shortcut", check=False)


@pytest.fixture(scope="module")
def pki(g1_mod: Guest, g2_mod: Guest, tmp_path_factory) -> None:
    """A throwaway CA, server and client certificate (EC P-256), made with openssl.

    The guest image has libssl but not the openssl command, so the PKI is made
    on the host and copied in: the server's files to g1, the client's to g2.
    """
    d = tmp_path_factory.mktemp("pki") / "pki"
    d.mkdir()
    subprocess.run(["sh", "-c", PKI_SCRIPT, "pki", str(d)], check=True,
                   capture_output=True, text=True)
    g1_mod.run(f"rm -rf {RUN}/pki")
    g2_mod.run(f"rm -rf {RUN}/pki")
    # g1 also gets the client's: the patched p2p tap client runs there (in a netns)
    for g, whos in ((g1_mod, ("server", "client")), (g2_mod, ("client",))):
        keep = d.parent / g.name / "pki"
        keep.mkdir(parents=True)
        for name in ("ca.crt", *(f"{who}.{ext}" for who in whos for ext in ("crt", "key"))):
            shutil.copy2(d / name, keep / name)
        g.copy_in(keep, RUN)
        g.run(f"chmod 600 {RUN}/pki/*.key")


@pytest.fixture(scope="module")
def server(g1_mod: Guest, installed: str, module_loaded: str, pki: None) -> Iterator[str]:
    """The patched OpenVPN as a UDP server on g1 (device ovpnsc0); yields its log."""
    g = g1_mod
    pid, log = f"{RUN}/server.pid", f"{RUN}/server.log"
    # the guests are shared by the session: a server the role deployed (test_openvpn_clients,
    # test_site) would hold the same UDP port
    g.run("systemctl stop 'openvpn-server@*.service'", check=False)
    g.run(f"mkdir -p {RUN}/ccd && printf 'iroute {IROUTE_NET}.0 255.255.255.0\\n' "
          f"> {RUN}/ccd/client")
    _launch(g, "server", "server", "--dev", DEV, "--dev-type", "tun", "--proto", "udp",
            "--local", g.spec.lan_ipv4,
            "--port", str(PORT), "--server", f"{VPN_NET}.0", "255.255.255.0",
            "--topology", "subnet", "--keepalive", "10", "60",
            "--client-config-dir", f"{RUN}/ccd", "--route", f"{IROUTE_NET}.0", "255.255.255.0")
    try:
        text = _wait_log(g, log, pid, "Initialization Sequence Completed", 60)
        yield text
    finally:
        _stop(g, pid)
        g.run(f"cat {log} 2>/dev/null | tail -40", check=False)


def test_server_uses_ovpn_shortcut(g1, server, module_loaded):
    log = server
    assert f"DCO device {DEV} opened" in log, log
    assert "disabling data channel offload" not in log.lower(), log
    assert "DCO version: " + module_loaded in g1.run("openvpn --version", check=False).stdout
    link = g1.run(f"ip -d link show {DEV}").stdout
    assert "ovpn-shortcut" in link, link
    js = json.loads(g1.run(f"ip -d -j link show {DEV}").stdout)
    assert js[0]["linkinfo"]["info_kind"] == "ovpn-shortcut", js
    assert g1.run(f"ip -4 -o addr show {DEV}").stdout.split()[3] == f"{VPN_NET}.1/24"


@pytest.fixture(scope="module")
def client(g2_mod: Guest, server: str, g1_mod: Guest) -> Iterator[str]:
    """Stock openvpn on g2 as a client of g1's server; yields its log."""
    g = g2_mod
    pid, log = _launch(g, "client", "client", "--dev", "tun0", "--proto", "udp",
                       "--remote", g1_mod.spec.lan_ipv4, str(PORT))
    try:
        yield _wait_log(g, log, pid, "Initialization Sequence Completed", 90)
    finally:
        _stop(g, pid)
        g.run(f"ip addr del {IROUTE_NET}.1/32 dev lo 2>/dev/null", check=False)


def _server_diag(g1: Guest) -> str:
    out = [g1.run(f"tail -40 {RUN}/server.log", check=False).stdout,
           g1.run(f"ip -s -d link show {DEV}; ip route show dev {DEV}", check=False).stdout,
           g1.kernel_log_tail(30)]
    return "\n".join(out)


def test_client_reaches_server_through_module(g1, g2, client):
    log = g1.run(f"cat {RUN}/server.log").stdout
    assert "Cannot add peer to DCO" not in log, _server_diag(g1)
    assert "failed to send netlink message" not in log, _server_diag(g1)
    ping = g2.run(f"ping -c 3 -i 0.5 -W 3 {VPN_NET}.1", check=False)
    assert ping.returncode == 0, f"{ping.stdout}\n{ping.stderr}\n{_server_diag(g1)}"
    # the packets went through the module on g1, not through a tun device
    stats = json.loads(g1.run(f"ip -s -j link show {DEV}").stdout)[0]["stats64"]
    assert stats["rx"]["packets"] >= 3 and stats["tx"]["packets"] >= 3, stats


def test_client_iroute_subnet_passes_the_module(g1, g2, client):
    """Traffic from the client's --iroute subnet: accepted on RX (new-iroute), routed back."""
    g2.run(f"ip addr add {IROUTE_NET}.1/32 dev lo")
    ping = g2.run(f"ping -c 3 -i 0.5 -W 3 -I {IROUTE_NET}.1 {VPN_NET}.1", check=False)
    routes = g1.run(f"ip route show {IROUTE_NET}.0/24", check=False).stdout
    assert ping.returncode == 0, (f"{ping.stdout}\n{ping.stderr}\n--- g1 routes ---\n{routes}\n"
                                  f"{_server_diag(g1)}")
    log = g1.run(f"cat {RUN}/server.log").stdout
    assert "cannot add iroute" not in log, log


# the server's mssfix, as OpenVPN 2.6 derives it: tun-mtu 1500 (default) gives mssfix
# 1492 counting the encapsulation; frame_calculate_mssfix(): 1492 - (4 opcode/peer-id
# + 4 packet-id + 16 GCM tag) - 28 (IPv4 + UDP) - 40 (IPv4 + TCP) = 1400
SERVER_MSS = 1400


def test_server_sets_the_mss_clamp(g1, g2, client):
    """Patch 0007: dco_set_peer() hands frame->mss_fix to the device's clamp, and the
    server's SYN-ACK leaving through the device carries it."""
    log = g1.run(f"cat {RUN}/server.log").stdout
    want = f"DCO: kernel clamps the TCP MSS of SYNs to {SERVER_MSS} (IPv6 {SERVER_MSS - 20})"
    assert want in log, _server_diag(g1)
    ctl = f"python3 {copy_km_files(g1)}/tools/ovpn_sc_ctl.py"
    before = json.loads(g1.run(f"{ctl} get-dev {DEV}").stdout)[0]["dev"]
    assert before["mss_clamp"] == SERVER_MSS, before
    g1.run(f"iperf3 -s -1 -D -B {VPN_NET}.1")
    time.sleep(1)
    g2.run(f"iperf3 -c {VPN_NET}.1 -n 200K", timeout=120)
    after = json.loads(g1.run(f"{ctl} get-dev {DEV}").stdout)[0]["dev"]
    # the server stack advertises 1500 - 40 = 1460 in its SYN-ACKs: lowered on TX
    assert after["mss_clamped_tx"] > before["mss_clamped_tx"], (before, after)


def test_tcp_server_falls_back_to_userspace(g1, installed, module_loaded, pki):
    """Patch 0003: the module is UDP-only, so --proto tcp-server must not use DCO."""
    dev = "ovpnsc1"
    pid, log = _launch(g1, "tcp", "server", "--dev", dev, "--dev-type", "tun",
                       "--proto", "tcp-server", "--port", "1195",
                       "--server", "10.97.0.0", "255.255.255.0", "--topology", "subnet")
    try:
        text = _wait_log(g1, log, pid, "Initialization Sequence Completed", 60)
        assert "TCP transport disables data channel offload" in text, text
        assert f"TUN/TAP device {dev} opened" in text, text
        kind = json.loads(g1.run(f"ip -d -j link show {dev}").stdout)[0]["linkinfo"]["info_kind"]
        assert kind == "tun"
    finally:
        _stop(g1, pid)


# -- dev tap: the patched server on the kernel's layer 2 path (patch 0008) ----------------
#
# A second server on g1 (port 1196, device tapsc0, dev-type tap) beside the tun one, and
# a second stock client on g2 in dev tap (userspace: stock OpenVPN never offloads tap).
# The server has no userspace MAC learning: the kernel learns the client's MAC, so no
# data frame reaches the server process (its CPU stays low under iperf3).
# Pings take a deadline (-w 15), not a reply timeout: a client's OpenVPN reports
# "Initialization Sequence Completed" up to a second before the server has put the
# client's key into its kernel peer (seen: the first ARP requests of the p2p client
# were dropped and a 1 s ping gave up).

TAP_DEV = "tapsc0"
TAP_CLIENT_DEV = "tapc0"
TAP_NET = "10.96.0"
TAP_PORT = 1196
TAP_MAX_MACS = 64  # --max-routes-per-client: the kernel's per-peer MAC bound
LAN_NS, LAN_HOST = "taplan", f"{TAP_NET}.200"  # the bridged variant's LAN host on g1
# frame_calculate_mssfix() counts a tap's tun-mtu-extra (32 by default) in the
# payload overhead: 32 less than tun's
TAP_SERVER_MSS = SERVER_MSS - 32


@pytest.fixture(scope="module")
def ctl(g1_mod: Guest) -> str:
    """The stdlib netlink test client in g1, as a command prefix."""
    return f"python3 {copy_km_files(g1_mod)}/tools/ovpn_sc_ctl.py"


def _ctl_json(g: Guest, ctl: str, args: str) -> list[dict]:
    out = g.run(f"{ctl} {args}").stdout.strip()
    return json.loads(out) if out else []  # an empty dump prints nothing


def _proc_cpu(g: Guest, pidfile: str) -> tuple[int, float]:
    """(pid, utime+stime seconds) of the process in `pidfile`."""
    pid = int(g.run(f"cat {pidfile}").stdout)
    stat = g.run(f"cat /proc/{pid}/stat; getconf CLK_TCK").stdout.splitlines()
    fields = stat[0].rsplit(")", 1)[1].split()
    return pid, (int(fields[11]) + int(fields[12])) / int(stat[1])


@pytest.fixture(scope="module")
def tap_server(g1_mod: Guest, installed: str, module_loaded: str, pki: None) -> Iterator[str]:
    """The patched OpenVPN as a dev tap UDP server on g1 (device tapsc0); yields its log."""
    g = g1_mod
    g.run("systemctl stop 'openvpn-server@*.service'", check=False)
    # --local: bound to the LAN address, which the p2p client in a netns of g1 reaches
    # through a veth whose own address routing would pick for the replies. The module
    # sends from the socket's bound address (before: from the veth's 172.31.96.1, the
    # client's kernel floated to it and its packets went nowhere).
    pid, log = _launch(g, "tap-server", "server", "--dev", TAP_DEV, "--dev-type", "tap",
                       "--proto", "udp", "--local", g.spec.lan_ipv4, "--port", str(TAP_PORT),
                       "--server", f"{TAP_NET}.0", "255.255.255.0",
                       "--max-routes-per-client", str(TAP_MAX_MACS), "--keepalive", "10", "60",
                       "--duplicate-cn")  # g2's client and g1's p2p client share a cert
    try:
        yield _wait_log(g, log, pid, "Initialization Sequence Completed", 60)
    finally:
        _stop(g, pid)
        g.run(f"cat {log} 2>/dev/null | tail -40", check=False)


@pytest.fixture(scope="module")
def tap_client(g2_mod: Guest, tap_server: str, g1_mod: Guest) -> Iterator[str]:
    """Stock openvpn on g2, dev tap (userspace), client of the tap server; yields its VIP."""
    g = g2_mod
    pid, log = _launch(g, "tap-client", "client", "--dev", TAP_CLIENT_DEV, "--dev-type", "tap",
                       "--proto", "udp", "--remote", g1_mod.spec.lan_ipv4, str(TAP_PORT))
    try:
        text = _wait_log(g, log, pid, "Initialization Sequence Completed", 90)
        assert f"TUN/TAP device {TAP_CLIENT_DEV} opened" in text, text  # userspace tap
        yield g.run(f"ip -4 -o addr show {TAP_CLIENT_DEV}").stdout.split()[3].split("/")[0]
    finally:
        _stop(g, pid)


def _tap_diag(g1: Guest, g2: Guest, ctl: str) -> str:
    out = [g1.run(f"tail -30 {RUN}/tap-server.log", check=False).stdout,
           g1.run(f"ip -s -d link show {TAP_DEV}; ip neigh show dev {TAP_DEV}; "
                  f"{ctl} get-dev {TAP_DEV}; {ctl} get-mac {TAP_DEV}",
                  check=False).stdout,
           g2.run(f"tail -20 {RUN}/tap-client.log; ip -s link show {TAP_CLIENT_DEV}; "
                  f"ip neigh show dev {TAP_CLIENT_DEV}", check=False).stdout,
           g1.kernel_log_tail(20)]
    return "\n".join(out)


def _tap_peer(g1: Guest, ctl: str, vip: str) -> dict:
    """The tap server's kernel peer of the client with VPN address `vip`."""
    peers = [p["get_peer"] for p in _ctl_json(g1, ctl, f"get-peer {TAP_DEV}")]
    mine = [p for p in peers if p.get("ipv4") == vip]
    assert len(mine) == 1, (vip, peers)
    return mine[0]


def _tap_macs(g1: Guest, ctl: str) -> set[tuple[str, int]]:
    """The kernel's MAC table of the tap device: {(MAC, peer-id)}."""
    return {(m["mac"]["addr"], m["mac"]["peer_id"])
            for m in _ctl_json(g1, ctl, f"get-mac {TAP_DEV}")}


def test_tap_server_uses_the_kernel(g1, tap_server, ctl):
    """dev tap with DCO: an ovpn-shortcut device of dev-type tap (an Ethernet device)."""
    log = tap_server
    assert f"DCO device {TAP_DEV} opened" in log, log
    assert "disabling data channel offload" not in log.lower(), log
    assert "carries Ethernet frames (dev-type tap)" in log, log
    js = json.loads(g1.run(f"ip -d -j link show {TAP_DEV}").stdout)[0]
    assert js["linkinfo"]["info_kind"] == "ovpn-shortcut", js
    assert js["link_type"] == "ether", js
    (dev,) = _ctl_json(g1, ctl, f"get-dev {TAP_DEV}")
    assert dev["mac_table"]["dev_type"] == 1, dev  # tap
    assert dev["dev"]["mode"] == 1, dev  # multipoint
    assert g1.run(f"ip -4 -o addr show {TAP_DEV}").stdout.split()[3] == f"{TAP_NET}.1/24"


def test_tap_stock_client_pings_both_ways_through_the_kernel(g1, g2, tap_client, ctl):
    """Pings both ways, ARP resolved on both ends, the kernel peer counts the bytes and
    its MAC table has the client's MAC; the per-client bound is the server's
    --max-routes-per-client."""
    vip = tap_client
    before = _tap_peer(g1, ctl, vip)
    ping = g2.run(f"ping -c 3 -i 0.5 -w 15 {TAP_NET}.1", check=False)
    assert ping.returncode == 0, f"{ping.stdout}\n{_tap_diag(g1, g2, ctl)}"
    ping = g1.run(f"ping -c 3 -i 0.5 -w 15 {vip}", check=False)
    assert ping.returncode == 0, f"{ping.stdout}\n{_tap_diag(g1, g2, ctl)}"
    after = _tap_peer(g1, ctl, vip)
    for key in ("vpn_rx_bytes", "vpn_tx_bytes", "link_rx_bytes", "link_tx_bytes"):
        assert after[key] > before[key], (key, before, after)
    client_mac = g2.run(f"cat /sys/class/net/{TAP_CLIENT_DEV}/address").stdout.strip()
    server_mac = g1.run(f"cat /sys/class/net/{TAP_DEV}/address").stdout.strip()
    # ARP: each end has the other's MAC
    neigh = g1.run(f"ip neigh show {vip} dev {TAP_DEV}").stdout
    assert f"lladdr {client_mac}" in neigh, neigh + _tap_diag(g1, g2, ctl)
    neigh = g2.run(f"ip neigh show {TAP_NET}.1 dev {TAP_CLIENT_DEV}").stdout
    assert f"lladdr {server_mac}" in neigh, neigh + _tap_diag(g1, g2, ctl)
    # the kernel learnt the client's MAC for its peer (no userspace MAC learning)
    macs = _tap_macs(g1, ctl)
    assert (client_mac, after["peer_id"]) in macs, macs
    (dev,) = _ctl_json(g1, ctl, f"get-dev {TAP_DEV}")
    assert dev["mac_table"]["max_peer_entries"] == TAP_MAX_MACS, dev
    assert dev["mac_table"]["learned"] >= 1, dev
    log = g1.run(f"cat {RUN}/tap-server.log").stdout
    # the clamp OpenVPN derived for the tap client (its log says so) is the device's
    assert f"DCO: kernel clamps the TCP MSS of SYNs to {TAP_SERVER_MSS} " in log, log
    assert dev["dev"]["mss_clamp"] == TAP_SERVER_MSS, dev
    for bad in ("Cannot add peer to DCO", "failed to send netlink message", "cannot bound"):
        assert bad not in log, log
    assert f"kernel learns at most {TAP_MAX_MACS} MAC addresses per client" in log, log


def test_tap_iperf3_server_process_stays_idle(g1, g2, tap_client, ctl):
    """iperf3 both ways through the tap server: the kernel peer counts the bytes and
    the OpenVPN server process barely runs (no data frame reaches it)."""
    vip = tap_client
    g1.run(f"iperf3 -s -D -B {TAP_NET}.1 --pidfile {RUN}/tap-iperf3.pid")
    time.sleep(1)
    try:
        for reverse in (False, True):
            rev = " -R" if reverse else ""
            r = measure(lambda rev=rev: json.loads(g2.run(
                            f"iperf3 -c {TAP_NET}.1 -t 5 -J{rev}", timeout=180).stdout),
                        lambda: _tap_peer(g1, ctl, vip),
                        lambda: _proc_cpu(g1, f"{RUN}/tap-server.pid"), reverse)
            TIMINGS[f"openvpn tap: iperf3 {r.way}"] = r.summary()
            print(f"tap iperf3 {r.way}: {r.summary()}")
            assert r.got > 0
            # frames: payload plus Ethernet, IP and TCP headers; server->client also the
            # retransmissions of what the userspace client dropped (seen: x1.175 in 5 s)
            assert r.got <= r.kernel <= r.got * (2.0 if reverse else 1.2), r
            assert r.cpu < 0.10 * r.wall, r
    finally:
        g1.run(f"kill $(cat {RUN}/tap-iperf3.pid)", check=False)


def test_tap_server_bridged_lan_host(g1, g2, tap_client, ctl):
    """The server's tap device in a bridge br0 with a LAN host (veth, netns) behind it:
    the client and the LAN host reach each other through the kernel and the bridge."""
    vip = tap_client
    setup = f"""
set -e
ip link add br0 type bridge
ip link set {TAP_DEV} master br0
ip addr del {TAP_NET}.1/24 dev {TAP_DEV}
ip addr add {TAP_NET}.1/24 dev br0
ip link set br0 up
ip netns add {LAN_NS}
ip link add tlan0 type veth peer name tlan1
ip link set tlan1 netns {LAN_NS}
ip link set tlan0 master br0 up
ip -n {LAN_NS} addr add {LAN_HOST}/24 dev tlan1
ip -n {LAN_NS} link set tlan1 up
ip -n {LAN_NS} link set lo up
"""
    g1.run(setup)
    try:
        ping = g2.run(f"ping -c 3 -i 0.5 -w 15 {LAN_HOST}", check=False)
        assert ping.returncode == 0, f"{ping.stdout}\n{_tap_diag(g1, g2, ctl)}"
        ping = g1.run(f"ip netns exec {LAN_NS} ping -c 3 -i 0.5 -w 15 {vip}", check=False)
        assert ping.returncode == 0, f"{ping.stdout}\n{_tap_diag(g1, g2, ctl)}"
        ping = g2.run(f"ping -c 2 -i 0.5 -w 15 {TAP_NET}.1", check=False)  # br0's address
        assert ping.returncode == 0, f"{ping.stdout}\n{_tap_diag(g1, g2, ctl)}"
        client_mac = g2.run(f"cat /sys/class/net/{TAP_CLIENT_DEV}/address").stdout.strip()
        lan_mac = g1.run(f"ip netns exec {LAN_NS} cat /sys/class/net/tlan1/address").stdout
        fdb = g1.run("bridge fdb show br br0").stdout
        assert f"{client_mac} dev {TAP_DEV}" in fdb, fdb  # the bridge learnt it on our port
        neigh = g2.run(f"ip neigh show {LAN_HOST} dev {TAP_CLIENT_DEV}").stdout
        assert f"lladdr {lan_mac.strip()}" in neigh, neigh
        # the LAN host's MAC is not a peer's: the kernel's table holds only the client's
        macs = {addr for addr, _ in _tap_macs(g1, ctl)}
        assert client_mac in macs and lan_mac.strip() not in macs, macs
    finally:
        g1.run(f"ip netns del {LAN_NS}; ip link del br0; "
               f"ip addr add {TAP_NET}.1/24 dev {TAP_DEV}", check=False)


def test_tap_patched_p2p_client_with_dco(g1, tap_client, ctl):
    """The patched OpenVPN as a dev tap client (point-to-point mode) in a netns of g1:
    its device is an ovpn-shortcut tap device in P2P mode, it reaches the tap server
    through both kernels, and the server's table learns its MAC. It talks to the
    server's bound LAN address through a veth: the server's replies must come from
    that address, not from the veth's (the one routing picks)."""
    ns, dev = "tapp2p", "tapp0"
    g1.run(f"""
set -e
ip netns add {ns}
ip link add tp2p0 type veth peer name tp2p1
ip link set tp2p1 netns {ns}
ip addr add 172.31.96.1/30 dev tp2p0
ip link set tp2p0 up
ip -n {ns} addr add 172.31.96.2/30 dev tp2p1
ip -n {ns} link set tp2p1 up
ip -n {ns} link set lo up
ip -n {ns} route add default via 172.31.96.1
""")
    try:
        pid, log = _launch(g1, "tap-p2p", "client", "--dev", dev, "--dev-type", "tap",
                           "--proto", "udp", "--remote", g1.spec.lan_ipv4, str(TAP_PORT),
                           netns=ns)
        text = _wait_log(g1, log, pid, "Initialization Sequence Completed", 90)
        assert f"DCO device {dev} opened" in text, text
        assert "disabling data channel offload" not in text.lower(), text
        link = json.loads(g1.run(f"ip -n {ns} -d -j link show {dev}").stdout)[0]
        assert link["linkinfo"]["info_kind"] == "ovpn-shortcut", link
        (cdev,) = json.loads(g1.run(f"ip netns exec {ns} {ctl} get-dev {dev}").stdout)
        assert cdev["dev"]["mode"] == 0 and cdev["mac_table"]["dev_type"] == 1, cdev
        ping = g1.run(f"ip netns exec {ns} ping -c 3 -i 0.5 -w 15 {TAP_NET}.1", check=False)
        assert ping.returncode == 0, (
            ping.stdout + text[-2000:] + g1.run(
                f"tail -20 {RUN}/tap-server.log; ip netns exec {ns} {ctl} get-peer {dev}; "
                f"ip -n {ns} -s link show {dev}; ip -n {ns} neigh; {ctl} get-peer {TAP_DEV}",
                check=False).stdout)
        mac = g1.run(f"ip netns exec {ns} cat /sys/class/net/{dev}/address").stdout.strip()
        assert mac in {addr for addr, _ in _tap_macs(g1, ctl)}
        # the client's kernel peer still has the server's bound address: no float
        (peer,) = json.loads(g1.run(f"ip netns exec {ns} {ctl} get-peer {dev}").stdout)
        assert peer["get_peer"]["sockaddr_remote"] == f"{g1.spec.lan_ipv4}:{TAP_PORT}", peer
    finally:
        _stop(g1, f"{RUN}/tap-p2p.pid")
        g1.run(f"ip netns del {ns}", check=False)


_MSS_LINE = re.compile(r"^CAPTURE (server|client) \S+ (IP6?) .*Flags \[(S\.?)\].*"
                       r"options \[mss (\d+)[,\]]", re.M)


def _far_side_mss(g: Guest, mode: str, dev_type: str) -> dict[str, set[int]]:
    """openvpn_mss_e2e.sh in one mode: {"SYN at the server IPv4": {mss, ...}, ...} from
    the far sides' captures (the client's SYNs on the server's device, the server's
    SYN-ACKs on the client's)."""
    proc = g.run(f"MODE={mode} DEV_TYPE={dev_type} PKI={RUN}/pki bash /root/openvpn_mss_e2e.sh",
                 check=False, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and f"DONE mode={mode}" in out, out[-5000:]
    if mode == "dco":  # both ends in the kernel: the devices are ours
        assert len(re.findall(r"DCO device mss\w+ opened", out)) == 2, out[-5000:]
    else:
        assert "DCO device" not in out, out[-5000:]
    seen: dict[str, set[int]] = {}
    for side, ip, flags, mss in _MSS_LINE.findall(out):
        if (side, flags) in (("server", "S"), ("client", "S.")):
            what = "SYN at the server" if flags == "S" else "SYN-ACK at the client"
            seen.setdefault(f"{what} IPv{6 if ip == 'IP6' else 4}", set()).add(int(mss))
    assert len(seen) == 4, (seen, out[-5000:])
    return seen


@pytest.mark.parametrize("dev_type", ["tun", "tap"])
def test_mssfix_far_side_matches_userspace(g1, installed, module_loaded, pki, dev_type):
    """--mssfix with the data channel in the kernel on both ends (patches 0007, 0008) and
    in userspace on both ends (--disable-dco), same config, IPv4 and IPv6 inside: the
    MSS of the SYN the server receives and of the SYN-ACK the client receives is the
    same number in both runs, below what the stacks wrote (1460/1440 on a 1500 MTU)."""
    g1.copy_in(Path(__file__).with_name("openvpn_mss_e2e.sh"), "/root")
    user = _far_side_mss(g1, "user", dev_type)
    kernel = _far_side_mss(g1, "dco", dev_type)
    TIMINGS[f"far-side MSS, {dev_type}"] = f"userspace {user}, kernel {kernel}"
    assert kernel == user, {"kernel": kernel, "userspace": user}
    for what, values in user.items():
        assert len(values) == 1, (what, values)
        stack = 1440 if what.endswith("IPv6") else 1460
        assert next(iter(values)) < stack, (what, values)  # mssfix did clamp


def _pre_tap_module_source(dest: Path) -> Path:
    """kernel_module/ as it was before layer 2 (the parent of the commit adding l2.c)."""
    repo = str(paths.REPO_ROOT)
    added = subprocess.run(["git", "-C", repo, "log", "--diff-filter=A", "--format=%H",
                            "--", "kernel_module/l2.c"], capture_output=True, text=True,
                           check=False).stdout.split()
    if not added:
        pytest.skip("no git history of kernel_module/l2.c (a shallow clone?)")
    archive = subprocess.run(["git", "-C", repo, "archive", f"{added[-1]}^", "kernel_module"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "kernel_module"


def test_tap_falls_back_to_userspace_with_a_module_without_tap(
        g1, g2, image, installed, module_loaded, pki, tmp_path_factory):
    """An ovpn-shortcut module from before layer 2 would ignore the device-type attribute
    and create an IP device: the patched OpenVPN reads the family's maxattr, says so and
    runs dev tap in userspace; a stock tap client still connects and pings."""
    t0 = time.monotonic()
    src = _pre_tap_module_source(tmp_path_factory.mktemp("pre-tap"))
    kos = build_module(src, tmp_path_factory.mktemp("kbuild-pre-tap"), image=image)
    TIMINGS["kbuild of the pre-tap module"] = f"{time.monotonic() - t0:.1f} s"
    (ko,) = [k for k in kos if k.name == "ovpn_shortcut.ko"]
    g1.copy_in(ko, f"{RUN}/pre-tap")
    dev, port = "tapsc1", "1197"
    # the module must go: every OpenVPN on it stops (their fixtures' stops are idempotent)
    _stop(g1, f"{RUN}/server.pid")
    _stop(g1, f"{RUN}/tap-server.pid")
    try:
        # Between the unload and the insmod, something autoloaded this tree's module and
        # the insmod found it there (CI, session 10: "File exists" 0.2 s after the unload;
        # who asked was not seen). Autoloading stays off until the finally (insmod does not
        # read modprobe.d); a refused autoload writes the processes of that moment (the
        # asker waits in request_module) to AUTOLOAD_SEEN.
        g1.run(f"rm -f {AUTOLOAD_SEEN}; echo 'install ovpn_shortcut /bin/sh -c "
               f"\"ps -eo pid,stat,etimes,args >> {AUTOLOAD_SEEN}; exit 1\"' > {SWAP_BLOCK}")
        swap = g1.run("modprobe -r ovpn_shortcut && modprobe udp_tunnel && "
                      f"modprobe ip6_udp_tunnel && insmod {RUN}/pre-tap/ovpn_shortcut.ko",
                      check=False)
        seen = g1.run(f"cat {AUTOLOAD_SEEN} 2>/dev/null", check=False).stdout
        if seen:
            TIMINGS["autoload refused during the module swap, by one of"] = "; ".join(
                line.strip() for line in seen.splitlines() if "ps -eo" not in line
                and not line.split(None, 3)[-1].startswith("["))  # no kernel threads
        assert swap.returncode == 0, (
            f"swap to the pre-tap module: {swap.stderr}\n--- autoload asked by ---\n{seen}"
            + g1.kernel_log_tail(15))
        pid, log = _launch(g1, "tap-old", "server", "--dev", dev, "--dev-type", "tap",
                           "--proto", "udp", "--local", g1.spec.lan_ipv4, "--port", port,
                           "--server", "10.95.0.0", "255.255.255.0")
        text = _wait_log(g1, log, pid, "Initialization Sequence Completed", 60)
        assert "module has no dev-type tap support" in text, text
        assert f"TUN/TAP device {dev} opened" in text, text
        kind = json.loads(g1.run(f"ip -d -j link show {dev}").stdout)[0]["linkinfo"]
        assert kind["info_kind"] == "tun", kind
        cpid, clog = _launch(g2, "tap-old-client", "client", "--dev", "tapc1",
                             "--dev-type", "tap", "--proto", "udp",
                             "--remote", g1.spec.lan_ipv4, port)
        try:
            _wait_log(g2, clog, cpid, "Initialization Sequence Completed", 90)
            ping = g2.run("ping -c 3 -i 0.5 -w 15 10.95.0.1", check=False)
            assert ping.returncode == 0, ping.stdout + g1.run(f"tail -20 {log}").stdout
        finally:
            _stop(g2, cpid)
    finally:
        _stop(g1, f"{RUN}/tap-old.pid")
        # back to the module of this tree for the fixtures' teardown
        g1.run(f"rm -f {SWAP_BLOCK}; rmmod ovpn_shortcut; modprobe ovpn_shortcut", check=False)
