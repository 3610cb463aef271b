"""The patched openvpn package in a guest, driving the ovpn-shortcut module.

g1: the patched openvpn .debs (ovpn_lab.openvpn_deb) installed with dpkg -i,
ovpn_shortcut built on the host and loaded, an OpenVPN server (UDP, topology
subnet, AES-256-GCM) with a throwaway PKI (openssl on the host: the image has
no openssl command).
g2: the image's stock openvpn as a client; the module is not used there (stock
OpenVPN looks for ovpn-dco-v2), so the client's data channel is userspace and
only the server side is offloaded.

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
from tests.vm.km_scenarios import copy_km_files

DEV = "ovpnsc0"
VPN_NET = "10.98.0"
IROUTE_NET = "10.99.1"  # a subnet behind the client (--iroute)
PORT = 1194
RUN = "/root/ovpn-test"


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


def default_suffix() -> str:
    """The package suffix the build script gives by default (raised with the series)."""
    text = (paths.REPO_ROOT / "roles/ovpn_shortcut/files/build_openvpn_deb.py").read_text()
    m = re.search(r'^DEFAULT_SUFFIX = "([^"]+)"', text, re.M)
    assert m, "DEFAULT_SUFFIX not found in build_openvpn_deb.py"
    return m.group(1)


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
    for g, who in ((g1_mod, "server"), (g2_mod, "client")):
        keep = d.parent / who / "pki"
        keep.mkdir(parents=True)
        for name in ("ca.crt", f"{who}.crt", f"{who}.key"):
            shutil.copy2(d / name, keep / name)
        g.copy_in(keep, RUN)
        g.run(f"chmod 600 {RUN}/pki/{who}.key")


@pytest.fixture(scope="module")
def server(g1_mod: Guest, installed: str, module_loaded: str, pki: None) -> Iterator[str]:
    """The patched OpenVPN as a UDP server on g1 (device ovpnsc0); yields its log."""
    g = g1_mod
    pid, log = f"{RUN}/server.pid", f"{RUN}/server.log"
    # the guests are shared by the session: a server the role deployed (test_openvpn_clients,
    # test_site) would hold the same UDP port
    g.run("systemctl stop 'openvpn-server@*.service'", check=False)
    g.run(f"mkdir -p {RUN}/ccd && printf 'iroute {IROUTE_NET}.0 255.255.255.0\\n' "
          f"> {RUN}/ccd/client && rm -f {log}")
    argv = [
        "openvpn", "--daemon", "ovpnsc-server", "--log", log, "--writepid", pid,
        "--verb", "4", "--dev", DEV, "--dev-type", "tun", "--proto", "udp",
        "--local", g.spec.lan_ipv4,
        "--port", str(PORT), "--server", f"{VPN_NET}.0", "255.255.255.0",
        "--topology", "subnet", "--data-ciphers", "AES-256-GCM", "--keepalive", "10", "60",
        "--ca", f"{RUN}/pki/ca.crt", "--cert", f"{RUN}/pki/server.crt",
        "--key", f"{RUN}/pki/server.key", "--dh", "none",
        "--client-config-dir", f"{RUN}/ccd", "--route", f"{IROUTE_NET}.0", "255.255.255.0",
    ]
    g.run(f"{shlex.join(argv)} || {{ cat {log}; exit 1; }}")  # the log says why
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
    pid, log = f"{RUN}/client.pid", f"{RUN}/client.log"
    g.run(f"rm -f {log}")
    argv = [
        "openvpn", "--daemon", "ovpnsc-client", "--log", log, "--writepid", pid,
        "--verb", "4", "--client", "--dev", "tun0", "--proto", "udp",
        "--remote", g1_mod.spec.lan_ipv4, str(PORT), "--nobind",
        "--data-ciphers", "AES-256-GCM", "--remote-cert-tls", "server",
        "--ca", f"{RUN}/pki/ca.crt", "--cert", f"{RUN}/pki/client.crt",
        "--key", f"{RUN}/pki/client.key",
    ]
    g.run(f"{shlex.join(argv)} || {{ cat {log}; exit 1; }}")
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
    pid, log, dev = f"{RUN}/tcp.pid", f"{RUN}/tcp.log", "ovpnsc1"
    argv = [
        "openvpn", "--daemon", "ovpnsc-tcp", "--log", log, "--writepid", pid, "--verb", "4",
        "--dev", dev, "--dev-type", "tun", "--proto", "tcp-server", "--port", "1195",
        "--server", "10.97.0.0", "255.255.255.0", "--topology", "subnet",
        "--data-ciphers", "AES-256-GCM", "--ca", f"{RUN}/pki/ca.crt",
        "--cert", f"{RUN}/pki/server.crt", "--key", f"{RUN}/pki/server.key", "--dh", "none",
    ]
    g1.run(f"rm -f {log}; {shlex.join(argv)} || {{ cat {log}; exit 1; }}")
    try:
        text = _wait_log(g1, log, pid, "Initialization Sequence Completed", 60)
        assert "TCP transport disables data channel offload" in text, text
        assert f"TUN/TAP device {dev} opened" in text, text
        kind = json.loads(g1.run(f"ip -d -j link show {dev}").stdout)[0]["linkinfo"]["info_kind"]
        assert kind == "tun"
    finally:
        _stop(g1, pid)
