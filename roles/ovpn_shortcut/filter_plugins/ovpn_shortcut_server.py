# SPDX-License-Identifier: GPL-2.0-only
"""Filters of the ovpn_shortcut role's OpenVPN server part (stdlib only).

ovpn_shortcut_server_plan: the server's settings checked and resolved into what
the templates need (netmask form of every network, one VIP per client, iroutes).
Every problem names the variable it comes from; tasks/validate.yml asserts that
each category is empty, so a bad inventory fails before anything changes.
"""

from __future__ import annotations

import ipaddress
from typing import Any

# OpenVPN 2.6 data-channel ciphers the kernel module handles (AEAD only: DCO
# refuses anything else, and so does this role).
KNOWN_CIPHERS = ("AES-128-GCM", "AES-192-GCM", "AES-256-GCM", "CHACHA20-POLY1305")

# VIPs handed out automatically start at this host offset in the server network
# (.1 is the server itself; the lower ones are left for static use).
AUTO_VIP_OFFSET = 100

CATEGORIES = ("cidr", "cipher", "vip", "duplicate", "client", "tap")
DEV_TYPES = ("tun", "tap")


def _net(value: Any, strict: bool = True) -> ipaddress.IPv4Network | None:
    """An IPv4 network in CIDR form (strict: with no host bits set), else None."""
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        return ipaddress.IPv4Network(value, strict=strict)
    except ValueError:
        return None


def _mask(net: ipaddress.IPv4Network) -> list[str]:
    return [str(net.network_address), str(net.netmask)]


def _net6(value: Any) -> ipaddress.IPv6Network | None:
    """An IPv6 network in CIDR form with no host bits set, else None."""
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        return ipaddress.IPv6Network(value, strict=True)
    except ValueError:
        return None


def _iroutes(values: Any, parse: Any, net: Any, seen: dict[Any, str],
             where: tuple[str, str, str, str], problems: dict[str, list[str]]) -> list[Any]:
    """A client's iroutes of one family: CIDRs without host bits, outside the VPN
    network `net`, each routed to one client only (`seen`: network -> client).
    where: (what, the network's variable, origin, client name) for the messages."""
    what, netvar, origin, name = where
    out = []
    for r in values or []:
        rn = parse(r)
        if rn is None:
            problems["cidr"].append(f"{origin}: {what} {r!r} of client {name!r} is not a "
                                    "CIDR network without host bits (e.g. 10.99.1.0/24, "
                                    "fd01:99:1::/64)")
        elif rn.overlaps(net):
            problems["cidr"].append(f"{origin}: {what} {rn} of client {name!r} overlaps "
                                    f"{netvar}={net}")
        elif rn in seen:
            problems["duplicate"].append(f"{origin}: {what} {rn} of client {name!r} is "
                                         f"also an {what} of {seen[rn]!r}")
        else:
            seen[rn] = name
            out.append(rn)
    return out


