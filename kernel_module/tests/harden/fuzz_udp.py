#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Hostile UDP datagrams for an ovpn-shortcut port (stdlib only, runs in a guest).

  fuzz_udp.py --target IP:PORT --count N [--seeds FILE.pcap] [--peer-id N]
              [--procs P] [--seed S] [--replay-only]

Kinds, mixed by weight (every kind is sent, the mix is reproducible by --seed):
  random     random bytes: mostly under 96 (around the header sizes), some up to
             1600, now and then 0, 1 or 9000 (fragmented)
  truncated  a captured real data packet cut short
  bitflip    a captured real data packet with 1..8 bits flipped
  structure  a well-formed header with broken fields: every opcode and key-id,
             peer-ids at the edges (0, 1, the real one +-1, 0xfffffe, 0xffffff),
             packet-ids 0/1/0x7fffffff/0xffffffff, bodies shorter than the tag
  replay     a captured real data packet, verbatim

Prints one JSON line: packets and bytes sent per kind, send errors.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import socket
import struct
import sys
from pathlib import Path

OP_DATA_V1, OP_DATA_V2 = 6, 9
PEER_ID_EDGES = (0, 1, 0xFFFFFE, 0xFFFFFF)
PKTID_EDGES = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)
WEIGHTS = {"random": 30, "truncated": 15, "bitflip": 25, "structure": 25, "replay": 5}


def udp_payloads(pcap: Path) -> list[bytes]:
    """UDP payloads of the IPv4 packets in a pcap (Ethernet or raw link type)."""
    data = pcap.read_bytes()
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    l2 = 14 if linktype == 1 else 0
    out, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack_from(endian + "I", data, off + 8)[0]
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        ip = frame[l2:]
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP:
            continue
        ihl = (ip[0] & 0x0F) * 4
        out.append(bytes(ip[ihl + 8:]))
    return out


def structured(rng: random.Random, peer_id: int) -> bytes:
    op = rng.choice((OP_DATA_V2, OP_DATA_V2, OP_DATA_V1, rng.randrange(32)))
    head = bytes([(op << 3) | rng.randrange(8)])
    if op == OP_DATA_V2:
        pid = rng.choice((*PEER_ID_EDGES, peer_id, peer_id + 1, max(peer_id - 1, 0),
                          rng.randrange(1 << 24)))
        head += pid.to_bytes(3, "big")
    pktid = rng.choice((*PKTID_EDGES, rng.getrandbits(32)))
    # header only, cut inside the packet-id, shorter than the tag, or a full body
    body_len = rng.choice((0, 2, 8, 15, 16, 17, 40, rng.randrange(1500)))
    pkt = head + pktid.to_bytes(4, "big") + rng.randbytes(body_len)
    if rng.random() < 0.2:
        pkt = pkt[:rng.randrange(len(pkt) + 1)]
    return pkt


def make(kind: str, rng: random.Random, seeds: list[bytes], peer_id: int) -> bytes:
    if kind == "random":
        roll = rng.random()
        if roll < 0.01:
            n = rng.choice((0, 1, 9000))  # empty, one byte, fragmented oversize
        elif roll < 0.8:
            n = rng.randrange(96)  # around the header sizes
        else:
            n = rng.randrange(1601)
        return rng.randbytes(n)
    if kind == "structure":
        return structured(rng, peer_id)
    seed = rng.choice(seeds)
    if kind == "truncated":
        return seed[:rng.randrange(len(seed))]
    if kind == "bitflip":
        buf = bytearray(seed)
        for _ in range(rng.randint(1, 8)):
            bit = rng.randrange(len(buf) * 8)
            buf[bit // 8] ^= 1 << (bit % 8)
        return bytes(buf)
    return seed  # replay


def worker(args: argparse.Namespace, idx: int, count: int, seeds: list[bytes],
           result: multiprocessing.Queue) -> None:
    rng = random.Random(args.seed * 1000 + idx)
    kinds = [k for k in WEIGHTS if seeds or k in ("random", "structure")]
    if args.replay_only:
        kinds = ["replay"]
    weights = [WEIGHTS[k] for k in kinds]
    host, _, port = args.target.rpartition(":")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    dest = (host.strip("[]"), int(port))
    sent = dict.fromkeys(kinds, 0)
    nbytes = dict.fromkeys(kinds, 0)
    errors = 0
    order = rng.choices(kinds, weights, k=count) if not args.replay_only else None
    for i in range(count):
        kind = order[i] if order else "replay"
        pkt = seeds[i % len(seeds)] if args.replay_only else make(kind, rng, seeds,
                                                                   args.peer_id)
        try:
            sock.sendto(pkt, dest)
        except OSError:
            errors += 1
            continue
        sent[kind] += 1
        nbytes[kind] += len(pkt)
    result.put({"sent": sent, "bytes": nbytes, "errors": errors})


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seeds", type=Path)
    p.add_argument("--peer-id", type=int, default=1)
    p.add_argument("--procs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--replay-only", action="store_true")
    args = p.parse_args()
    seeds = udp_payloads(args.seeds) if args.seeds else []
    seeds = [s for s in seeds if len(s) > 8]
    if args.replay_only and not seeds:
        p.error("--replay-only needs captured data packets (--seeds)")
    queue: multiprocessing.Queue = multiprocessing.Queue()
    share = [args.count // args.procs + (i < args.count % args.procs)
             for i in range(args.procs)]
    procs = [multiprocessing.Process(target=worker, args=(args, i, n, seeds, queue))
             for i, n in enumerate(share)]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    total: dict = {"sent": {}, "bytes": {}, "errors": 0, "seeds": len(seeds)}
    for r in results:
        for k in ("sent", "bytes"):
            for kind, v in r[k].items():
                total[k][kind] = total[k].get(kind, 0) + v
        total["errors"] += r["errors"]
    total["packets"] = sum(total["sent"].values())
    print(json.dumps(total))
    return 0 if all(proc.exitcode == 0 for proc in procs) else 1


if __name__ == "__main__":
    sys.exit(main())
