#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Userspace socket hand-over and give-back, run in netns "ovsa".

Holds a UDP socket like OpenVPN does, hands it to the kernel with NEW_PEER
and checks: control packets still reach this socket, data packets of the
peer do not, and after the last peer is deleted the socket is ordinary
again (data packets reach userspace).

Usage: detach_check.py TOOLS_DIR DEV LOCAL_IP:PORT REMOTE_IP:PORT
"""

from __future__ import annotations

import socket
import sys
import time

sys.path.insert(0, sys.argv[1])
import ovpn_sc_ctl as ctl

dev, local, remote = sys.argv[2:5]
s = ctl.bound_socket(local)
s.settimeout(2)
fails = 0


def check(what: str, cond: bool) -> None:
    global fails
    print(("PASS: " if cond else "FAIL: ") + what, flush=True)
    fails += 0 if cond else 1


def got(expect: bytes) -> bool:
    try:
        data, _ = s.recvfrom(2048)
    except TimeoutError:
        return False
    return data == expect


rh, rp = remote.rsplit(":", 1)
sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sender.bind((rh, int(rp)))
lh, lp = local.rsplit(":", 1)
data_pkt = bytes([0x48, 0, 0, 1]) + bytes(40)      # P_DATA_V2 key 0, peer-id 1
ctrl_pkt = bytes([0x38]) + bytes(20)               # P_CONTROL_V1

sender.sendto(data_pkt, (lh, int(lp)))
check("before NEW_PEER a data packet reaches userspace", got(data_pkt))

ctl.main(["new-peer", dev, "--id", "1", "--remote", remote, "--bind", local])
sender.sendto(ctrl_pkt, (lh, int(lp)))
check("hooked: control packet reaches userspace", got(ctrl_pkt))
sender.sendto(data_pkt, (lh, int(lp)))
check("hooked: data packet of the peer is taken by the kernel", not got(data_pkt))

ctl.main(["del-peer", dev, "--id", "1"])
time.sleep(1.5)
sender.sendto(data_pkt, (lh, int(lp)))
check("after the last peer went: data packet reaches userspace again", got(data_pkt))
ctl.main(["new-peer", dev, "--id", "2", "--remote", remote, "--bind", local])
sender.sendto(data_pkt, (lh, int(lp)))
check("the same socket can be handed over again", not got(data_pkt))
print("RESULT", "OK" if not fails else "FAILED")
sys.exit(1 if fails else 0)
