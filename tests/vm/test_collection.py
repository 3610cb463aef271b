"""The collection ovpn.shortcut deploys the lab from outside the repository.

Opt-in (OVPN_TEST_COLLECTION=1; a deploy of two guests, 58 minutes in its first
run at host load 6-10): the artifact of collection/build.py is installed with
ansible-galaxy into a temporary folder, next to a fresh virtualenv holding only
ansible-core (PyPI) and a playbook of its own. That playbook boots the lab's
guests (the repository's lab play: the lab is the test's tool, not the product)
and then runs `ovpn.shortcut.site` against the lab inventory, with an
ansible.cfg that knows no library/, module_utils/ or roles/ of this repository:
only the collection provides modules, filters and the role. The collection's
own verify tasks prove that the client pings the server through the kernel
path.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ovpn_lab import paths

sys.path.insert(0, str(paths.REPO_ROOT / "collection"))
import build as cbuild

from .own_lab import own_lab

LAB = os.environ.get("OVPN_COLLECTION_LAB", "pytest-coll")
pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(os.environ.get("OVPN_TEST_COLLECTION") != "1",
                       reason="opt-in: OVPN_TEST_COLLECTION=1 (collection/README.md)"),
]
CFG = """[defaults]
collections_path = ./collections
interpreter_python = auto_silent
host_key_checking = False
retry_files_enabled = False

[ssh_connection]
pipelining = True
"""


def _ansible_core() -> str:
    for line in (paths.REPO_ROOT / "constraints.txt").read_text().splitlines():
        if line.startswith("ansible-core=="):
            return line.strip()
    raise AssertionError("constraints.txt pins no ansible-core")


def _run(argv: list[str], cwd: Path, env: dict, timeout: int = 3600) -> str:
    t0 = time.monotonic()
    res = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout)
    print(f"collection: {' '.join(Path(a).name if '/' in a else a for a in argv[:3])}: "
          f"rc {res.returncode} in {time.monotonic() - t0:.0f} s")
    assert res.returncode == 0, res.stdout[-8000:] + res.stderr[-4000:]
    return res.stdout


@pytest.fixture
def coll_lab():
    with own_lab(LAB) as lab:
        yield lab


def test_collection_deploys_the_lab_from_outside_the_repository(coll_lab, tmp_path):
    outside = tmp_path / "fleet"
    outside.mkdir()
    artifact = cbuild.build(paths.REPO_ROOT, tmp_path / "dist")
    venv = tmp_path / "venv"
    env = dict(os.environ, ANSIBLE_CONFIG=str(outside / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               OVPN_LAB_NAME=LAB, PATH=f"{venv}/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    _run(["/usr/bin/python3", "-m", "venv", str(venv)], tmp_path, env)
    _run([str(venv / "bin/pip"), "install", "-q", _ansible_core()], tmp_path, env)
    (outside / "ansible.cfg").write_text(CFG)
    _run([str(venv / "bin/ansible-galaxy"), "collection", "install", str(artifact), "-p",
          "./collections"], outside, env)
    (outside / "site.yml").write_text(
        "---\n"
        "# the lab's guests (the test's tool), then the fleet from the collection\n"
        f"- name: Lab\n  ansible.builtin.import_playbook: {paths.REPO_ROOT}/playbooks/lab.yml\n"
        "- name: Fleet\n  ansible.builtin.import_playbook: ovpn.shortcut.site\n")
    out = _run([str(venv / "bin/ansible-playbook"), "-i",
                str(paths.REPO_ROOT / "inventory/lab"), "site.yml"], outside, env)
    # the role ran from the collection, with the sources of its bundle
    assert "ovpn.shortcut.ovpn_shortcut : " in out, out[-3000:]
    recap = dict(re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", out, re.M))
    assert {"g1", "g2"} <= set(recap), out[-3000:]
    assert "Verify | every connected client host's peer carried data" in out
    g1 = coll_lab.guest("g1")
    dkms = g1.run("dkms status -m ovpn-shortcut").stdout
    assert f"{g1.release()}, x86_64: installed" in dkms, dkms
