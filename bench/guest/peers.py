#!/usr/bin/env python3
"""Bulk peer add/delete on an ovpn-shortcut, ovpn-dco or WireGuard device, timed.

    peers.py add DEV FROM TO [--family F] [--net 10.202] [--bind IP] [--pipeline K]
    peers.py del DEV FROM TO [--family F] [--pipeline K]

--family ovpn-shortcut (default), ovpn-dco-v2 or ovpn (in-tree, Linux 6.16+): one
generic netlink socket, new-peer + new-key (AES-256-GCM) per peer, del-peer to delete.
ovpn-dco and ovpn need a UDP socket in every new-peer: one is made here, bound to
--bind (port 0); in-tree ovpn drops a peer when its socket closes, so a background
child keeps that socket open while the device exists (ovpn_up_nl.hold_sockets).
--family wireguard: `wg set DEV peer KEY allowed-ips IP/32 ...` with 500 peers
per command (a different API, for reference); the keys are 32 pseudo-random
bytes derived from the peer number, so delete finds them again.

Peer i gets the VPN address NET.(i+1 >> 8).(i+1 & 255) (peer 1 = NET.0.2).
--pipeline K sends K requests per sendmsg() and then reads their K acks (each
request is still handled and acked on its own); 1 (default): one round trip each.
The messages are built before any is sent: build_seconds is that part of seconds,
sent_peers_per_s the rate of the rest (system calls, netlink, the kernel's work).
Prints JSON: op, family, peers, requests, pipeline, seconds, build_seconds,
peers_per_s, sent_peers_per_s, failures.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "km" / "tools"))
import ovpn_sc_ctl as ctl
import ovpn_up_nl as up

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


def key_material(i: int, direction: str) -> tuple[bytes, bytes]:
    """32 key bytes and an 8-byte nonce tail for peer i, one direction.

    Distinct per direction: ovpn-shortcut refuses a key whose two directions are the
    same material (both ends would send under one key and nonce sequence).
    """
    d = hashlib.sha256(f"bench-peer-{i}-{direction}".encode()).digest()
    return d, d[:8]


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


Request = tuple[str, bytes]  # (command name, generic netlink payload)


def genl_payload(cmd: int, ifidx: int, ifidx_attr: int, body: bytes) -> bytes:
    return struct.pack("=BBH", cmd, 1, 0) + ctl.u32(ifidx_attr, ifidx) + body


def shortcut_requests(op: str, dev: str, lo: int, hi: int, net: str,
                      sock_fd: int | None) -> list[Request]:
    """ovpn-shortcut's (and ovpn-dco's, same numbering) requests for peers lo..hi."""
    s, t = ctl.sub, ctl.top
    ifidx = socket.if_nametoindex(dev)

    def msg(name: str, body: bytes) -> Request:
        return name, genl_payload(ctl.A("ovpn_sc_cmds", "OVPN_SC_CMD_" + name), ifidx,
                                  t("IFINDEX"), ctl.nest(t(name), *body))

    def keydir(which: str, i: int) -> bytes:
        key, tail = key_material(i, which)
        return ctl.nest(s("new_key", which), ctl.attr(s("key_dir", "CIPHER_KEY"), key),
                        ctl.attr(s("key_dir", "NONCE_TAIL"), tail))

    out: list[Request] = []
    for i in range(lo, hi + 1):
        if op == "del":
            out.append(msg("DEL_PEER", [ctl.u32(s("del_peer", "PEER_ID"), i)]))
            continue
        peer = [ctl.u32(s("new_peer", "PEER_ID"), i),
                ctl.attr(s("new_peer", "SOCKADDR_REMOTE"), ctl.sockaddr(remote(i))),
                ctl.attr(s("new_peer", "IPV4"), vip4(net, i))]
        if sock_fd is not None:
            peer.append(ctl.u32(s("new_peer", "SOCKET"), sock_fd))
        out.append(msg("NEW_PEER", peer))
        out.append(msg("NEW_KEY", [ctl.u32(s("new_key", "PEER_ID"), i),
                                   ctl.u8(s("new_key", "KEY_SLOT"), 0),
                                   ctl.u8(s("new_key", "KEY_ID"), 0),
                                   ctl.u16(s("new_key", "CIPHER_ALG"), 1),
                                   keydir("ENCRYPT_KEY", i), keydir("DECRYPT_KEY", i)]))
    return out


def upstream_requests(op: str, dev: str, lo: int, hi: int, net: str,
                      sock_fd: int | None) -> list[Request]:
    """The same requests in the in-tree ovpn family's numbering."""
    ifidx = socket.if_nametoindex(dev)
    out: list[Request] = []
    for i in range(lo, hi + 1):
        if op == "del":
            out.append(("PEER_DEL", up.payload("PEER_DEL", ifidx, up.peer_del(i))))
            continue
        assert sock_fd is not None
        out.append(("PEER_NEW", up.payload("PEER_NEW", ifidx,
                                            up.peer_new(i, remote(i), sock_fd, vip4(net, i)))))
        out.append(("KEY_NEW", up.payload("KEY_NEW", ifidx, up.key_new(
            i, key_material(i, "ENCRYPT_KEY"), key_material(i, "DECRYPT_KEY")))))
    return out


