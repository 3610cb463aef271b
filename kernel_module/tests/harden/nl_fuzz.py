#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Random and boundary generic netlink requests to ovpn-shortcut (runs in a guest).

  nl_fuzz.py --dev DEV --count N [--seed S]         fuzz every command
  nl_fuzz.py --dev DEV --churn N                   N peer add/key/iroute/del cycles
  nl_fuzz.py --dev DEV --expect-errno E --valid      one well-formed mutating
                                                     request per command; each
                                                     must fail with errno E

Requests are built from the YAML spec's attribute sets: attributes of the
command's set in random subsets, with boundary values (0, 1, max, max+1, all
ones), wrong lengths (empty, short, long), unknown types, duplicates, a
missing or foreign ifindex, nests that are not nests, and truncated headers.

Prints one JSON line: replies by command and errno, errors that came without
an extack message, successful requests.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import random
import socket
import struct
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tools"))
import ovpn_sc_ctl as ctl  # noqa: E402

SPEC = yaml.safe_load((HERE.parent.parent / "ovpn-shortcut.yaml").read_text())
SETS = {s["name"]: s for s in SPEC["attribute-sets"]}
OPS = [op for op in SPEC["operations"]["list"]
       if op.get("value") != 0 and not op.get("notify-only")]
OP_NUM = {op["name"]: i for i, op in enumerate(SPEC["operations"]["list"])}
WIDTH = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}
MUTATING = ("new-peer", "set-peer", "del-peer", "new-key", "swap-keys", "del-key",
            "new-iroute", "del-iroute", "set-dev")


def number(rng: random.Random, width: int) -> bytes:
    top = (1 << (8 * width)) - 1
    v = rng.choice((0, 1, 2, 7, 8, 128, 0xFFFE, 0xFFFFFE, 0xFFFFFF, top, top - 1,
                    rng.randrange(top + 1)))
    return (v & top).to_bytes(width, "little")


def value(rng: random.Random, spec: dict, depth: int) -> tuple[bytes, bool]:
    """A value for attribute `spec` (sometimes of the wrong shape); nested flag."""
    kind = spec.get("type")
    roll = rng.random()
    if roll < 0.1:
        return b"", False
    if roll < 0.2:
        return rng.randbytes(rng.choice((1, 3, 5, 17, 300))), False
    if kind in WIDTH:
        return number(rng, WIDTH[kind]), False
    if kind == "nest" and depth < 3:
        return attrs(rng, SETS[spec["nested-attributes"]], depth + 1), True
    if kind == "flag":
        return b"", False
    n = rng.choice((0, 1, 4, 8, 16, 24, 28, 32, 255, 256))
    return rng.randbytes(n), False


def attrs(rng: random.Random, aset: dict, depth: int = 0) -> bytes:
    defs = [a for a in aset["attributes"] if a.get("type") != "unused"]
    out = b""
    for _ in range(rng.randrange(len(defs) + 3)):
        if rng.random() < 0.1:
            atype = rng.choice((0, len(defs) + 1, 0x3FFF))
            out += ctl.attr(atype, rng.randbytes(rng.randrange(12)))
            continue
        idx = rng.randrange(len(defs))
        val, nested = value(rng, defs[idx], depth)
        atype = aset["attributes"].index(defs[idx])
        out += ctl.attr(atype | (ctl.NLA_F_NESTED if nested else 0), val)
    if rng.random() < 0.05 and out:
        out = out[:rng.randrange(len(out))]  # truncated attribute header or payload
    return out


def request(nl: ctl.Netlink, fam: int, cmd: int, payload: bytes, dump: bool
            ) -> tuple[int, str]:
    """(errno or 0, extack text) of one request."""
    try:
        nl.request(fam, ctl.NLM_F_DUMP if dump else ctl.NLM_F_ACK,
                   struct.pack("=BBH", cmd, 1, 0) + payload)
    except ctl.NlError as e:
        return e.errno, e.msg
    return 0, ""


