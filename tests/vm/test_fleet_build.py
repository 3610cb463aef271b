"""The role builds the patched OpenVPN on a fleet host, as on a real fleet.

Opt-in (OVPN_TEST_FLEET_BUILD=1; a package build under TCG). Every other test
hands the role packages the lab built in chroots (`ovpn_shortcut_openvpn_debs`);
here nothing is given. The guests reach Debian's archive through the lab's apt
proxy (ovpn_lab/aptproxy.py, `up --apt`), as a fleet host reaches its mirror.
The guests are OVPN_FLEET_BUILD_RELEASES (default trixie,trixie: two hosts of one
release, so that one builds and the other only installs). The role's package
tasks (tasks/openvpn_package.yml, openvpn_build.yml) run on them from a
playbook of this test; then the test checks:
- the first host of each release built the package from its release's own source
  (the proxy's log shows the source fetched from Debian), the controller holds
  `<artifact dir>/<release>/openvpn_<Debian version>+ovpnscN_amd64.deb`;
- every host of that release installed that same version and holds it, the
  binary has DCO and looks for our module, only the build host built;
- a second run changes nothing and builds nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from ovpn_lab import paths
from tests.conftest import TIMINGS

from .own_lab import own_lab
from .role_helpers import ANSIBLE_PLAYBOOK, default_suffix

LAB = os.environ.get("OVPN_FLEET_BUILD_LAB", "pytest-fleet-build")
RELEASES = os.environ.get("OVPN_FLEET_BUILD_RELEASES", "trixie,trixie").split(",")
BUILD_DIR = "/var/lib/ovpn-shortcut/openvpn-build"  # the role's (vars/main.yml)
pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(os.environ.get("OVPN_TEST_FLEET_BUILD") != "1",
                       reason="opt-in: OVPN_TEST_FLEET_BUILD=1 (docs/server.md, "
                              "\"The patched OpenVPN\")"),
]

PLAY = """---
- name: Fleet build | the patched OpenVPN, built by a host of each release
  hosts: ovpn_servers:ovpn_clients
  become: true
  vars:
    ovpn_shortcut_server: false  # no server to restart after the install
    ovpn_shortcut_client: false
  tasks:
    - name: Fleet build | supported release
      ansible.builtin.include_role:
        name: ovpn_shortcut
        tasks_from: platform.yml

    - name: Fleet build | the role's package tasks
      ansible.builtin.include_role:
        name: ovpn_shortcut
        tasks_from: openvpn_package.yml
"""


def _play(lab, play: Path, artifacts: Path) -> tuple[str, dict[str, int], float]:
    """The play on the lab; returns its output, changed= per host and its seconds."""
    env = dict(os.environ, OVPN_LAB_NAME=lab.name, ANSIBLE_FORCE_COLOR="0")
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), str(play), "-e",
         json.dumps({"ovpn_shortcut_openvpn_debs": {},
                     "ovpn_shortcut_openvpn_artifact_dir": str(artifacts)})],
        cwd=paths.REPO_ROOT, env=env, capture_output=True, text=True, timeout=4 * 3600)
    secs = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    changed = {host: int(n) for host, n in re.findall(
        r"^(g\d+)\s*: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", proc.stdout, re.M)}
    print(f"fleet build play: {secs:.0f} s, changed {changed}")
    return proc.stdout, changed, secs


@pytest.fixture
def fleet():
    with own_lab(LAB) as lab:
        t0 = time.monotonic()
        guests = lab.up(len(RELEASES), releases=RELEASES, apt_proxy=True)
        TIMINGS["fleet build: boot"] = f"{time.monotonic() - t0:.0f} s ({','.join(RELEASES)})"
        yield lab, guests


def test_a_fleet_host_builds_the_package_of_its_release(fleet, tmp_path):
    lab, guests = fleet
    play = tmp_path / "fleet-build.yml"
    play.write_text(PLAY)
    artifacts = tmp_path / "artifacts"

    out, changed, secs = _play(lab, play, artifacts)
    TIMINGS["fleet build: first run"] = f"{secs:.0f} s, changed {changed}"
    assert sorted(changed) == [g.name for g in guests], out[-3000:]
    want: dict[str, str] = {}  # release -> version, from its build host (the first)
    for g in guests:
        release = g.run(". /etc/os-release; echo $VERSION_CODENAME").stdout.strip()
        built_here = g.run(f"ls {BUILD_DIR}/out 2>/dev/null", check=False).stdout.split()
        if release not in want:
            # the Debian version of the source this host's apt offers: Debian's own
            srcver = g.run(f"python3 {BUILD_DIR}/build_openvpn_deb.py "
                           "--print-source-version").stdout.split()[-1]
            want[release] = f"{srcver}{default_suffix()}"
            deb = f"openvpn_{want[release]}_amd64.deb"
            # out/ also holds what else the build made (trixie: openvpn-dbgsym)
            assert deb in built_here, (g.name, built_here, deb)
            apt = g.apt_log.read_text()
            dsc = re.findall(r"^\S+ 200 GET (\S+/openvpn_\S+\.dsc) ", apt, re.M)
            assert dsc, apt[-3000:]  # the source came from Debian through the proxy
            got = sum(int(n) for n in re.findall(r" 200 GET \S+ (\d+)$", apt, re.M))
            TIMINGS[f"fleet build: {g.name} ({release}) built"] = (
                f"{deb} from {dsc[-1]}; apt proxy {apt.count(' 200 GET ')} GETs, "
                f"{got / 1e6:.1f} MB")
        else:
            assert built_here == [], (g.name, built_here)  # installs the build host's file
        debs = sorted(p.name for p in (artifacts / release).glob("*.deb"))
        assert debs == [f"openvpn_{want[release]}_amd64.deb"], debs
        installed = g.run("dpkg-query -W -f '${Version} ${Status}' openvpn").stdout
        # held (ovpn_shortcut_openvpn_hold), so that apt keeps the patched one
        assert installed == f"{want[release]} hold ok installed", (g.name, installed)
        version = g.run("openvpn --version", check=False).stdout.splitlines()[0]
        assert "[DCO]" in version, version
        assert int(g.run("grep -c -a -e /sys/module/ovpn_shortcut/version "
                         "/usr/sbin/openvpn").stdout) >= 1

    out2, changed2, secs2 = _play(lab, play, artifacts)
    TIMINGS["fleet build: second run"] = f"{secs2:.0f} s, changed {changed2}"
    # the build task always reports changed: 0 means nothing was built or installed
    assert changed2 == {g.name: 0 for g in guests}, out2[-6000:]
