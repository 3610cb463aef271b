#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Helpers of netns_mss.sh: see the MSS of TCP SYNs on a device, craft odd ones.

  mss_check.py capture IFNAME --port P [--count N] [--timeout S]
      print one JSON line per TCP packet to/from port P seen on IFNAME
      (direction, flags, MSS option, TCP checksum verified)
  mss_check.py send DST --port P --case CASE
      send one crafted TCP SYN to DST (IPv4 or IPv6) through the routing table;
      CASE picks the option layout (see CASES)
  mss_check.py snmp FIELD
      print a counter of /proc/net/snmp, e.g. Ip:FragCreates (this netns)

Runs in the guest with python3 only (no scapy).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import select
import socket
import struct
import sys
import time

from wire_check import csum  # Internet checksum (complemented): 0 over a valid segment

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4

# TCP option layouts after the 20-byte header (each padded to 4 bytes here)
CASES: dict[str, bytes] = {
    # plain: MSS 1460 first, as every stack sends it
    "plain": bytes([2, 4, 0x05, 0xB4, 1, 1, 1, 0]),
    # MSS at an odd offset (after one NOP): the checksum update must swap
    "odd": bytes([1, 2, 4, 0x05, 0xB4, 1, 1, 0]),
    # MSS option with a wrong length (3): not an MSS option, left alone
    "badlen": bytes([2, 3, 0x05, 0xB4]),
    # an option of length 0 before the MSS: the walk must stop there
    "zerolen": bytes([8, 0, 2, 4, 0x05, 0xB4, 0, 0]),
    # an option whose length runs past the header: stop, leave alone
    "overrun": bytes([1, 1, 8, 40, 2, 4, 0x05, 0xB4]),
    # a kind byte as the last byte of the options: no length to read
    "lastkind": bytes([1, 1, 1, 2]),
    # small MSS already below any clamp: unchanged
    "small": bytes([2, 4, 0x01, 0x00]),
}


def pseudo(src: bytes, dst: bytes, length: int) -> bytes:
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, length)
    return src + dst + struct.pack("!IxxxB", length, socket.IPPROTO_TCP)


def tcp_options(tcp: bytes) -> tuple[int | None, str]:
    """(MSS value or None, options as hex) of a TCP header, walking like the kernel."""
    doff = (tcp[12] >> 4) * 4
    opts = tcp[20:doff]
    mss = None
    i = 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(opts):
            break
        olen = opts[i + 1]
        if olen < 2 or i + olen > len(opts):
            break
        if kind == 2 and olen == 4:
            mss = struct.unpack("!H", opts[i + 2:i + 4])[0]
            break
        i += olen
    return mss, opts.hex()


def parse(pkt: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(src, dst, tcp segment) of an IPv4/IPv6 TCP packet, else None."""
    if not pkt:
        return None
    if pkt[0] >> 4 == 4 and len(pkt) >= 20 and pkt[9] == socket.IPPROTO_TCP:
        ihl = (pkt[0] & 15) * 4
        tot = struct.unpack("!H", pkt[2:4])[0]
        return pkt[12:16], pkt[16:20], pkt[ihl:tot]
    if pkt[0] >> 4 == 6 and len(pkt) >= 40 and pkt[6] == socket.IPPROTO_TCP:
        plen = struct.unpack("!H", pkt[4:6])[0]
        return pkt[8:24], pkt[24:40], pkt[40:40 + plen]
    return None


def capture(ifname: str, port: int, count: int, timeout: float) -> int:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    print("capturing", file=sys.stderr, flush=True)
    end = time.monotonic() + timeout
    seen = 0
    while seen < count:
        left = end - time.monotonic()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            break
        pkt, addr = s.recvfrom(65535)
        p = parse(pkt)
        if not p:
            continue
        src, dst, tcp = p
        if len(tcp) < 20:
            continue
        sport, dport = struct.unpack("!HH", tcp[:4])
        if port not in (sport, dport):
            continue
        flags = tcp[13]
        mss, opts = tcp_options(tcp)
        out = addr[2] == PACKET_OUTGOING
        # a packet seen leaving may still carry a partial checksum
        ok = csum(pseudo(src, dst, len(tcp)) + tcp) == 0
        print(json.dumps({
            "dir": "out" if out else "in",
            "src": str(ipaddress.ip_address(src)), "dst": str(ipaddress.ip_address(dst)),
            "sport": sport, "dport": dport,
            "syn": bool(flags & 2), "ack": bool(flags & 16), "rst": bool(flags & 4),
            "mss": mss, "opts": opts, "csum_ok": ok, "len": len(tcp),
        }), flush=True)
        seen += 1
    return 0


def send(dst: str, port: int, case: str) -> int:
    daddr = ipaddress.ip_address(dst)
    fam = socket.AF_INET if daddr.version == 4 else socket.AF_INET6
    # the source address the routing table picks for dst
    probe = socket.socket(fam, socket.SOCK_DGRAM)
    probe.connect((dst, 9))
    saddr = ipaddress.ip_address(probe.getsockname()[0])
    probe.close()
    opts = CASES[case]
    doff = (20 + len(opts)) // 4
    hdr = struct.pack("!HHIIBBHHH", 40000, port, 1, 0, doff << 4, 0x02, 64240, 0, 0)
    tcp = hdr + opts
    c = csum(pseudo(saddr.packed, daddr.packed, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_TCP)
    s.sendto(tcp, (dst, 0))
    return 0


def snmp(field: str) -> int:
    group, name = field.split(":")
    with open("/proc/net/snmp", encoding="ascii") as f:
        lines = [ln.split() for ln in f if ln.startswith(group + ":")]
    names, values = lines[0], lines[1]
    print(values[names.index(name)])
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = p.add_subparsers(dest="cmd", required=True)
    c = sp.add_parser("capture")
    c.add_argument("ifname")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--count", type=int, default=2)
    c.add_argument("--timeout", type=float, default=20)
    s = sp.add_parser("send")
    s.add_argument("dst")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--case", choices=sorted(CASES), default="plain")
    n = sp.add_parser("snmp")
    n.add_argument("field")
    a = p.parse_args(argv)
    if a.cmd == "capture":
        return capture(a.ifname, a.port, a.count, a.timeout)
    if a.cmd == "send":
        return send(a.dst, a.port, a.case)
    return snmp(a.field)


if __name__ == "__main__":
    sys.exit(main())
