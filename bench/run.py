"""Host side of `./dev bench`: boot lab h-bench, measure every configuration, write results.

    python -m bench [--repeats 3] [--duration 5] [--ciphers AES-256-GCM,CHACHA20-POLY1305]
                    [--configs ...] [--tests tcp1,tcp4,udp64,udp1200,ping] [--scale ...]
                    [--release bookworm|trixie|trixie-backports] [--lab NAME]

`ovpn-up` (stock OpenVPN 2.7 driving the in-tree `ovpn`) needs a guest kernel with that
module: --release trixie-backports (Debian 13 on the 7.x backports kernel). Configurations
the guest cannot run (ovpn-dco where its DKMS module does not build, ovpn-up without
`ovpn`) are skipped and named in the report.
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
from ovpn_lab.image import IMAGES, ensure_image
from ovpn_lab.lab import Lab
from ovpn_lab.log import log

from . import cpus, report, scale
from .setup import DCO_CONFIGS, GUEST_DIR, prepare
from .upstream_openvpn import UPSTREAM_CONFIGS

# ovpn-sc-serial: ovpn-shortcut with parallel_crypto=0 (a peer's crypto on the CPU its
# packets arrive on, as before parallel crypto): the same run's baseline for it;
# ovpn-sc-chacha-api: with chacha_lib=0 (ChaCha20-Poly1305 through the crypto API's
# rfc7539 template instead of the library in one pass), ChaCha only
CONFIGS = ["veth", "wireguard", "ovpn-user", "ovpn-dco", "ovpn-up", "ovpn-sc", "ovpn-sc-serial",
           "ovpn-sc-chacha-api", "ovpn-dco-srv", "ovpn-sc-srv"]
# opt-in (--configs): dev tap, kernel and userspace; TCP under a path MTU below the
# tunnel's (bench/guest/tunnels.sh), with and without mssfix
SHAPES = ["ovpn-user-tap", "ovpn-sc-tap", "ovpn-sc-tap-srv", "ovpn-sc-pmtu", "ovpn-sc-pmtu-nomss"]
# run when the guest can: ovpn-dco (DKMS) and ovpn-up (in-tree `ovpn`, 6.16+)
DEFAULT_CONFIGS = {"bookworm": [c for c in CONFIGS if c != "ovpn-up"]}
CIPHERLESS = ("veth", "wireguard")
# configurations that differ from another one only under one cipher
CIPHER_ONLY = {"ovpn-sc-chacha-api": "CHACHA20-POLY1305"}
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


def skipped_configs(configs: list[str], facts: dict[str, str]) -> dict[str, str]:
    """{config: why} for the requested configurations the prepared guest cannot run."""
    why = {}
    for c in configs:
        if c in DCO_CONFIGS and facts.get("ovpn_dco_skipped"):
            why[c] = facts["ovpn_dco_skipped"]
        elif c in UPSTREAM_CONFIGS and facts.get("ovpn_up_skipped"):
            why[c] = facts["ovpn_up_skipped"]
    return why


def scale_configs(facts: dict[str, str]) -> tuple[str, ...]:
    """The scale phase's configurations, without ovpn-dco where it did not build."""
    return tuple(c for c in scale.CONFIGS
                 if not (c == "ovpn-dco" and facts.get("ovpn_dco_skipped"))
                 and not (c == "ovpn-up" and not facts.get("upstream_ovpn_module")))