def templated(rng: random.Random, name: str) -> bytes:
    """A request of the right shape for `name` with edge and random values."""
    s, t = ctl.sub, ctl.top
    pid = rng.choice((0, 1, 5, 6, 77, 0xFFFFFE, 0xFFFFFF, 0xFFFFFFFF, rng.randrange(100)))

    def keydir(which: str) -> bytes:
        klen = rng.choice((0, 1, 15, 16, 24, 31, 32, 33, 64, 255))
        nlen = rng.choice((8, 8, 8, 0, 7, 9))
        return ctl.nest(s("new_key", which), ctl.attr(s("key_dir", "CIPHER_KEY"),
                                                      rng.randbytes(klen)),
                        ctl.attr(s("key_dir", "NONCE_TAIL"), rng.randbytes(nlen)))

    def remote() -> bytes:
        fam = rng.choice((socket.AF_INET, socket.AF_INET6, 0, 99))
        port = rng.choice((0, 1, 1194, 65535))
        if fam == socket.AF_INET6:
            addr = rng.choice((bytes(16), bytes(15) + b"\1", bytes(10) + b"\xff\xff"
                               + bytes([10, 9, 0, 1]), rng.randbytes(16)))
            body = struct.pack("=H", fam) + struct.pack("!H", port) + bytes(4) + addr + bytes(4)
        else:
            addr = rng.choice((bytes(4), b"\xff" * 4, bytes([127, 0, 0, 1]),
                               bytes([10, 9, 0, rng.randrange(256)]), bytes([224, 0, 0, 1])))
            body = struct.pack("=H", fam) + struct.pack("!H", port) + addr + bytes(8)
        return body[:rng.choice((len(body), len(body), 2, 8, 16))]

    if name == "new-peer":
        parts = [ctl.u32(s("new_peer", "PEER_ID"), pid & 0xFFFFFFFF),
                 ctl.attr(s("new_peer", "SOCKADDR_REMOTE"), remote())]
        if rng.random() < 0.3:
            parts.append(ctl.u32(s("new_peer", "SOCKET"), rng.choice((0, 1, 2, 3, 99, 2**31))))
        if rng.random() < 0.5:
            parts.append(ctl.attr(s("new_peer", "IPV4"), rng.randbytes(4)))
        if rng.random() < 0.3:
            parts.append(ctl.attr(s("new_peer", "IPV6"), rng.randbytes(16)))
        if rng.random() < 0.3:
            parts.append(ctl.attr(s("new_peer", "LOCAL_IP"), rng.randbytes(rng.choice((4, 16)))))
        if rng.random() < 0.2:
            parts.append(ctl.attr(s("new_peer", "DATA_V1"), b""))
        return ctl.nest(t("NEW_PEER"), *parts)
    if name == "new-key":
        return ctl.nest(t("NEW_KEY"), ctl.u32(s("new_key", "PEER_ID"), pid & 0xFFFFFFFF),
                        ctl.u8(s("new_key", "KEY_SLOT"), rng.choice((0, 1, 2))),
                        ctl.u8(s("new_key", "KEY_ID"), rng.choice((0, 7, 8))),
                        ctl.u16(s("new_key", "CIPHER_ALG"), rng.choice((0, 1, 2, 3))),
                        keydir("ENCRYPT_KEY"), keydir("DECRYPT_KEY"))
    if name in ("new-iroute", "del-iroute"):
        plen = rng.choice((0, 8, 24, 32, 33, 64, 128, 129))
        prefix = rng.randbytes(rng.choice((4, 16, 5, 0)))
        return ctl.nest(t("IROUTE"), ctl.u32(s("iroute", "PEER_ID"), pid & 0xFFFFFFFF),
                        ctl.attr(s("iroute", "PREFIX"), prefix),
                        ctl.u8(s("iroute", "PREFIX_LEN"), plen & 0xFF))
    if name == "set-peer":
        return ctl.nest(t("SET_PEER"), ctl.u32(s("set_peer", "PEER_ID"), pid & 0xFFFFFFFF),
                        ctl.u32(s("set_peer", "KEEPALIVE_INTERVAL"),
                                rng.choice((0, 1, 10, 0xFFFFFFFF))),
                        ctl.u32(s("set_peer", "KEEPALIVE_TIMEOUT"),
                                rng.choice((0, 1, 60, 0xFFFFFFFF))))
    if name == "set-dev":
        parts = [ctl.u16(s("dev", "LISTEN_PORT"), rng.choice((0, 1, 1194, 1301, 65535)))]
        if rng.random() < 0.5:
            parts.append(ctl.u8(s("dev", "LISTEN_FAMILY"), rng.choice((0, 2, 10, 255))))
        return ctl.nest(t("DEV"), *parts)
    setname = name.replace("-", "_")
    parts = [ctl.u32(s(setname, "PEER_ID"), pid & 0xFFFFFFFF)]
    if name == "del-key":
        parts.append(ctl.u8(s("del_key", "KEY_SLOT"), rng.choice((0, 1, 2))))
    if name == "del-peer" and rng.random() < 0.5:
        parts.append(ctl.u8(s("del_peer", "REASON"), rng.choice((0, 4, 5))))
    return ctl.nest(t(setname.upper()), *parts)


