#!/usr/bin/env python3
"""Bulk peer add/delete on an ovpn-shortcut, ovpn-dco or WireGuard device, timed.

    peers.py add DEV FROM TO [--family F] [--net 10.202] [--bind IP]
    peers.py del DEV FROM TO [--family F]

--family ovpn-shortcut (default) or ovpn-dco-v2: one generic netlink socket,
new-peer + new-key (AES-256-GCM) per peer, del-peer to delete. ovpn-dco needs
a UDP socket in every new-peer: one is made here, bound to --bind (port 0).
--family wireguard: `wg set DEV peer KEY allowed-ips IP/32 ...` with 500 peers
per command (a different API, for reference); the keys are 32 pseudo-random
bytes derived from the peer number, so delete finds them again.

Peer i gets the VPN address NET.(i+1 >> 8).(i+1 & 255) (peer 1 = NET.0.2).
Prints JSON: op, family, peers, requests, seconds, peers_per_s, failures.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "km" / "tools"))
import ovpn_sc_ctl as ctl

WG_CHUNK = 500


def remote(i: int) -> str:
    return f"10.{100 + (i >> 16) % 100}.{(i >> 8) & 0xFF}.{i & 0xFF}:{20000 + i % 40000}"


def vip4(net: str, i: int) -> bytes:
    a, b = (int(x) for x in net.split("."))
    n = i + 1  # peer 1 is NET.0.2
    if n > 0xFFFF:
        raise ValueError(f"peer {i} does not fit in {net}.0.0/16")
    return bytes([a, b, (n >> 8) & 0xFF, n & 0xFF])


def wg_key(i: int) -> str:
    return base64.b64encode(hashlib.sha256(f"bench-wg-peer-{i}".encode()).digest()).decode()


def wg_args(op: str, ids: range, net: str) -> list[str]:
    out: list[str] = []
    for i in ids:
        if op == "add":
            ip = socket.inet_ntoa(vip4(net, i))
            out += ["peer", wg_key(i), "allowed-ips", f"{ip}/32"]
        else:
            out += ["peer", wg_key(i), "remove"]
    return out


def run_wg(op: str, dev: str, lo: int, hi: int, net: str) -> tuple[int, dict[str, int]]:
    requests, failures = 0, {}
    for start in range(lo, hi + 1, WG_CHUNK):
        ids = range(start, min(hi, start + WG_CHUNK - 1) + 1)
        requests += 1
        p = subprocess.run(["wg", "set", dev, *wg_args(op, ids, net)], capture_output=True,
                           text=True)
        if p.returncode:
            key = f"wg set:{p.returncode}:{p.stderr.strip()[-120:]}"
            failures[key] = failures.get(key, 0) + 1
    return requests, failures


def run_genl(op: str, dev: str, lo: int, hi: int, family: str, net: str,
             bind: str | None) -> tuple[int, dict[str, int]]:
    c = ctl.Client(family)
    s, t = ctl.sub, ctl.top
    sock = None
    if op == "add" and family == "ovpn-dco-v2":  # ovpn-dco: a socket in every new-peer
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((bind or "0.0.0.0", 0))

    def keydir(which: str) -> bytes:
        return ctl.nest(s("new_key", which), ctl.attr(s("key_dir", "CIPHER_KEY"), bytes(32)),
                        ctl.attr(s("key_dir", "NONCE_TAIL"), bytes(8)))

    failures: dict[str, int] = {}
    requests = 0
    for i in range(lo, hi + 1):
        if op == "add":
            peer = [ctl.u32(s("new_peer", "PEER_ID"), i),
                    ctl.attr(s("new_peer", "SOCKADDR_REMOTE"), ctl.sockaddr(remote(i))),
                    ctl.attr(s("new_peer", "IPV4"), vip4(net, i))]
            if sock is not None:
                peer.append(ctl.u32(s("new_peer", "SOCKET"), sock.fileno()))
            steps = [("NEW_PEER", ctl.nest(t("NEW_PEER"), *peer)),
                     ("NEW_KEY", ctl.nest(t("NEW_KEY"), ctl.u32(s("new_key", "PEER_ID"), i),
                                          ctl.u8(s("new_key", "KEY_SLOT"), 0),
                                          ctl.u8(s("new_key", "KEY_ID"), 0),
                                          ctl.u16(s("new_key", "CIPHER_ALG"), 1),
                                          keydir("ENCRYPT_KEY"), keydir("DECRYPT_KEY")))]
        else:
            steps = [("DEL_PEER", ctl.nest(t("DEL_PEER"), ctl.u32(s("del_peer", "PEER_ID"), i)))]
        for name, body in steps:
            requests += 1
            try:
                c.cmd(name, ctl.ifindex(dev), body)
            except ctl.NlError as e:
                key = f"{name}:{e.errno}:{e.msg}"
                failures[key] = failures.get(key, 0) + 1
    if sock is not None:
        sock.close()  # the kernel holds its own reference for the peers
    return requests, failures


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("op", choices=("add", "del"))
    ap.add_argument("dev")
    ap.add_argument("lo", type=int)
    ap.add_argument("hi", type=int)
    ap.add_argument("--family", default="ovpn-shortcut",
                    choices=("ovpn-shortcut", "ovpn-dco-v2", "wireguard"))
    ap.add_argument("--net", default="10.202", help="first two octets of the VPN /16")
    ap.add_argument("--bind", help="local address of ovpn-dco's extra socket")
    a = ap.parse_args()
    if a.lo < 1 or a.hi < a.lo:
        ap.error(f"bad peer range {a.lo}..{a.hi}")
    t0 = time.monotonic()
    if a.family == "wireguard":
        requests, failures = run_wg(a.op, a.dev, a.lo, a.hi, a.net)
    else:
        requests, failures = run_genl(a.op, a.dev, a.lo, a.hi, a.family, a.net, a.bind)
    took = time.monotonic() - t0
    n = a.hi - a.lo + 1
    print(json.dumps({"op": a.op, "family": a.family, "peers": n, "requests": requests,
                      "seconds": took, "peers_per_s": n / took if took else None,
                      "failures": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