def _plan_v6(settings: dict[str, Any], plan: dict[str, Any],
             problems: dict[str, list[str]], net4: ipaddress.IPv4Network | None,
             raw_clients: dict[str, tuple[dict[str, Any], str]]) -> None:
    """The IPv6 half of a dual-stack VPN network (server-ipv6), when network6 is set.

    Each client's VIPv6 is its vip6, else the network6 address with the same host
    offset as its IPv4 VIP (10.98.0.101 in 10.98.0.0/24 -> fd98::65 in fd98::/64);
    iroutes6 are routed to the client (iroute-ipv6), push_routes6 pushed."""
    plan.update(network6="", server_ip6="", routes6=[], push_routes6=[])
    raw6 = settings.get("network6") or ""
    v6_clients = [n for n, (c, _o) in raw_clients.items()
                  if c.get("vip6") or c.get("iroutes6")]
    if not raw6:
        if settings.get("push_routes6") or v6_clients:
            problems["cidr"].append(
                "IPv6 VIPs, iroutes or pushed routes need ovpn_shortcut_server_network6 "
                f"(clients: {', '.join(v6_clients) or '-'})")
        return
    net6 = _net6(raw6)
    if net6 is None or not 64 <= net6.prefixlen <= 120:
        problems["cidr"].append(
            f"ovpn_shortcut_server_network6={raw6!r} is not an IPv6 network in CIDR form "
            "without host bits, /64 to /120 (e.g. fd98::/64)")
        return
    plan["network6"], plan["server_ip6"] = str(net6), str(net6.network_address + 1)
    for r in settings.get("push_routes6") or []:
        rn = _net6(r)
        if rn is None:
            problems["cidr"].append(f"ovpn_shortcut_server_push_routes6: {r!r} is not an "
                                    "IPv6 CIDR network without host bits")
        else:
            plan["push_routes6"].append(str(rn))
    seen_vips: dict[str, str] = {}
    seen_iroutes: dict[ipaddress.IPv6Network, str] = {}
    for client in plan["clients"]:
        name = client["name"]
        raw, origin = raw_clients[name]
        vip6 = raw.get("vip6")
        if vip6 in (None, "") and net4 is not None:
            offset = int(ipaddress.IPv4Address(client["vip"])) - int(net4.network_address)
            vip6 = str(net6.network_address + offset)
        try:
            addr = ipaddress.IPv6Address(str(vip6))
        except ValueError:
            problems["vip"].append(f"{origin}: VIPv6 {vip6!r} of client {name!r} is not an "
                                   "IPv6 address")
            continue
        if addr not in net6 or addr in (net6.network_address, net6.network_address + 1):
            problems["vip"].append(
                f"{origin}: VIPv6 {addr} of client {name!r} is outside "
                f"ovpn_shortcut_server_network6={net6} (or is its network or server address)")
            continue
        if str(addr) in seen_vips:
            problems["duplicate"].append(f"{origin}: VIPv6 {addr} of client {name!r} is also "
                                         f"the VIPv6 of {seen_vips[str(addr)]!r}")
            continue
        seen_vips[str(addr)] = name
        iroutes6 = [str(r) for r in _iroutes(raw.get("iroutes6"), _net6, net6, seen_iroutes,
                                             ("iroute6", "ovpn_shortcut_server_network6",
                                              origin, name), problems)]
        client["vip6"] = f"{addr}/{net6.prefixlen}"
        client["iroutes6"] = iroutes6
        plan["routes6"] += iroutes6


