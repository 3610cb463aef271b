#!/usr/bin/env python3
"""Bulk peer add/delete on an ovpn-shortcut device, one netlink socket, timed.

    peers.py add DEV FROM TO     new-peer + new-key (AES-256-GCM) for ids FROM..TO
    peers.py del DEV FROM TO     del-peer for ids FROM..TO

Prints JSON: peers, requests, seconds, peers_per_s, failures. Uses the repo's
ovpn_sc_ctl.py (laid out under ../km/tools) for the attribute numbers.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "km" / "tools"))
import ovpn_sc_ctl as ctl


def remote(i: int) -> str:
    return f"10.{100 + (i >> 16) % 100}.{(i >> 8) & 0xFF}.{i & 0xFF}:{20000 + i % 40000}"


def vip4(i: int) -> bytes:
    n = i + 1  # peer 1 is 10.202.0.2
    return bytes([10, 202, (n >> 8) & 0xFF, n & 0xFF])


def main() -> int:
    op, dev, lo, hi = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    c = ctl.Client()
    s, t = ctl.sub, ctl.top

    def keydir(which: str) -> bytes:
        return ctl.nest(s("new_key", which), ctl.attr(s("key_dir", "CIPHER_KEY"), bytes(32)),
                        ctl.attr(s("key_dir", "NONCE_TAIL"), bytes(8)))

    failures: dict[str, int] = {}
    requests = 0
    t0 = time.monotonic()
    for i in range(lo, hi + 1):
        if op == "add":
            steps = [("NEW_PEER", ctl.nest(t("NEW_PEER"), ctl.u32(s("new_peer", "PEER_ID"), i),
                                           ctl.attr(s("new_peer", "SOCKADDR_REMOTE"),
                                                    ctl.sockaddr(remote(i))),
                                           ctl.attr(s("new_peer", "IPV4"), vip4(i)))),
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
    took = time.monotonic() - t0
    n = hi - lo + 1
    print(json.dumps({"op": op, "peers": n, "requests": requests, "seconds": took,
                      "peers_per_s": n / took if took else None, "failures": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
