#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Privilege, netns, socket lifetime, counters, cipher none, big GET_PEER.

Run by netns_safety.sh in a disposable guest (as root).  Each check prints
PASS:/FAIL: and was written so that it fails on the module before issue 13:

- root of a user namespace (unshare -Urn) creates no link and drives no
  device moved into its netns (every command EPERM);
- a non-root process cannot join the "peers" multicast group;
- ip -s link counts TX, once (it already did on 6.1: iptunnel_xmit_stats);
- a peer with 900 iroutes comes back whole from GET_PEER and from a dump;
- the owner of a handed-over socket closes it: the peer goes within 10 s
  (DEL_PEER, reason transport-disconnect), the port is free;
- a static-mode device moved to another netns, the first netns deleted:
  its socket and peers go (reason transport-disconnect), the port is free;
- cipher none is refused by default; with allow_cipher_none=1 a forged
  packet-id 0xffffffff from another address neither blocks nor floats;
- the keepalive work does not run without keepalive peers (ftrace), runs
  once one is set, expires a silent peer; a P2P carrier follows its peer.

Usage: safety_check.py TOOLS_DIR  (or --userns-probe / --hold internally)
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable

TOOLS = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else \
    os.environ.get("OVS_TOOLS", os.path.join(os.path.dirname(__file__), "..", "tools"))
sys.path.insert(0, TOOLS)
import ovpn_sc_ctl as ctl  # noqa: E402

CTL = f"python3 {TOOLS}/ovpn_sc_ctl.py"
K1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
K2 = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
N1, N2 = "a1a2a3a4a5a6a7a8", "b1b2b3b4b5b6b7b8"
NETNS = ("ovsa", "ovsb", "ovsm", "ovsn", "ovsp")
FAILS = 0