def server_plan(settings: dict[str, Any]) -> dict[str, Any]:
    """Check and resolve the server settings.

    settings: network (CIDR), ciphers (list), clients (explicit list of
    {name, vip?, iroutes?, vip6?, iroutes6?}), group_clients (the same, made
    from the client group's host vars), push_routes (list of CIDRs), network6
    (IPv6 CIDR or empty: IPv4 only), push_routes6 (IPv6 CIDRs), dev_type (tun or
    tap), bridge and bridge_ip (tap: an existing bridge to put the device in, and
    its IPv4 address in the network, which takes the server's place).
    Returns {problems: {category: [message]}, network, netmask, server_ip,
    bridge_pool: [first, last] (bridged: the ifconfig-pool of server-bridge),
    clients: [{name, vip, netmask, iroutes: [[net, mask]], iroute_cidrs,
    vip6 (addr/prefix), iroutes6}], routes: [[net, mask]], push_routes:
    [[net, mask]], network6, server_ip6, routes6, push_routes6} (IPv6 keys
    empty without network6; clients have vip6/iroutes6 only with it).
    """
    problems: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    plan: dict[str, Any] = {"problems": problems, "clients": [], "routes": [],
                            "push_routes": []}

    net = _net(settings.get("network"))
    if net is None:
        problems["cidr"].append(
            f"ovpn_shortcut_server_network={settings.get('network')!r} is not an IPv4 "
            "network in CIDR form without host bits (e.g. 10.98.0.0/24)")
    elif net.prefixlen > 29:
        problems["cidr"].append(
            f"ovpn_shortcut_server_network={net} is too small for a server and clients "
            "(at most /29)")
        net = None
    if net is not None:
        plan["network"], plan["netmask"] = _mask(net)
        plan["server_ip"] = str(net.network_address + 1)
    _plan_tap(settings, plan, problems, net)

    ciphers = settings.get("ciphers") or []
    if not ciphers:
        problems["cipher"].append("ovpn_shortcut_server_data_ciphers is empty")
    for c in ciphers:
        if str(c).upper() not in KNOWN_CIPHERS:
            problems["cipher"].append(
                f"ovpn_shortcut_server_data_ciphers: unknown cipher {c!r} "
                f"(known: {', '.join(KNOWN_CIPHERS)})")

    for r in settings.get("push_routes") or []:
        rn = _net(r)
        if rn is None:
            problems["cidr"].append(f"ovpn_shortcut_server_push_routes: {r!r} is not a CIDR "
                                    "network without host bits")
        else:
            plan["push_routes"].append(_mask(rn))

    explicit = [(c, "ovpn_shortcut_server_clients") for c in settings.get("clients") or []]
    grouped = [(c, f"ovpn_shortcut_client_vip/_iroutes of host {c.get('name')}")
               for c in settings.get("group_clients") or []]
    seen_names: dict[str, str] = {}
    raw_clients: dict[str, tuple[dict[str, Any], str]] = {}
    seen_vips: dict[str, str] = {}
    seen_iroutes: dict[ipaddress.IPv4Network, str] = {}
    auto = AUTO_VIP_OFFSET
    for client, origin in explicit + grouped:
        if not isinstance(client, dict) or not client.get("name"):
            problems["client"].append(f"{origin}: every client needs a name: {client!r}")
            continue
        name = str(client["name"])
        if not all(ch.isalnum() or ch in "-_." for ch in name):
            problems["client"].append(f"{origin}: client name {name!r} may only have "
                                      "letters, digits, '-', '_' and '.'")
            continue
        if name in seen_names:
            problems["duplicate"].append(f"{origin}: client {name!r} is declared twice "
                                         f"(also in {seen_names[name]})")
            continue
        seen_names[name] = origin
        raw_clients[name] = (client, origin)
        vip = client.get("vip")
        if net is None:
            continue
        if vip in (None, ""):
            while True:  # next free address from the automatic range
                cand = net.network_address + auto
                auto += 1
                if cand not in net or cand == net.broadcast_address:
                    problems["vip"].append(f"{origin}: no free automatic VIP for {name!r} "
                                           f"in ovpn_shortcut_server_network={net}")
                    cand = None
                    break
                if str(cand) not in seen_vips and str(cand) != plan["server_ip"] and not any(
                        str(cand) == str(c.get("vip")) for c, _src in explicit + grouped):
                    break
            if cand is None:
                continue
            vip = str(cand)
        try:
            addr = ipaddress.IPv4Address(str(vip))
        except ValueError:
            problems["vip"].append(f"{origin}: VIP {vip!r} of client {name!r} is not an "
                                   "IPv4 address")
            continue
        if (addr not in net or addr in (net.network_address, net.broadcast_address)
                or str(addr) == plan["server_ip"]):
            problems["vip"].append(
                f"{origin}: VIP {addr} of client {name!r} is outside the server subnet "
                f"ovpn_shortcut_server_network={net} (or is its network, broadcast or "
                "server address)")
            continue
        if str(addr) in seen_vips:
            problems["duplicate"].append(f"{origin}: VIP {addr} of client {name!r} is also "
                                         f"the VIP of {seen_vips[str(addr)]!r}")
            continue
        seen_vips[str(addr)] = name
        iroutes = _iroutes(client.get("iroutes"), _net, net, seen_iroutes,
                           ("iroute", "ovpn_shortcut_server_network", origin, name), problems)
        plan["clients"].append({
            "name": name, "vip": str(addr), "netmask": str(net.netmask),
            "iroutes": [_mask(r) for r in iroutes], "iroute_cidrs": [str(r) for r in iroutes],
        })
        plan["routes"] += [_mask(r) for r in iroutes]
    _plan_v6(settings, plan, problems, net, raw_clients)
    if plan["dev_type"] == "tap":
        for c in plan["clients"]:
            if c["iroutes"] or c.get("iroutes6"):
                problems["tap"].append(
                    f"{raw_clients[c['name']][1]}: client {c['name']!r} has iroutes, which "
                    "a tap server does not route (it learns each client's MACs): with "
                    "ovpn_shortcut_server_dev_type=tap, bridge the networks behind a "
                    "client instead")
    return plan


