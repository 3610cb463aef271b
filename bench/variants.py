"""Builds of the kernel module against each other, in the same rounds:
`python -m bench.variants NAME=KERNEL_MODULE_DIR ...`.

A change to the data path is judged against the code before it in one run: each
round (its order rotated by one per round) measures every variant (ovpn-sc both
ends, the variant's .ko being what modprobe loads), the first variant with
parallel_crypto=0 ("serial") and WireGuard, back to back; the report gives medians
(min-max) and same-round ratios against the first variant and against WireGuard.
Variants are source trees (e.g. a git worktree of the commit before), built against
the guest's kernel.

Uses the running bench lab (`python -m bench --keep-up` first), like bench.profile.
Results: bench/results/NAME.md and .json (--name).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ovpn_lab.guest import Guest
from ovpn_lab.kbuild import build_module
from ovpn_lab.lab import Lab

from . import stats
from .run import RESULTS, cpu_model, git_state, load1, measure
from .setup import GUEST_DIR

VARIANTS_DIR = f"{GUEST_DIR}/variants"
SERIAL = "serial"


def parse_variant(text: str) -> tuple[str, Path]:
    """NAME=DIR, DIR a kernel_module/ source tree."""
    name, sep, src = text.partition("=")
    path = Path(src)
    if not sep or not name.isidentifier() or name in (SERIAL, "wireguard"):
        raise argparse.ArgumentTypeError(f"variant {text!r}: want NAME=DIR, NAME a word "
                                         f"other than {SERIAL!r} and 'wireguard'")
    if not (path / "Kbuild").exists() and not (path / "Makefile").exists():
        raise argparse.ArgumentTypeError(f"variant {name}: {src} is not a kernel_module/ tree")
    return name, path


def source_state(src: Path) -> str:
    """The variant's commit, and its changes to kernel_module/ beyond it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(src), *args], capture_output=True,
                              text=True, check=False).stdout.strip()
    diff = git("diff", "--stat", "HEAD", "--", ".").splitlines()
    return f"{git('rev-parse', '--short', 'HEAD')}" + (f" + {diff[-1].strip()}" if diff else "")


def install(g: Guest, name: str, src: Path) -> None:
    """Build `src` against the guest's kernel; its .ko in VARIANTS_DIR/NAME/."""
    with tempfile.TemporaryDirectory() as tmp:
        kos = build_module(src, Path(tmp), image=g.image)
        g.run(f"rm -rf {VARIANTS_DIR}/{name}; mkdir -p {VARIANTS_DIR}/{name}")
        for ko in kos:
            g.copy_in(ko, f"{VARIANTS_DIR}/{name}")


def rotated(entries: list[str], rnd: int) -> list[str]:
    """The round's order: each round starts one entry further on. A run that loaded
    the same module five times per round in a fixed order measured one position
    at 0.68 of the first on 64-byte UDP in every round: position is not neutral."""
    k = rnd % len(entries)
    return entries[k:] + entries[:k]


MODPROBE_CONF = "/etc/modprobe.d/ovpn-bench-variant.conf"
ORIGINAL = f"{VARIANTS_DIR}/original.ko"


def load(g: Guest, name: str, parallel_crypto: int = 1) -> str:
    """Make the variant the module `modprobe ovpn_shortcut` loads (tunnels.sh unloads
    and loads it for every configuration): its .ko in place of the installed one,
    `parallel_crypto` (1 is the module's default) in a modprobe.d file. Returns its
    srcversion, checked with the parameter against the module modprobe then loads."""
    ko = f"{VARIANTS_DIR}/{name}/ovpn_shortcut.ko"
    installed = "/lib/modules/$(uname -r)/updates/ovpn_shortcut.ko"
    conf = f"rm -f {MODPROBE_CONF}" if parallel_crypto == 1 else \
        f"echo 'options ovpn_shortcut parallel_crypto={parallel_crypto}' > {MODPROBE_CONF}"
    g.run(f"[ -f {ORIGINAL} ] || cp {installed} {ORIGINAL}; cp {ko} {installed} && "
          f"depmod -a && {conf}")
    want = [g.run(f"modinfo -F srcversion {ko}").stdout.strip(), str(parallel_crypto)]
    got = g.run("modprobe -r ovpn_shortcut 2>/dev/null; modprobe ovpn_shortcut && "
                "cat /sys/module/ovpn_shortcut/srcversion "
                "/sys/module/ovpn_shortcut/parameters/parallel_crypto; "
                "modprobe -r ovpn_shortcut").stdout.split()
    if got != want:
        raise RuntimeError(f"variant {name}: modprobe loads {got}, not {want}")
    return want[0]


