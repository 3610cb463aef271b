#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Hardening suite of ovpn-shortcut, run as root in a disposable guest.

  harden.py [--packets N] [--nl-requests N] [--churn N] [--swaps N] [PHASE ...]

Phases (all by default, in this order): fuzz replay order spoof netlink churn
l2 faults leaks (faults ends with rmmod: the tunnels are gone after it).  Three
network namespaces: hs (server, MP device `tsrv`, static mode on UDP 1194), hc
(a legitimate client, P2P device `tcli`), hx (the attacker, its own link to hs).
The l2 phase adds a TAP server `lsrv` in a bridge, with hc and hx as its
clients: hx holds keys (an authenticated peer turned hostile) and sends fuzzed
Ethernet frames.  Prints PASS:/FAIL: lines and, last, one line `FIGURES {json}`
with every count; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOOLS = HERE.parent.parent / "tools"
CTL = f"python3 {TOOLS}/ovpn_sc_ctl.py"
WORK = Path("/root/harden")
K1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
K2 = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
N1, N2 = "a1a2a3a4a5a6a7a8", "b1b2b3b4b5b6b7b8"
SRV_VIP, CLI_VIP, OTHER_VIP = "192.168.77.1", "192.168.77.2", "192.168.77.3"
# drop reasons of the TX path; every other reason is a received datagram
TX_REASONS = ("mtu", "no_peer", "pktid_exhausted", "xmit", "loop")
PHASES = ("fuzz", "replay", "order", "spoof", "netlink", "churn", "l2", "faults", "leaks")

FIGURES: dict = {}
FAILED: list[str] = []


def sh(cmd: str, check: bool = True, timeout: float = 900) -> str:
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode:
        raise RuntimeError(f"`{cmd}` exit {p.returncode}: {p.stdout[-2000:]}{p.stderr[-2000:]}")
    return p.stdout


def ns(name: str, cmd: str, check: bool = True, timeout: float = 900) -> str:
    return sh(f"ip netns exec {name} {cmd}", check, timeout)


def check(what: str, ok: bool, detail: object = "") -> bool:
    print(f"{'PASS' if ok else 'FAIL'}: {what}{'' if ok or detail == '' else f' ({detail})'}",
          flush=True)
    if not ok:
        FAILED.append(what)
    return ok


def dev_stats(name: str, dev: str) -> dict:
    return json.loads(ns(name, f"{CTL} get-dev {dev}"))[0]["dev"]


def peer_stats(name: str, dev: str, pid: int) -> dict:
    return json.loads(ns(name, f"{CTL} get-peer {dev} --id {pid}"))[0]["get_peer"]


def drops(stats: dict) -> dict[str, int]:
    return {k: int(v) for k, v in stats.get("drops", {}).items()}


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


def udp_in(name: str) -> int:
    lines = [ln.split() for ln in ns(name, "cat /proc/net/snmp").splitlines()
             if ln.startswith("Udp:")]
    return int(lines[1][lines[0].index("InDatagrams")])


def slab_kib() -> int:
    sh("sync; echo 3 > /proc/sys/vm/drop_caches")
    # shrinking each cache also empties KASAN's quarantine of freed objects
    # (debug kernel), which would otherwise still count as slab
    sh("for f in /sys/kernel/slab/*/shrink; do echo 1 > $f; done 2>/dev/null", check=False)
    m = re.search(r"SUnreclaim:\s+(\d+) kB", Path("/proc/meminfo").read_text())
    return int(m.group(1)) if m else -1


# --- topology ----------------------------------------------------------------

def teardown() -> None:
    for n in ("hs", "hc", "hx", "hf"):
        sh(f"ip netns pids {n} 2>/dev/null | xargs -r kill -9", check=False)
        sh(f"ip netns del {n}", check=False)
    time.sleep(1)


def topology() -> None:
    teardown()
    for n in ("hs", "hc", "hx"):
        sh(f"ip netns add {n}")
        ns(n, "ip link set lo up")
        # no router solicitations or MLD from the tunnels: only the test's packets
        ns(n, "sysctl -qw net.ipv6.conf.default.disable_ipv6=1")
    for a, b, net in (("hs-c", "hc-s", "10.10.0"), ("hs-x", "hx-s", "10.20.0")):
        peer_ns = "hc" if b == "hc-s" else "hx"
        sh(f"ip link add {a} netns hs type veth peer name {b} netns {peer_ns}")
        ns("hs", f"ip addr add {net}.1/24 dev {a}")
        ns(peer_ns, f"ip addr add {net}.2/24 dev {b}")
        ns("hs", f"ip link set {a} up")
        ns(peer_ns, f"ip link set {b} up")
    ns("hs", "iperf3 -s -D")


