#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Concurrency stress: netlink readers racing teardown, in a disposable guest.

For --seconds, in parallel:
- dump: GET_PEER dumps of the server device (10 peers, 20 iroutes each) and
  of a device that is being moved between network namespaces;
- doit: GET_PEER of single peers of those devices;
- leak: GET_PEER of peers without iroutes of a device with 400 peers, which
  the teardown deletes: a reply with an iroute is another object's memory
  (the list reuse of issue 13's finding 1);
- churn: new peer + 5 iroutes + key + swap + delete, over and over;
- swap: key install + swap on the peers of the server device under traffic;
- traffic: a client pings the server through the tunnel all along, with
  parallel crypto off, for busy peers and always, in turn per teardown round;
- teardown (one process, in turn): `ip link del` of the server device and
  its rebuild; a static-mode device with peers created in netns A, moved to
  B, A deleted, then the device deleted; a netns deleted with a device and
  peers inside; every 4th round rmmod + modprobe and a full rebuild.
Every operation is counted (accepted or refused; refusals are expected: the
objects come and go).  Passes when nothing hung, the module unloads at the
end and the kernel log has no WARN/BUG/refcount/lockdep/KASAN line.

Usage: stress.py TOOLS_DIR [--seconds N]; prints "STRESS {json}".
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = os.path.abspath(__file__)
K1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
K2 = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
N1, N2 = "a1a2a3a4a5a6a7a8", "b1b2b3b4b5b6b7b8"
NPEERS, NIROUTES = 10, 20
NBULK = 400  # peers without iroutes on device sb (the teardown race of finding 1)
NETNS = ("ovss", "ovst", "ovsq", "ovsr")
PARAM = "/sys/module/ovpn_shortcut/parameters/parallel_crypto"


def sh(cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=300)
    if check and p.returncode:
        raise RuntimeError(f"{cmd}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def batch(netns: str, tools: str, lines: list[str]) -> None:
    subprocess.run(["ip", "netns", "exec", netns, "python3", f"{tools}/ovpn_sc_ctl.py",
                    "batch"], input="".join(ln + "\n" for ln in lines), capture_output=True,
                   text=True, timeout=600)


def key_args(dev: str, pid: int, slot: int, kid: int, swap: bool,
             fresh: bool = False) -> str:
    enc, dec, ne, nd = (K2, K1, N2, N1) if swap else (K1, K2, N1, N2)
    if fresh:  # the kernel refuses material the peer holds or held (issue 12)
        enc, dec, ne, nd = (os.urandom(32).hex(), os.urandom(32).hex(),
                            os.urandom(8).hex(), os.urandom(8).hex())
    return (f"new-key {dev} --id {pid} --slot {slot} --key-id {kid} --alg aes-gcm "
            f"--enc-key {enc} --enc-nonce {ne} --dec-key {dec} --dec-nonce {nd}")


def server(tools: str) -> None:
    """MP static device ss in ovss: peer 1 = the client, 2..NPEERS idle, iroutes."""
    lines = ["link-add ss --mode mp --listen-port 1500"]
    for p in range(1, NPEERS + 1):
        vip = f"--vip4 10.88.0.{p + 1}" if p == 1 else ""
        lines.append(f"new-peer ss --id {p} --remote 10.0.20.{100 + p}:1500 {vip}")
        lines.append(key_args("ss", p, 0, 0, False))
        lines += [f"new-iroute ss --id {p} --prefix 10.{100 + p}.{i}.0/24"
                  for i in range(NIROUTES)]
    batch("ovss", tools, lines)
    # the client's real address
    batch("ovss", tools, ["del-peer ss --id 1",
                          "new-peer ss --id 1 --remote 10.0.20.2:1500 --vip4 10.88.0.2",
                          key_args("ss", 1, 0, 0, False)])
    sh("ip -n ovss addr add 10.88.0.1/24 dev ss; ip -n ovss link set ss up", check=False)


def bulk(tools: str) -> None:
    """MP device sb in ovss: NBULK peers, none with an iroute."""
    batch("ovss", tools, ["link-add sb --mode mp --listen-port 1503"]
          + [f"new-peer sb --id {p} --remote 10.0.24.{p % 250}:{2000 + p}"
             for p in range(1, NBULK + 1)])


def topology(tools: str) -> None:
    for n in NETNS:
        sh(f"ip netns del {n}", check=False)
    for n in ("ovss", "ovst"):
        sh(f"ip netns add {n}; ip -n {n} link set lo up")
    sh("ip link add vs netns ovss type veth peer name vt netns ovst")
    sh("ip -n ovss addr add 10.0.20.1/24 dev vs; ip -n ovss link set vs up")
    sh("ip -n ovst addr add 10.0.20.2/24 dev vt; ip -n ovst link set vt up")
    server(tools)
    batch("ovst", tools, ["link-add sc --listen-port 1500",
                          "new-peer sc --id 1 --remote 10.0.20.1:1500",
                          key_args("sc", 1, 0, 0, True)])
    sh("ip -n ovst addr add 10.88.0.2/24 dev sc; ip -n ovst link set sc up")
    bulk(tools)


# ---------------------------------------------------------------- workers


class Counter:
    def __init__(self) -> None:
        self.n: dict[str, int] = {}

    def hit(self, op: str, ok: bool) -> None:
        k = op if ok else op + "_refused"
        self.n[k] = self.n.get(k, 0) + 1


def worker(kind: str, tools: str, until: float) -> None:
    """Runs in netns ovss; prints its counts as JSON."""
    sys.path.insert(0, tools)
    import ovpn_sc_ctl as ctl

    c = Counter()
    rnd = random.Random(os.getpid())
    client = None
    i = 0
    while time.time() < until:
        i += 1
        try:
            if client is None:
                client = ctl.Client()
            if kind == "dump":
                for dev in ("ss", "sq"):
                    try:
                        client.cmd("GET_PEER", ctl.ifindex(dev), dump=True)
                        c.hit(f"get_peer_dump_{dev}", True)
                    except (ctl.NlError, OSError):
                        c.hit(f"get_peer_dump_{dev}", False)
            elif kind == "doit":
                dev = rnd.choice(("ss", "sq"))
                attr = ctl.nest(ctl.top("GET_PEER"), ctl.u32(ctl.sub("get_peer", "PEER_ID"),
                                                             rnd.randint(1, NPEERS)))
                client.cmd("GET_PEER", ctl.ifindex(dev), attr)
                c.hit("get_peer_doit", True)
            elif kind == "leak":
                # GET_PEER of peers that have no iroute, racing the deletion of
                # their device: an iroute in a reply is memory of another object
                attr = ctl.nest(ctl.top("GET_PEER"), ctl.u32(ctl.sub("get_peer", "PEER_ID"),
                                                             rnd.randint(NBULK // 2, NBULK)))
                try:
                    rep = client.cmd("GET_PEER", ctl.ifindex("sb"), attr)
                    c.hit("get_peer_doit_sb", True)
                    if rep and rep[0].get("get_peer", {}).get("IROUTES"):
                        c.hit("iroute_leak", True)
                except (ctl.NlError, OSError):
                    c.hit("get_peer_doit_sb", False)
            elif kind == "churn":
                pid = 1000 + i % 50
                with contextlib.redirect_stdout(io.StringIO()):
                    ctl.main(["new-peer", "ss", "--id", str(pid), "--remote",
                              f"10.0.21.{i % 250}:{1000 + i % 1000}"])
                    for k in range(5):
                        ctl.main(["new-iroute", "ss", "--id", str(pid), "--prefix",
                                  f"10.{200 + k}.{i % 250}.0/24"])
                    ctl.main(key_args("ss", pid, 0, 1, False, fresh=True).split())
                    ctl.main(["swap-keys", "ss", "--id", str(pid)])
                    ctl.main(["del-peer", "ss", "--id", str(pid)])
                c.hit("churn_cycle", True)
            elif kind == "swap":
                pid = rnd.randint(1, NPEERS)
                with contextlib.redirect_stdout(io.StringIO()):
                    ctl.main(key_args("ss", pid, 1, 0, False, fresh=True).split())
                    ctl.main(["swap-keys", "ss", "--id", str(pid)])
                c.hit("key_install_swap", True)
        except (ctl.NlError, OSError, ValueError, KeyError):
            c.hit(kind, False)
            client = None
            time.sleep(0.02)
    print(json.dumps(c.n), flush=True)


def teardown_round(r: int, tools: str, c: Counter) -> None:
    # the server device deleted under the readers, then rebuilt
    c.hit("ip_link_del_server", sh("ip -n ovss link del ss", check=False).returncode == 0)
    time.sleep(0.3)
    server(tools)
    # a static-mode device moved out of its netns, that netns deleted
    sh("ip netns add ovsq", check=False)
    batch("ovsq", tools, ["link-add sq --mode mp --listen-port 1501"]
          + [f"new-peer sq --id {p} --remote 10.0.22.{p}:1501" for p in range(1, 6)]
          + [f"new-iroute sq --id 1 --prefix 10.30.{i}.0/24" for i in range(30)]
          + [key_args("sq", 1, 0, 0, False)])
    c.hit("netns_move", sh("ip -n ovsq link set sq netns ovss", check=False).returncode == 0)
    time.sleep(0.5)
    c.hit("netns_del_after_move", sh("ip netns del ovsq", check=False).returncode == 0)
    time.sleep(0.5)
    c.hit("ip_link_del_moved", sh("ip -n ovss link del sq", check=False).returncode == 0)
    # the device with many peers deleted under GET_PEER doits, then rebuilt
    c.hit("ip_link_del_bulk", sh("ip -n ovss link del sb", check=False).returncode == 0)
    bulk(tools)
    # a netns deleted with a device and its peers inside
    sh("ip netns add ovsr", check=False)
    batch("ovsr", tools, ["link-add sr --mode mp --listen-port 1502"]
          + [f"new-peer sr --id {p} --remote 10.0.23.{p}:1502" for p in range(1, 6)])
    c.hit("netns_del_with_device", sh("ip netns del ovsr", check=False).returncode == 0)
    if r % 4 == 3:
        ok = sh("rmmod ovpn_shortcut", check=False).returncode == 0
        c.hit("rmmod", ok)
        sh("modprobe ovpn_shortcut")
        c.hit("modprobe", True)
        topology(tools)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("tools")
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--worker")
    p.add_argument("--until", type=float)
    a = p.parse_args()
    tools = os.path.abspath(a.tools)
    if a.worker:
        worker(a.worker, tools, a.until)
        return 0

    sh("rmmod ovpn_shortcut", check=False)
    sh("modprobe ovpn_shortcut")
    topology(tools)
    t0 = time.time()
    until = t0 + a.seconds
    procs = {k: subprocess.Popen(["ip", "netns", "exec", "ovss", "python3", HERE, tools,
                                  "--worker", k, "--until", str(until)],
                                 stdout=subprocess.PIPE, text=True)
             for k in ("dump", "doit", "leak", "churn", "swap")}
    c = Counter()
    ping = None
    r = 0
    while time.time() < until:
        if ping is None or ping.poll() is not None:
            if ping is not None:
                c.hit("ping_replies", True)  # a ping run ended (rebuild), start another
            ping = subprocess.Popen("exec ip netns exec ovst ping -q -i 0.05 -W 1 10.88.0.1",
                                    shell=True, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        # parallel crypto always / busy peers / never, turn about: every request
        # of the traffic on crypto workers in one round of three (the first, for
        # the short runs of a debug kernel), racing the teardown
        mode = (2, 1, 0)[r % 3]
        with contextlib.suppress(OSError):
            Path(PARAM).write_text(str(mode))
            c.hit(f"parallel_crypto_{mode}", True)
        teardown_round(r, tools, c)
        r += 1
    counts = {"seconds": 0.0, "teardown_rounds": r, "teardown": c.n}
    hung = []
    for k, pr in procs.items():
        try:
            out = pr.communicate(timeout=120)[0]
            counts[k] = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        except subprocess.TimeoutExpired:
            pr.kill()
            hung.append(k)
    if ping is not None:
        ping.kill()
    counts["seconds"] = round(time.time() - t0, 1)
    for n in NETNS:
        sh(f"ip netns del {n}", check=False)
    time.sleep(1)
    rm = sh("rmmod ovpn_shortcut", check=False)
    counts["hung_workers"] = hung
    counts["unloaded"] = rm.returncode == 0
    print("STRESS " + json.dumps(counts), flush=True)
    leaks = counts.get("leak", {}).get("iroute_leak", 0)
    ok = not hung and rm.returncode == 0 and not leaks
    print(("PASS: " if ok else "FAIL: ") + f"stress {counts['seconds']} s, {r} teardown rounds, "
          f"no hung worker, module unloads, {leaks} iroutes in replies of peers "
          "without any", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
