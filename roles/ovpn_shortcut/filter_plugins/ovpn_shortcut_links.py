# SPDX-License-Identifier: GPL-2.0-only
"""Filters of the ovpn_shortcut role's static site-to-site links (stdlib only).

ovpn_shortcut_links_plan: ovpn_shortcut_links (one list for the whole fleet,
every link with its two ends) checked, and resolved into what one host needs:
its device, UDP port, peer (the other end: remote, peer-id, VIP, iroutes), key
file and direction, inner address and routes. Every problem names the variable
and the link it comes from; tasks/validate.yml asserts that each category is
empty, so a bad inventory fails before any host is touched.
"""

from __future__ import annotations

import binascii
import importlib.util
import ipaddress
import os
import re
from typing import Any

# Ciphers of a static link: the ovpn_instance module's (AES-192-GCM, which
# OpenVPN negotiates for its own peers, has no key size there).
LINK_CIPHERS = {"AES-128-GCM": "aes-128-gcm", "AES-256-GCM": "aes-256-gcm",
                "CHACHA20-POLY1305": "chacha20-poly1305"}
PEER_ID_MAX = 0xFFFFFE
DEFAULT_PORT = 1195
# Inventory groups whose hosts the role's plays run on.
PLAY_GROUPS = ("ovpn_servers", "ovpn_clients", "ovpn_links")
CATEGORIES = ("link", "host", "cidr", "cipher", "duplicate", "port", "key")
IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
STATIC_KEY_BEGIN = "-----BEGIN OpenVPN Static key V1-----"
STATIC_KEY_END = "-----END OpenVPN Static key V1-----"


