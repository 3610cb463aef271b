"""Parsers shared by the guest-side measurer and the host's unit tests (stdlib only)."""

from __future__ import annotations

import re

CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def iperf_tcp_bps(doc: dict) -> float:
    """Receiver-side bits/s of an `iperf3 -J` TCP run (all streams summed)."""
    end = doc["end"]
    return float(end["sum_received"]["bits_per_second"])


def iperf_udp_pps(doc: dict) -> dict[str, float]:
    """Delivered packets/s of an `iperf3 -u -J` run, as the receiver counted them.

    iperf3 3.12 (Debian 12) reports the receiver's packet and loss counts in
    end.sum; newer versions add end.sum_received.
    """
    end = doc["end"]
    s = end.get("sum_received") or end["sum"]
    if "packets" not in s:
        s = end["sum"]
    seconds = float(s.get("seconds") or s["end"] - s["start"])
    packets = int(s["packets"])
    lost = int(s.get("lost_packets", 0))
    if not 0 <= lost <= packets:
        raise ValueError(f"inconsistent UDP counts: {packets} packets, {lost} lost")
    return {"pps": (packets - lost) / seconds, "sent_pps": packets / seconds,
            "lost_percent": 100.0 * lost / packets if packets else 0.0}


_RTT = re.compile(r"rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms")
_LOSS = re.compile(r"(\d+) packets transmitted, (\d+) received")


def ping_rtt(text: str) -> dict[str, float]:
    """rtt min/avg/max/mdev (ms) and loss from iputils ping's summary."""
    m = _RTT.search(text)
    if not m:
        raise ValueError(f"no rtt line in ping output: {text[-300:]!r}")
    loss = _LOSS.search(text)
    sent, got = (int(loss.group(1)), int(loss.group(2))) if loss else (0, 0)
    vals = [float(x) for x in m.groups()]
    return {"min_ms": vals[0], "avg_ms": vals[1], "max_ms": vals[2], "mdev_ms": vals[3],
            "loss_percent": 100.0 * (sent - got) / sent if sent else 0.0}


def proc_stat_cpu(text: str) -> dict[str, int]:
    """The aggregate `cpu` line of /proc/stat, in clock ticks."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            nums = [int(x) for x in line.split()[1:1 + len(CPU_FIELDS)]]
            return dict(zip(CPU_FIELDS, nums, strict=False))
    raise ValueError("no cpu line in /proc/stat")


def proc_pid_ticks(text: str) -> int:
    """utime + stime (clock ticks) from /proc/PID/stat (the comm may hold spaces)."""
    rest = text[text.rindex(")") + 2:].split()
    return int(rest[11]) + int(rest[12])  # fields 14 and 15 of proc(5)


def cpu_shares(before: dict[str, int], after: dict[str, int], proc_ticks: int,
               ncpu: int) -> dict[str, float]:
    """Percent of all CPUs in softirq / system / user, and the processes' percent of one CPU."""
    delta = {k: after[k] - before[k] for k in CPU_FIELDS}
    total = sum(delta.values()) or 1
    wall_ticks = total / ncpu  # ticks of one CPU over the interval
    return {"softirq_pct": 100.0 * delta["softirq"] / total,
            "system_pct": 100.0 * delta["system"] / total,
            "user_pct": 100.0 * (delta["user"] + delta["nice"]) / total,
            "idle_pct": 100.0 * (delta["idle"] + delta["iowait"]) / total,
            "openvpn_pct_of_one_cpu": 100.0 * proc_ticks / wall_ticks}


def snmp_udp(text: str) -> dict[str, int]:
    """The Udp counters of /proc/net/snmp (header line, then value line)."""
    rows = [line.split() for line in text.splitlines() if line.startswith("Udp:")]
    if len(rows) < 2:
        raise ValueError("no Udp lines in /proc/net/snmp")
    return {k: int(v) for k, v in zip(rows[0][1:], rows[1][1:], strict=True)}


def link_counters(links: list[dict]) -> dict[str, int]:
    """{dev.rx_packets, dev.rx_dropped, dev.tx_packets, dev.tx_dropped} from `ip -s -j link`."""
    out: dict[str, int] = {}
    for link in links:
        st = link.get("stats64") or link.get("stats") or {}
        for way in ("rx", "tx"):
            for field in ("packets", "dropped"):
                if field in st.get(way, {}):
                    out[f"{link['ifname']}.{way}_{field}"] = int(st[way][field])
    return out


def counter_deltas(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """after - before for every counter that moved."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
