"""The hardening suite, kernel_module/tests/harden/harden.py, in a guest.

Hostile UDP datagrams (random, truncated, bit-flipped, structure-aware,
replayed) while a legitimate client keeps iperf3 running, replay and
reordering around the window, spoofed inner sources, netlink fuzzing and
permission checks, peer churn and key swaps under traffic, faults under
traffic (socket owner killed, device deleted, rmmod), and the slab baseline
after unloading. Every figure is written to test-reports/hardening.json.

Sizes: OVPN_HARDEN_FULL=1 runs the full figures (1,000,000 datagrams, 20,000
netlink requests, 10,000 churn cycles, 500 key swaps a side; `./dev harden`),
otherwise a CI-sized run (OVPN_HARDEN_PACKETS etc. override each figure).

OVPN_TEST_DEBUG_KERNEL=1 (opt-in, `./dev harden --debug-kernel`; see
tests/vm/conftest.py): the guest boots the lab's debug kernel instead (KASAN,
lockdep, kmemleak, ...; built once from Debian's source by
ovpn_lab/debugkernel.py, 14-75 minutes on 2 cores the first time), the module
is built against that tree, and kmemleak is scanned after the run. Figures go
to test-reports/hardening-debug.json.
"""

from __future__ import annotations

import json
import os
import re

from ovpn_lab import paths
from ovpn_lab.guest import Guest

from .conftest import DEBUG_KERNEL

GUEST_DIR = "/root/ovpn-km"
FULL = {"packets": 1_000_000, "nl-requests": 20_000, "churn": 10_000, "swaps": 500}
CI = {"packets": 60_000, "nl-requests": 3_000, "churn": 2_000, "swaps": 100}


def sizes() -> dict[str, int]:
    base = FULL if os.environ.get("OVPN_HARDEN_FULL") == "1" else CI
    return {k: int(os.environ.get("OVPN_HARDEN_" + k.upper().replace("-", "_"), v))
            for k, v in base.items()}


# kmemleak: a frame of an unloaded module prints as a bare address in the
# module area; with only ovpn_shortcut ever loaded, such a frame is ours.
_MODULE_FRAME = re.compile(r"\[<ffffffff[a-f][0-9a-f]{7}>\] 0xffffffff[a-f]")


def kmemleak_scan(g: Guest) -> list[str]:
    """Scan twice (kmemleak reports an object only once it stayed unreferenced
    over a scan) and return the reports, one string each."""
    path = "/sys/kernel/debug/kmemleak"
    g.run(f"echo scan > {path}; sleep 5; echo scan > {path}", timeout=1800)
    text = g.run(f"cat {path}").stdout
    return [r for r in re.split(r"(?m)^(?=unreferenced object)", text) if r.strip()]


def test_hardening_suite(g1, ovpn_module):
    g1.run(f"rm -rf {GUEST_DIR}")
    km = paths.REPO_ROOT / "kernel_module"
    for sub in ("tests", "tools", "include", "ovpn-shortcut.yaml"):
        g1.copy_in(km / sub, GUEST_DIR)
    n = sizes()
    flags = " ".join(f"--{k} {v}" for k, v in n.items())
    proc = g1.run(f"python3 {GUEST_DIR}/tests/harden/harden.py {flags}", check=False,
                  timeout=6 * 3600)
    out = proc.stdout + proc.stderr
    m = re.search(r"^FIGURES (\{.*\})$", out, re.M)
    assert m, f"harden.py printed no figures (exit {proc.returncode}):\n{out[-6000:]}"
    figures = json.loads(m.group(1))
    figures["sizes"] = n
    ours: list[str] = []
    if DEBUG_KERNEL:
        figures["kernel"] = g1.release()
        leaks = kmemleak_scan(g1)
        ours = [r for r in leaks if "ovpn_shortcut" in r or _MODULE_FRAME.search(r)]
        figures["kmemleak"] = {"reports": len(leaks), "ours": len(ours),
                               "first": [r[:1500] for r in leaks[:5]]}
    name = "hardening-debug.json" if DEBUG_KERNEL else "hardening.json"
    report = paths.REPO_ROOT / "test-reports" / name
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps(figures, indent=1) + "\n")
    failed = [ln for ln in out.splitlines() if ln.startswith("FAIL")]
    passed = [ln for ln in out.splitlines() if ln.startswith("PASS")]
    assert proc.returncode == 0 and not failed, "\n".join(failed) + "\n" + out[-6000:]
    assert len(passed) >= 20, f"only {len(passed)} checks ran:\n{out[-4000:]}"
    assert figures["fuzz"]["sent"]["packets"] >= n["packets"] * 0.99
    assert not ours, "kmemleak: objects of ovpn_shortcut leaked:\n" + "\n".join(ours)
