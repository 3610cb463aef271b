#!/usr/bin/env python3
"""Drive the in-tree `ovpn` module (Linux 6.16+) over its generic netlink family "ovpn".

For the scale figures only: the bench measures upstream ovpn's data path and netlink
rate without an OpenVPN process, as it does for ovpn-shortcut and ovpn-dco.

    ovpn_up_nl.py link-add DEV --mode p2p|mp
    ovpn_up_nl.py batch < FILE   lines: new-peer DEV --id N --remote IP:PORT --bind IP:PORT
                                        [--vip4 A]
                                        new-key DEV --id N --enc-key HEX --enc-nonce HEX
                                        --dec-key HEX --dec-nonce HEX  (AES-256-GCM, slot 0)

The numbers below are those of include/uapi/linux/ovpn.h (generated from
Documentation/netlink/specs/ovpn.yaml). Upstream ovpn detaches a peer when its UDP
socket is closed, so, like OpenVPN, the tool keeps the socket open: a background
child holds it until every device it was handed to is gone (or the named netns it ran
in is deleted).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shlex
import socket
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "km" / "tools"))
import ovpn_sc_ctl as ctl

FAMILY = "ovpn"
KIND = "ovpn"
IFLA_OVPN_MODE = 1
MODES = {"p2p": 0, "mp": 1}
CMD = {"PEER_NEW": 1, "PEER_DEL": 4, "KEY_NEW": 6}
A_IFINDEX, A_PEER, A_KEYCONF = 1, 2, 3
PEER = {"ID": 1, "REMOTE_IPV4": 2, "REMOTE_PORT": 5, "SOCKET": 6, "VPN_IPV4": 8}
KEYCONF = {"PEER_ID": 1, "SLOT": 2, "KEY_ID": 3, "CIPHER_ALG": 4, "ENCRYPT_DIR": 5,
           "DECRYPT_DIR": 6}
KEYDIR = {"CIPHER_KEY": 1, "NONCE_TAIL": 2}
CIPHER_AES_GCM = 1


def payload(name: str, ifindex: int, body: bytes) -> bytes:
    """Generic netlink payload of command NAME on device IFINDEX."""
    return struct.pack("=BBH", CMD[name], 1, 0) + ctl.u32(A_IFINDEX, ifindex) + body


class Client:
    def __init__(self) -> None:
        self.nl = ctl.Netlink(ctl.NETLINK_GENERIC)
        self.fam, _ = ctl.resolve_family(self.nl, FAMILY)

    def cmd(self, name: str, dev: str, body: bytes) -> None:
        self.nl.request(self.fam, ctl.NLM_F_ACK,
                        payload(name, socket.if_nametoindex(dev), body))


def peer_new(peer_id: int, remote: str, sock_fd: int, vip4: bytes | None) -> bytes:
    host, _, port = remote.rpartition(":")
    attrs = [ctl.u32(PEER["ID"], peer_id),
             ctl.attr(PEER["REMOTE_IPV4"], ipaddress.IPv4Address(host).packed),
             ctl.attr(PEER["REMOTE_PORT"], struct.pack("!H", int(port))),
             ctl.u32(PEER["SOCKET"], sock_fd)]
    if vip4 is not None:
        attrs.append(ctl.attr(PEER["VPN_IPV4"], vip4))
    return ctl.nest(A_PEER, *attrs)


def key_new(peer_id: int, enc: tuple[bytes, bytes], dec: tuple[bytes, bytes]) -> bytes:
    def kd(t: int, key: bytes, nonce: bytes) -> bytes:
        return ctl.nest(t, ctl.attr(KEYDIR["CIPHER_KEY"], key),
                        ctl.attr(KEYDIR["NONCE_TAIL"], nonce))

    return ctl.nest(A_KEYCONF, ctl.u32(KEYCONF["PEER_ID"], peer_id),
                    ctl.u32(KEYCONF["SLOT"], 0), ctl.u32(KEYCONF["KEY_ID"], 0),
                    ctl.u32(KEYCONF["CIPHER_ALG"], CIPHER_AES_GCM),
                    kd(KEYCONF["ENCRYPT_DIR"], *enc), kd(KEYCONF["DECRYPT_DIR"], *dec))


def peer_del(peer_id: int) -> bytes:
    return ctl.nest(A_PEER, ctl.u32(PEER["ID"], peer_id))


def link_add(dev: str, mode: str) -> None:
    ctl.newlink(dev, KIND, [ctl.u8(IFLA_OVPN_MODE, MODES[mode])])


def hold_sockets(devs: set[str], socks: list[socket.socket]) -> None:
    """Fork a child that keeps `socks` open while any of `devs` exists."""
    if not socks or os.fork():
        return
    named = ctl.detach()
    while any(Path(f"/sys/class/net/{d}").exists() for d in devs):
        if named and not any(p.exists() for p in named):
            break
        time.sleep(0.5)
    os._exit(0)


def batch(lines: list[str]) -> None:
    c = Client()
    socks: dict[str, socket.socket] = {}
    devs: set[str] = set()
    ap = argparse.ArgumentParser(prog="batch line")
    ap.add_argument("op", choices=("new-peer", "new-key"))
    ap.add_argument("dev")
    ap.add_argument("--id", type=int, required=True)
    ap.add_argument("--remote")
    ap.add_argument("--bind")
    ap.add_argument("--vip4")
    for k in ("enc-key", "enc-nonce", "dec-key", "dec-nonce"):
        ap.add_argument(f"--{k}")
    for line in lines:
        if not line.strip():
            continue
        a = ap.parse_args(shlex.split(line))
        if a.op == "new-peer":
            if not (a.remote and a.bind):
                ap.error("new-peer needs --remote and --bind")
            vip = ipaddress.IPv4Address(a.vip4).packed if a.vip4 else None
            socks[a.bind] = ctl.bound_socket(a.bind)  # one socket per address
            c.cmd("PEER_NEW", a.dev, peer_new(a.id, a.remote, socks[a.bind].fileno(), vip))
            devs.add(a.dev)
        else:
            keys = [bytes.fromhex(getattr(a, k.replace("-", "_")) or "")
                    for k in ("enc-key", "enc-nonce", "dec-key", "dec-nonce")]
            c.cmd("KEY_NEW", a.dev, key_new(a.id, (keys[0], keys[1]), (keys[2], keys[3])))
    hold_sockets(devs, list(socks.values()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sp = ap.add_subparsers(dest="op", required=True)
    la = sp.add_parser("link-add")
    la.add_argument("dev")
    la.add_argument("--mode", choices=sorted(MODES), default="p2p")
    sp.add_parser("batch")
    a = ap.parse_args(argv)
    try:
        if a.op == "link-add":
            link_add(a.dev, a.mode)
        else:
            batch(sys.stdin.read().splitlines())
    except ctl.NlError as e:
        print(f"ovpn_up_nl: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
