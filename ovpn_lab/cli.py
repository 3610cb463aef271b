"""ovpn-lab: command line of the VM lab.

  ovpn-lab image [--release R]        build (or show) the cached guest image of Debian R
  ovpn-lab build [SRC] [-o DIR]       build a kernel module against the guest's headers
  ovpn-lab matrix [SRC]               build it against every kernel of the matrix (W=1)
  ovpn-lab openvpn-debs [--release R,...]  the patched openvpn .deb of each release
  ovpn-lab up [--guests N] [--release R[,R...]] [--apt]
                                      boot N guests (g1..gN) under QEMU TCG
                [--debug-kernel]      ... on the KASAN/lockdep kernel
  ovpn-lab status                     list guests of the lab
  ovpn-lab exec GUEST -- CMD...       run CMD in GUEST, exit with its status
  ovpn-lab ssh GUEST                  interactive shell in GUEST
  ovpn-lab copy SRC GUEST:DIR         copy a file or directory into GUEST
  ovpn-lab dmesg GUEST                print GUEST's kernel log
  ovpn-lab down [--all]               power guests off, stop QEMU and the switch
  ovpn-lab demo                       build, boot, load kernel_module/ and show it works
  ovpn-lab debug-kernel [--rebuild]   build (once, cached) the KASAN/lockdep guest kernel

Every command takes --lab NAME (default $OVPN_LAB_NAME or "default") so several
labs can run side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from . import debugkernel, paths
from .buildroot import MATRIX, build_matrix
from .debugkernel import ensure_debug_kernel
from .guest import GuestError, kernel_trouble
from .image import IMAGES, SUITE, ensure_image
from .kbuild import build_module
from .lab import Lab, all_labs
from .log import CommandError, log
from .openvpn_deb import ensure_openvpn_debs, openvpn_deb


def _cmd_image(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    img = ensure_image(rebuild=args.rebuild, release=args.release)
    meta = dict(img.meta, path=str(img.path), seconds_this_call=round(time.monotonic() - t0, 1))
    print(json.dumps(meta, indent=2))
    return 0


def _cmd_debug_kernel(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    k = ensure_debug_kernel(args.version, rebuild=args.rebuild)
    meta = dict(k.meta, path=str(k.path), seconds_this_call=round(time.monotonic() - t0, 1))
    print(json.dumps(meta, indent=2))
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    kdir = ensure_debug_kernel().kbuild if args.debug_kernel else None
    image = None if kdir else ensure_image(release=args.release)
    for ko in build_module(Path(args.src), Path(args.out) if args.out else None, kdir=kdir,
                           image=image):
        print(ko)
    return 0


def _cmd_openvpn_debs(args: argparse.Namespace) -> int:
    debs = {r: str(openvpn_deb(ensure_openvpn_debs(release=r)))
            for r in dict.fromkeys(_releases(args.release))}
    print(json.dumps(debs, indent=2))
    return 0


def _cmd_matrix(args: argparse.Namespace) -> int:
    kernels = tuple(k for k in MATRIX if not args.kernel or k.name in args.kernel)
    results = build_matrix(Path(args.src), kernels, extra=tuple(args.extra or ("W=1",)))
    report = [r.summary() for r in results]
    for r in results:
        for line in r.warnings:
            print(f"{r.kernel}: {line}", file=sys.stderr)
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(r.ok and not r.warnings for r in results) else 1


def _cmd_up(args: argparse.Namespace) -> int:
    lab = Lab(args.lab)
    t0 = time.monotonic()
    if args.debug_kernel:
        guests = debugkernel.boot(lab, args.guests, cpus=args.cpus,
                                  memory_mb=max(args.memory, debugkernel.MEMORY_MB))
    else:
        guests = lab.up(args.guests, cpus=args.cpus, memory_mb=args.memory,
                        cpu_model=args.cpu, releases=_releases(args.release),
                        apt_proxy=args.apt)
    log(f"lab {lab.name}: {len(guests)} guest(s) up in {time.monotonic() - t0:.1f} s")
    _print_status(lab)
    return 0


def _releases(text: str) -> list[str]:
    return [r.strip() for r in text.split(",") if r.strip()]


def _print_status(lab: Lab) -> None:
    for g in lab.guests():
        state = "running" if g.pid() else "stopped"
        print(f"{lab.name}/{g.name}\t{g.image_name()}\t{state}"
              f"\tssh -p {g.spec.ssh_port} root@127.0.0.1"
              f"\tlan0 {g.spec.lan_ipv4} {g.spec.lan_ipv6}")


def _cmd_status(args: argparse.Namespace) -> int:
    labs = all_labs() if args.all else [Lab(args.lab)]
    for lab in labs:
        _print_status(lab)
    return 0


def remote_command(words: list[str]) -> str:
    """The shell line for `exec`: one word is a shell line as is, several are quoted."""
    words = words[1:] if words[:1] == ["--"] else words
    if not words:
        raise SystemExit("ovpn-lab exec: give a command after --")
    return words[0] if len(words) == 1 else shlex.join(words)


def _cmd_exec(args: argparse.Namespace) -> int:
    g = Lab(args.lab).guest(args.guest)
    return subprocess.run(g.ssh_argv(remote_command(args.cmd)), check=False).returncode


def _cmd_ssh(args: argparse.Namespace) -> int:
    g = Lab(args.lab).guest(args.guest)
    os.execvp("ssh", g.ssh_argv(tty=True))
    return 1  # not reached


def _cmd_copy(args: argparse.Namespace) -> int:
    guest, _, dest = args.dest.partition(":")
    if not dest:
        raise SystemExit("ovpn-lab copy: destination must be GUEST:DIR")
    Lab(args.lab).guest(guest).copy_in(Path(args.src), dest)
    return 0


def _cmd_dmesg(args: argparse.Namespace) -> int:
    g = Lab(args.lab).guest(args.guest)
    g.drain_kernel_log()
    sys.stdout.write(g.kmsg_file.read_text())
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    for lab in all_labs() if args.all else [Lab(args.lab)]:
        lab.down()
        log(f"lab {lab.name}: down")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """The main job at this stage: a guest loads and unloads our module."""
    t0 = time.monotonic()
    img = ensure_image()
    kos = build_module(paths.REPO_ROOT / "kernel_module", image=img)
    lab = Lab(args.lab)
    try:
        (g,) = lab.up(1)
        g.drain_kernel_log()
        g.install_modules(kos, load="ovpn_shortcut")
        g.run("rmmod ovpn_shortcut")
        klog = g.drain_kernel_log()
        print(f"guest {g.name} ({g.release()}) kernel log while loading and unloading:")
        print("".join(f"  {line}\n" for line in klog.splitlines() if "ovpn" in line))
        if kernel_trouble(klog) or "ovpn_shortcut: loaded" not in klog:
            print("demo FAILED: module did not load cleanly", file=sys.stderr)
            return 1
    finally:
        lab.down()
    print(f"demo OK in {time.monotonic() - t0:.1f} s (image {img.path.name})")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ovpn-lab", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lab", default=os.environ.get("OVPN_LAB_NAME", "default"),
                   help="lab name (default: $OVPN_LAB_NAME or 'default')")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("image", help="build or show the cached guest image")
    s.add_argument("--rebuild", action="store_true", help="build even if cached")
    s.add_argument("--release", default=SUITE, choices=IMAGES,
                   help=f"Debian release, or trixie-backports: Debian 13 with the kernel "
                   f"of trixie-backports (default {SUITE})")
    s.set_defaults(func=_cmd_image)

    s = sub.add_parser("debug-kernel",
                       help="build or show the debug (KASAN, lockdep) guest kernel")
    s.add_argument("--rebuild", action="store_true", help="build even if cached")
    s.add_argument("--version", help="Debian kernel package version "
                   "(default: the lab image's kernel)")
    s.set_defaults(func=_cmd_debug_kernel)

    s = sub.add_parser("build", help="build a kernel module against the guest headers")
    s.add_argument("src", nargs="?", default=str(paths.REPO_ROOT / "kernel_module"))
    s.add_argument("-o", "--out", help="directory for the .ko files")
    s.add_argument("--debug-kernel", action="store_true",
                   help="build against the debug kernel's tree instead")
    s.add_argument("--release", default=SUITE, choices=IMAGES,
                   help=f"against the kernel of this release's image (default {SUITE})")
    s.set_defaults(func=_cmd_build)

    s = sub.add_parser("openvpn-debs", help="build (once, cached) the patched openvpn .deb "
                       "of each release in the release's build chroot; print their paths")
    s.add_argument("--release", default=SUITE, help="releases, comma-separated")
    s.set_defaults(func=_cmd_openvpn_debs)

    s = sub.add_parser("matrix", help="build a module against every kernel of the build "
                       "matrix (Debian 12, 12 + backports, 13, 13 + backports), W=1")
    s.add_argument("src", nargs="?", default=str(paths.REPO_ROOT / "kernel_module"))
    s.add_argument("--kernel", action="append",
                   choices=[k.name for k in MATRIX], help="only these (repeatable)")
    s.add_argument("--extra", action="append", help="make arguments (default W=1)")
    s.add_argument("--json", help="also write the report to this file")
    s.set_defaults(func=_cmd_matrix)

    s = sub.add_parser("up", help="boot guests")
    s.add_argument("--guests", type=int, default=1, choices=range(1, 9), metavar="N")
    s.add_argument("--cpus", type=int, default=2, help="vCPUs per guest (default 2)")
    s.add_argument("--memory", type=int, default=1536, help="MiB per guest (default 1536)")
    s.add_argument("--cpu", default="max", help="QEMU CPU model (default max: has AES-NI)")
    s.add_argument("--release", default=SUITE,
                   help=f"Debian release of the guests ({', '.join(IMAGES)}; default "
                   f"{SUITE}), or one per guest in order: trixie,bookworm")
    s.add_argument("--debug-kernel", action="store_true",
                   help="boot the debug (KASAN, lockdep) kernel, built first if needed")
    s.add_argument("--apt", action="store_true",
                   help="the guests' apt reaches the host's Debian mirrors through a "
                   "proxy (GET/HEAD only); without it guests have no way out")
    s.set_defaults(func=_cmd_up)

    s = sub.add_parser("status", help="list guests")
    s.add_argument("--all", action="store_true", help="every lab")
    s.set_defaults(func=_cmd_status)

    s = sub.add_parser("exec", help="run a command in a guest")
    s.add_argument("guest")
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s.set_defaults(func=_cmd_exec)

    s = sub.add_parser("ssh", help="interactive shell in a guest")
    s.add_argument("guest")
    s.set_defaults(func=_cmd_ssh)

    s = sub.add_parser("copy", help="copy a file or directory into a guest")
    s.add_argument("src")
    s.add_argument("dest", metavar="GUEST:DIR")
    s.set_defaults(func=_cmd_copy)

    s = sub.add_parser("dmesg", help="print a guest's kernel log")
    s.add_argument("guest")
    s.set_defaults(func=_cmd_dmesg)

    s = sub.add_parser("down", help="stop guests")
    s.add_argument("--all", action="store_true", help="every lab")
    s.set_defaults(func=_cmd_down)

    s = sub.add_parser("demo", help="boot a guest, load kernel_module/, show it works")
    s.set_defaults(func=_cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (GuestError, CommandError, RuntimeError, ValueError) as exc:
        print(f"ovpn-lab {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
