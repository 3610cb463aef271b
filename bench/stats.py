"""Aggregation of benchmark samples: min/median/max per figure, ratios to the peers."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

# (test, field, label, higher_is_better)
METRICS: list[tuple[str, str, str, bool]] = [
    ("tcp1", "mbps", "TCP 1 stream Mbit/s", True),
    ("tcp4", "mbps", "TCP 4 streams Mbit/s", True),
    ("udp64", "pps", "UDP 64 B kpps", True),
    ("udp1200", "pps", "UDP 1200 B kpps", True),
    ("ping", "avg_ms", "ping avg ms", False),
]
CPU_METRICS: list[tuple[str, str, str]] = [
    ("tcp1", "softirq_pct", "softirq % (all CPUs) during TCP 1"),
    ("tcp1", "system_pct", "system % (all CPUs) during TCP 1"),
    ("tcp1", "openvpn_pct_of_one_cpu", "OpenVPN processes % of one CPU during TCP 1"),
]
# peers every OpenVPN row is compared with (same cipher for the OpenVPN ones)
PEERS = ("veth", "wireguard", "ovpn-user", "ovpn-dco")
SERVER_ONLY_PEER = {"ovpn-sc-srv": "ovpn-dco-srv"}


def label(config: str, cipher: str) -> str:
    return config if config in ("veth", "wireguard") else f"{config} {cipher}"


def spread(values: Iterable[float]) -> dict[str, float] | None:
    vals = sorted(values)
    if not vals:
        return None
    return {"min": vals[0], "median": statistics.median(vals), "max": vals[-1], "n": len(vals)}


def sample_value(sample: dict[str, Any], test: str, field: str) -> float | None:
    res = sample.get("tests", {}).get(test)
    if not res or "error" in res:
        return None
    if field in res:
        return float(res[field])
    return float(res["cpu"][field]) if field in res.get("cpu", {}) else None


def summarize(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{label: {"config", "cipher", test.field: spread}} over the repeats."""
    out: dict[str, dict[str, Any]] = {}
    for s in samples:
        row = out.setdefault(label(s["config"], s["cipher"]),
                             {"config": s["config"], "cipher": s["cipher"], "_vals": {}})
        for test, field, *_ in [*METRICS, *CPU_METRICS]:
            v = sample_value(s, test, field)
            if v is not None:
                row["_vals"].setdefault(f"{test}.{field}", []).append(v)
    for row in out.values():
        for key, vals in row.pop("_vals").items():
            row[key] = spread(vals)
    return out


def peer_label(peer: str, cipher: str) -> str:
    return label(peer, cipher)


def ratios(summary: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Ratio of medians, row / peer, per metric; > 1 means better than the peer.

    For latency (lower is better) the ratio is peer / row, so > 1 is better too.
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    for lab, row in summary.items():
        peers = [p for p in PEERS if p != row["config"]]
        if row["config"] in SERVER_ONLY_PEER:  # against the same shape, not both-ends DCO
            peers = [*PEERS[:3], SERVER_ONLY_PEER[row["config"]]]
        for peer in peers:
            other = summary.get(peer_label(peer, row["cipher"]))
            if other is None:
                continue
            for test, field, _, higher in METRICS:
                key = f"{test}.{field}"
                a, b = row.get(key), other.get(key)
                if not a or not b or not a["median"] or not b["median"]:
                    continue
                r = a["median"] / b["median"] if higher else b["median"] / a["median"]
                out.setdefault(lab, {}).setdefault(peer, {})[key] = r
    return out


def round_ratios(samples: list[dict[str, Any]], config: str, peer: str, cipher: str,
                 test: str, field: str) -> dict[str, float] | None:
    """min/median/max of the per-round ratio (same repeat index, measured minutes apart)."""
    by_round: dict[int, dict[str, float]] = {}
    for s in samples:
        if s["cipher"] != cipher and s["config"] not in ("veth", "wireguard"):
            continue
        v = sample_value(s, test, field)
        if v is not None:
            by_round.setdefault(s["repeat"], {})[s["config"]] = v
    vals = [r[config] / r[peer] for r in by_round.values()
            if config in r and peer in r and r[peer]]
    return spread(vals)