def _plan_tap(settings: dict[str, Any], plan: dict[str, Any],
              problems: dict[str, list[str]], net: ipaddress.IPv4Network | None) -> None:
    """dev_type, and for a bridged tap server the bridge's address (the server's
    address on the VPN: no client may take it) and the pool of server-bridge."""
    dev_type = settings.get("dev_type") or "tun"
    bridge = settings.get("bridge") or ""
    plan.update(dev_type=dev_type, bridge=bridge, bridge_pool=[])
    if dev_type not in DEV_TYPES:
        problems["tap"].append(f"ovpn_shortcut_server_dev_type={dev_type!r} is neither tun "
                               "nor tap")
        return
    if not bridge:
        return
    if dev_type != "tap":
        problems["tap"].append(f"ovpn_shortcut_server_bridge={bridge!r} needs "
                               "ovpn_shortcut_server_dev_type=tap (a bridge carries frames)")
        return
    if len(bridge) > 15 or not all(ch.isalnum() or ch in "-_." for ch in bridge):
        problems["tap"].append(f"ovpn_shortcut_server_bridge={bridge!r} is not an interface "
                               "name")
        return
    if settings.get("network6"):
        problems["tap"].append("a bridged server (ovpn_shortcut_server_bridge) takes no "
                               "ovpn_shortcut_server_network6: OpenVPN's server-bridge "
                               "is IPv4 only; IPv6 reaches the clients over the bridge")
    raw_ip = settings.get("bridge_ip") or ""
    try:
        ip = ipaddress.IPv4Address(str(raw_ip))
    except ValueError:
        problems["tap"].append(f"ovpn_shortcut_server_bridge_ip={raw_ip!r} is not an IPv4 "
                               f"address (the address of bridge {bridge!r})")
        return
    if net is None:
        return
    if ip not in net or ip in (net.network_address, net.broadcast_address):
        problems["tap"].append(f"ovpn_shortcut_server_bridge_ip={ip} is not a host address "
                               f"of ovpn_shortcut_server_network={net}")
        return
    plan["server_ip"] = str(ip)
    first = net.network_address + AUTO_VIP_OFFSET
    if first not in net or first >= net.broadcast_address - 1:
        first = net.network_address + 1
    last = net.broadcast_address - 1
    if first <= ip <= last:  # the pool around the bridge's address: its larger side
        lower, upper = int(ip) - int(first), int(last) - int(ip)
        first, last = (first, ip - 1) if lower >= upper else (ip + 1, last)
    plan["bridge_pool"] = [str(first), str(last)]


def group_clients(hosts: list[str], hostvars: dict[str, Any]) -> list[dict[str, Any]]:
    """Client entries for the hosts of the client group, from their host vars."""
    out = []
    for h in hosts:
        hv = hostvars.get(h, {})
        out.append({"name": h, "vip": hv.get("ovpn_shortcut_client_vip"),
                    "iroutes": hv.get("ovpn_shortcut_client_iroutes") or [],
                    "vip6": hv.get("ovpn_shortcut_client_vip6"),
                    "iroutes6": hv.get("ovpn_shortcut_client_iroutes6") or []})
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "ovpn_shortcut_server_plan": server_plan,
            "ovpn_shortcut_group_clients": group_clients,
        }
