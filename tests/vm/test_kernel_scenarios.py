"""The kernel module's in-guest scenarios, kernel_module/tests/*.sh, one test each.

Each script builds its own network namespaces in a guest, drives real traffic
through ovpn-shortcut devices with kernel_module/tools/ovpn_sc_ctl.py (static
keys, no OpenVPN process), prints PASS:/FAIL: lines and exits non-zero on any
failure. Afterwards the module must unload (no leaked reference), and the
kernel-log guard fails the test on any WARN/BUG/oops.
"""

from __future__ import annotations

import pytest

from tests.vm.km_scenarios import SCRIPTS, copy_km_files, run_scenario


@pytest.fixture(scope="module")
def km_files(g1, ovpn_module):
    return copy_km_files(g1)


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_scenario(g1, km_files, script):
    run_scenario(g1, script.name, km_files)
