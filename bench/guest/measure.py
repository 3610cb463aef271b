#!/usr/bin/env python3
"""Guest side of `./dev bench`: run the measurements from namespace bc to a target.

    measure.py --target IP --tests tcp1,tcp4,udp64,udp1200,ping --duration 5 --pids "1 2"

The client end (netns bc) sends; a test name ending in r (udp64r, tcp1r) runs iperf3 -R
(the server end sends).

Prints one JSON object: per test the figure, and the guest's CPU split during it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from parse import (
    counter_deltas,
    cpu_shares,
    iperf_tcp_bps,
    iperf_udp_pps,
    link_counters,
    ping_rtt,
    proc_pid_ticks,
    proc_stat_cpu,
    snmp_udp,
)

NS = ["ip", "netns", "exec", "bc"]


def _ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += proc_pid_ticks(Path(f"/proc/{pid}/stat").read_text())
        except (OSError, ValueError):
            pass
    return total


def _run(argv: list[str], timeout: float) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exit {proc.returncode}: "
                           f"{proc.stdout[-500:]} {proc.stderr[-500:]}")
    return proc.stdout


def _iperf(argv: list[str], timeout: float) -> dict:
    doc = json.loads(_run(argv, timeout))
    if "error" in doc:
        raise RuntimeError(f"iperf3: {doc['error']}")
    return doc


def counters() -> dict[str, int]:
    """UDP stack and link counters of both namespaces (where UDP test packets get lost)."""
    out: dict[str, int] = {}
    for ns in ("bs", "bc"):
        udp = snmp_udp(_run(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"], 30))
        out.update({f"{ns}.udp.{k}": v for k, v in udp.items()})
        links = json.loads(_run(["ip", "-n", ns, "-s", "-j", "link", "show"], 30))
        out.update({f"{ns}.{k}": v for k, v in link_counters(links).items()})
    return out


def one(test: str, target: str, duration: int) -> dict:
    """tcpN, udpSIZE, ping; a trailing r (tcp1r, udp64r) reverses: the server end sends."""
    t = ["-t", str(duration), "-J", "-c", target]
    if test[:3] in ("tcp", "udp") and test.endswith("r"):
        t.append("-R")
        test = test[:-1]
    if test.startswith("tcp"):
        streams = test[3:] or "1"  # TCP: the first second (slow start) omitted
        doc = _iperf([*NS, "iperf3", *t, "-O", "1", "-P", streams], duration + 60)
        return {"mbps": iperf_tcp_bps(doc) / 1e6}
    if test.startswith("udp"):
        size = test[3:]
        doc = _iperf([*NS, "iperf3", *t, "-u", "-b", "0", "-l", size], duration + 60)
        return iperf_udp_pps(doc)
    if test == "ping":
        out = _run([*NS, "ping", "-q", "-c", "20", "-i", "0.05", "-W", "5", "-s", "56", target],
                   120)
        return ping_rtt(out)
    raise ValueError(f"unknown test {test}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--tests", default="tcp1,tcp4,ping")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--pids", default="")
    a = ap.parse_args()
    pids = [int(p) for p in a.pids.split()]
    ncpu = os.cpu_count() or 1
    out: dict[str, dict] = {}
    for test in a.tests.split(","):
        before, pt0, t0 = proc_stat_cpu(Path("/proc/stat").read_text()), _ticks(pids), time.time()
        c0 = counters() if test.startswith("udp") else {}
        try:
            res = one(test, a.target, a.duration)
            if c0:  # where the packets went: UDP stack and link counters that moved
                res["counters"] = counter_deltas(c0, counters())
        except (RuntimeError, ValueError, subprocess.TimeoutExpired, KeyError) as e:
            res = {"error": str(e)[-800:]}
        after = proc_stat_cpu(Path("/proc/stat").read_text())
        res["cpu"] = cpu_shares(before, after, _ticks(pids) - pt0, ncpu)
        res["seconds"] = round(time.time() - t0, 2)
        out[test] = res
        time.sleep(0.5)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
