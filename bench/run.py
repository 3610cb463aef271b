"""Host side of `./dev bench`: boot lab h-bench, measure every configuration, write results.

    python -m bench [--repeats 3] [--duration 5] [--ciphers AES-256-GCM,CHACHA20-POLY1305]
                    [--configs ...] [--tests tcp1,tcp4,udp64,udp1200,ping] [--scale ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ovpn_lab.guest import Guest, GuestCommandError, GuestError
from ovpn_lab.image import ensure_image
from ovpn_lab.lab import Lab
from ovpn_lab.log import log

from . import report, scale
from .setup import GUEST_DIR, prepare

CONFIGS = ["veth", "wireguard", "ovpn-user", "ovpn-dco", "ovpn-sc", "ovpn-dco-srv",
           "ovpn-sc-srv"]
CIPHERLESS = ("veth", "wireguard")
RESULTS = Path(__file__).parent / "results"


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def load1() -> float:
    return float(loadavg().split()[0])


def git_state() -> dict[str, str]:
    """The commit measured, and whether kernel_module/ or the patches differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip()
    return {"commit": git("rev-parse", "HEAD"),
            "dirty": git("status", "--porcelain", "--", "../kernel_module",
                         "../roles/ovpn_shortcut/files/openvpn-patches")}


def plan(configs: list[str], ciphers: list[str]) -> list[tuple[str, str]]:
    """(config, cipher) pairs in measuring order; veth and WireGuard once (no cipher choice)."""
    out: list[tuple[str, str]] = []
    for c in configs:
        if c in CIPHERLESS:
            out.append((c, ""))
        else:
            out += [(c, ci) for ci in ciphers]
    return out


def measure(g: Guest, config: str, cipher: str, repeat: int, tests: str,
            duration: int) -> dict[str, Any]:
    sample: dict[str, Any] = {"config": config, "cipher": cipher, "repeat": repeat,
                              "started": time.strftime("%H:%M:%S"), "host_load1": load1()}
    t0 = time.monotonic()
    try:
        up = g.run(f"{GUEST_DIR}/guest/tunnels.sh up {config} {shlex.quote(cipher)}",
                   timeout=300)
        facts = json.loads(up.stdout.strip().splitlines()[-1])
        sample["setup_seconds"] = round(time.monotonic() - t0, 1)
        sample["facts"] = facts
        res = g.run(f"python3 {GUEST_DIR}/guest/measure.py --target {facts['target']} "
                    f"--tests {tests} --duration {duration} "
                    f"--pids {shlex.quote(facts['pids'])}", timeout=1200)
        sample["tests"] = json.loads(res.stdout.strip().splitlines()[-1])
    except (GuestError, ValueError, IndexError) as e:
        sample["error"] = (f"{e.cmd} exit {e.rc}: {e.stderr[-1500:]} {e.stdout[-400:]}"
                           if isinstance(e, GuestCommandError) else str(e)[-2000:])
        log(f"bench: {config} {cipher} failed: {str(e)[-400:]}")
    finally:
        g.run(f"{GUEST_DIR}/guest/tunnels.sh down", check=False, timeout=120)
    sample["seconds"] = round(time.monotonic() - t0, 1)
    return sample


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench")
    ap.add_argument("--lab", default=os.environ.get("OVPN_LAB_NAME", "h-bench"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds per iperf3 run")
    ap.add_argument("--ciphers", default="AES-256-GCM,CHACHA20-POLY1305")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--tests", default="tcp1,tcp4,udp64,udp1200,ping")
    ap.add_argument("--scale", default="1,100,1000,10000",
                    help="peer counts for the scale figures ('' to skip)")
    ap.add_argument("--churn", type=int, default=2000,
                    help="peers for nl_fuzz.py's add/key/iroute/del churn (ovpn-shortcut)")
    ap.add_argument("--rate-peers", type=int, default=1000,
                    help="peers added then deleted per round for the add/del rates")
    ap.add_argument("--name", default="results",
                    help="file stem in --out (results.json/.md/.png, NAME-scale.png)")
    ap.add_argument("--keep-up", action="store_true", help="leave the lab running")
    ap.add_argument("--reuse", action="store_true",
                    help="use the lab's running guest (and its DKMS-built ovpn-dco) as is")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)

    started = time.time()
    doc: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "host": {"loadavg_start": loadavg(), "cpus": os.cpu_count(),
                 "machine": platform.machine()},
        "method": {"repeats": a.repeats, "duration_s": a.duration, "tests": a.tests,
                   "path": "one guest, netns bs (server) and bc (client) joined by veth; "
                           "tunnel inner MTU 1420 for every tunnel",
                   "qemu": "TCG, -cpu max, 2 vCPUs, 1536 MiB"},
        "git": git_state(), "timings_s": {}, "samples": [],
    }
    image = ensure_image()
    lab = Lab(a.lab)
    t0 = time.monotonic()
    (g,) = lab.up(1, fresh=not a.reuse)[:1]
    doc["timings_s"]["boot"] = time.monotonic() - t0
    try:
        doc["versions"] = prepare(g, image, doc["timings_s"], reuse=a.reuse)
        doc["method"]["reused_guest"] = a.reuse
        order = plan([c for c in a.configs.split(",") if c],
                     [c for c in a.ciphers.split(",") if c])
        for r in range(a.repeats):  # round-robin: every configuration once per round
            for config, cipher in order:
                log(f"bench: round {r + 1}/{a.repeats} {config} {cipher}")
                s = measure(g, config, cipher, r, a.tests, a.duration)
                doc["samples"].append(s)
                _write(doc, a.out, a.name)  # partial results survive an interruption
        if a.scale:
            t0 = time.monotonic()
            doc["scale"] = scale.run(g, [int(x) for x in a.scale.split(",")], a.repeats,
                                     a.duration, a.churn, a.rate_peers)
            doc["timings_s"]["scale"] = time.monotonic() - t0
    finally:
        doc["host"]["loadavg_end"] = loadavg()
        doc["timings_s"]["total"] = time.time() - started
        _write(doc, a.out, a.name)
        if not a.keep_up:
            lab.down()
    log(f"bench: results in {a.out}")
    return 0


def _write(doc: dict[str, Any], out: Path, name: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    report.write_all(doc, out, name)


if __name__ == "__main__":
    sys.exit(main())
