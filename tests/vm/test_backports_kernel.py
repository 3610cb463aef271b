"""Our module beside the in-tree `ovpn` on trixie-backports' 7.x kernel (opt-in).

A lab of its own with one guest of the `trixie-backports` image (Debian 13,
kernel from trixie-backports): kernel_module/ is built against that kernel's
headers (with the test knobs, like every lab test build), installed, and must
load while upstream's `ovpn` is loaded; a device of each kind and both generic
netlink families exist at the same time; the module's own in-guest scenarios
pass with an `ovpn` device present throughout.

Opt-in (one more image and a boot): OVPN_TEST_BACKPORTS_KERNEL=1. The lab is
$OVPN_BACKPORTS_LAB (default pytest-backports).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import pytest

from ovpn_lab import paths
from ovpn_lab.guest import Guest, kernel_trouble
from ovpn_lab.image import ensure_image
from ovpn_lab.kbuild import build_module
from ovpn_lab.lab import Lab
from tests.conftest import TIMINGS
from tests.vm.km_scenarios import copy_km_files, run_scenario

pytestmark = pytest.mark.skipif(os.environ.get("OVPN_TEST_BACKPORTS_KERNEL") != "1",
                                reason="opt-in: OVPN_TEST_BACKPORTS_KERNEL=1")

LAB = os.environ.get("OVPN_BACKPORTS_LAB", "pytest-backports")
IMAGE = "trixie-backports"
UPSTREAM_DEV = "up-ovpn0"  # a device of upstream's kind, kept through the scenarios
# netns_chacha: the library ChaCha20 of 6.16+ (struct chacha_state) exists only here
SCENARIOS = ("netns_smoke.sh", "netns_mp.sh", "netns_chacha.sh")


@pytest.fixture(scope="module")
def bpo(tmp_path_factory) -> Iterator[Guest]:
    """The booted guest, our module built for its kernel and installed (not loaded)."""
    t0 = time.monotonic()
    img = ensure_image(release=IMAGE)
    TIMINGS[f"{IMAGE} image (kernel {img.meta['kernel']})"] = (
        f"{time.monotonic() - t0:.1f} s this run, {img.meta['build_seconds']} s when built")
    lab = Lab(LAB)
    t0 = time.monotonic()
    (g,) = lab.up(1, fresh=True, releases=[IMAGE])
    TIMINGS[f"boot of the {IMAGE} guest to SSH"] = f"{time.monotonic() - t0:.1f} s"
    try:
        t0 = time.monotonic()
        kos = build_module(paths.REPO_ROOT / "kernel_module",
                           tmp_path_factory.mktemp("kbuild-bpo"), image=img,
                           extra=["OVS_TEST_KNOBS=1"])
        g.install_modules(kos)
        TIMINGS[f"kbuild of kernel_module/ ({img.meta['kernel']})"] = (
            f"{time.monotonic() - t0:.1f} s")
        copy_km_files(g)
        yield g
    finally:
        lab.down()


@pytest.fixture(autouse=True)
def kernel_log(request, bpo: Guest) -> Iterator[None]:
    """The guest's kernel log around each test: any WARN/BUG/oops fails it."""
    bpo.drain_kernel_log()
    yield
    text = bpo.drain_kernel_log()
    if text.strip():
        request.node.add_report_section("teardown", f"{bpo.name} dmesg", text)
    trouble = kernel_trouble(text)
    if trouble:
        pytest.fail("kernel trouble during the test:\n" + "\n".join(trouble), pytrace=False)


def _kind(g: Guest, dev: str) -> str:
    (link,) = json.loads(g.run(f"ip -d -j link show dev {dev}").stdout)
    return str(link.get("linkinfo", {}).get("info_kind", ""))


def _genl_family(g: Guest, name: str) -> bool:
    return g.run(f"genl ctrl get name {name}", check=False).returncode == 0


def test_kernel_is_backports(bpo: Guest) -> None:
    release = bpo.release()
    assert release == bpo.image.meta["kernel"], release
    assert int(release.split(".")[0]) >= 7, f"not a 7.x kernel: {release}"
    # the in-tree ovpn is a module of this kernel
    bpo.run("modinfo -n ovpn")


def test_side_by_side(bpo: Guest) -> None:
    bpo.run("modprobe ovpn && modprobe ovpn_shortcut")
    lsmod = bpo.run("lsmod").stdout
    assert "\novpn " in lsmod and "\novpn_shortcut " in lsmod, lsmod
    bpo.run(f"ip link add {UPSTREAM_DEV} type ovpn && ip link add sc0 type ovpn-shortcut")
    try:
        assert _kind(bpo, UPSTREAM_DEV) == "ovpn"
        assert _kind(bpo, "sc0") == "ovpn-shortcut"
        assert _genl_family(bpo, "ovpn"), "upstream's genl family ovpn is not registered"
        assert _genl_family(bpo, "ovpn-shortcut"), "genl family ovpn-shortcut missing"
        bpo.run("test -d /sys/module/ovpn && test -d /sys/module/ovpn_shortcut")
    finally:
        bpo.run("ip link del sc0", check=False)
    # the upstream device stays for the scenarios; ours unloads beside it
    bpo.run("rmmod ovpn_shortcut")
    assert _kind(bpo, UPSTREAM_DEV) == "ovpn"


@pytest.mark.parametrize("script", SCENARIOS)
def test_scenario_beside_ovpn(bpo: Guest, script: str) -> None:
    bpo.run(f"ip link show dev {UPSTREAM_DEV} >/dev/null 2>&1 || "
            f"(modprobe ovpn && ip link add {UPSTREAM_DEV} type ovpn)")
    t0 = time.monotonic()
    passed = run_scenario(bpo, script)
    TIMINGS[f"{script} on {IMAGE} beside ovpn"] = (
        f"{time.monotonic() - t0:.1f} s, {len(passed)} checks passed")
    # upstream's module and device lived through it
    assert _kind(bpo, UPSTREAM_DEV) == "ovpn"
