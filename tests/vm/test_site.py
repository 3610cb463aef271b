"""The main job: `ansible-playbook site.yml` on the embedded default inventory.

It runs on a lab of its own (the inventory boots it), exactly as README's
deploy command does: the first run changes things, the second changes nothing.
The lab inventory (inventory/lab/group_vars/all.yml) also declares a static
site-to-site link g1 <-> g2 (ovsl-site): pinged across both ways, between the
networks behind each end (a dummy interface per guest), counters read with
ovpn_info, and rebuilt by its boot unit after the device is deleted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ovpn_lab import paths
from ovpn_lab.guest import kernel_trouble
from ovpn_lab.lab import Lab

LAB = os.environ.get("OVPN_SITE_LAB", "pytest-site")
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
ANSIBLE = Path(sys.executable).parent / "ansible"
LINK = "ovsl-site"
# inventory/lab/group_vars/all.yml: inner address and the site network behind each guest
LINK_ENDS = {"g1": ("10.97.0.1", "10.201.1.1/24"), "g2": ("10.97.0.2", "10.201.2.1/24")}


def _play(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OVPN_LAB_NAME=LAB, ANSIBLE_FORCE_COLOR="0")
    return subprocess.run([str(ANSIBLE_PLAYBOOK), "site.yml", *args], cwd=paths.REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=3600)


def _recap(out: str) -> dict[str, dict[str, int]]:
    recap = {}
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", out, re.M):
        recap[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return recap


@pytest.fixture(scope="module")
def site_lab():
    lab = Lab(LAB)
    lab.down()
    try:
        yield lab
    finally:
        trouble = []
        for g in lab.running():
            trouble += kernel_trouble(g.drain_kernel_log())
        lab.down()
        assert not trouble, f"kernel trouble in {LAB}: {trouble}"


def test_site_yml_deploys_then_is_idempotent(site_lab):
    first = _play()
    assert first.returncode == 0, first.stdout[-8000:] + first.stderr[-4000:]
    recap = _recap(first.stdout)
    assert {"g1", "g2"} <= set(recap), first.stdout[-3000:]
    assert all(recap[h]["changed"] > 0 for h in ("g1", "g2"))

    for g in site_lab.guests():
        status = g.run("dkms status -m ovpn-shortcut").stdout
        assert f"{g.release()}, x86_64: installed" in status
        assert g.run("test -d /sys/module/ovpn_shortcut", check=False).returncode == 0
        assert "ovpn_shortcut" in g.run("cat /etc/modules-load.d/ovpn-shortcut.conf").stdout
    _assert_vpn_through_the_module(site_lab)
    _assert_static_link(site_lab)

    # the boot unit makes the link again, exactly as the modules left it: the
    # second run below must then still change nothing. Both ends are reset (a
    # power cut at both sites): if only one end restarts, its packet-ids start
    # again at 1 and the other end drops them as replays (docs/server.md).
    for g in (site_lab.guest("g1"), site_lab.guest("g2")):
        assert g.run("systemctl is-enabled ovpn-shortcut-links").stdout.strip() == "enabled"
        g.run(f"ip link del {LINK}")
    for g in (site_lab.guest("g1"), site_lab.guest("g2")):
        g.run("systemctl restart ovpn-shortcut-links")
        out = g.run("journalctl -u ovpn-shortcut-links -n 20 --no-pager").stdout
        assert f"{LINK}: create" in out and f"{LINK}: new-key" in out, out
        assert f"{LINK}: route " in out, out
    _assert_static_link(site_lab)

    second = _play()
    assert second.returncode == 0, second.stdout[-8000:]
    recap = _recap(second.stdout)
    changed = {h: r["changed"] for h, r in recap.items() if r["changed"]}
    assert not changed, f"second run changed {changed}:\n{second.stdout[-6000:]}"
    _assert_vpn_through_the_module(site_lab)
    _assert_static_link(site_lab)


def _link_peer(host: str) -> dict:
    """The link's only peer as ovpn_info reports it (ad hoc: 'g1 | SUCCESS => {json}')."""
    env = dict(os.environ, OVPN_LAB_NAME=LAB, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    res = subprocess.run([str(ANSIBLE), host, "-m", "ovpn_info", "-a", f"device={LINK}", "-o"],
                         cwd=paths.REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (dev,) = json.loads(res.stdout[res.stdout.index("{"):])["devices"]
    (peer,) = dev["peers"]
    return peer


def _assert_static_link(lab: Lab) -> None:
    """ovsl-site: inner addresses and the site networks reach each other both ways."""
    key = Path.home() / ".local/share/ovpn-shortcut/pki/links" / f"{LINK}.key"
    assert key.stat().st_mode & 0o777 == 0o600, oct(key.stat().st_mode)
    before = {h: _link_peer(h)["counters"] for h in LINK_ENDS}
    for host, other in (("g1", "g2"), ("g2", "g1")):
        g = lab.guest(host)
        site = LINK_ENDS[host][1]
        # the "site" behind this end: a LAN address on a dummy interface
        g.run(f"ip link show site0 >/dev/null 2>&1 || ip link add site0 type dummy;"
              f" ip link set site0 up; ip addr replace {site} dev site0")
        ping = g.run(f"ping -c 5 -i 0.3 -W 3 {LINK_ENDS[other][0]}", check=False)
        assert ping.returncode == 0, ping.stdout
    for host, other in (("g1", "g2"), ("g2", "g1")):
        src, dst = (LINK_ENDS[h][1].split("/")[0] for h in (host, other))
        ping = lab.guest(host).run(f"ping -c 5 -i 0.3 -W 3 -I {src} {dst}", check=False)
        assert ping.returncode == 0, f"{host} site {src} -> {other} site {dst}: {ping.stdout}"
    for host in LINK_ENDS:
        after = _link_peer(host)["counters"]
        # 10 echo requests out and 10 replies back per end (plus keepalives)
        for c in ("vpn_rx_packets", "vpn_tx_packets", "link_rx_packets", "link_tx_packets"):
            assert after[c] - before[host][c] >= 20, (host, c, before[host], after)


def _assert_vpn_through_the_module(lab: Lab) -> None:
    """The role's server (patched openvpn on the module) and g2's stock client."""
    g1, g2 = lab.guest("g1"), lab.guest("g2")
    assert g1.run("systemctl is-active openvpn-server@ovpnsc").stdout.strip() == "active"
    assert g1.run("systemctl is-enabled openvpn-server@ovpnsc").stdout.strip() == "enabled"
    assert "+ovpnsc" in g1.run("dpkg-query -W -f '${Version}' openvpn").stdout
    kind = json.loads(g1.run("ip -d -j link show ovpnsc0").stdout)[0]["linkinfo"]["info_kind"]
    assert kind == "ovpn-shortcut"
    assert g2.run("systemctl is-active openvpn-client@ovpnsc").stdout.strip() == "active"
    peers = json.loads(g1.run("ovpn-shortcut --json peer get ovpnsc0").stdout)["peers"]
    (peer,) = [p for p in peers if p["vpn_ipv4"] == "10.98.0.100"]  # g2's automatic VIP
    before = peer["counters"]["vpn_rx_bytes"]
    ping = g2.run("ping -c 5 -i 0.3 -W 3 10.98.0.1", check=False)
    assert ping.returncode == 0, ping.stdout
    peers = json.loads(g1.run("ovpn-shortcut --json peer get ovpnsc0").stdout)["peers"]
    (peer,) = [p for p in peers if p["vpn_ipv4"] == "10.98.0.100"]
    # 5 echo requests of 84 bytes each went through the kernel's RX path for this peer
    assert peer["counters"]["vpn_rx_bytes"] - before >= 5 * 84, (before, peer)