def cpu_model() -> str:
    """The host's CPU model name (/proc/cpuinfo), '' if not found."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return ""


def plan(configs: list[str], ciphers: list[str]) -> list[tuple[str, str]]:
    """(config, cipher) pairs in measuring order; veth and WireGuard once (no cipher choice)."""
    out: list[tuple[str, str]] = []
    for c in configs:
        if c in CIPHERLESS:
            out.append((c, ""))
        else:
            out += [(c, ci) for ci in ciphers if CIPHER_ONLY.get(c, ci) == ci]
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
    ap.add_argument("--configs", default="",
                    help=f"comma list of {','.join(CONFIGS)} (default: all of them; "
                         f"without ovpn-up on bookworm), or of {','.join(SHAPES)}")
    ap.add_argument("--release", default="bookworm", choices=list(IMAGES),
                    help="guest image; ovpn-up needs trixie-backports (kernel 7.x, in-tree ovpn)")
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
    ap.add_argument("--cpus", default="",
                    help="e.g. 1,2,4: boot the guest with the largest count and, instead of "
                         "the usual rounds, measure every configuration at each count of "
                         "online CPUs (bench/cpus.py)")
    a = ap.parse_args(argv)

    counts = sorted({int(x) for x in a.cpus.split(",") if x.strip()}) if a.cpus else []
    if counts and counts[0] < 1:
        ap.error(f"--cpus {a.cpus}: CPU counts start at 1")
    vcpus = counts[-1] if counts else 2
    started = time.time()
    doc: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "host": {"loadavg_start": loadavg(), "cpus": os.cpu_count(),
                 "machine": platform.machine(), "cpu_model": cpu_model()},
        "method": {"repeats": a.repeats, "duration_s": a.duration, "tests": a.tests,
                   "path": "one guest, netns bs (server) and bc (client) joined by veth; "
                           "tunnel inner MTU 1420 for every tunnel (-pmtu rows: veth MTU "
                           "1300, mssfix 1300 mtu / mssfix 0)",
                   "qemu": f"TCG, -cpu max, {vcpus} vCPUs, 1536 MiB", "release": a.release},
        "git": git_state(), "timings_s": {}, "samples": [],
    }
    configs = [c for c in a.configs.split(",") if c] or DEFAULT_CONFIGS.get(a.release, CONFIGS)
    unknown = sorted(set(configs) - set(CONFIGS) - set(SHAPES))
    if unknown:
        ap.error(f"unknown configurations {unknown}; known: {CONFIGS + SHAPES}")
    image = ensure_image(release=a.release)
    lab = Lab(a.lab)
    t0 = time.monotonic()
    (g,) = lab.up(1, cpus=vcpus, fresh=not a.reuse, releases=[a.release],
                  apt_proxy=True)[:1]
    doc["timings_s"]["boot"] = time.monotonic() - t0
    try:
        doc["versions"] = prepare(  # the scale phase measures ovpn-dco too
            g, image, doc["timings_s"], reuse=a.reuse,
            dco=bool(a.scale) or any(c in DCO_CONFIGS for c in configs),
            upstream=bool(a.scale) or any(c in UPSTREAM_CONFIGS for c in configs))
        doc["method"]["reused_guest"] = a.reuse
        doc["skipped"] = skipped_configs(  # the scale phase's ovpn-dco named too
            [*configs, *(scale.CONFIGS if a.scale else ())], doc["versions"])
        for c, why in doc["skipped"].items():
            log(f"bench: {c} skipped: {why}")
        order = plan([c for c in configs if c not in doc["skipped"]],
                     [c for c in a.ciphers.split(",") if c])
        if counts:
            t0 = time.monotonic()
            doc["cpus"] = cpus.run(g, counts, order, a.repeats, a.tests, a.duration, measure)
            doc["timings_s"]["cpus"] = time.monotonic() - t0
        for r in range(0 if counts else a.repeats):  # round-robin: each config once a round
            for config, cipher in order:
                log(f"bench: round {r + 1}/{a.repeats} {config} {cipher}")
                s = measure(g, config, cipher, r, a.tests, a.duration)
                doc["samples"].append(s)
                _write(doc, a.out, a.name)  # partial results survive an interruption
        if a.scale:
            t0 = time.monotonic()
            doc["scale"] = scale.run(
                g, [int(x) for x in a.scale.split(",")], a.repeats, a.duration, a.churn,
                a.rate_peers, configs=scale_configs(doc["versions"]))
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
