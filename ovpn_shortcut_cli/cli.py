# SPDX-License-Identifier: GPL-2.0-only
"""ovpn-shortcut: show and change ovpn-shortcut devices, peers, keys and iroutes.

  ovpn-shortcut show [DEV]
  ovpn-shortcut dev add DEV [--mode p2p|mp] [--type tun|tap] [--listen-port N] | dev del DEV
  ovpn-shortcut dev set DEV [--listen-port N [--family inet|inet6]] [--mss N]
  ovpn-shortcut peer add DEV ID [--remote HOST:PORT] [--bind HOST:PORT | --fd N]
                [--vpn-ipv4 A] [--vpn-ipv6 A] [--local-ip A] [--data-v1]
  ovpn-shortcut peer set DEV ID --keepalive-interval S --keepalive-timeout S
  ovpn-shortcut peer del DEV ID | peer get DEV [ID]
  ovpn-shortcut key add DEV ID --slot primary|secondary --key-id K --cipher ALG
                --key-file FILE|-   (lines: encrypt-key HEX, encrypt-nonce HEX,
                                     decrypt-key HEX, decrypt-nonce HEX)
                (or --encrypt-key HEX ... in argv: visible to every local user in ps)
  ovpn-shortcut key swap DEV ID | key del DEV ID --slot primary|secondary
  ovpn-shortcut iroute add|del DEV ID PREFIX/LEN
  ovpn-shortcut mac list|flush DEV [ID] [--addr MAC]    (MAC table of a tap device)
  ovpn-shortcut mac set DEV [--max-entries N] [--max-peer-entries N] [--ageing S]
  ovpn-shortcut watch [--count N] [--timeout S]
  ovpn-shortcut metrics [--status DEV=FILE ...] [--output FILE]   (Prometheus text)

`--json` (before or after the command) prints machine-readable output.  Errors
exit with status 1 and show errno and the kernel's extack message.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

if __package__:
    from . import args as checks
    from . import load_client, metrics
else:  # pragma: no cover - imported as a plain module
    from ovpn_shortcut_cli import args as checks
    from ovpn_shortcut_cli import load_client, metrics

nl = load_client()

Handler = Callable[[argparse.Namespace], Any]


# ---------------------------------------------------------------- output helpers


def _human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _drops_text(drops: Any) -> str:
    nonzero = drops.nonzero()
    if not nonzero:
        return "0"
    return f"{drops.total} (" + ", ".join(f"{k} {v}" for k, v in nonzero.items()) + ")"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def _opt(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def format_peers(peers: list[Any]) -> str:
    rows = [["PEER", "REMOTE", "VPN-IPV4", "VPN-IPV6", "KEEPALIVE", "KEYS P/S",
             "VPN RX/TX", "LINK RX/TX", "DROPS"]]
    for p in peers:
        c = p.counters
        rows.append([
            str(p.peer_id), _opt(p.remote), _opt(p.vpn_ipv4), _opt(p.vpn_ipv6),
            f"{p.keepalive_interval}/{p.keepalive_timeout}",
            f"{_opt(p.primary_key_id)}/{_opt(p.secondary_key_id)}",
            f"{_human_bytes(c.vpn_rx_bytes)}/{_human_bytes(c.vpn_tx_bytes)}",
            f"{_human_bytes(c.link_rx_bytes)}/{_human_bytes(c.link_tx_bytes)}",
            _drops_text(p.drops),
        ])
    text = _table(rows)
    for p in peers:
        if p.iroutes:
            text += f"\n  peer {p.peer_id} iroutes: " + ", ".join(p.iroutes)
    return text


def format_device(dev: Any) -> str:
    c = dev.counters
    mode = nl.enum_name(dev.mode) if isinstance(dev.mode, int) and dev.mode in (0, 1) else dev.mode
    return "\n".join([
        f"{dev.ifname or '?'} (ifindex {dev.ifindex}): mode {mode}, "
        f"listen-port {dev.listen_port or '-'}, peers {dev.peers}",
        f"  vpn  rx {_human_bytes(c.vpn_rx_bytes)} {c.vpn_rx_packets} pkts, "
        f"tx {_human_bytes(c.vpn_tx_bytes)} {c.vpn_tx_packets} pkts",
        f"  link rx {_human_bytes(c.link_rx_bytes)} {c.link_rx_packets} pkts, "
        f"tx {_human_bytes(c.link_tx_bytes)} {c.link_tx_packets} pkts",
        f"  userspace-packets {dev.userspace_packets}, keepalive rx {dev.keepalive_rx} "
        f"tx {dev.keepalive_tx}",
        f"  mss-clamp {dev.mss_clamp or 'off'} (IPv6 {_mss6(dev.mss_clamp)}), "
        f"clamped SYNs tx {dev.mss_clamped_tx} rx {dev.mss_clamped_rx}",
        f"  parallel crypto (packets on crypto workers) tx {dev.crypto_parallel_tx} "
        f"rx {dev.crypto_parallel_rx}",
        f"  drops {_drops_text(dev.drops)}",
    ] + ([format_mac_table(dev.mac_table)] if dev.mac_table is not None else []))


def format_mac_table(t: Any) -> str:
    return (f"  mac table (tap): {t.entries} entries, max {t.max_entries}, "
            f"max per peer {t.max_peer_entries}, ageing {t.ageing} s; learned {t.learned}, "
            f"aged {t.aged}, moved {t.moved}, flooded {t.flooded} "
            f"({t.flood_copies} copies)")


def format_macs(macs: list[Any]) -> str:
    if not macs:
        return "no learnt MAC"
    rows = [["MAC", "PEER", "AGE"]]
    rows += [[m.addr, str(m.peer_id), f"{m.age_ms / 1000:.1f} s"] for m in macs]
    return _table(rows)


def _mss6(mss: int) -> str:
    return str(mss - nl.MSS_IPV6_EXTRA) if mss else "off"


def format_event(ev: Any) -> str:
    base = f"{ev.event} ifindex {ev.ifindex} peer {ev.peer_id}"
    if isinstance(ev, nl.PeerDeleted):
        reason = nl.enum_name(ev.reason) if isinstance(ev.reason, nl.DelPeerReason) else ev.reason
        return f"{base} reason {reason}"
    if isinstance(ev, nl.PeerFloated):
        return f"{base} remote {_opt(ev.remote)}"
    return f"{base} key-id {_opt(ev.key_id)} tx-pktid {_opt(ev.tx_pktid)}"


def emit(args: argparse.Namespace, data: Any, text: str | None) -> None:
    if args.json:
        print(json.dumps(nl.to_jsonable(data), sort_keys=True))
    elif text:
        print(text)


# ---------------------------------------------------------------- commands


def cmd_show(args: argparse.Namespace) -> None:
    if args.dev is not None:
        targets = [nl.ifindex_of(args.dev)]
    else:
        targets = [ifindex for ifindex, _name, _mode in nl.list_devices()]
    out = []
    with nl.OvpnShortcut() as ovs:
        for ifindex in targets:
            out.append({"device": ovs.get_dev(ifindex), "peers": ovs.dump_peers(ifindex)})
    text = "\n\n".join(format_device(d["device"]) + "\n" + format_peers(d["peers"])
                       for d in out)
    emit(args, {"devices": out}, text or "no ovpn-shortcut devices")


def cmd_dev_add(args: argparse.Namespace) -> None:
    ifindex = nl.create_device(args.dev, nl.parse_enum(nl.Mode, args.mode), args.listen_port,
                               nl.parse_enum(nl.DevType, args.type))
    emit(args, {"ok": True, "ifname": args.dev, "ifindex": ifindex}, None)


def cmd_dev_del(args: argparse.Namespace) -> None:
    nl.delete_device(args.dev)
    emit(args, {"ok": True}, None)


def cmd_dev_set(args: argparse.Namespace) -> None:
    family = {"inet": socket.AF_INET, "inet6": socket.AF_INET6, None: None}[args.family]
    if args.listen_port is None and args.mss is None:
        raise SystemExit("ovpn-shortcut dev set: give --listen-port and/or --mss")
    with nl.OvpnShortcut() as ovs:
        ovs.set_dev(args.dev, args.listen_port, family, mss=args.mss)
    emit(args, {"ok": True}, None)


def _bound_socket(text: str) -> socket.socket:
    ep = nl.Endpoint.parse(text)
    family = socket.AF_INET6 if ":" in ep.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((ep.host, ep.port))
    return sock


def _keep_in_background(dev: str) -> None:
    """The kernel keeps no file reference on a handed-over socket: its last close
    detaches the peers on it (as when OpenVPN exits). Hold it, like OpenVPN, in a
    detached child until the device is gone or has no peer left."""
    sys.stdout.flush()
    if os.fork():
        return
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    while True:
        time.sleep(1)
        try:
            with nl.OvpnShortcut() as ovs:
                if not ovs.get_dev(dev).peers:
                    break
        except Exception:  # device or module gone: let go
            break
    os._exit(0)


def cmd_peer_add(args: argparse.Namespace) -> None:
    remote = nl.Endpoint.parse(args.remote) if args.remote else None
    sock = _bound_socket(args.bind) if args.bind else None
    fd = sock.fileno() if sock is not None else args.fd
    try:
        with nl.OvpnShortcut() as ovs:
            ovs.new_peer(args.dev, args.peer_id, remote, socket_fd=fd, vpn_ipv4=args.vpn_ipv4,
                         vpn_ipv6=args.vpn_ipv6, local_ip=args.local_ip, data_v1=args.data_v1)
        emit(args, {"ok": True}, None)
        if sock is not None:
            _keep_in_background(args.dev)
    finally:
        if sock is not None:
            sock.close()  # the background child holds it now


def cmd_peer_set(args: argparse.Namespace) -> None:
    with nl.OvpnShortcut() as ovs:
        ovs.set_peer(args.dev, args.peer_id, args.keepalive_interval, args.keepalive_timeout)
    emit(args, {"ok": True}, None)


def cmd_peer_del(args: argparse.Namespace) -> None:
    with nl.OvpnShortcut() as ovs:
        ovs.del_peer(args.dev, args.peer_id)
    emit(args, {"ok": True}, None)


def cmd_peer_get(args: argparse.Namespace) -> None:
    with nl.OvpnShortcut() as ovs:
        if args.peer_id is None:
            peers = ovs.dump_peers(args.dev)
            emit(args, {"peers": peers}, format_peers(peers))
        else:
            peer = ovs.get_peer(args.dev, args.peer_id)
            emit(args, {"peer": peer}, format_peers([peer]))


def _key_fields(args: argparse.Namespace) -> tuple[dict[str, str], str]:
    """The four key fields and where they came from (for error messages)."""
    given = {f: getattr(args, f.replace("-", "_")) for f in checks.KEY_FIELDS}
    given = {f: v for f, v in given.items() if v is not None}
    if args.key_file is not None:
        if given:
            raise ValueError("key material either in --key-file or in --encrypt-key etc., "
                             "not both")
        return checks.read_key_file(args.key_file), f"--key-file {args.key_file}: "
    missing = [f"--{f}" for f in checks.KEY_FIELDS if f not in given]
    if missing:
        raise ValueError(f"key add needs --key-file, or all of {', '.join(missing)}")
    print("ovpn-shortcut: warning: key material in argv is visible to every local user "
          "(ps, /proc/PID/cmdline); use --key-file FILE or --key-file - (stdin)",
          file=sys.stderr)
    return given, "--"


def cmd_key_add(args: argparse.Namespace) -> None:
    fields, source = _key_fields(args)
    m = checks.key_material(args.cipher, fields, source)
    key = nl.Key(
        peer_id=args.peer_id, slot=nl.parse_enum(nl.KeySlot, args.slot), key_id=args.key_id,
        cipher=nl.parse_enum(nl.CipherAlg, args.cipher),
        encrypt=nl.KeyDir(m["encrypt-key"], m["encrypt-nonce"]),
        decrypt=nl.KeyDir(m["decrypt-key"], m["decrypt-nonce"]),
    )
    # recorded (fsync) before it is sent; material used on this host before is
    # refused: the kernel would start its packet-ids again at 1
    try:
        nl.KeyRegister(args.key_register).claim(key)
    except nl.KeyReusedError as exc:
        raise SystemExit(f"ovpn-shortcut: key add refused: {exc}") from None
    with nl.OvpnShortcut() as ovs:
        ovs.new_key(args.dev, key)
    emit(args, {"ok": True}, None)


def cmd_key_swap(args: argparse.Namespace) -> None:
    with nl.OvpnShortcut() as ovs:
        ovs.swap_keys(args.dev, args.peer_id)
    emit(args, {"ok": True}, None)


def cmd_key_del(args: argparse.Namespace) -> None:
    with nl.OvpnShortcut() as ovs:
        ovs.del_key(args.dev, args.peer_id, nl.parse_enum(nl.KeySlot, args.slot))
    emit(args, {"ok": True}, None)


def cmd_iroute(args: argparse.Namespace) -> None:
    with nl.OvpnShortcut() as ovs:
        if args.action == "add":
            ovs.new_iroute(args.dev, args.peer_id, args.prefix)
        else:
            ovs.del_iroute(args.dev, args.peer_id, args.prefix)
    emit(args, {"ok": True}, None)


def cmd_mac(args: argparse.Namespace) -> None:
    with nl.OvpnShortcut() as ovs:
        if args.action == "list":
            macs = ovs.dump_macs(args.dev, args.peer_id, args.addr)
            emit(args, {"macs": macs}, format_macs(macs))
        elif args.action == "flush":
            ovs.del_mac(args.dev, args.peer_id, args.addr)
            emit(args, {"ok": True}, None)
        else:
            ovs.set_mac_table(args.dev, args.max_entries, args.max_peer_entries, args.ageing)
            emit(args, {"ok": True}, None)


def _mac_arg(text: str) -> str:
    try:
        return nl.mac_text(nl.mac_bytes(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_mac_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    mac = sub.add_parser("mac", help="MAC table of a tap device").add_subparsers(
        dest="action", required=True)
    for name, text in (("list", "learnt MACs (all, one peer's, or one address)"),
                       ("flush", "forget MACs (all, one peer's, or one address)")):
        p = _sub(mac, name, cmd_mac, text, common)
        _dev_peer(p, peer_optional=True)
        p.add_argument("--addr", type=_mac_arg, help="one MAC address")
    p = _sub(mac, "set", cmd_mac, "bounds and ageing of the table", common)
    p.add_argument("dev")
    p.add_argument("--max-entries", type=int, help="entries of the device (1..65536)")
    p.add_argument("--max-peer-entries", type=int, help="entries of one peer (1..65536)")
    p.add_argument("--ageing", type=int, help="seconds an unseen entry lives (10..86400)")


def _status_arg(text: str) -> tuple[str, str]:
    dev, sep, path = text.partition("=")
    if not sep or not dev or not path:
        raise argparse.ArgumentTypeError(f"{text!r} is not DEV=STATUS_FILE")
    return dev, path


def cmd_metrics(args: argparse.Namespace) -> None:
    devices = []
    with nl.OvpnShortcut() as ovs:
        for ifindex, _name, _mode in nl.list_devices():
            devices.append({"device": ovs.get_dev(ifindex), "peers": ovs.dump_peers(ifindex)})
    names = {(dev, peer_id): cn for dev, path in args.status
             for peer_id, cn in metrics.names_from_status_files([path]).items()}
    text = metrics.render(devices, names, time.time())
    if args.output:
        metrics.write_atomically(args.output, text)
    else:
        sys.stdout.write(text)


def cmd_watch(args: argparse.Namespace) -> None:
    with nl.OvpnShortcut() as ovs, ovs.listen() as listener:
        if args.ready:
            print(json.dumps({"ready": True}) if args.json else "watching", flush=True)
        for ev in listener.events(timeout=args.timeout, count=args.count):
            emit(args, ev, format_event(ev))
            sys.stdout.flush()


# ---------------------------------------------------------------- argument parsing


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="machine-readable output")
    return p


def _sub(parent: Any, name: str, handler: Handler, help_text: str,
         common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = parent.add_parser(name, help=help_text, parents=[common])
    p.set_defaults(handler=handler)
    return p


def _dev_peer(p: argparse.ArgumentParser, peer_optional: bool = False) -> None:
    p.add_argument("dev", help="device name or ifindex")
    if peer_optional:
        p.add_argument("peer_id", type=checks.peer_id, nargs="?",
                       help="peer-id (all peers if omitted)")
    else:
        p.add_argument("peer_id", type=checks.peer_id, help="peer-id (0..16777214)")


def _add_dev_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    dev = sub.add_parser("dev", help="devices").add_subparsers(dest="action", required=True)
    p = _sub(dev, "add", cmd_dev_add, "create a device (rtnetlink)", common)
    p.add_argument("dev")
    p.add_argument("--mode", default="p2p", choices=["p2p", "mp"])
    p.add_argument("--type", default="tun", choices=["tun", "tap"],
                   help="tap: an Ethernet device carrying frames (OpenVPN dev tap)")
    p.add_argument("--listen-port", type=checks.port)
    p = _sub(dev, "del", cmd_dev_del, "delete a device", common)
    p.add_argument("dev")
    p = _sub(dev, "set", cmd_dev_set,
             "open (N>0) or close (0) the device-owned socket; set the TCP MSS clamp",
             common)
    p.add_argument("dev")
    p.add_argument("--listen-port", type=checks.port)
    p.add_argument("--mss", type=checks.mss,
                   help="clamp the MSS of TCP SYNs to N (IPv6: N-20), 0 = off; "
                        "the value OpenVPN computes for mssfix")
    p.add_argument("--family", choices=["inet", "inet6"])


def _add_peer_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    peer = sub.add_parser("peer", help="peers").add_subparsers(dest="action", required=True)
    p = _sub(peer, "add", cmd_peer_add, "add a peer", common)
    _dev_peer(p)
    p.add_argument("--remote", type=checks.endpoint,
                   help="HOST:PORT or [HOST6]:PORT of the peer")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--bind", help="open a UDP socket bound to HOST:PORT and hand it over "
                     "(kept open by a background process until the device has no peer)")
    src.add_argument("--fd", type=int, help="hand over this UDP socket fd")
    p.add_argument("--vpn-ipv4", type=checks.address)
    p.add_argument("--vpn-ipv6", type=checks.address)
    p.add_argument("--local-ip", type=checks.address)
    p.add_argument("--data-v1", action="store_true")
    p = _sub(peer, "set", cmd_peer_set, "set keepalive", common)
    _dev_peer(p)
    p.add_argument("--keepalive-interval", "--interval", type=checks.seconds, required=True)
    p.add_argument("--keepalive-timeout", "--timeout", type=checks.seconds, required=True)
    p = _sub(peer, "del", cmd_peer_del, "delete a peer", common)
    _dev_peer(p)
    p = _sub(peer, "get", cmd_peer_get, "one peer or all peers", common)
    _dev_peer(p, peer_optional=True)


def _add_key_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    key = sub.add_parser("key", help="keys").add_subparsers(dest="action", required=True)
    p = _sub(key, "add", cmd_key_add, "install a key in a slot", common)
    _dev_peer(p)
    p.add_argument("--slot", default="primary", choices=["primary", "secondary"])
    p.add_argument("--key-id", type=checks.key_id, default=0)
    p.add_argument("--cipher", default="aes-gcm",
                   choices=["none", "aes-gcm", "chacha20-poly1305"])
    p.add_argument("--key-file", metavar="FILE",
                   help="the key: lines 'encrypt-key HEX', 'encrypt-nonce HEX', "
                        "'decrypt-key HEX', 'decrypt-nonce HEX'; '-' reads standard input")
    for name in ("--encrypt-key", "--encrypt-nonce", "--decrypt-key", "--decrypt-nonce"):
        p.add_argument(name, metavar="HEX",
                       help="in argv: visible to every local user (prefer --key-file)")
    p.add_argument("--key-register", default=nl.DEFAULT_KEY_REGISTER,
                   help="fingerprints of every key used on this host: material found "
                        "there is refused (default %(default)s)")
    p = _sub(key, "swap", cmd_key_swap, "swap primary and secondary", common)
    _dev_peer(p)
    p = _sub(key, "del", cmd_key_del, "delete the key of a slot", common)
    _dev_peer(p)
    p.add_argument("--slot", required=True, choices=["primary", "secondary"])


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(prog="ovpn-shortcut", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)
    p = _sub(sub, "show", cmd_show, "devices, peers, counters and drops", common)
    p.add_argument("dev", nargs="?", help="device name or ifindex (all if omitted)")
    _add_dev_commands(sub, common)
    _add_peer_commands(sub, common)
    _add_key_commands(sub, common)
    _add_mac_commands(sub, common)
    p = _sub(sub, "iroute", cmd_iroute, "route a prefix to a peer", common)
    p.add_argument("action", choices=["add", "del"])
    _dev_peer(p)
    p.add_argument("prefix", type=checks.prefix, help="e.g. 10.9.0.0/24 or fd00:1::/64")
    p = _sub(sub, "metrics", cmd_metrics, "counters and drops in Prometheus text format",
             common)
    p.add_argument("--status", type=_status_arg, action="append", default=[],
                   metavar="DEV=FILE",
                   help="OpenVPN status file (status-version 2) of the instance on DEV: "
                        "peers get its client names (repeatable)")
    p.add_argument("--output", metavar="FILE",
                   help="write here atomically (node_exporter's textfile collector) "
                        "instead of standard output")
    p = _sub(sub, "watch", cmd_watch, "print peer notifications as they come", common)
    p.add_argument("--count", type=int, help="stop after N events")
    p.add_argument("--timeout", type=float, help="stop after S seconds without an event")
    p.add_argument("--ready", action="store_true",
                   help="print a line once subscribed (for scripts)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except nl.OvpnShortcutError as exc:
        if args.json:
            print(json.dumps({"error": exc.as_dict()}, sort_keys=True))
        else:
            print(f"ovpn-shortcut: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        if args.json:
            print(json.dumps({"error": {"message": str(exc)}}))
        else:
            print(f"ovpn-shortcut: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