def sh(cmd: str, check: bool = True, timeout: float = 120) -> str:
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode:
        raise RuntimeError(f"{cmd}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def ns(name: str, cmd: str, check: bool = True) -> str:
    return sh(f"ip netns exec {name} {cmd}", check)


def check(what: str, ok: bool, detail: object = "") -> None:
    global FAILS
    print(("PASS: " if ok else "FAIL: ") + what + ("" if ok else f" -- {detail}"), flush=True)
    FAILS += 0 if ok else 1


def nl_errno(fn: Callable[..., object], *a: object) -> int:
    """errno of a ctl call (0 = accepted)."""
    try:
        fn(*a)
    except ctl.NlError as e:
        return e.errno
    except PermissionError:
        return errno.EPERM
    return 0


def peer(name: str, dev: str, pid: int) -> dict:
    out = json.loads(ns(name, f"{CTL} get-peer {dev} --id {pid}") or "[{}]")
    return out[0].get("get_peer", {})


def keys(name: str, dev: str, pid: int, alg: str = "aes-gcm", swap: bool = False) -> None:
    enc, dec = (K1, K2) if not swap else (K2, K1)
    ne, nd = (N1, N2) if not swap else (N2, N1)
    if alg == "none":
        ns(name, f"{CTL} new-key {dev} --id {pid} --alg none")
    else:
        ns(name, f"{CTL} new-key {dev} --id {pid} --alg {alg} --enc-key {enc} "
                 f"--enc-nonce {ne} --dec-key {dec} --dec-nonce {nd}")


def monitor(name: str, seconds: int) -> subprocess.Popen:
    p = subprocess.Popen(f"exec ip netns exec {name} {CTL} monitor --timeout {seconds} "
                         "--count 1", shell=True, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stderr.readline()  # "listening": subscribed
    return p


def del_reasons(p: subprocess.Popen) -> list:
    out = p.communicate(timeout=60)[0]
    return [json.loads(ln).get("del_peer", {}).get("reason") for ln in out.splitlines()
            if ln.startswith("{") and "DEL_PEER" in ln]


def port_free(name: str, port: int) -> bool:
    code = (f"import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); "
            f"s.bind(('::', {port}))")
    return subprocess.run(["ip", "netns", "exec", name, "python3", "-c", code],
                          capture_output=True, timeout=60).returncode == 0


def cleanup() -> None:
    for n in NETNS:
        sh(f"ip netns del {n} 2>/dev/null", check=False)
    sh("ip link del tu 2>/dev/null", check=False)


def pair(alg: str = "aes-gcm") -> None:
    """ovsa <-> ovsb over veth 10.0.7.1/2; P2P static devices ta/tb on port 1400."""
    for n in ("ovsa", "ovsb"):
        sh(f"ip netns add {n}")
        ns(n, "ip link set lo up")
    sh("ip link add va netns ovsa type veth peer name vb netns ovsb")
    ns("ovsa", "ip addr add 10.0.7.1/24 dev va")
    ns("ovsb", "ip addr add 10.0.7.2/24 dev vb")
    ns("ovsa", "ip link set va up")
    ns("ovsb", "ip link set vb up")
    for n, d, me, other, sw in (("ovsa", "ta", "1", "2", False), ("ovsb", "tb", "2", "1", True)):
        ns(n, f"{CTL} link-add {d} --listen-port 1400")
        ns(n, f"ip addr add 10.77.0.{me}/24 dev {d}")
        ns(n, f"ip link set {d} up")
        ns(n, f"{CTL} new-peer {d} --id 1 --remote 10.0.7.{other}:1400")
        keys(n, d, 1, alg, sw)


def unpair() -> None:
    for n in ("ovsa", "ovsb"):
        sh(f"ip netns del {n}", check=False)


# ------------------------------------------------------------------ checks


def userns_probe() -> None:
    """Inside unshare -Urn: root of a user namespace with its own netns."""
    res = {"uid_map": open("/proc/self/uid_map").read().split()}
    res["link_add"] = nl_errno(ctl.main, ["link-add", "tux", "--mode", "mp"])
    print("ready", flush=True)
    sys.stdin.readline()  # the real root moved device "tu" into this netns
    sh("ip link set lo up", check=False)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    ctl._SOCKETS["127.0.0.1:1"] = s
    cmds = {
        "new_peer": ["new-peer", "tu", "--id", "2", "--remote", "127.0.0.1:9", "--bind",
                     "127.0.0.1:1"],
        "set_peer": ["set-peer", "tu", "--id", "1", "--interval", "1", "--timeout", "5"],
        "new_key": ["new-key", "tu", "--id", "1", "--alg", "aes-gcm", "--enc-key", K1,
                    "--enc-nonce", N1, "--dec-key", K2, "--dec-nonce", N2],
        "swap_keys": ["swap-keys", "tu", "--id", "1"],
        "del_key": ["del-key", "tu", "--id", "1"],
        "new_iroute": ["new-iroute", "tu", "--id", "1", "--prefix", "10.9.0.0/16"],
        "del_iroute": ["del-iroute", "tu", "--id", "1", "--prefix", "10.8.0.0/16"],
        "set_dev": ["set-dev", "tu", "--listen-port", "1401"],
        "get_peer": ["get-peer", "tu", "--id", "1"],
        "get_peer_dump": ["get-peer", "tu"],
        "get_dev": ["get-dev", "tu"],
        "del_peer": ["del-peer", "tu", "--id", "1"],
    }
    for k, argv in cmds.items():
        res[k] = nl_errno(ctl.main, argv)
    print("RESULT " + json.dumps(res), flush=True)


def check_privilege() -> None:
    probe = subprocess.Popen(["unshare", "-Urn", "python3", __file__, "--userns-probe", TOOLS],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = probe.stdout.readline().strip()
    sh(f"{CTL} link-add tu --mode mp")
    sh(f"{CTL} set-dev tu --listen-port 1401")
    sh(f"{CTL} new-peer tu --id 1 --remote 127.0.0.1:9")
    sh(f"{CTL} new-iroute tu --id 1 --prefix 10.8.0.0/16")
    sh(f"ip link set tu netns {probe.pid}")
    probe.stdin.write("go\n")
    probe.stdin.flush()
    out = probe.communicate(timeout=120)[0]
    res = json.loads(next(ln for ln in out.splitlines() if ln.startswith("RESULT "))[7:])
    check("unshare -Urn: the probe runs as root of a user namespace",
          ready == "ready" and res["uid_map"][0] == "0", res["uid_map"])
    check("unshare -Urn: link creation refused with EPERM", res.pop("link_add") == errno.EPERM,
          res)
    res.pop("uid_map")
    wrong = {k: errno.errorcode.get(v, v) for k, v in res.items() if v != errno.EPERM}
    check(f"unshare -Urn: all {len(res)} commands on a device moved into its netns refused "
          "with EPERM", not wrong, wrong)
    # nobody: not even the multicast group (a copy nobody may read: /root is closed)
    km = os.path.dirname(os.path.abspath(TOOLS))
    sh(f"rm -rf /tmp/ovs-km && mkdir /tmp/ovs-km && cp -r {km}/tools {km}/include /tmp/ovs-km"
       " && chmod -R a+rX /tmp/ovs-km")
    code = ("import sys, socket; sys.path.insert(0, '{}'); import ovpn_sc_ctl as ctl\n"
            "c = ctl.Client()\n"
            "try:\n"
            "    c.nl.sock.setsockopt(ctl.SOL_NETLINK, ctl.NETLINK_ADD_MEMBERSHIP, "
            "c.groups['peers'])\n"
            "    print('joined')\n"
            "except OSError as e:\n"
            "    print('refused', e.errno)\n").format("/tmp/ovs-km/tools")
    got = sh(f"setpriv --reuid=nobody --regid=nogroup --clear-groups python3 -c \"{code}\"",
             check=False).strip()
    check("user nobody cannot join the peers multicast group (EPERM)",
          got == f"refused {errno.EPERM}", got)


def check_tx_counters() -> None:
    pair()
    before = json.loads(ns("ovsa", "ip -s -j link show ta"))[0]["stats64"]["tx"]
    ok = ns("ovsa", "ping -c 5 -i 0.2 -W 2 10.77.0.2", check=False)
    after = json.loads(ns("ovsa", "ip -s -j link show ta"))[0]["stats64"]["tx"]
    rx = json.loads(ns("ovsb", "ip -s -j link show tb"))[0]["stats64"]["rx"]
    check(f"ip -s link counts TX (packets {before['packets']} -> {after['packets']}, bytes "
          f"{before['bytes']} -> {after['bytes']}; the other end rx {rx['packets']})",
          "5 received" in ok and 5 <= after["packets"] - before["packets"] <= 7
          and after["bytes"] > before["bytes"], (before, after, ok[-200:]))
    unpair()


def check_big_get_peer() -> None:
    sh("ip netns add ovsa")
    ns("ovsa", f"{CTL} link-add tbig --mode mp --listen-port 1402")
    ns("ovsa", f"{CTL} new-peer tbig --id 1 --remote 10.0.9.9:1402")
    ns("ovsa", f"{CTL} new-peer tbig --id 2 --remote 10.0.9.10:1402")
    want = {str(ipaddress.ip_network(f"fd00:{i // 256:x}::{i % 256:x}/128"))
            for i in range(600)}
    want |= {f"10.{40 + i // 250}.{i % 250}.0/24" for i in range(300)}
    batch = "".join(f"new-iroute tbig --id 1 --prefix {p}\n" for p in sorted(want))
    p = subprocess.run(["ip", "netns", "exec", "ovsa", "python3", f"{TOOLS}/ovpn_sc_ctl.py",
                        "batch"], input=batch, capture_output=True, text=True, timeout=600)
    check("900 iroutes added to one peer", p.returncode == 0, p.stderr[-500:])
    one = subprocess.run(f"ip netns exec ovsa {CTL} get-peer tbig --id 1", shell=True,
                         capture_output=True, text=True)
    got = set()
    if one.returncode == 0:
        got = {str(ipaddress.ip_network(f"{r['prefix']}/{r['prefix_len']}"))
               for r in json.loads(one.stdout)[0]["get_peer"].get("IROUTES", [])}
    check(f"GET_PEER of a peer with 900 iroutes: {len(got)} come back",
          got == want, one.stderr.strip()[-300:])
    dump = subprocess.run(f"ip netns exec ovsa {CTL} get-peer tbig", shell=True,
                          capture_output=True, text=True)
    peers = json.loads(dump.stdout) if dump.returncode == 0 else []
    ids = [m["get_peer"]["peer_id"] for m in peers]
    dgot = {str(ipaddress.ip_network(f"{r['prefix']}/{r['prefix_len']}"))
            for m in peers for r in m["get_peer"].get("IROUTES", [])}
    check(f"GET_PEER dump with that peer: peers {sorted(ids)}, {len(dgot)} iroutes",
          sorted(ids) == [1, 2] and dgot == want, dump.stderr.strip()[-300:])
    sh("ip netns del ovsa")


def hold() -> None:
    """Like OpenVPN: hand a bound UDP socket to device tso, keep it until told."""
    ctl.main(["new-peer", "tso", "--id", "3", "--remote", "10.0.7.2:1403",
              "--bind", "10.0.7.1:1403"])
    print("ready", flush=True)
    sys.stdin.readline()
    for s in ctl._SOCKETS.values():
        s.close()
    print("closed", flush=True)
    sys.stdin.readline()


def check_socket_owner_close() -> None:
    pair()
    ns("ovsa", f"{CTL} link-add tso --mode mp")
    holder = subprocess.Popen(["ip", "netns", "exec", "ovsa", "python3", __file__, "--hold",
                               TOOLS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    ready = holder.stdout.readline().strip()
    mon = monitor("ovsa", 15)
    bound_before = ns("ovsa", "ss -Huan 'sport = :1403'", check=False).strip()
    t0 = time.monotonic()
    holder.stdin.write("close\n")
    holder.stdin.flush()
    closed = holder.stdout.readline().strip()
    gone = None
    while time.monotonic() - t0 < 10:
        if "peer_id" not in ns("ovsa", f"{CTL} get-peer tso", check=False):
            gone = round(time.monotonic() - t0, 2)
            break
        time.sleep(0.05)
    reasons = del_reasons(mon)
    bound = ns("ovsa", "ss -Huan 'sport = :1403'", check=False).strip()
    check(f"socket owner closes its fd (process alive): peer detached after {gone} s, "
          f"DEL_PEER reasons {reasons}, port free",
          ready == "ready" and closed == "closed" and bound_before != "" and gone is not None
          and gone < 10 and reasons == [4] and bound == "" and port_free("ovsa", 1403),
          {"bound_before": bound_before, "bound_after": bound})
    holder.stdin.write("bye\n")
    holder.stdin.flush()
    holder.wait(timeout=30)
    unpair()


def check_netns_move() -> None:
    for n in ("ovsm", "ovsn"):
        sh(f"ip netns add {n}")
        ns(n, "ip link set lo up")
    ns("ovsm", f"{CTL} link-add tmv --mode mp --listen-port 1404")
    ns("ovsm", f"{CTL} new-peer tmv --id 4 --vip4 10.78.0.2 --remote 127.0.0.1:1405")
    keys("ovsm", "tmv", 4)
    sh("ip -n ovsm link set tmv netns ovsn")
    ns("ovsn", "ip addr add 10.78.0.1/24 dev tmv")
    ns("ovsn", "ip link set tmv up")
    ns("ovsn", "ping -c 2 -i 0.2 -W 1 10.78.0.2", check=False)  # TX through netns ovsm
    mon = monitor("ovsn", 15)
    sh("ip netns del ovsm")
    gone = None
    t0 = time.monotonic()
    dev: dict = {}
    while time.monotonic() - t0 < 10:
        dev = json.loads(ns("ovsn", f"{CTL} get-dev tmv"))[0]["dev"]
        if dev.get("peers") == 0 and dev.get("listen_port") == 0:
            gone = round(time.monotonic() - t0, 2)
            break
        time.sleep(0.1)
    reasons = del_reasons(mon)
    sh("ip netns add ovsp")
    check(f"static-mode device moved to another netns, the first netns deleted: socket "
          f"and peer gone after {gone} s, DEL_PEER reasons {reasons}",
          gone is not None and reasons == [4], dev)
    check("... and the port can be bound in a new netns", port_free("ovsp", 1404))
    ns("ovsn", "ping -c 2 -i 0.2 -W 1 10.78.0.2", check=False)
    ns("ovsn", f"{CTL} set-dev tmv --listen-port 1404")
    check("... the device takes a new socket in its own netns",
          json.loads(ns("ovsn", f"{CTL} get-dev tmv"))[0]["dev"]["listen_port"] == 1404)
    ns("ovsn", "ip link del tmv")
    for n in ("ovsn", "ovsp"):
        sh(f"ip netns del {n}")


def forged(pktid: int, peer_id: int = 1) -> bytes:
    """P_DATA_V2, key-id 0, with a plausible inner IPv4 header behind the id."""
    inner = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 1, 0,
                        socket.inet_aton("10.77.0.2"), socket.inet_aton("10.77.0.1")) + bytes(8)
    return struct.pack("!I", (0x48 << 24) | peer_id) + struct.pack("!I", pktid) + inner


def check_cipher_none() -> None:
    pair()
    e = subprocess.run(f"ip netns exec ovsa {CTL} new-key ta --id 1 --key-id 1 --alg none",
                       shell=True, capture_output=True, text=True)
    check("cipher none refused without allow_cipher_none (EOPNOTSUPP + extack)",
          e.returncode != 0 and "errno 95" in e.stderr and "allow_cipher_none" in e.stderr,
          e.stderr.strip())
    unpair()
    sh("rmmod ovpn_shortcut")
    sh("modprobe ovpn_shortcut allow_cipher_none=1")
    pair("none")
    ok = ns("ovsb", "ping -c 2 -i 0.2 -W 2 10.77.0.1", check=False)
    check("allow_cipher_none=1: cipher none carries traffic", "2 received" in ok, ok[-200:])
    code = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            "s.bind(('10.0.7.2', 40000)); "
            f"[s.sendto(bytes.fromhex('{forged(0xFFFFFFFF).hex()}'), ('10.0.7.1', 1400)) "
            "for _ in range(3)]")
    ns("ovsb", f"python3 -c \"{code}\"")
    time.sleep(0.5)
    p = peer("ovsa", "ta", 1)
    ok = ns("ovsb", "ping -c 3 -i 0.2 -W 2 10.77.0.1", check=False)
    check("cipher none: a forged packet-id 0xffffffff from another address neither "
          f"floats the peer (remote {p.get('sockaddr_remote')}) nor blocks it",
          p.get("sockaddr_remote") == "10.0.7.2:1400" and "3 received" in ok,
          {"peer": p.get("drops"), "ping": ok[-200:]})
    unpair()
    sh("rmmod ovpn_shortcut")
    sh("modprobe ovpn_shortcut")


def ftrace_hits(func: str, seconds: float) -> int | None:
    """Calls of a module function within `seconds` (function tracer), None if no ftrace."""
    t = "/sys/kernel/tracing"
    if not os.path.exists(f"{t}/set_ftrace_filter"):
        return None
    try:
        sh(f"echo {func} > {t}/set_ftrace_filter && echo function > {t}/current_tracer "
           f"&& echo > {t}/trace")
        time.sleep(seconds)
        return sum(func in ln for ln in open(f"{t}/trace"))
    finally:
        sh(f"echo nop > {t}/current_tracer; echo > {t}/set_ftrace_filter", check=False)


def check_keepalive_and_carrier() -> None:
    sh("ip netns add ovsa")
    ns("ovsa", f"{CTL} link-add tka --mode mp --listen-port 1406")
    ns("ovsa", f"{CTL} link-add tkp --listen-port 1407")
    ns("ovsa", "ip link set tka up")
    ns("ovsa", "ip link set tkp up")
    idle = ftrace_hits("ovs_keepalive_work", 4)
    check(f"keepalive work idle without keepalive peers ({idle} runs in 4 s)",
          idle is None or idle == 0, idle)
    link = ns("ovsa", "ip -j link show tkp")
    check("P2P without its peer: NO-CARRIER", "NO-CARRIER" in link, link)
    ns("ovsa", f"{CTL} new-peer tkp --id 1 --remote 10.0.9.1:1407")
    link = ns("ovsa", "ip -j link show tkp")
    check("P2P with its peer: carrier (LOWER_UP)", "LOWER_UP" in link, link)
    mon = monitor("ovsa", 20)
    ns("ovsa", f"{CTL} set-peer tkp --id 1 --interval 1 --timeout 3")
    busy = ftrace_hits("ovs_keepalive_work", 2.5)
    reasons = del_reasons(mon)
    link = ns("ovsa", "ip -j link show tkp")
    check(f"keepalive armed by SET_PEER ({busy} runs in 2.5 s), silent peer expired "
          f"(DEL_PEER reasons {reasons}), carrier off again",
          (busy is None or busy >= 1) and reasons == [2] and "NO-CARRIER" in link,
          link)
    sh("ip netns del ovsa")


def main() -> int:
    if "--userns-probe" in sys.argv:
        userns_probe()
        return 0
    if "--hold" in sys.argv:
        hold()
        return 0
    cleanup()
    sh("rmmod ovpn_shortcut 2>/dev/null", check=False)
    sh("modprobe ovpn_shortcut")
    checks = (check_privilege, check_tx_counters, check_big_get_peer,
              check_socket_owner_close, check_netns_move, check_cipher_none,
              check_keepalive_and_carrier)
    only = os.environ.get("OVS_SAFETY_ONLY", "").split()  # e.g. "netns_move cipher_none"
    for fn in checks:
        if only and fn.__name__.removeprefix("check_") not in only:
            continue
        t0 = time.monotonic()
        try:
            fn()
        except Exception as exc:  # one check's failure must not hide the others
            check(f"{fn.__name__} ran", False, repr(exc))
        print(f"TIME {fn.__name__} {time.monotonic() - t0:.1f}", flush=True)
        cleanup()
    print("RESULT", "OK" if not FAILS else f"{FAILS} FAILED")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
