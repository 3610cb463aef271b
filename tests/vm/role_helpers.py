"""Helpers of the tests that deploy the role's server with its own play
(test_openvpn_clients.py, test_role_tap.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ovpn_lab import paths
from ovpn_lab.guest import Guest

ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def default_suffix() -> str:
    """The package suffix the build script gives by default (raised with the series)."""
    text = (paths.REPO_ROOT / "roles/ovpn_shortcut/files/build_openvpn_deb.py").read_text()
    m = re.search(r'^DEFAULT_SUFFIX = "([^"]+)"', text, re.M)
    assert m, "DEFAULT_SUFFIX not found in build_openvpn_deb.py"
    return m.group(1)


def role_play(lab, extra: dict, *args: str) -> subprocess.CompletedProcess:
    """playbooks/ovpn_shortcut.yml on the lab with `extra` as extra vars."""
    env = dict(os.environ, OVPN_LAB_NAME=lab.name, ANSIBLE_FORCE_COLOR="0")
    return subprocess.run([str(ANSIBLE_PLAYBOOK), "playbooks/ovpn_shortcut.yml",
                           "-e", json.dumps(extra), *args], cwd=paths.REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=3600)


def wait_for(what: str, probe: Callable[[], object], timeout: float,
             diag: Callable[[], str]) -> object:
    """probe() until it is truthy (returned), else fail after `timeout` with diag()."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s\n{diag()}", pytrace=False)
        time.sleep(1)


def netns_on_lan(g: Guest, ns: str, ifname: str, addr: str) -> None:
    """Network namespace `ns` on g's lab LAN: a macvlan of lan0 with `addr`/24."""
    g.run(f"ip netns add {ns} && ip link add link lan0 name {ifname} type macvlan mode bridge"
          f" && ip link set {ifname} netns {ns} && ip -n {ns} link set lo up"
          f" && ip -n {ns} addr add {addr}/24 dev {ifname} && ip -n {ns} link set {ifname} up")


def copy_profiles(g: Guest, pki: Path, names: list[str], run_dir: str) -> None:
    """The role's client profiles of `names` (PKI_DIR/profiles) into a fresh run_dir."""
    g.run(f"rm -rf {run_dir} && mkdir -p {run_dir}")
    for name in names:
        g.copy_in(pki / "profiles" / f"{name}.ovpn", run_dir)
    g.run(f"chmod 600 {run_dir}/*.ovpn")