def fuzz(args: argparse.Namespace, nl: ctl.Netlink, fam: int) -> dict:
    rng = random.Random(args.seed)
    ifidx = socket.if_nametoindex(args.dev)
    foreign = [i for i, _n in socket.if_nameindex() if i != ifidx]
    replies: dict[str, int] = {}
    no_extack: dict[str, int] = {}
    ok = 0
    for _ in range(args.count):
        op = rng.choice([*OPS, {"name": "unknown", "attribute-set": "ovpn"}])
        cmd = OP_NUM.get(op["name"], rng.choice((0, 15, 99, 255)))
        top = SETS["ovpn"]
        payload = b""
        roll = rng.random()
        if roll < 0.8:
            idx = ifidx if rng.random() < 0.85 else rng.choice([*foreign, 0, 9999])
            payload += ctl.u32(ctl.top("IFINDEX"), idx)
        elif roll < 0.9:
            payload += ctl.attr(ctl.top("IFINDEX"), rng.randbytes(rng.choice((0, 2, 8))))
        req = op.get("do", {}).get("request", {}).get("attributes", [])
        if op["name"] in MUTATING and rng.random() < 0.5:
            # well-formed but for its values: reaches the handlers, not just the policy
            payload += templated(rng, op["name"])
            req = []
        for name in req:
            if name == "ifindex":
                continue
            adef = next(a for a in top["attributes"] if a["name"] == name)
            body = attrs(rng, SETS[adef["nested-attributes"]])
            flag = ctl.NLA_F_NESTED if rng.random() < 0.9 else 0
            payload += ctl.attr(top["attributes"].index(adef) | flag, body)
        if rng.random() < 0.15:
            payload += attrs(rng, top)  # other top-level attributes, maybe duplicates
        dump = "dump" in op and rng.random() < 0.5
        err, ext = request(nl, fam, cmd, payload, dump)
        key = f"{op['name']}:{errno.errorcode.get(err, err) if err else 'ok'}"
        replies[key] = replies.get(key, 0) + 1
        if err == 0:
            ok += 1
        elif not ext:
            no_extack[key] = no_extack.get(key, 0) + 1
    return {"requests": args.count, "ok": ok, "replies": replies, "no_extack": no_extack}


def valid_requests() -> dict[str, bytes]:
    """One well-formed request body per mutating command (peer 5)."""
    s = ctl.sub
    t = ctl.top
    iroute = ctl.nest(t("IROUTE"), ctl.u32(s("iroute", "PEER_ID"), 5),
                      ctl.attr(s("iroute", "PREFIX"), bytes([10, 99, 0, 0])),
                      ctl.u8(s("iroute", "PREFIX_LEN"), 16))
    def keydir(which: str) -> bytes:
        return ctl.nest(s("new_key", which), ctl.attr(s("key_dir", "CIPHER_KEY"), bytes(32)),
                        ctl.attr(s("key_dir", "NONCE_TAIL"), bytes(8)))

    return {
        "new-peer": ctl.nest(t("NEW_PEER"), ctl.u32(s("new_peer", "PEER_ID"), 77),
                             ctl.attr(s("new_peer", "SOCKADDR_REMOTE"),
                                      ctl.sockaddr("10.77.0.1:1194"))),
        "set-peer": ctl.nest(t("SET_PEER"), ctl.u32(s("set_peer", "PEER_ID"), 5),
                             ctl.u32(s("set_peer", "KEEPALIVE_INTERVAL"), 1)),
        "del-peer": ctl.nest(t("DEL_PEER"), ctl.u32(s("del_peer", "PEER_ID"), 5)),
        "new-key": ctl.nest(t("NEW_KEY"), ctl.u32(s("new_key", "PEER_ID"), 5),
                            ctl.u8(s("new_key", "KEY_SLOT"), 1),
                            ctl.u16(s("new_key", "CIPHER_ALG"), 1),
                            keydir("ENCRYPT_KEY"), keydir("DECRYPT_KEY")),
        "swap-keys": ctl.nest(t("SWAP_KEYS"), ctl.u32(s("swap_keys", "PEER_ID"), 5)),
        "del-key": ctl.nest(t("DEL_KEY"), ctl.u32(s("del_key", "PEER_ID"), 5),
                            ctl.u8(s("del_key", "KEY_SLOT"), 1)),
        "new-iroute": iroute,
        "del-iroute": iroute,
        "set-dev": ctl.nest(t("DEV"), ctl.u16(s("dev", "LISTEN_PORT"), 0)),
    }


