"""Concurrency stress of the module in a guest: kernel_module/tests/stress.py.

GET_PEER dumps and doits (peers with iroutes) racing device deletion, netns
moves and deletion, rmmod/modprobe, peer churn and key swaps under traffic.
CI runs it for 60 s (OVPN_STRESS_SECONDS overrides; the opt-in long run is
OVPN_STRESS_SECONDS=900). Counts per operation go to test-reports/stress.json;
the kernel-log guard (conftest) fails the test on any WARN/BUG/refcount/
lockdep/KASAN line.
"""

from __future__ import annotations

import json
import os
import re

from ovpn_lab import paths

GUEST_DIR = "/root/ovpn-km"


def test_concurrency_stress(g1, ovpn_module):
    seconds = int(os.environ.get("OVPN_STRESS_SECONDS", "60"))
    g1.run(f"rm -rf {GUEST_DIR}")
    for sub in ("tests", "tools", "include"):
        g1.copy_in(paths.REPO_ROOT / "kernel_module" / sub, GUEST_DIR)
    proc = g1.run(f"python3 {GUEST_DIR}/tests/stress.py {GUEST_DIR}/tools --seconds {seconds}",
                  check=False, timeout=seconds + 1800)
    out = proc.stdout + proc.stderr
    m = re.search(r"^STRESS (\{.*\})$", out, re.M)
    assert m, f"stress.py printed no figures (exit {proc.returncode}):\n{out[-4000:]}"
    figures = json.loads(m.group(1))
    figures["kernel"] = g1.release()
    report = paths.REPO_ROOT / "test-reports" / "stress.json"
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps(figures, indent=1) + "\n")
    assert proc.returncode == 0 and "FAIL" not in out, out[-4000:]
    assert not figures["hung_workers"] and figures["unloaded"], figures
    assert figures["teardown_rounds"] >= 1, figures
    for kind in ("dump", "doit", "leak", "churn", "swap"):
        assert any(not k.endswith("_refused") and v > 0 for k, v in figures[kind].items()), \
            f"no {kind} operation went through: {figures[kind]}"