def send(nl: ctl.Netlink, fam: int, reqs: list[Request], pipeline: int) -> dict[str, int]:
    """Every request, acked; `pipeline` requests per sendmsg(). Failures by kind."""
    failures: dict[str, int] = {}

    def fail(name: str, e: ctl.NlError) -> None:
        key = f"{name}:{e.errno}:{e.msg}"
        failures[key] = failures.get(key, 0) + 1

    if pipeline <= 1:
        for name, payload in reqs:
            try:
                nl.request(fam, ctl.NLM_F_ACK, payload)
            except ctl.NlError as e:
                fail(name, e)
        return failures
    for k in range(0, len(reqs), pipeline):
        chunk = reqs[k:k + pipeline]
        for (name, _), err in zip(chunk, nl.request_many(fam, [p for _, p in chunk]),
                                  strict=True):
            if err is not None:
                fail(name, err)
    return failures


def run_genl(op: str, dev: str, lo: int, hi: int, family: str, net: str,
             bind: str | None, pipeline: int) -> tuple[int, dict[str, int], float]:
    """(requests, failures, seconds spent building the messages)."""
    t0 = time.monotonic()
    nl = ctl.Netlink(ctl.NETLINK_GENERIC)
    fam, _ = ctl.resolve_family(nl, family)
    sock = None
    if op == "add" and family != "ovpn-shortcut":  # a socket in every new-peer
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((bind or "0.0.0.0", 0))
    fd = sock.fileno() if sock is not None else None
    build = upstream_requests if family == "ovpn" else shortcut_requests
    reqs = build(op, dev, lo, hi, net, fd)
    built = time.monotonic() - t0
    failures = send(nl, fam, reqs, pipeline)
    if sock is not None:
        if family == "ovpn":  # in-tree ovpn drops the peers of a closed socket
            up.hold_sockets({dev}, [sock])
        sock.close()  # ovpn-dco holds its own reference for the peers
    return len(reqs), failures, built


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("op", choices=("add", "del"))
    ap.add_argument("dev")
    ap.add_argument("lo", type=int)
    ap.add_argument("hi", type=int)
    ap.add_argument("--family", default="ovpn-shortcut",
                    choices=("ovpn-shortcut", "ovpn-dco-v2", "ovpn", "wireguard"))
    ap.add_argument("--net", default="10.202", help="first two octets of the VPN /16")
    ap.add_argument("--bind", help="local address of ovpn-dco's extra socket")
    ap.add_argument("--pipeline", type=int, default=1,
                    help="requests per sendmsg() (1: one round trip per request)")
    a = ap.parse_args()
    if a.lo < 1 or a.hi < a.lo:
        ap.error(f"bad peer range {a.lo}..{a.hi}")
    t0 = time.monotonic()
    built = 0.0
    if a.family == "wireguard":
        requests, failures = run_wg(a.op, a.dev, a.lo, a.hi, a.net)
    else:
        requests, failures, built = run_genl(a.op, a.dev, a.lo, a.hi, a.family, a.net,
                                             a.bind, a.pipeline)
    took = time.monotonic() - t0
    n = a.hi - a.lo + 1
    print(json.dumps({"op": a.op, "family": a.family, "peers": n, "requests": requests,
                      "pipeline": a.pipeline, "seconds": took, "build_seconds": built,
                      "peers_per_s": n / took if took else None,
                      "sent_peers_per_s": n / (took - built) if took > built else None,
                      "failures": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
