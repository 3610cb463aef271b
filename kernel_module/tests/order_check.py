#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Count UDP datagrams that arrive out of order (a sequence number below one seen).

    order_check.py recv BIND_IP PORT SECONDS   prints JSON: received, out_of_order, max_seq
    order_check.py send DEST_IP PORT COUNT [SIZE]  as fast as the socket takes them

The receiver stops SECONDS after its first datagram or after 2 s of silence.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import time


def recv(bind: str, port: int, seconds: float) -> dict[str, int]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((bind, port))
    s.settimeout(30)
    got, late, top = 0, 0, -1
    end = None
    while end is None or time.monotonic() < end:
        try:
            data = s.recv(65536)
        except TimeoutError:
            break
        if end is None:
            end = time.monotonic() + seconds
            s.settimeout(2)
        (seq,) = struct.unpack_from("!Q", data)
        got += 1
        if seq < top:
            late += 1
        top = max(top, seq)
    return {"received": got, "out_of_order": late, "max_seq": top}


def send(dest: str, port: int, count: int, size: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pad = bytes(max(0, size - 8))
    for seq in range(count):
        try:
            s.sendto(struct.pack("!Q", seq) + pad, (dest, port))
        except OSError:  # ENOBUFS: a full queue on the way; the receiver counts what came
            time.sleep(0.001)


def main(argv: list[str]) -> int:
    if len(argv) >= 4 and argv[0] == "recv":
        print(json.dumps(recv(argv[1], int(argv[2]), float(argv[3]))))
        return 0
    if len(argv) >= 4 and argv[0] == "send":
        send(argv[1], int(argv[2]), int(argv[3]), int(argv[4]) if len(argv) > 4 else 512)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
