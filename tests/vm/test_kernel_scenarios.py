"""The kernel module's in-guest scenarios, kernel_module/tests/*.sh, one test each.

Each script builds its own network namespaces in a guest, drives real traffic
through ovpn-shortcut devices with kernel_module/tools/ovpn_sc_ctl.py (static
keys, no OpenVPN process), prints PASS:/FAIL: lines and exits non-zero on any
failure. Afterwards the module must unload (no leaked reference), and the
kernel-log guard fails the test on any WARN/BUG/oops.
"""

from __future__ import annotations

import pytest

from ovpn_lab import paths

SCRIPTS = sorted((paths.REPO_ROOT / "kernel_module" / "tests").glob("*.sh"))
GUEST_DIR = "/root/ovpn-km"


@pytest.fixture(scope="module")
def km_files(g1, ovpn_module):
    g1.run(f"rm -rf {GUEST_DIR}")
    for sub in ("tests", "tools", "include"):
        g1.copy_in(paths.REPO_ROOT / "kernel_module" / sub, GUEST_DIR)
    return GUEST_DIR


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_scenario(g1, km_files, script):
    proc = g1.run(f"cd {km_files} && bash tests/{script.name}", check=False, timeout=900)
    out = proc.stdout + proc.stderr
    failed = [line for line in out.splitlines() if line.startswith("FAIL")]
    passed = [line for line in out.splitlines() if line.startswith("PASS")]
    unload = g1.run("! lsmod | grep -q '^ovpn_shortcut ' || rmmod ovpn_shortcut", check=False)
    assert proc.returncode == 0 and not failed, (
        f"{script.name}: exit {proc.returncode}, {len(failed)} failed, "
        f"{len(passed)} passed\n{out[-12000:]}"
    )
    assert passed, f"{script.name} ran no check:\n{out[-4000:]}"
    assert unload.returncode == 0, f"module does not unload after {script.name}: {unload.stderr}"