def static_key_problem(path: str) -> str | None:
    """Why the file at path is not a readable OpenVPN static key, or None."""
    try:
        with open(path, encoding="ascii") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot be read ({exc.strerror if isinstance(exc, OSError) else exc})"
    if STATIC_KEY_BEGIN not in text or STATIC_KEY_END not in text:
        return "is not an OpenVPN static key (no BEGIN/END 'OpenVPN Static key V1' lines)"
    body = text.split(STATIC_KEY_BEGIN, 1)[1].split(STATIC_KEY_END, 1)[0]
    hexdigits = "".join(ln.strip() for ln in body.splitlines()
                        if ln.strip() and not ln.strip().startswith("#"))
    try:
        size = len(binascii.unhexlify(hexdigits))
    except (binascii.Error, ValueError):
        return "is not an OpenVPN static key (its lines are not hex)"
    if size != 256:
        return f"holds {size} bytes, an OpenVPN static key 256 (openvpn --genkey secret)"
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _sibling(name: str) -> Any:
    """Another filter plugin of this directory, as a module (Ansible loads each
    plugin file under its own name, so a plain import would not find it)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"ovpn_shortcut_role_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# IPv4 network in CIDR form, host bits refused unless strict=False
_net = _sibling("ovpn_shortcut_server")._net


def _iface(value: Any) -> ipaddress.IPv4Interface | None:
    """An interface address with its prefix (10.97.0.1/30), else None."""
    return ipaddress.IPv4Interface(value) if _net(value, strict=False) else None


def _ipv4(value: Any) -> str | None:
    try:
        return str(ipaddress.IPv4Address(str(value)))
    except ValueError:
        return None


def _host_address(hv: Any) -> Any:
    """The address other ends send to: ovpn_shortcut_links_address, the lab's LAN
    address, else ansible_host (the host's own variables, as hostvars has them)."""
    for var in ("ovpn_shortcut_links_address", "ovpn_lab_lan_ipv4", "ansible_host"):
        value = hv.get(var)
        if value not in (None, ""):
            return value
    return None


def links_plan(links: Any, hostvars: Any, groups: dict[str, list[str]], host: str,
               key_dir: str) -> dict[str, Any]:
    """Check every link of the fleet; resolve the ones that end on `host`.

    links: ovpn_shortcut_links; hostvars/groups: Ansible's; host: inventory_hostname;
    key_dir: ovpn_shortcut_links_key_dir (generated keys: <key_dir>/<name>.key).
    Returns {problems: {category: [message]}, links: [this host's links, resolved],
    keys_to_generate: [paths of this host's missing generated keys], names: [...]}.
    """
    problems: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    out: dict[str, Any] = {"problems": problems, "links": [], "keys_to_generate": [],
                           "names": []}
    if links in (None, ""):
        links = []
    if not isinstance(links, list):
        problems["link"].append(f"ovpn_shortcut_links must be a list of links, not {links!r}")
        return out
    play_hosts = {h for g in PLAY_GROUPS for h in groups.get(g, [])}
    seen_names: dict[str, int] = {}
    seen_ports: dict[tuple[str, int], str] = {}
    seen_ids: dict[tuple[str, int], str] = {}
    seen_nets: dict[ipaddress.IPv4Network, str] = {}
    for i, link in enumerate(links):
        where = f"ovpn_shortcut_links[{i}]"
        if not isinstance(link, dict):
            problems["link"].append(f"{where} must be a dict (name, peer_id, ends, ...), "
                                    f"not {link!r}")
            continue
        name = link.get("name")
        if not isinstance(name, str) or not IFNAME.match(name):
            problems["link"].append(
                f"{where}: name {name!r} must be a device name: 1..15 letters, digits, "
                "'-', '_' or '.'")
            continue
        where = f"{where} ({name})"
        if name in seen_names:
            problems["duplicate"].append(f"{where}: name {name!r} is also the name of "
                                         f"ovpn_shortcut_links[{seen_names[name]}]")
            continue
        seen_names[name] = i
        out["names"].append(name)

        peer_id = _int(link.get("peer_id"))
        if peer_id is None or not 0 <= peer_id <= PEER_ID_MAX:
            problems["link"].append(f"{where}: peer_id {link.get('peer_id')!r} must be an "
                                    f"integer 0..{PEER_ID_MAX} (the same on both ends)")
        cipher = str(link.get("cipher") or "AES-256-GCM").upper()
        if cipher not in LINK_CIPHERS:
            problems["cipher"].append(f"{where}: unknown cipher {link.get('cipher')!r} "
                                      f"(known: {', '.join(LINK_CIPHERS)})")
        mtu = _int(link.get("mtu", 1400))
        if mtu is None or not 576 <= mtu <= 9000:
            problems["link"].append(f"{where}: mtu {link.get('mtu')!r} must be 576..9000")
        # timeout 0: the kernel never expires the peer. An expired static peer is
        # deleted and nothing makes it again until the next run or boot.
        ka_int = _int(link.get("keepalive_interval", 10))
        ka_tmo = _int(link.get("keepalive_timeout", 0))
        if ka_int is None or ka_tmo is None or ka_int <= 0 or (ka_tmo and ka_tmo <= ka_int):
            problems["link"].append(
                f"{where}: keepalive_interval {link.get('keepalive_interval', 10)!r} must be "
                f"> 0 and keepalive_timeout {link.get('keepalive_timeout', 0)!r} 0 (never "
                "expire) or above it")

        key_file = link.get("key_file")
        if key_file not in (None, ""):
            why = static_key_problem(str(key_file))
            if why:
                problems["key"].append(f"{where}: key_file {key_file} {why}")
            key_path, generated = str(key_file), False
        else:
            key_path, generated = os.path.join(key_dir, f"{name}.key"), True
            if os.path.exists(key_path):
                why = static_key_problem(key_path)
                if why:
                    problems["key"].append(
                        f"{where}: the generated key {key_path} {why}; remove it to make a "
                        "new one (both ends get the new one on the next run)")

        ends = link.get("ends")
        if not isinstance(ends, list) or len(ends) != 2 or not all(
                isinstance(e, dict) for e in ends):
            problems["link"].append(f"{where}: ends must be a list of two dicts "
                                    "({host or remote, port, address, networks})")
            continue
        resolved: list[dict[str, Any]] = []
        for j, end in enumerate(ends):
            ew = f"{where} ends[{j}]"
            r: dict[str, Any] = {"host": None, "remote": None, "port": None,
                                 "address": None, "networks": []}
            h = end.get("host")
            if h not in (None, ""):
                h = str(h)
                if h not in hostvars:
                    problems["host"].append(f"{ew}: host {h!r} is not an inventory host")
                elif h not in play_hosts:
                    problems["host"].append(
                        f"{ew}: host {h!r} is in none of the groups {', '.join(PLAY_GROUPS)}: "
                        "the role never runs there")
                else:
                    r["host"] = h
            remote = end.get("remote")
            if remote in (None, "") and r["host"]:
                remote = _host_address(hostvars[r["host"]])
            if remote in (None, "") and h in (None, ""):
                problems["host"].append(f"{ew}: needs host (an inventory host) or remote "
                                        "(the IPv4 address of an end the role does not manage)")
            elif remote not in (None, ""):
                r["remote"] = _ipv4(remote)
                if r["remote"] is None:
                    problems["host"].append(
                        f"{ew}: remote {remote!r} is not an IPv4 address (set remote, or the "
                        "host var ovpn_shortcut_links_address of that host)")
            port = _int(end.get("port", DEFAULT_PORT))
            if port is None or not 1 <= port <= 65535:
                problems["port"].append(f"{ew}: port {end.get('port')!r} must be 1..65535")
            else:
                r["port"] = port
                if r["host"]:
                    other = seen_ports.get((r["host"], port))
                    if other:
                        problems["duplicate"].append(
                            f"{ew}: UDP port {port} on {r['host']} is also used by {other}")
                    seen_ports[(r["host"], port)] = where
            iface = _iface(end.get("address"))
            if iface is None or iface.network.prefixlen > 31:
                problems["cidr"].append(
                    f"{ew}: address {end.get('address')!r} must be the end's inner IPv4 "
                    "address with its prefix (e.g. 10.97.0.1/30)")
            elif iface.network.prefixlen < 31 and iface.ip in (
                    iface.network.network_address, iface.network.broadcast_address):
                problems["cidr"].append(f"{ew}: address {iface} is the network or "
                                        "broadcast address of its prefix")
            else:
                r["address"] = iface
            nets = end.get("networks") or []
            if not isinstance(nets, list):
                problems["cidr"].append(f"{ew}: networks must be a list of CIDRs")
                nets = []
            for n in nets:
                net = _net(n)
                if net is None:
                    problems["cidr"].append(f"{ew}: network {n!r} is not an IPv4 CIDR "
                                            "without host bits (e.g. 10.201.1.0/24)")
                    continue
                if net in seen_nets:
                    problems["duplicate"].append(f"{ew}: network {net} is also behind "
                                                 f"{seen_nets[net]}")
                    continue
                seen_nets[net] = f"{where} ends[{j}]"
                r["networks"].append(net)
            resolved.append(r)

        a, b = resolved
        if not a["host"] and not b["host"] and not problems["host"]:
            problems["host"].append(f"{where}: neither end is an inventory host")
        if a["address"] and b["address"]:
            if a["address"].network != b["address"].network:
                problems["cidr"].append(f"{where}: the ends' addresses {a['address']} and "
                                        f"{b['address']} are not in one network")
            elif a["address"].ip == b["address"].ip:
                problems["duplicate"].append(f"{where}: both ends have the inner address "
                                             f"{a['address'].ip}")
            for r in (a, b):
                for net in r["networks"]:
                    if net.overlaps(a["address"].network):
                        problems["cidr"].append(f"{where}: network {net} overlaps the link's "
                                                f"inner network {a['address'].network}")
        if a["host"] and a["host"] == b["host"]:
            problems["host"].append(f"{where}: both ends are host {a['host']!r}")
        if peer_id is not None:
            for r in (a, b):
                if r["host"]:
                    other = seen_ids.get((r["host"], peer_id))
                    if other and other != where:
                        problems["duplicate"].append(
                            f"{where}: peer_id {peer_id} on {r['host']} is also the peer_id "
                            f"of {other}")
                    seen_ids[(r["host"], peer_id)] = where

        for j, (me, peer) in enumerate(((a, b), (b, a))):
            if me["host"] != host:
                continue
            if generated and not os.path.exists(key_path):
                out["keys_to_generate"].append(key_path)
            out["links"].append({
                "name": name,
                "peer_id": peer_id,
                "cipher": LINK_CIPHERS.get(cipher),
                "mtu": mtu,
                "keepalive_interval": ka_int,
                "keepalive_timeout": ka_tmo,
                "key_file": key_path,
                "direction": j,
                "port": me["port"],
                "address": str(me["address"]) if me["address"] else None,
                "remote": peer["remote"],
                "remote_port": peer["port"],
                "peer_host": peer["host"],
                "peer_vip": str(peer["address"].ip) if peer["address"] else None,
                "networks": [str(n) for n in me["networks"]],
                "peer_networks": [str(n) for n in peer["networks"]],
            })
    return out


def link_config(link: dict[str, Any], static_key: str, key_state_dir: str) -> dict[str, Any]:
    """/etc/ovpn-shortcut/links/<name>.json: the ovpn_device and ovpn_instance
    parameters of one resolved link, for ovpn-shortcut-links at boot."""
    return {
        "device": {"name": link["name"], "state": "present", "mode": "p2p",
                   "mtu": link["mtu"], "listen_port": link["port"], "up": True},
        "instance": {
            "peer_id": link["peer_id"], "remote": link["remote"],
            "remote_port": link["remote_port"], "vips": [link["peer_vip"]],
            "iroutes": link["peer_networks"],
            "keepalive_interval": link["keepalive_interval"],
            "keepalive_timeout": link["keepalive_timeout"],
            "keys": {"cipher": link["cipher"], "key_id": 0, "static_key": static_key,
                     "direction": link["direction"]},
        },
        "address": link["address"],
        "routes": link["peer_networks"],
        "key_state_dir": key_state_dir,
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "ovpn_shortcut_links_plan": links_plan,
            "ovpn_shortcut_link_config": link_config,
        }