def expect(args: argparse.Namespace, nl: ctl.Netlink, fam: int) -> dict:
    ifidx = args.ifindex if args.ifindex is not None else socket.if_nametoindex(args.dev)
    got = {}
    for name, body in valid_requests().items():
        err, ext = request(nl, fam, OP_NUM[name], ctl.u32(ctl.top("IFINDEX"), ifidx) + body,
                           False)
        got[name] = {"errno": errno.errorcode.get(err, err) if err else "ok", "extack": ext}
    wanted = errno.errorcode[getattr(errno, args.expect_errno)]
    return {"results": got, "all_refused": all(v["errno"] == wanted for v in got.values())}


def churn(args: argparse.Namespace, nl: ctl.Netlink, fam: int) -> dict:
    """N cycles of: add a peer, give it a key and an iroute, delete it."""
    s, t = ctl.sub, ctl.top
    dev = ctl.u32(t("IFINDEX"), socket.if_nametoindex(args.dev))

    def keydir(which: str) -> bytes:
        # fresh material per key: the kernel refuses equal directions and keys
        # a peer held before (issue 12)
        return ctl.nest(s("new_key", which),
                        ctl.attr(s("key_dir", "CIPHER_KEY"), os.urandom(32)),
                        ctl.attr(s("key_dir", "NONCE_TAIL"), os.urandom(8)))

    failures: dict[str, int] = {}
    t0 = time.monotonic()
    for i in range(args.churn):
        pid = 1000 + i % 50000
        remote = f"10.{30 + (i >> 16) % 200}.{(i >> 8) & 0xFF}.{i & 0xFF}:{1024 + i % 60000}"
        steps = (
            ("new-peer", ctl.nest(t("NEW_PEER"), ctl.u32(s("new_peer", "PEER_ID"), pid),
                                  ctl.attr(s("new_peer", "SOCKADDR_REMOTE"),
                                           ctl.sockaddr(remote)),
                                  ctl.attr(s("new_peer", "IPV4"),
                                           bytes([100, 64 + (i >> 16) % 64,
                                                  (i >> 8) & 0xFF, i & 0xFF])))),
            ("new-key", ctl.nest(t("NEW_KEY"), ctl.u32(s("new_key", "PEER_ID"), pid),
                                 ctl.u8(s("new_key", "KEY_SLOT"), 0),
                                 ctl.u8(s("new_key", "KEY_ID"), i % 8),
                                 ctl.u16(s("new_key", "CIPHER_ALG"), 1 + i % 2),
                                 keydir("ENCRYPT_KEY"), keydir("DECRYPT_KEY"))),
            ("new-iroute", ctl.nest(t("IROUTE"), ctl.u32(s("iroute", "PEER_ID"), pid),
                                    ctl.attr(s("iroute", "PREFIX"), bytes([10, 200, i & 0xFF, 0])),
                                    ctl.u8(s("iroute", "PREFIX_LEN"), 24))),
            ("del-peer", ctl.nest(t("DEL_PEER"), ctl.u32(s("del_peer", "PEER_ID"), pid))),
        )
        for name, body in steps:
            err, ext = request(nl, fam, OP_NUM[name], dev + body, False)
            if err:
                key = f"{name}:{errno.errorcode.get(err, err)}:{ext}"
                failures[key] = failures.get(key, 0) + 1
    took = time.monotonic() - t0
    return {"cycles": args.churn, "requests": 4 * args.churn, "failures": failures,
            "seconds": round(took, 2),
            "requests_per_second": round(4 * args.churn / took, 1) if took else None}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dev", required=True)
    p.add_argument("--ifindex", type=int, help="use this ifindex instead of DEV's")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--expect-errno", help="with --valid: EPERM, ENODEV, ...")
    p.add_argument("--valid", action="store_true")
    p.add_argument("--churn", type=int, default=0,
                   help="N add/key/iroute/delete cycles of one peer each")
    args = p.parse_args()
    nl = ctl.Netlink(ctl.NETLINK_GENERIC)
    fam, _groups = ctl.resolve_family(nl, "ovpn-shortcut")
    if args.churn:
        out = churn(args, nl, fam)
    elif args.valid:
        out = expect(args, nl, fam)
    else:
        out = fuzz(args, nl, fam)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
