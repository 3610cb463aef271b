"""Fixtures for tests that boot guests.

One lab of two guests is booted per test session and shared. Around every vm
test the guests' kernel logs are drained to the host (kept in the run dir),
attached to the test report, and any WARN/BUG/oops in them fails the test.

The guests' Debian releases: $OVPN_LAB_RELEASES, comma-separated in guest
order (default bookworm for both; `trixie` for both, `trixie,bookworm` for a
Debian 13 g1 and a Debian 12 g2).

OVPN_TEST_DEBUG_KERNEL=1 (OVPN_HARDEN_DEBUG_KERNEL=1 too): the lab is one guest
on the lab's debug kernel (KASAN, lockdep, kmemleak, ...; ovpn_lab/debugkernel.py)
and the module is built against that tree, so the single-guest kernel tests
(test_kernel_scenarios.py, test_kernel_stress.py, test_hardening.py) run on it
and the kernel-log guard fails them on any report. With OVPN_LAB_REUSE=1 a
debug guest already up in the lab (ovpn-lab --lab NAME up --debug-kernel) is
used as it is (its boot takes about 20 minutes under TCG).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from ovpn_lab import debugkernel, paths
from ovpn_lab.guest import DMESG_UNAVAILABLE, Guest, kernel_trouble
from ovpn_lab.image import Image, ensure_image
from ovpn_lab.kbuild import build_module
from ovpn_lab.lab import Lab, guest_releases
from ovpn_lab.openvpn_deb import ensure_openvpn_debs, openvpn_deb
from tests.conftest import TIMINGS

DEBUG_KERNEL = "1" in (os.environ.get("OVPN_TEST_DEBUG_KERNEL"),
                       os.environ.get("OVPN_HARDEN_DEBUG_KERNEL"))
RELEASES = guest_releases(2, os.environ.get("OVPN_LAB_RELEASES", "bookworm").split(","))
# OVPN_TEST_FULL=1: what CI leaves out for time (README): the whole data path matrix,
# the control-plane tests with the host's newer pyroute2 too, the role's tap server
FULL = os.environ.get("OVPN_TEST_FULL") == "1"
NOT_FULL = "CI's subset: OVPN_TEST_FULL=1 runs it (README, tests)"

# Tests that boot a lab of their own run first, before the shared lab is up,
# so that no more than one lab's guests share the machine's cores at a time.
OWN_LAB_MODULES = ("test_site.py", "test_molecule.py", "test_backports_kernel.py",
                   "test_rolling_upgrade.py", "test_collection.py", "test_fleet_build.py")


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if "tests/vm/" in str(item.fspath):
            item.add_marker(pytest.mark.vm)
    items.sort(key=lambda item: item.fspath.basename not in OWN_LAB_MODULES)


@pytest.fixture(scope="session")
def image() -> Image:
    t0 = time.monotonic()
    img = ensure_image(release=RELEASES[0])  # g1's
    for release in set(RELEASES[1:]) - {RELEASES[0]}:
        ensure_image(release=release)
    took = time.monotonic() - t0
    meta = img.meta
    TIMINGS["image"] = f"{img.path.name} kernel {meta['kernel']}"
    TIMINGS["image build (when built: cold)"] = f"{meta['build_seconds']} s"
    TIMINGS["image step this run (cached if ~0)"] = f"{took:.1f} s"
    TIMINGS["image files"] = f"{meta['files_bytes'] / 2**20:.0f} MiB"
    return img


@pytest.fixture(scope="session")
def lab(image: Image) -> Iterator[Lab]:
    lab = Lab(os.environ.get("OVPN_LAB_NAME", "harden-debug" if DEBUG_KERNEL else "pytest"))
    t0 = time.monotonic()
    if DEBUG_KERNEL:
        k = debugkernel.ensure_debug_kernel()
        TIMINGS["debug kernel"] = f"{k.release} (built in {k.meta['build_seconds']} s)"
        running = lab.running() if os.environ.get("OVPN_LAB_REUSE") == "1" else []
        if running and running[0].release() == k.release:
            # a debug guest booted before (ovpn-lab up --debug-kernel: 20 minutes
            # under TCG) and still up: its modules are installed
            TIMINGS["debug guest"] = f"reused (OVPN_LAB_REUSE=1), {k.release}"
        else:
            debugkernel.boot(lab, 1, kernel=k)
            TIMINGS["boot of the debug guest to SSH"] = f"{time.monotonic() - t0:.1f} s"
    else:
        lab.up(2, fresh=True, releases=RELEASES)
        TIMINGS["boot of 2 guests to SSH (parallel)"] = f"{time.monotonic() - t0:.1f} s"
    keep = os.environ.get("OVPN_LAB_KEEP") == "1"  # left up for inspection
    try:
        yield lab
    finally:
        if keep:
            print(f"\nOVPN_LAB_KEEP=1: lab {lab.name!r} left up "
                  f"(ovpn-lab --lab {lab.name} down)")
        else:
            t0 = time.monotonic()
            lab.down()
            TIMINGS["shutdown of 2 guests"] = f"{time.monotonic() - t0:.1f} s"


@pytest.fixture(scope="session")
def guests(lab: Lab) -> list[Guest]:
    return lab.guests()


@pytest.fixture(scope="session")
def g1(guests: list[Guest]) -> Guest:
    return guests[0]


@pytest.fixture(scope="session")
def g2(guests: list[Guest]) -> Guest:
    return guests[1]


@pytest.fixture(scope="session")
def ovpn_module(image: Image, guests: list[Guest], tmp_path_factory) -> str:
    """kernel_module/ built against each guest's kernel and installed (not loaded),
    with the test knobs (module parameters debug_*, absent from production builds)."""
    kos: dict[str, list] = {}
    t0 = time.monotonic()
    if DEBUG_KERNEL:
        k = debugkernel.ensure_debug_kernel()
        kos[k.release] = build_module(paths.REPO_ROOT / "kernel_module",
                                      tmp_path_factory.mktemp("kbuild-debug"),
                                      kdir=k.kbuild, extra=["OVS_TEST_KNOBS=1"])
    for g in guests:
        # the kernel is the image's (a release's, or a kernel variant's)
        name = debugkernel.ensure_debug_kernel().release if DEBUG_KERNEL else g.image_name()
        if name not in kos:
            out = tmp_path_factory.mktemp(f"kbuild-{name}")
            kos[name] = build_module(paths.REPO_ROOT / "kernel_module", out,
                                     image=g.image, extra=["OVS_TEST_KNOBS=1"])
        g.install_modules(kos[name])
    TIMINGS["kbuild of kernel_module/ (" + ", ".join(kos) + ")"] = (
        f"{time.monotonic() - t0:.1f} s")
    return "ovpn_shortcut"


@pytest.fixture(scope="session")
def openvpn_debs(guests: list[Guest]) -> dict[str, str]:
    """The patched openvpn .deb of each guest release (built once, cached), for the role."""
    t0 = time.monotonic()
    debs = {r: str(openvpn_deb(ensure_openvpn_debs(release=r)))
            for r in dict.fromkeys(g.release_name() for g in guests)}
    TIMINGS["patched openvpn .debs (" + ", ".join(debs) + ")"] = (
        f"{time.monotonic() - t0:.1f} s")
    return debs


@pytest.fixture(autouse=True)
def kernel_log_guard(request) -> Iterator[None]:
    if request.node.fspath.basename in OWN_LAB_MODULES:
        yield  # such a test checks its own lab's kernel logs
        return
    guests = request.getfixturevalue("lab").guests()
    for g in guests:
        g.drain_kernel_log()
    yield
    problems = []
    for g in guests:
        running = g.pid() is not None
        text = g.drain_kernel_log() if running else f"(guest down)\n{g.serial_trouble()}"
        if not running:
            problems.append(f"{g.name}: QEMU exited during the test")
        elif text.startswith(DMESG_UNAVAILABLE):
            # a guest that stopped answering during this test: say so here, with
            # what the serial console and QEMU show, not in the next test's errors
            text += g.unreachable_report()
            problems.append(f"{g.name}: no SSH after the test")
        if text.strip():
            request.node.add_report_section("teardown", f"{g.name} dmesg", text)
        problems += [f"{g.name}: {line}" for line in kernel_trouble(text)]
    if problems:
        pytest.fail("kernel trouble during the test:\n" + "\n".join(problems), pytrace=False)