def restore(g: Guest) -> None:
    """The installed module back, as before the run."""
    g.run(f"if [ -f {ORIGINAL} ]; then cp {ORIGINAL} /lib/modules/$(uname -r)/updates/"
          f"ovpn_shortcut.ko && rm {ORIGINAL} && depmod -a; fi; rm -f {MODPROBE_CONF}",
          check=False)


def report(samples: list[dict[str, Any]], names: list[str], cipher: str,
           tests: list[str]) -> list[str]:
    """Markdown table rows: per figure, each entry's median (min-max) and the
    same-round ratios against the first variant and against WireGuard."""
    entries = [*names, SERIAL, "wireguard"]
    summary = stats.summarize(samples)
    lines = ["| figure | entry | median (min-max) | / " + names[0] + " | / wireguard |",
             "|---|---|---|---|---|"]
    for test, field, _, higher in stats.METRICS:
        if test not in tests:
            continue
        for entry in entries:
            row = summary.get(stats.label(entry, cipher), {})
            cells = [stats.spread_text(row.get(f"{test}.{field}"), lambda v: f"{v:.4g}")]
            for peer in (names[0], "wireguard"):
                if peer == entry:
                    cells.append("—")
                    continue
                # latency: lower is better, and > 1 is better everywhere (report.py)
                r = stats.round_ratios(samples, *((entry, peer) if higher else (peer, entry)),
                                       cipher, test, field)
                cells.append(stats.spread_text(r, lambda v: f"{v:.2f}"))
            lines.append(f"| {test} {field} | {entry} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.variants")
    ap.add_argument("variants", nargs="+", type=parse_variant, metavar="NAME=DIR")
    ap.add_argument("--lab", default=os.environ.get("OVPN_LAB_NAME", "h-bench"))
    ap.add_argument("--cipher", default="CHACHA20-POLY1305")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tests", default="tcp1,tcp4,udp64")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--name", default="variants")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    names = [n for n, _ in args.variants]
    if len(set(names)) != len(names):
        ap.error(f"variant names repeat: {names}")
    g = Lab(args.lab).guest("g1")
    if g.pid() is None:
        ap.error(f"lab {args.lab} is not running: `python -m bench --keep-up` first")
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    for name, src in args.variants:
        install(g, name, src)
    samples: list[dict[str, Any]] = []
    loads: list[float] = []
    try:
        entries = [*names, SERIAL, "wireguard"]
        for rnd in range(args.rounds):
            for entry in rotated(entries, rnd):
                srcversion = ""
                if entry == "wireguard":
                    config, cipher = "wireguard", ""
                else:
                    srcversion = load(g, names[0] if entry == SERIAL else entry,
                                      0 if entry == SERIAL else 1)
                    config, cipher = "ovpn-sc", args.cipher
                loads.append(load1())
                s = measure(g, config, cipher, rnd, args.tests, args.duration)
                s["config"], s["srcversion"] = entry, srcversion
                samples.append(s)
                print(json.dumps({k: s[k] for k in ("config", "repeat", "host_load1",
                                                    "srcversion")}), flush=True)
    finally:
        restore(g)
    tests = args.tests.split(",")
    sources = {n: f"{p} ({source_state(p)})" for n, p in args.variants}
    doc = {"started": started, "git": git_state(), "variants": sources,
           "cipher": args.cipher, "rounds": args.rounds, "host_cpu": cpu_model(),
           "guest_kernel": g.release(), "host_load1": [min(loads), max(loads)],
           "samples": samples}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    md = [f"# Module variants, same rounds: {', '.join(names)}", "",
          f"Run {started}; guest kernel {doc['guest_kernel']}, QEMU TCG; host {cpu_model()}; "
          f"{args.rounds} rounds, host load (1 min) {min(loads):.2f}-{max(loads):.2f}; "
          f"ovpn-sc both ends with {args.cipher}, WireGuard with its own cipher.", "",
          *(f"- `{n}`: {src}" for n, src in sources.items()),
          f"- `{SERIAL}`: `{names[0]}` with parallel_crypto=0", "",
          *report(samples, names, args.cipher, tests)]
    (args.out / f"{args.name}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