def tunnel() -> None:
    """Server tsrv (MP, static mode) with peers 5 (real client) and 6 (absent)."""
    ns("hs", f"{CTL} link-add tsrv --mode mp --listen-port 1194")
    ns("hs", f"ip addr add {SRV_VIP}/24 dev tsrv")
    ns("hs", "ip link set tsrv up")
    ns("hs", f"{CTL} new-peer tsrv --id 5 --remote 10.10.0.2:1194 --vip4 {CLI_VIP}")
    ns("hs", f"{CTL} new-peer tsrv --id 6 --remote 10.10.0.3:1194 --vip4 {OTHER_VIP}")
    for pid in (5, 6):
        ns("hs", f"{CTL} new-key tsrv --id {pid} --key-id 1 --alg aes-gcm --enc-key {K1} "
                 f"--enc-nonce {N1} --dec-key {K2} --dec-nonce {N2}")
    ns("hc", f"{CTL} link-add tcli --listen-port 1194")
    ns("hc", f"ip addr add {CLI_VIP}/24 dev tcli")
    ns("hc", "ip link set tcli up")
    ns("hc", f"{CTL} new-peer tcli --id 5 --remote 10.10.0.1:1194")
    ns("hc", f"{CTL} new-key tcli --id 5 --key-id 1 --alg aes-gcm --enc-key {K2} "
             f"--enc-nonce {N2} --dec-key {K1} --dec-nonce {N1}")


def tunnel_works(what: str) -> bool:
    out = ns("hc", f"ping -c 3 -i 0.2 -W 3 {SRV_VIP}", check=False)
    return check(f"{what}: legitimate client still pings through the tunnel",
                 " 0% packet loss" in out, out[-300:])


class Legit:
    """iperf3 runs of a few seconds each, back to back, until stopped."""

    def __init__(self, seconds: int = 4, extra: str = "") -> None:
        self.flag = WORK / "legit.run"
        self.flag.write_text("1")
        self.log = WORK / "legit.jsonl"
        self.log.write_text("")
        script = (f"while [ -e {self.flag} ]; do timeout {seconds + 30} "
                  f"iperf3 -c {SRV_VIP} -t {seconds} -J {extra} | tr -d '\\n'; echo; done")
        self.proc = subprocess.Popen(["ip", "netns", "exec", "hc", "sh", "-c",
                                      f"{script} >> {self.log}"], start_new_session=True)
        self.seconds = seconds

    def stop(self, kill: bool = False) -> list[dict]:
        self.flag.unlink()
        if kill:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=self.seconds + 60)
        runs = []
        for line in self.log.read_text().splitlines():
            if line.strip():
                try:
                    runs.append(json.loads(line))
                except json.JSONDecodeError:
                    runs.append({"error": "unparseable iperf3 output"})
        return runs


def summarize(runs: list[dict]) -> dict:
    good = [r for r in runs if "error" not in r and r.get("end", {}).get("sum_received")]
    stalls = sum(1 for r in good for iv in r["intervals"] if iv["sum"]["bytes"] == 0)
    return {"runs": len(runs), "ok_runs": len(good), "stalled_intervals": stalls,
            "errors": [r.get("error") for r in runs if "error" in r][:3],
            "mbit_s": [round(r["end"]["sum_received"]["bits_per_second"] / 1e6, 1)
                       for r in good]}


