"""The main job: `ansible-playbook site.yml` on the embedded default inventory.

It runs on a lab of its own (the inventory boots it), exactly as README's
deploy command does: the first run changes things, the second changes nothing.
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

    second = _play()
    assert second.returncode == 0, second.stdout[-8000:]
    recap = _recap(second.stdout)
    changed = {h: r["changed"] for h, r in recap.items() if r["changed"]}
    assert not changed, f"second run changed {changed}:\n{second.stdout[-6000:]}"
    _assert_vpn_through_the_module(site_lab)


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
