"""Host CPU behind a guest's throughput: `python -m bench.hostside CONFIG:CIPHER[:ARGS] ...`.

Under TCG every guest CPU is a host thread ("CPU n/TCG", QEMU's debug-threads), and
the host's two cores also run QEMU's other threads. A guest profile bills a vCPU's
preemption on the host to whatever the guest was running then; this tool measures
the host side of the same run: for each configuration, one iperf3 in the bench guest
(TCP unless ARGS say otherwise), and over the same window

- the guest's busy share of its CPUs (its /proc/stat),
- each QEMU thread's host CPU time and involuntary context switches (host /proc),
- the host's busy share of its own CPUs and its load.

Uses the running bench lab (`python -m bench --keep-up` first), like bench.profile.
The text goes to $BENCH_HOSTSIDE_OUT (default bench/results/hostside.txt).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ovpn_lab.guest import Guest
from ovpn_lab.lab import Lab

from .run import RESULTS, cpu_model
from .setup import GUEST_DIR

WARMUP_S = 3.0
WINDOW_S = 8.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ThreadSample:
    """One host thread: name, CPU ticks (user + system), involuntary switches."""

    name: str
    ticks: int
    nonvoluntary: int


def qemu_threads(pid: int) -> dict[int, ThreadSample]:
    """The threads of QEMU process `pid`, by thread id."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text().rsplit(")", 1)[1].split()
            status = (task / "status").read_text()
            name = (task / "comm").read_text().strip()
        except OSError:
            continue  # the thread ended
        nonvol = next(int(line.split()[1]) for line in status.splitlines()
                      if line.startswith("nonvoluntary_ctxt_switches"))
        out[int(task.name)] = ThreadSample(name, int(stat[11]) + int(stat[12]), nonvol)
    return out


def cpu_busy_idle(stat_text: str) -> tuple[int, int]:
    """(busy, idle) jiffies of the aggregate `cpu` line of a /proc/stat text."""
    fields = [int(x) for x in stat_text.splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, idle  # without guest time, counted in user


def busy_share(before: str, after: str) -> float:
    """Busy share (0..1) of all CPUs between two /proc/stat texts."""
    b0, i0 = cpu_busy_idle(before)
    b1, i1 = cpu_busy_idle(after)
    total = (b1 - b0) + (i1 - i0)
    return (b1 - b0) / total if total else 0.0


def thread_report(before: dict[int, ThreadSample], after: dict[int, ThreadSample],
                  seconds: float) -> list[str]:
    """Lines per vCPU thread and for QEMU's other threads together: host CPU %,
    involuntary context switches per second."""
    rows: dict[str, list[float]] = {}
    for tid, end in after.items():
        start = before.get(tid, ThreadSample(end.name, 0, 0))
        key = end.name if end.name.startswith("CPU ") else "other QEMU threads"
        row = rows.setdefault(key, [0.0, 0.0])
        row[0] += (end.ticks - start.ticks) / CLK_TCK / seconds * 100
        row[1] += (end.nonvoluntary - start.nonvoluntary) / seconds
    return [f"  {name:<20} host CPU {cpu:5.1f}%  involuntary switches {cs:7.1f}/s"
            for name, (cpu, cs) in sorted(rows.items())]


def measure(g: Guest, item: str) -> str:
    config, _, rest = item.partition(":")
    cipher, _, extra = rest.partition(":")
    pid = g.pid()
    if pid is None:
        raise SystemExit(f"{g.name} is not running: run `python -m bench --keep-up` first")
    up = g.run(f"{GUEST_DIR}/guest/tunnels.sh up {shlex.quote(config)} "
               f"{shlex.quote(cipher or 'none')}", timeout=300)
    target = json.loads(up.stdout.strip().splitlines()[-1])["target"]  # its facts
    secs = int(WARMUP_S + WINDOW_S + 3)
    try:
        g.run(f"rm -f /tmp/hostside.json; nohup sh -c 'ip netns exec bc iperf3 -c {target} "
              f"-t {secs} -J {extra} > /tmp/hostside.json' >/dev/null 2>&1 &")
        time.sleep(WARMUP_S)
        host0, guest0, t0 = Path("/proc/stat").read_text(), g.run("cat /proc/stat").stdout, \
            time.monotonic()
        threads0 = qemu_threads(pid)
        time.sleep(WINDOW_S)
        threads1 = qemu_threads(pid)
        host1, guest1, t1 = Path("/proc/stat").read_text(), g.run("cat /proc/stat").stdout, \
            time.monotonic()
        load = os.getloadavg()[0]
        g.run("for i in $(seq 120); do python3 -c 'import json; "
              "json.load(open(\"/tmp/hostside.json\"))' 2>/dev/null && break; sleep 0.5; done",
              timeout=120)
        end = json.loads(g.run("cat /tmp/hostside.json").stdout)["end"]
    finally:
        g.run(f"{GUEST_DIR}/guest/tunnels.sh down >/dev/null", check=False, timeout=300)
    s = end.get("sum_received") or end["sum"]
    if "packets" in s:
        got = f"{(s['packets'] - s['lost_packets']) / s['seconds']:.0f} pps delivered"
    else:
        got = f"{s['bits_per_second'] / 1e6:.1f} Mbit/s"
    lines = [f"== {config} {cipher or 'none'} iperf3 {extra or 'TCP'}: {got} "
             f"(whole run); window {t1 - t0:.1f} s, host load {load:.2f}",
             f"  guest busy {busy_share(guest0, guest1) * 100:5.1f}% of its CPUs, "
             f"host busy {busy_share(host0, host1) * 100:5.1f}% of its CPUs",
             *thread_report(threads0, threads1, t1 - t0)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    g = Lab(os.environ.get("OVPN_LAB_NAME", "h-bench")).guest("g1")
    out = [f"run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; guest kernel "
           f"{g.release()}, QEMU TCG; host {cpu_model()}, {os.cpu_count()} CPUs; "
           f"QEMU {g.name} pid {g.pid()}"]
    print(out[0], flush=True)
    for item in argv or ["ovpn-sc:CHACHA20-POLY1305", "wireguard:"]:
        out.append(measure(g, item))
        print(out[-1], flush=True)
    Path(os.environ.get("BENCH_HOSTSIDE_OUT", RESULTS / "hostside.txt")).write_text(
        "\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