def capture(name: str, iface: str, count: int, out: Path, trigger: str) -> None:
    """tcpdump `count` client-to-server frames on iface while `trigger` runs."""
    td = subprocess.Popen(["ip", "netns", "exec", name, "tcpdump", "-Z", "root", "-c",
                           str(count), "-nni", iface, "-w", str(out),
                           "src host 10.10.0.2 and udp dst port 1194"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    sh(trigger, check=False)
    try:
        td.wait(timeout=60)
    except subprocess.TimeoutExpired:
        td.send_signal(signal.SIGINT)
        td.wait(timeout=10)


def pcap_frames(path: Path) -> list[bytes]:
    data = path.read_bytes()
    endian = "<" if struct.unpack_from("<I", data)[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    frames, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack_from(endian + "I", data, off + 8)[0]
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return frames


def inject(iface: str, pcap: Path, reverse: bool) -> int:
    """Send a capture's Ethernet frames verbatim out of iface (in this netns)."""
    frames = pcap_frames(pcap)
    if reverse:
        frames.reverse()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    for f in frames:
        ihl = (f[14] & 0x0F) * 4
        if f[12:14] == b"\x08\x00" and f[23] == socket.IPPROTO_UDP:
            # captured before the checksum offload filled it in: send it without
            f = f[:14 + ihl + 6] + b"\0\0" + f[14 + ihl + 8:]
        s.send(f)
        time.sleep(0.002)
    return len(frames)


def nft_block(on: bool) -> None:
    if on:
        ns("hs", "nft add table inet harden")
        ns("hs", "nft add chain inet harden in '{ type filter hook input priority 0; }'")
        ns("hs", "nft add rule inet harden in ip saddr 10.10.0.2 udp dport 1194 drop")
    else:
        ns("hs", "nft delete table inet harden")


# --- phases -------------------------------------------------------------------

def phase_fuzz(args: argparse.Namespace) -> None:
    seeds = WORK / "seeds.pcap"
    capture("hc", "hc-s", 300, seeds,
            f"ip netns exec hc ping -c 300 -i 0.01 -s 200 -q {SRV_VIP}")
    p0, u0 = dev_stats("hs", "tsrv"), udp_in("hs")
    d0 = drops(p0)
    s0, c0 = peer_stats("hs", "tsrv", 5), peer_stats("hc", "tcli", 5)
    legit = Legit(extra="-b 20M")
    t0 = time.monotonic()
    out = ns("hx", f"python3 {HERE}/fuzz_udp.py --target 10.20.0.1:1194 --count "
                   f"{args.packets} --seeds {seeds} --peer-id 5 --procs 2", timeout=7200)
    took = time.monotonic() - t0
    runs = legit.stop()
    sent = json.loads(out)
    p1 = dev_stats("hs", "tsrv")
    d1, u1 = drops(p1), udp_in("hs")
    dd = delta(d1, d0)
    arrived_udp = u1 - u0
    rx_drops = sum(v for k, v in dd.items() if k not in TX_REASONS)
    decrypted = int(p1["vpn_rx_packets"]) - int(p0["vpn_rx_packets"])
    keepalive_rx = int(p1["keepalive_rx"]) - int(p0["keepalive_rx"])
    s1, c1 = peer_stats("hs", "tsrv", 5), peer_stats("hc", "tcli", 5)
    srv_rx = int(s1["vpn_rx_packets64"]) - int(s0["vpn_rx_packets64"])
    srv_link_rx = int(s1["link_rx_packets64"]) - int(s0["link_rx_packets64"])
    cli_tx = int(c1["link_tx_packets64"]) - int(c0["link_tx_packets64"])
    leg = summarize(runs)
    FIGURES["fuzz"] = {"sent": sent, "seconds": round(took, 1),
                       "pps": round(sent["packets"] / took), "udp_in_datagrams": arrived_udp,
                       "legit_datagrams": cli_tx, "decrypted": decrypted, "drops": dd,
                       "peer_link_rx": srv_link_rx,
                       "fuzz_lost_before_udp": sent["packets"] - (arrived_udp - cli_tx),
                       "legit_transfer": leg}
    check(f"fuzz: {sent['packets']} hostile datagrams sent", sent["packets"] >= args.packets
          * 0.99, sent)
    check(f"fuzz: every datagram the socket got is decrypted data or a drop counted "
          f"under a reason ({arrived_udp} = {decrypted} decrypted + {keepalive_rx} "
          f"keepalive + {rx_drops} drops)",
          arrived_udp == decrypted + keepalive_rx + rx_drops, dd)
    check(f"fuzz: no fuzzed datagram was accepted as data (server decrypted {srv_rx} "
          f"packets of peer 5, its client sent {cli_tx})",
          0 < srv_rx <= cli_tx and decrypted == srv_rx)
    check(f"fuzz: link RX counted only for authentic packets (server link rx {srv_link_rx} "
          f"packets of peer 5, its client sent {cli_tx})", 0 < srv_link_rx <= cli_tx)
    check(f"fuzz: the legitimate transfer went on ({leg['ok_runs']}/{leg['runs']} "
          f"iperf3 runs, {leg['stalled_intervals']} stalled 1 s intervals)",
          leg["runs"] > 0 and leg["ok_runs"] == leg["runs"], leg)
    tunnel_works("fuzz")


def phase_replay(_args: argparse.Namespace) -> None:
    seeds = WORK / "seeds.pcap"
    p0, u0 = dev_stats("hs", "tsrv"), udp_in("hs")
    out = json.loads(ns("hx", f"python3 {HERE}/fuzz_udp.py --target 10.20.0.1:1194 "
                              f"--count 3000 --seeds {seeds} --replay-only --procs 1"))
    time.sleep(1)
    p1, u1 = dev_stats("hs", "tsrv"), udp_in("hs")
    dd = delta(drops(p1), drops(p0))
    got = u1 - u0
    rx = int(p1["vpn_rx_packets"]) - int(p0["vpn_rx_packets"])
    FIGURES["replay"] = {"sent": out["packets"], "arrived": got, "drops": dd,
                         "accepted": rx}
    check(f"replay: {out['packets']} captured packets replayed from another address, "
          f"all dropped as replay", dd.get("replay", 0) == got and rx == 0,
          {"arrived": got, "drops": dd, "accepted": rx})
    peer = peer_stats("hs", "tsrv", 5)
    check("replay: the peer did not float to the attacker's address",
          peer["sockaddr_remote"].startswith("10.10.0.2:"), peer["sockaddr_remote"])


def phase_order(_args: argparse.Namespace) -> None:
    held = WORK / "held.pcap"
    n = 200
    nft_block(True)
    capture("hc", "hc-s", n, held, f"ip netns exec hc ping -c {n} -i 0.01 -W 1 -q {SRV_VIP}")
    nft_block(False)
    frames = len(pcap_frames(held))
    p0 = peer_stats("hs", "tsrv", 5)
    ns("hc", f"python3 {__file__} --inject hc-s {held} --reverse")
    time.sleep(1)
    p1 = peer_stats("hs", "tsrv", 5)
    acc = int(p1["vpn_rx_packets64"]) - int(p0["vpn_rx_packets64"])
    dd = delta(drops(p1), drops(p0))
    check(f"order: {frames} held-back packets delivered in reverse order inside the "
          f"window are all accepted", frames == n and acc == frames and not dd,
          {"frames": frames, "accepted": acc, "drops": dd})
    ns("hc", f"python3 {__file__} --inject hc-s {held}")
    time.sleep(1)
    p2 = peer_stats("hs", "tsrv", 5)
    dd2 = delta(drops(p2), drops(p1))
    acc2 = int(p2["vpn_rx_packets64"]) - int(p1["vpn_rx_packets64"])
    check("order: the same packets again are all dropped as replay",
          dd2.get("replay", 0) == frames and acc2 == 0, {"accepted": acc2, "drops": dd2})
    # one packet held back, then more than the 2048-id window of newer ones
    old = WORK / "old.pcap"
    nft_block(True)
    capture("hc", "hc-s", 1, old, f"ip netns exec hc ping -c 1 -W 1 {SRV_VIP}")
    nft_block(False)
    ns("hc", f"iperf3 -c {SRV_VIP} -u -b 20M -l 200 -n 1M")  # ~5000 newer packet-ids
    p3 = peer_stats("hs", "tsrv", 5)
    ns("hc", f"python3 {__file__} --inject hc-s {old}")
    time.sleep(1)
    p4 = peer_stats("hs", "tsrv", 5)
    dd3 = delta(drops(p4), drops(p3))
    acc3 = int(p4["vpn_rx_packets64"]) - int(p3["vpn_rx_packets64"])
    check("order: a packet older than the replay window is dropped",
          dd3.get("replay", 0) == 1 and acc3 == 0, {"accepted": acc3, "drops": dd3})
    FIGURES["order"] = {"reordered_accepted": acc, "replayed_dropped": dd2.get("replay", 0),
                        "beyond_window_dropped": dd3.get("replay", 0)}


def phase_spoof(_args: argparse.Namespace) -> None:
    ns("hc", "ip addr add 192.168.77.9/32 dev tcli")
    ns("hc", f"ip addr add {OTHER_VIP}/32 dev tcli")
    res = {}
    for src, what in (("192.168.77.9", "an address that is nobody's"),
                      (OTHER_VIP, "another peer's VIP")):
        p0 = peer_stats("hs", "tsrv", 5)
        ns("hc", f"ping -c 5 -i 0.2 -W 1 -I {src} {SRV_VIP}", check=False)
        p1 = peer_stats("hs", "tsrv", 5)
        dd = delta(drops(p1), drops(p0))
        acc = int(p1["vpn_rx_packets64"]) - int(p0["vpn_rx_packets64"])
        res[src] = dd
        check(f"spoof: inner source {src} ({what}) from peer 5 is dropped as spoofed",
              dd.get("spoofed", 0) == 5 and acc == 0, {"accepted": acc, "drops": dd})
    ns("hc", "ip addr del 192.168.77.9/32 dev tcli")
    ns("hc", f"ip addr del {OTHER_VIP}/32 dev tcli")
    FIGURES["spoof"] = res


def phase_netlink(args: argparse.Namespace) -> None:
    fz = f"python3 {HERE}/nl_fuzz.py"
    # a netns and device of their own: the fuzzer adds, changes and deletes peers
    # at random on every device it finds, so the tunnel under test stays apart
    sh("ip netns add hf")
    ns("hf", "ip link set lo up")
    ns("hf", "ip link add dummy0 type dummy")
    ns("hf", f"{CTL} link-add tfz --mode mp")
    ns("hf", f"{CTL} new-peer tfz --id 5 --remote 10.10.0.9:1194 --bind 127.0.0.1:1300")
    t0 = time.monotonic()
    out = json.loads(ns("hf", f"{fz} --dev tfz --count {args.nl_requests}", timeout=3600))
    took = time.monotonic() - t0
    no_ext = {k: v for k, v in out["no_extack"].items() if not k.startswith("unknown:")}
    out["seconds"] = round(took, 1)
    FIGURES["netlink_fuzz"] = out
    check(f"netlink: {out['requests']} random requests answered "
          f"({out['ok']} accepted, the rest refused with an errno)", True)
    check("netlink: every refusal of a known command carries an extack message",
          not no_ext, no_ext)
    sh("ip netns del hf")
    tunnel_works("netlink fuzz")
    # unprivileged, and from another network namespace
    # a copy that user nobody may read (/root is closed)
    sh(f"rm -rf /tmp/hfz && cp -r {HERE.parent.parent} /tmp/hfz && chmod -R a+rX /tmp/hfz")
    unpriv = json.loads(ns("hs", "setpriv --reuid 65534 --regid 65534 --clear-groups "
                                 "python3 /tmp/hfz/tests/harden/nl_fuzz.py --dev tsrv "
                                 "--valid --expect-errno EPERM"))
    check("netlink: every mutating command as an unprivileged user: EPERM",
          unpriv["all_refused"], unpriv["results"])
    tsrv_idx = int(ns("hs", "cat /sys/class/net/tsrv/ifindex"))
    other = json.loads(ns("hx", f"{fz} --dev lo --ifindex {tsrv_idx} --valid "
                                f"--expect-errno ENODEV"))
    veth_idx = int(ns("hx", "cat /sys/class/net/hx-s/ifindex"))
    foreign = json.loads(ns("hx", f"{fz} --dev lo --ifindex {veth_idx} --valid "
                                  f"--expect-errno EINVAL"))
    check("netlink: from another netns, the server device's ifindex: ENODEV (not found)",
          other["all_refused"], other["results"])
    check("netlink: a device that is not ovpn-shortcut: EINVAL with extack",
          foreign["all_refused"] and all(v["extack"] for v in foreign["results"].values()),
          foreign["results"])
    FIGURES["netlink_perm"] = {"unprivileged": unpriv["results"],
                               "other_netns": other["results"]}
    tunnel_works("netlink permission checks")


def phase_churn(args: argparse.Namespace) -> None:
    ns("hs", f"{CTL} link-add tch --mode mp --listen-port 1400")
    out = json.loads(ns("hs", f"python3 {HERE}/nl_fuzz.py --dev tch --churn {args.churn}",
                        timeout=7200))
    ns("hs", "ip link del tch")
    FIGURES["churn"] = out
    check(f"churn: {out['cycles']} peer add/key/iroute/delete cycles "
          f"({out['requests_per_second']} requests/s)", not out["failures"], out["failures"])
    # key swaps under traffic: both sides hold key-ids 1 and 2 and swap independently
    for name, dev, enc, encn, dec, decn in (("hs", "tsrv", K2, N2, K1, N1),
                                           ("hc", "tcli", K1, N1, K2, N2)):
        ns(name, f"{CTL} new-key {dev} --id 5 --slot 1 --key-id 2 --alg chacha "
                 f"--enc-key {enc} --enc-nonce {encn} --dec-key {dec} --dec-nonce {decn}")
    legit = Legit(seconds=3)
    batch = WORK / "swaps.txt"
    swapper = []
    for name, dev in (("hs", "tsrv"), ("hc", "tcli")):
        lines = "".join(f"swap-keys {dev} --id 5\n" for _ in range(args.swaps))
        (WORK / f"swaps-{dev}.txt").write_text(lines)
        swapper.append(subprocess.Popen(
            f"ip netns exec {name} {CTL} batch < {WORK}/swaps-{dev}.txt",
            shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    errs = [p.communicate(timeout=3600)[1] for p in swapper]
    runs = legit.stop()
    leg = summarize(runs)
    batch.write_text("")
    FIGURES["key_swaps"] = {"per_side": args.swaps, "legit_transfer": leg}
    check(f"churn: {args.swaps} key swaps on each side under iperf3",
          all(p.returncode == 0 for p in swapper) and leg["runs"] > 0
          and leg["ok_runs"] == leg["runs"], {"errors": errs, "legit": leg})
    tunnel_works("key swaps")


def port_free(name: str, hostport: str) -> bool:
    """True if a new UDP socket can bind `hostport` in netns `name`."""
    host, port = hostport.rsplit(":", 1)
    code = (f"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            f"s.bind(('{host}', {port}))")
    return subprocess.run(["ip", "netns", "exec", name, "python3", "-c", code],
                          capture_output=True, timeout=60).returncode == 0


def socket_fault(how: str) -> dict:
    """A process gives its UDP socket to device tfd (as OpenVPN does), then under
    traffic either closes that fd while it lives on (`close`) or is killed with
    SIGKILL (`kill`).  The kernel holds no file reference: the socket's last close
    detaches the peer at once (DEL_PEER notification, reason transport-disconnect),
    the port is free again and nothing is forwarded any more."""
    ns("hs", f"{CTL} link-add tfd --mode mp")
    ns("hs", "ip addr add 192.168.78.1/24 dev tfd")
    ns("hs", "ip link set tfd up")
    ns("hc", f"{CTL} link-add tfc --listen-port 1195")
    ns("hc", "ip addr add 192.168.78.2/24 dev tfc")
    ns("hc", "ip link set tfc up")
    ns("hc", f"{CTL} new-peer tfc --id 9 --remote 10.10.0.1:1195")
    ns("hc", f"{CTL} new-key tfc --id 9 --alg aes-gcm --enc-key {K2} --enc-nonce {N2} "
             f"--dec-key {K1} --dec-nonce {N1}")
    holder = subprocess.Popen(
        ["ip", "netns", "exec", "hs", "python3", __file__, "--hold-socket", "tfd"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = holder.stdout.readline().strip()
    monitor = subprocess.Popen(
        f"exec ip netns exec hs {CTL} monitor --timeout 15 --count 1", shell=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    monitor.stderr.readline()  # "listening": subscribed
    ping = subprocess.Popen("exec ip netns exec hc ping -i 0.05 -W 1 192.168.78.1 > "
                            f"{WORK}/fault-{how}-ping.txt", shell=True)
    time.sleep(2)
    p0 = peer_stats("hs", "tfd", 9)
    t0 = time.monotonic()
    if how == "close":
        holder.stdin.write("close\n")
        holder.stdin.flush()
        acted = holder.stdout.readline().strip()  # "closed N" once the fds are gone
        alive = holder.poll() is None
    else:
        holder.kill()
        holder.wait()
        acted, alive = f"killed, exit {holder.returncode}", False
    gone_after = None
    # each poll starts the tool (1-2 s under TCG at load 12): the detach itself
    # happens within the close(), the bound is for the measurement
    while time.monotonic() - t0 < 20:
        if '"peer_id": 9' not in ns("hs", f"{CTL} get-peer tfd", check=False):
            gone_after = round(time.monotonic() - t0, 2)
            break
        time.sleep(0.1)
    events = [json.loads(ln) for ln in monitor.communicate(timeout=30)[0].splitlines()
              if ln.startswith("{")]
    reasons = [e.get("del_peer", {}).get("reason") for e in events if e["cmd"].endswith("DEL_PEER")]
    bound = ns("hs", "ss -Huanp 'sport = :1195'", check=False).strip()
    free = port_free("hs", "10.10.0.1:1195")
    res = {"holder": ready, "action": acted, "holder_alive": alive,
           "rx_before": int(p0["vpn_rx_packets64"]), "peer_gone_after_s": gone_after,
           "del_peer_reasons": reasons, "socket_after_action": bound, "port_free": free}
    what = ("closes its socket fd while it lives on" if how == "close"
            else "is killed (-9)")
    check(f"faults: the socket's owner {what} under traffic: the peer is detached "
          "within 10 s, DEL_PEER reason transport-disconnect (4), the port is free",
          ready == "ready" and res["rx_before"] > 0 and gone_after is not None
          and gone_after < 10 and reasons == [4] and bound == "" and free
          and (how == "kill" or (acted.startswith("closed") and alive)), res)
    check(f"faults ({how}): the device without a socket takes a new one "
          "(as OpenVPN's restart does)",
          bool(ns("hs", f"python3 {__file__} --rehook tfd", check=False).strip()
               .endswith("rehooked")), res)
    ns("hs", "ip link del tfd")
    ping.kill()
    ping.wait()
    if holder.poll() is None:
        holder.kill()
        holder.wait()
    ns("hc", "ip link del tfc")
    return res


def phase_faults(_args: argparse.Namespace) -> None:
    res = {}
    # (1) the process that gave its socket closes that fd, but lives on
    res["socket_owner_closed_fd"] = socket_fault("close")
    # (2) the process that gave its socket dies (kill -9)
    res["socket_owner_killed"] = socket_fault("kill")
    # (3) the server device deleted under iperf3
    legit = Legit(seconds=8)
    time.sleep(3)
    ns("hs", "ip link del tsrv")
    runs = legit.stop(kill=True)
    routes = ns("hs", "ip route show; ip -6 route show").strip()
    check("faults: server device deleted under iperf3: no route left behind",
          "tsrv" not in routes, routes)
    res["device_deleted"] = {"iperf_runs": len(runs)}
    # (4) rebuild, then rmmod under iperf3
    ns("hc", "ip link del tcli")
    tunnel()
    ok = tunnel_works("faults: device recreated")
    legit = Legit(seconds=8)
    time.sleep(3)
    rm = sh("rmmod ovpn_shortcut", check=False)
    legit.stop(kill=True)
    left = "".join(ns(n, "ip -d link show", check=False) for n in ("hs", "hc", "hx"))
    routes = ns("hs", "ip route show", check=False) + ns("hc", "ip route show", check=False)
    check("faults: rmmod under iperf3 unloads and deletes every device",
          ok and not Path("/sys/module/ovpn_shortcut").exists() and "ovpn-shortcut" not in left
          and "tsrv" not in routes and "tcli" not in routes, {"rmmod": rm, "links": left[-500:]})
    res["rmmod_under_traffic"] = "unloaded" if not Path("/sys/module/ovpn_shortcut").exists() \
        else "still loaded"
    FIGURES["faults"] = res


# --- layer 2 ---------------------------------------------------------------

L2_SRV, L2_CLI, L2_X = "10.77.0.1", "10.77.0.2", "10.77.0.3"
L2_MAX, L2_MAX_PEER = 256, 64
_PRE_AUTH = ("auth", "replay", "crypto", "no_key", "bad_header")


def l2_tunnel() -> dict[str, str]:
    """TAP server lsrv (MP, UDP 1294) in bridge hbr; TAP clients in hc (peer 7) and
    hx (peer 8).  Returns each namespace's tap MAC."""
    ns("hs", f"{CTL} link-add lsrv --mode mp --type tap --listen-port 1294")
    ns("hs", "ip link add hbr type bridge")
    ns("hs", "ip link set lsrv master hbr")
    ns("hs", f"ip addr add {L2_SRV}/24 dev hbr")
    ns("hs", "ip link set lsrv up")
    ns("hs", "ip link set hbr up")
    ns("hs", f"{CTL} set-mac-table lsrv --max {L2_MAX} --max-peer {L2_MAX_PEER}")
    macs = {}
    for pid, name, net, vip in ((7, "hc", "10.10.0", L2_CLI), (8, "hx", "10.20.0", L2_X)):
        ns("hs", f"{CTL} new-peer lsrv --id {pid} --remote {net}.2:1294")
        ns("hs", f"{CTL} new-key lsrv --id {pid} --key-id 2 --alg aes-gcm --enc-key {K1} "
                 f"--enc-nonce {N1} --dec-key {K2} --dec-nonce {N2}")
        ns(name, f"{CTL} link-add ltap --type tap --listen-port 1294")
        ns(name, f"ip addr add {vip}/24 dev ltap")
        ns(name, "ip link set ltap up")
        ns(name, f"{CTL} new-peer ltap --id {pid} --remote {net}.1:1294")
        ns(name, f"{CTL} new-key ltap --id {pid} --key-id 2 --alg aes-gcm --enc-key {K2} "
                 f"--enc-nonce {N2} --dec-key {K1} --dec-nonce {N1}")
        macs[name] = ns(name, "cat /sys/class/net/ltap/address").strip()
    return macs


def mac_table(dev: str = "lsrv") -> list[dict]:
    out = ns("hs", f"{CTL} get-mac {dev}").strip()
    return [m["mac"] for m in json.loads(out)] if out else []


def l2_pings(name: str, what: str) -> bool:
    out = ns(name, f"ping -c 3 -i 0.2 -W 3 {L2_SRV}", check=False)
    return check(f"l2 {what}: {name} pings the bridged server", " 0% packet loss" in out,
                 out[-300:])


def phase_l2(args: argparse.Namespace) -> None:
    """An authenticated TAP peer sends fuzzed Ethernet frames (odd source MACs,
    lengths, ethertypes, VLAN tags, broadcast and multicast) into the server's
    bridge while a legitimate TAP client keeps pinging: every authenticated frame
    is delivered or dropped under a reason, the MAC table stays in its bounds,
    the legitimate client's MAC stays its own, both tunnels keep working."""
    macs = l2_tunnel()
    l2_pings("hc", "setup")
    l2_pings("hx", "setup")
    count = max(2000, args.packets // 6)
    x0, c0 = peer_stats("hs", "lsrv", 8), peer_stats("hs", "lsrv", 7)
    # no shell between: SIGINT must reach ping (ip netns exec execs it), which then
    # prints its summary; -w bounds it if the signal is lost
    legit = subprocess.Popen(["ip", "netns", "exec", "hc", "ping", "-i", "0.2", "-W", "2",
                              "-w", "3600", L2_SRV],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t0 = time.monotonic()
    srv_mac = ns("hs", "cat /sys/class/net/hbr/address").strip()
    sent = int(ns("hx", f"{CTL} send-frames ltap --count {count} --fuzz --seed 61 "
                        f"--dst {srv_mac}", timeout=7200).strip())
    took = time.monotonic() - t0
    time.sleep(2)
    legit.send_signal(signal.SIGINT)
    legit_out = legit.communicate(timeout=30)[0]
    x1, c1 = peer_stats("hs", "lsrv", 8), peer_stats("hs", "lsrv", 7)
    link_rx = int(x1["link_rx_packets64"]) - int(x0["link_rx_packets64"])
    delivered = int(x1["vpn_rx_packets64"]) - int(x0["vpn_rx_packets64"])
    dd = delta(drops(x1), drops(x0))
    counted = sum(v for k, v in dd.items() if k not in _PRE_AUTH)
    table = mac_table()
    per_peer = {pid: sum(1 for m in table if m["peer_id"] == pid) for pid in (7, 8)}
    owner = {m["addr"]: m["peer_id"] for m in table}
    m = re.search(r"(\d+) packets transmitted, (\d+) received", legit_out)
    tx_rx = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    FIGURES["l2"] = {"sent": sent, "seconds": round(took, 1),
                     "fps": round(sent / took) if took else 0, "link_rx": link_rx,
                     "delivered": delivered, "drops": dd, "mac_entries": per_peer,
                     "legit_pings": tx_rx,
                     "legit_rx_during": int(c1["vpn_rx_packets64"])
                     - int(c0["vpn_rx_packets64"])}
    check(f"l2: {sent} fuzzed frames sent by an authenticated peer", sent >= count * 0.9,
          (sent, count))
    check(f"l2: every authenticated frame delivered or dropped under a reason "
          f"({link_rx} = {delivered} delivered + {counted} dropped)",
          link_rx == delivered + counted, dd)
    check(f"l2: most fuzzed frames reached the server ({link_rx} of {sent})",
          link_rx >= sent * 0.9, link_rx)
    check(f"l2: the hostile peer's MAC entries within their bound ({per_peer[8]} <= "
          f"{L2_MAX_PEER})", 0 < per_peer[8] <= L2_MAX_PEER, per_peer)
    check(f"l2: the table within the device bound ({len(table)} <= {L2_MAX})",
          len(table) <= L2_MAX)
    check("l2: the legitimate client's MAC still maps to its own peer",
          owner.get(macs["hc"]) == 7, owner.get(macs["hc"]))
    check(f"l2: the legitimate client pinged on during the attack ({tx_rx[1]}/{tx_rx[0]})",
          tx_rx[0] > 0 and tx_rx[1] >= tx_rx[0] * 0.9, legit_out[-300:])
    # the hostile peer claims the legitimate client's MAC (live entry: refused)
    s0 = drops(peer_stats("hs", "lsrv", 8)).get("mac_spoofed", 0)
    ns("hx", f"{CTL} send-frames ltap --count 200 --src {macs['hc']} --dst {srv_mac}")
    time.sleep(1)
    spoofed = drops(peer_stats("hs", "lsrv", 8)).get("mac_spoofed", 0) - s0
    owner = {m["addr"]: m["peer_id"] for m in mac_table()}
    FIGURES["l2"]["steal_attempts_counted"] = spoofed
    check(f"l2: 200 frames claiming the legitimate client's MAC refused and counted "
          f"({spoofed} mac_spoofed), the entry still its own",
          spoofed >= 180 and owner.get(macs["hc"]) == 7, (spoofed, owner.get(macs["hc"])))
    l2_pings("hc", "after the fuzz")
    l2_pings("hx", "after the fuzz")
    ns("hs", "ip link del hbr")
    for name, dev in (("hs", "lsrv"), ("hc", "ltap"), ("hx", "ltap")):
        ns(name, f"ip link del {dev}")
    tunnel_works("l2")


def rehook(dev: str) -> None:
    """A new socket on the same port, handed to the same device with a new peer."""
    sys.path.insert(0, str(TOOLS))
    import ovpn_sc_ctl as ctl

    ctl.main(["new-peer", dev, "--id", "10", "--remote", "10.10.0.2:1195", "--bind",
              "10.10.0.1:1195"])
    print("rehooked", flush=True)


def hold_socket(dev: str) -> None:
    """Like OpenVPN: bind a UDP socket, give its fd with a new peer, keep running."""
    sys.path.insert(0, str(TOOLS))
    import ovpn_sc_ctl as ctl

    ctl.main(["new-peer", dev, "--id", "9", "--vip4", "192.168.78.2", "--remote",
              "10.10.0.2:1195", "--bind", "10.10.0.1:1195"])
    ctl.main(["new-key", dev, "--id", "9", "--alg", "aes-gcm", "--enc-key", K1, "--enc-nonce",
              N1, "--dec-key", K2, "--dec-nonce", N2])
    print("ready", flush=True)
    # "close" on stdin: close every socket fd this process holds and live on
    for line in sys.stdin:
        if line.strip() == "close":
            socks = list(ctl._SOCKETS.values())
            for sk in socks:
                sk.close()
            ctl._SOCKETS.clear()
            print(f"closed {len(socks)}", flush=True)
    while True:
        time.sleep(1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("phases", nargs="*", default=list(PHASES))
    p.add_argument("--packets", type=int, default=1_000_000)
    p.add_argument("--nl-requests", type=int, default=20000)
    p.add_argument("--churn", type=int, default=10000)
    p.add_argument("--swaps", type=int, default=500)
    p.add_argument("--inject", nargs=2, metavar=("IFACE", "PCAP"))
    p.add_argument("--reverse", action="store_true")
    p.add_argument("--hold-socket", metavar="DEV")
    p.add_argument("--rehook", metavar="DEV")
    args = p.parse_args()
    if args.inject:
        inject(args.inject[0], Path(args.inject[1]), args.reverse)
        return 0
    if args.rehook:
        rehook(args.rehook)
        return 0
    if args.hold_socket:
        hold_socket(args.hold_socket)
        return 0
    WORK.mkdir(exist_ok=True)
    sh("rmmod ovpn_shortcut", check=False)
    teardown()
    base = slab_kib()
    sh("modprobe ovpn_shortcut")
    topology()
    tunnel()
    tunnel_works("setup")
    t_all = time.monotonic()
    for phase in args.phases:
        if phase == "leaks":
            continue
        t0 = time.monotonic()
        print(f"== {phase}", flush=True)
        try:
            globals()[f"phase_{phase}"](args)
        except Exception as e:  # a phase that breaks is a failure, the rest still runs
            check(f"{phase}: ran to the end", False, repr(e)[-1500:])
        FIGURES.setdefault("seconds", {})[phase] = round(time.monotonic() - t0, 1)
    if "leaks" in args.phases:
        print("== leaks", flush=True)
        teardown()
        sh("rmmod ovpn_shortcut", check=False)
        check("leaks: the module unloads at the end", not Path("/sys/module/ovpn_shortcut")
              .exists())
        time.sleep(5)
        end = slab_kib()
        FIGURES["slab_unreclaimable_kib"] = {"before": base, "after": end,
                                             "growth": end - base}
        check(f"leaks: unreclaimable slab back to its baseline ({base} -> {end} KiB)",
              end - base < 4096, end - base)
    FIGURES["seconds_total"] = round(time.monotonic() - t_all, 1)
    FIGURES["failed"] = FAILED
    print("FIGURES " + json.dumps(FIGURES), flush=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
