#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""ovpn-shortcut-links: (re)apply the static site-to-site links the ovpn_shortcut
role declared, from /etc/ovpn-shortcut/links/<name>.json.

The devices, peers and keys of a static link live only in the kernel; this
command puts them back at boot (ovpn-shortcut-links.service) with the very code
the role's ovpn_device/ovpn_instance modules run (module_utils, installed by the
role), then the link's inner address and the routes to the networks behind the
other end. It sends only what differs, so on a host the role has just configured
it changes nothing. One line per change on stdout.

    ovpn-shortcut-links [--addresses-only] [NAME ...]   (no NAME: every link)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import types
from pathlib import Path

LIB = Path("/usr/local/lib/ovpn-shortcut")
CONF_DIR = Path("/etc/ovpn-shortcut/links")


def _core() -> types.ModuleType:
    """module_utils/ovpn_shortcut_ansible.py, which imports its pyroute2 client
    the way Ansible ships module_utils (ansible.module_utils.ovpn_shortcut)."""
    sys.path.insert(0, str(LIB / "module_utils"))
    import ovpn_shortcut

    for name in ("ansible", "ansible.module_utils"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["ansible.module_utils.ovpn_shortcut"] = ovpn_shortcut
    import ovpn_shortcut_ansible

    if ovpn_shortcut_ansible.PYROUTE2_IMPORT_ERROR:
        raise SystemExit("ovpn-shortcut-links: python3-pyroute2 is missing\n"
                         + ovpn_shortcut_ansible.PYROUTE2_IMPORT_ERROR)
    return ovpn_shortcut_ansible


def _ip(*args: str) -> str:
    res = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


def apply_addresses(cfg: dict) -> list[str]:
    """The inner address and the routes into the device, added when missing."""
    dev = cfg["device"]["name"]
    changes = []
    have = {f"{a['local']}/{a['prefixlen']}"
            for link in json.loads(_ip("-j", "-4", "addr", "show", "dev", dev) or "[]")
            for a in link.get("addr_info", [])}
    if cfg.get("address") and cfg["address"] not in have:
        _ip("addr", "replace", cfg["address"], "dev", dev)
        changes.append(f"{dev}: address {cfg['address']}")
    routes = {r["dst"] if "/" in r["dst"] else r["dst"] + "/32"
              for r in json.loads(_ip("-j", "-4", "route", "show", "dev", dev) or "[]")}
    for net in cfg.get("routes", []):
        if net not in routes:
            _ip("route", "replace", net, "dev", dev, "proto", "static")
            changes.append(f"{dev}: route {net}")
    return changes


def apply_link(core: types.ModuleType, cfg: dict) -> list[str]:
    """Device, the one peer with its key (other peers purged), then addresses."""
    store = core.KeyStore(cfg.get("key_state_dir") or core.DEFAULT_KEY_STATE_DIR)
    backend = core.NetlinkBackend()
    name = cfg["device"]["name"]
    try:
        dev = core.manage_device(backend, store, cfg["device"], False)
        spec = core.InstanceSpec(cfg["instance"], where=f"{name}: ")
        peers = core.manage_peers(backend, store, name, [spec], [], True, False)
    finally:
        backend.close()
    return ([f"{name}: {op}" for op in dev["operations"] + peers["operations"]]
            + apply_addresses(cfg))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ovpn-shortcut-links", description=__doc__.split("\n\n")[0])
    ap.add_argument("--addresses-only", action="store_true",
                    help="only the inner address and the routes (the role's modules did the rest)")
    ap.add_argument("--conf-dir", type=Path, default=CONF_DIR)
    ap.add_argument("names", nargs="*", help="links to apply (default: every <name>.json)")
    args = ap.parse_args(argv)
    files = ([args.conf_dir / f"{n}.json" for n in args.names] if args.names
             else sorted(args.conf_dir.glob("*.json")))
    core = None if args.addresses_only else _core()
    failed = 0
    for f in files:
        try:
            cfg = json.loads(f.read_text())
            changes = apply_addresses(cfg) if core is None else apply_link(core, cfg)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            print(f"ovpn-shortcut-links: {f}: {exc}", file=sys.stderr)
            failed += 1
            continue
        for line in changes:
            print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
