# SPDX-License-Identifier: GPL-2.0-only
"""Filters of the ovpn_shortcut role's site-to-site links (stdlib only).

ovpn_shortcut_links_plan: ovpn_shortcut_links (one list for the whole fleet,
every link with its two ends) checked, and resolved into what one host needs:
an OpenVPN point-to-point TLS instance per link (the first end is the TLS
server, the second the TLS client; certificates from the role's PKI, fresh data
channel keys negotiated at every start and renegotiation), its UDP port, the
other end's address, inner IPv4/IPv6 addresses and the routes to the networks
behind the other end. Every problem names the variable and the link it comes
from; tasks/validate.yml asserts that each category is empty, so a bad
inventory fails before any host is touched.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
from typing import Any

# Data channel ciphers of a link (OpenVPN names; the kernel module has them all).
LINK_CIPHERS = ("AES-128-GCM", "AES-192-GCM", "AES-256-GCM", "CHACHA20-POLY1305")
PEER_ID_MAX = 0xFFFFFE
DEFAULT_PORT = 1195
# Inventory groups whose hosts the role's plays run on.
PLAY_GROUPS = ("ovpn_servers", "ovpn_clients", "ovpn_links")
CATEGORIES = ("link", "host", "cidr", "cipher", "duplicate", "port", "key")
IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
# The TLS roles of the two ends: ends[0] waits for ends[1]'s handshake.
TLS_ROLES = ("server", "client")


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


def _ip(value: Any) -> str | None:
    """An IPv4 or IPv6 address (the outer address of an end), else None."""
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return None


def _iface6(value: Any) -> ipaddress.IPv6Interface | None:
    try:
        iface = ipaddress.IPv6Interface(str(value))
    except ValueError:
        return None
    return iface if "/" in str(value) and iface.network.prefixlen <= 127 else None


def _net_any(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """An IPv4 or IPv6 CIDR without host bits, else None."""
    try:
        return ipaddress.ip_network(str(value)) if "/" in str(value) else None
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


def _link_options(link: dict[str, Any], where: str,
                  problems: dict[str, list[str]]) -> dict[str, Any]:
    """The per-link settings (cipher, mtu, keepalive, reneg), checked."""
    peer_id = link.get("peer_id")
    if peer_id is not None and (_int(peer_id) is None or not 0 <= _int(peer_id) <= PEER_ID_MAX):
        problems["link"].append(f"{where}: peer_id {peer_id!r} must be an integer "
                                f"0..{PEER_ID_MAX} (it is not used any more: OpenVPN "
                                "picks the link's peer-id at every handshake)")
    if link.get("key_file") not in (None, ""):
        # a pre-shared key restarts its packet-ids at 1 whenever an end is made
        # again: repeated (key, nonce) pairs. Links negotiate fresh keys instead.
        problems["key"].append(
            f"{where}: key_file {link.get('key_file')} is refused: links negotiate fresh "
            "data channel keys with TLS (certificates from the role's PKI); a pre-shared "
            "key would repeat nonces after any restart. Remove key_file")
    cipher = str(link.get("cipher") or "AES-256-GCM").upper()
    if cipher not in LINK_CIPHERS:
        problems["cipher"].append(f"{where}: unknown cipher {link.get('cipher')!r} "
                                  f"(known: {', '.join(LINK_CIPHERS)})")
    mtu = _int(link.get("mtu", 1400))
    if mtu is None or not 576 <= mtu <= 9000:
        problems["link"].append(f"{where}: mtu {link.get('mtu')!r} must be 576..9000")
    # the timeout is what heals a link whose far end went away without a word:
    # the kernel expires the peer and OpenVPN starts a new handshake
    ka_int = _int(link.get("keepalive_interval", 10))
    ka_tmo = _int(link.get("keepalive_timeout", 60))
    if ka_int is None or ka_tmo is None or ka_int <= 0 or ka_tmo <= ka_int:
        problems["link"].append(
            f"{where}: keepalive_interval {link.get('keepalive_interval', 10)!r} must be "
            f"> 0 and keepalive_timeout {link.get('keepalive_timeout', 60)!r} above it")
    reneg = _int(link.get("reneg_sec", 3600))
    if reneg is None or not 60 <= reneg <= 86400:
        problems["link"].append(f"{where}: reneg_sec {link.get('reneg_sec')!r} must be "
                                "60..86400 (data channel key lifetime)")
    return {"cipher": cipher, "mtu": mtu, "keepalive_interval": ka_int,
            "keepalive_timeout": ka_tmo, "reneg_sec": reneg}


def _end(end: dict[str, Any], ew: str, hostvars: Any, play_hosts: set[str],
         problems: dict[str, list[str]]) -> dict[str, Any]:
    """One end resolved: host, outer address, port, inner addresses, networks."""
    r: dict[str, Any] = {"host": None, "remote": None, "port": None, "address": None,
                         "address6": None, "networks": []}
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
                                "(the IPv4 or IPv6 address of an end the role does not manage)")
    elif remote not in (None, ""):
        r["remote"] = _ip(remote)
        if r["remote"] is None:
            problems["host"].append(
                f"{ew}: remote {remote!r} is not an IPv4 or IPv6 address (set remote, or the "
                "host var ovpn_shortcut_links_address of that host)")
    port = _int(end.get("port", DEFAULT_PORT))
    if port is None or not 1 <= port <= 65535:
        problems["port"].append(f"{ew}: port {end.get('port')!r} must be 1..65535")
    else:
        r["port"] = port
    if end.get("address") not in (None, ""):
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
    if end.get("address6") not in (None, ""):
        r["address6"] = _iface6(end.get("address6"))
        if r["address6"] is None:
            problems["cidr"].append(
                f"{ew}: address6 {end.get('address6')!r} must be the end's inner IPv6 "
                "address with its prefix (e.g. fd97::1/64)")
    nets = end.get("networks") or []
    if not isinstance(nets, list):
        problems["cidr"].append(f"{ew}: networks must be a list of CIDRs")
        nets = []
    for n in nets:
        net = _net_any(n)
        if net is None:
            problems["cidr"].append(f"{ew}: network {n!r} is not an IPv4 or IPv6 CIDR "
                                    "without host bits (e.g. 10.201.1.0/24)")
        else:
            r["networks"].append(net)
    return r


def _check_pair(a: dict[str, Any], b: dict[str, Any], where: str,
                problems: dict[str, list[str]]) -> None:
    """What the two ends must agree on: one outer family, one inner network."""
    if not a["host"] and not b["host"] and not problems["host"]:
        problems["host"].append(f"{where}: neither end is an inventory host")
    if a["host"] and a["host"] == b["host"]:
        problems["host"].append(f"{where}: both ends are host {a['host']!r}")
    if a["remote"] and b["remote"] and (ipaddress.ip_address(a["remote"]).version
                                        != ipaddress.ip_address(b["remote"]).version):
        problems["host"].append(f"{where}: the ends' addresses {a['remote']} and "
                                f"{b['remote']} are not of one IP version")
    inner = []
    for fam in ("address", "address6"):
        x, y = a[fam], b[fam]
        if bool(x) != bool(y) and not problems["cidr"]:
            problems["cidr"].append(f"{where}: {fam} is set on one end only")
        if not (x and y):
            continue
        inner.append(x.network)
        if x.network != y.network:
            problems["cidr"].append(f"{where}: the ends' {fam} {x} and {y} are not in "
                                    "one network")
        elif x.ip == y.ip:
            problems["duplicate"].append(f"{where}: both ends have the inner address {x.ip}")
    if not inner and not problems["cidr"]:
        problems["cidr"].append(f"{where}: the ends need an inner address "
                                "(address and/or address6)")
    for r, other in ((a, b), (b, a)):
        for net in r["networks"]:
            fam = "address" if net.version == 4 else "address6"
            if not other[fam] and not problems["cidr"]:
                problems["cidr"].append(f"{where}: network {net} needs {fam} on both ends "
                                        "(it is routed to that inner address)")
            for n in inner:
                if net.version == n.version and net.overlaps(n):
                    problems["cidr"].append(f"{where}: network {net} overlaps the link's "
                                            f"inner network {n}")


def cert_name(link: str, end: int) -> str:
    """Certificate CN of a link end (the other end checks it: verify-x509-name)."""
    return f"link-{link}-{end}"


def _resolved(name: str, opts: dict[str, Any], j: int, me: dict[str, Any],
              peer: dict[str, Any]) -> dict[str, Any]:
    """What the host at end j of a link needs for its OpenVPN instance."""
    peer_family = ipaddress.ip_address(peer["remote"]).version if peer["remote"] else 4
    return {
        "name": name,
        "tls": TLS_ROLES[j],
        "cert": cert_name(name, j),
        "peer_cert": cert_name(name, 1 - j),
        **opts,
        "port": me["port"],
        "proto": "udp6" if peer_family == 6 else "udp4",
        "remote": peer["remote"],
        "remote_port": peer["port"],
        "peer_host": peer["host"],
        "address": str(me["address"]) if me["address"] else None,
        "local_vip": str(me["address"].ip) if me["address"] else None,
        "address6": str(me["address6"]) if me["address6"] else None,
        "peer_vip": str(peer["address"].ip) if peer["address"] and me["address"] else None,
        "peer_vip6": (str(peer["address6"].ip) if peer["address6"] and me["address6"]
                      else None),
        "networks": [str(n) for n in me["networks"]],
        "peer_networks": [str(n) for n in peer["networks"] if n.version == 4],
        "peer_routes": [[str(n.network_address), str(n.netmask)]
                        for n in peer["networks"] if n.version == 4],
        "peer_networks6": [str(n) for n in peer["networks"] if n.version == 6],
    }


def links_plan(links: Any, hostvars: Any, groups: dict[str, list[str]], host: str,
               key_dir: str) -> dict[str, Any]:
    """Check every link of the fleet; resolve the ones that end on `host`.

    links: ovpn_shortcut_links; hostvars/groups: Ansible's; host: inventory_hostname;
    key_dir: ovpn_shortcut_links_key_dir (each link's tls-crypt key:
    <key_dir>/<name>.tls-crypt.key). Returns {problems: {category: [message]},
    links: [this host's links, resolved], certs: [certificate names this host's
    links need, both ends], names: [every link name]}.
    """
    problems: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    out: dict[str, Any] = {"problems": problems, "links": [], "certs": [], "names": []}
    if links in (None, ""):
        links = []
    if not isinstance(links, list):
        problems["link"].append(f"ovpn_shortcut_links must be a list of links, not {links!r}")
        return out
    play_hosts = {h for g in PLAY_GROUPS for h in groups.get(g, [])}
    seen_names: dict[str, int] = {}
    seen_ports: dict[tuple[str, int], str] = {}
    seen_nets: dict[Any, str] = {}
    for i, link in enumerate(links):
        where = f"ovpn_shortcut_links[{i}]"
        if not isinstance(link, dict):
            problems["link"].append(f"{where} must be a dict (name, ends, ...), not {link!r}")
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
        opts = _link_options(link, where, problems)

        ends = link.get("ends")
        if not isinstance(ends, list) or len(ends) != 2 or not all(
                isinstance(e, dict) for e in ends):
            problems["link"].append(f"{where}: ends must be a list of two dicts "
                                    "({host or remote, port, address, address6, networks})")
            continue
        resolved = [_end(e, f"{where} ends[{j}]", hostvars, play_hosts, problems)
                    for j, e in enumerate(ends)]
        for j, r in enumerate(resolved):
            if r["host"] and r["port"]:
                other = seen_ports.get((r["host"], r["port"]))
                if other:
                    problems["duplicate"].append(f"{where} ends[{j}]: UDP port {r['port']} "
                                                 f"on {r['host']} is also used by {other}")
                seen_ports[(r["host"], r["port"])] = where
            for net in r["networks"]:
                if net in seen_nets:
                    problems["duplicate"].append(f"{where} ends[{j}]: network {net} is "
                                                 f"also behind {seen_nets[net]}")
                seen_nets[net] = f"{where} ends[{j}]"
        a, b = resolved
        _check_pair(a, b, where, problems)

        for j, (me, peer) in enumerate(((a, b), (b, a))):
            if me["host"] != host:
                continue
            out["links"].append(_resolved(name, opts, j, me, peer))
            out["certs"] += [cert_name(name, 0), cert_name(name, 1)]
    return out


def link_files(links: list[dict[str, Any]], pki_dir: str,
               key_dir: str) -> list[dict[str, Any]]:
    """The files each resolved link needs on its host, from the controller:
    {name, src, dest, secret} (secret: the private key and the tls-crypt key)."""
    files = []
    for link in links:
        name, cert = link["name"], link["cert"]
        files += [
            {"name": name, "src": f"{pki_dir}/ca.crt", "dest": "ca.crt", "secret": False},
            {"name": name, "src": f"{pki_dir}/issued/{cert}.crt", "dest": "link.crt",
             "secret": False},
            {"name": name, "src": f"{pki_dir}/private/{cert}.key", "dest": "link.key",
             "secret": True},
            {"name": name, "src": f"{key_dir}/{name}.tls-crypt.key", "dest": "tls-crypt.key",
             "secret": True},
        ]
    return files


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "ovpn_shortcut_links_plan": links_plan,
            "ovpn_shortcut_link_files": link_files,
        }
