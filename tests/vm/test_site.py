"""The main job: `ansible-playbook site.yml` on the embedded default inventory.

It runs on a lab of its own (the inventory boots it), exactly as README's
deploy command does: the first run changes things, the second changes nothing.
"""

from __future__ import annotations

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
                          env=env, capture_output=True, text=True, timeout=1800)


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

    second = _play()
    assert second.returncode == 0, second.stdout[-8000:]
    recap = _recap(second.stdout)
    changed = {h: r["changed"] for h, r in recap.items() if r["changed"]}
    assert not changed, f"second run changed {changed}:\n{second.stdout[-6000:]}"
