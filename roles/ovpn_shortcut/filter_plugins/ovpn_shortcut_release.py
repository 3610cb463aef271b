# SPDX-License-Identifier: GPL-2.0-only
"""Filters of the ovpn_shortcut role's upgrades and rollbacks (stdlib only).

ovpn_shortcut_dkms_versions: `dkms status -m NAME` read into the versions DKMS
  holds and the one installed for a kernel.
ovpn_shortcut_release_state: the host's record of the current and previous
  module version and OpenVPN package (/var/lib/ovpn-shortcut/versions.json),
  advanced by what a run installed.
ovpn_shortcut_release_prune: the DKMS versions and package files older than
  the previous one (the role removes them).
ovpn_shortcut_connected: who is connected to a host: OpenVPN clients of its
  server (kernel peers by VIP, or OpenVPN's status file when the data channel is
  not in the kernel) and its links' peers; upgrade.yml and rollback.yml wait for
  the same names to be back after each host.
"""

from __future__ import annotations

import re
from typing import Any

# dkms 3: "ovpn-shortcut/0.2.0, 6.1.0-28-amd64, x86_64: installed" or
# "ovpn-shortcut/0.2.1: added"; dkms 2: "ovpn-shortcut, 0.2.0, 6.1.0-28-amd64, x86_64: installed"
_DKMS_LINE = re.compile(
    r"^(?P<name>[^/,\s]+)[/,]\s*(?P<version>[^,:\s]+)"
    r"(?:,\s*(?P<kernel>[^,:\s]+),\s*(?P<arch>[^,:\s]+))?:\s*(?P<state>[a-z]+)")


def _version_key(version: str) -> list[tuple[int, Any]]:
    """Order of dotted versions ("0.10.0" after "0.9.1"; text parts after numbers)."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-+~]", version)]


def dkms_versions(status: str, kernel: str = "") -> dict[str, Any]:
    """Versions in `dkms status -m NAME` output (oldest first), and the one
    installed for `kernel` (None when none is)."""
    present: set[str] = set()
    installed = None
    for line in (status or "").splitlines():
        m = _DKMS_LINE.match(line.strip())
        if not m:
            continue
        present.add(m["version"])
        if m["state"] == "installed" and m["kernel"] == kernel:
            installed = m["version"]
    return {"present": sorted(present, key=_version_key), "installed": installed}


def _entry(value: Any) -> dict[str, Any] | None:
    """A component's version as a dict {version, ...}, or None."""
    if not value:
        return None
    if isinstance(value, dict):
        return dict(value) if value.get("version") else None
    return {"version": str(value)}


def release_state(state: Any, component: str, now: Any, before: Any = None) -> dict[str, Any]:
    """`state` (the host's versions.json, or {}) with `component` ("module" or
    "openvpn") at the version this run installed, `now` (a version string or a
    dict {version, deb}). When it differs from the recorded current one, that
    becomes the previous one; on a host without a record, `before` (what was
    installed before this run) does. An unchanged version keeps the record as
    it is, so a second run writes the same file."""
    out = {k: v for k, v in dict(state or {}).items() if isinstance(v, dict)}
    comp = dict(out.get(component) or {})
    new = _entry(now)
    if new is None:
        return out
    cur = _entry(comp.get("current"))
    if cur is not None and cur["version"] == new["version"]:
        if cur != new:  # same version, other file name: keep the record current
            comp["current"] = new
            out[component] = comp
        return out
    prev = cur if cur is not None else _entry(before)
    if prev is not None and prev["version"] == new["version"]:
        prev = None
    comp.update({"current": new, "previous": prev, "rolled_back": False})
    out[component] = comp
    return out


def release_rollback(state: Any, component: str) -> dict[str, Any]:
    """`state` after `component` went back to its previous version: current and
    previous swap and the record says it was rolled back (a second rollback of
    the same host does nothing; the next upgrade clears it)."""
    out = {k: v for k, v in dict(state or {}).items() if isinstance(v, dict)}
    comp = dict(out.get(component) or {})
    cur, prev = _entry(comp.get("current")), _entry(comp.get("previous"))
    if prev is None or comp.get("rolled_back"):
        return out
    comp.update({"current": prev, "previous": cur, "rolled_back": True})
    out[component] = comp
    return out


def release_prune(present: list[Any], state: Any, component: str,
                  key: str = "version") -> list[Any]:
    """Items of `present` (DKMS versions, or package file paths with key="deb")
    that are neither the current nor the previous one of `component`. Nothing
    while the host has no current version recorded."""
    comp = dict(state or {}).get(component) or {}
    cur, prev = _entry(comp.get("current")), _entry(comp.get("previous"))
    if cur is None:
        return []
    keep = {e.get(key) for e in (cur, prev) if e is not None}
    return [p for p in present or [] if p not in keep]


def _status_clients(status: str) -> list[str]:
    """Common names of OpenVPN's status file (status-version 2 or 3)."""
    names = set()
    for line in (status or "").splitlines():
        fields = re.split(r"[,\t]", line)
        if fields[0] == "CLIENT_LIST" and len(fields) > 2 and fields[1] != "UNDEF":
            names.add(fields[1])
    return sorted(names)


def connected(info: Any, server_device: str = "", vip_names: Any = None,
              status: str = "") -> dict[str, list[str]]:
    """Who is connected to a host, by name.

    `info`: ovpn_info's result (module_loaded, devices with peers). Peers of
    `server_device` with a key are clients, named after their VIP through
    `vip_names` ({vip: client name}; an unknown VIP by the VIP itself); a peer
    of another device is that device's link ("link NAME"). When the kernel has
    no `server_device` (the userspace data channel), clients are the common
    names of OpenVPN's `status` file.

    Returns {"kernel": [...], "status": [...]}: the names to wait for through
    ovpn_info and through the status file."""
    names = dict(vip_names or {})
    kernel: set[str] = set()
    server_in_kernel = False
    for dev in (info or {}).get("devices") or []:
        is_server = bool(server_device) and dev.get("name") == server_device
        server_in_kernel = server_in_kernel or is_server
        for peer in dev.get("peers") or []:
            if peer.get("primary_key_id") is None:
                continue  # no key yet: not connected
            if is_server:
                vips = [str(v) for v in peer.get("vips") or []]
                vip = next((v for v in vips if v in names), vips[0] if vips else
                           f"peer-id {peer.get('peer_id')}")
                kernel.add(names.get(vip, vip))
            else:
                kernel.add(f"link {dev.get('name')}")
    userspace = [] if server_in_kernel or not server_device else _status_clients(status)
    return {"kernel": sorted(kernel), "status": userspace}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "ovpn_shortcut_dkms_versions": dkms_versions,
            "ovpn_shortcut_release_state": release_state,
            "ovpn_shortcut_release_rollback": release_rollback,
            "ovpn_shortcut_release_prune": release_prune,
            "ovpn_shortcut_connected": connected,
        }
