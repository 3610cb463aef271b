"""Aggregation of benchmark samples: min/median/max per figure, ratios to the peers."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
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
# the UDP tests' sender side and loss (iperf3 -b 0 from bc: the client end sends)
UDP_METRICS: list[tuple[str, str, str]] = [
    ("udp64", "sent_pps", "UDP 64 B sent kpps"),
    ("udp64", "lost_percent", "UDP 64 B loss %"),
    ("udp1200", "sent_pps", "UDP 1200 B sent kpps"),
    ("udp1200", "lost_percent", "UDP 1200 B loss %"),
    ("udp64r", "pps", "reverse UDP 64 B kpps"),
    ("udp64r", "lost_percent", "reverse UDP 64 B loss %"),
    ("udp1200r", "pps", "reverse UDP 1200 B kpps"),
    ("udp1200r", "lost_percent", "reverse UDP 1200 B loss %"),
]
# peers every OpenVPN row is compared with (same cipher for the OpenVPN ones); ovpn-up:
# stock OpenVPN 2.7 + the in-tree `ovpn` (Linux 6.16+), the strongest kernel peer
# ovpn-sc-serial: ours without parallel crypto (parallel_crypto=0); ovpn-sc-chacha-api:
# ours with ChaCha20-Poly1305 through the crypto API's rfc7539 template (chacha_lib=0)
PEERS = ("veth", "wireguard", "ovpn-user", "ovpn-dco", "ovpn-up", "ovpn-sc-serial",
         "ovpn-sc-chacha-api")
# same-round ratio pairs shown in the report: (config, peer)
# rows of another shape are compared with their own kind, not with both-ends tun DCO:
# the server-only kernel path, dev tap (kernel vs userspace), and TCP under a path MTU
# below the tunnel's with mssfix clamping in the kernel vs without (outer fragments)
SHAPE_PEER = {"ovpn-sc-srv": "ovpn-dco-srv", "ovpn-sc-tap": "ovpn-user-tap",
              "ovpn-sc-tap-srv": "ovpn-user-tap", "ovpn-sc-pmtu": "ovpn-sc-pmtu-nomss"}
ROUND_PAIRS = (*(("ovpn-sc", p) for p in PEERS), *SHAPE_PEER.items())


def label(config: str, cipher: str) -> str:
    return config if config in ("veth", "wireguard") else f"{config} {cipher}"


def spread(values: Iterable[float]) -> dict[str, float] | None:
    vals = sorted(values)
    if not vals:
        return None
    return {"min": vals[0], "median": statistics.median(vals), "max": vals[-1], "n": len(vals)}


def spread_text(sp: dict[str, float] | None, fmt: Callable[[float], str]) -> str:
    """A spread as `median (min-max)`, each value written by `fmt`; a dash when absent."""
    if not sp:
        return "—"
    return f"{fmt(sp['median'])} ({fmt(sp['min'])}-{fmt(sp['max'])})"


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
        for test, field, *_ in [*METRICS, *CPU_METRICS, *UDP_METRICS]:
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
        if row["config"] in SHAPE_PEER:  # against the same shape, not both-ends DCO
            peers = [*PEERS[:3], SHAPE_PEER[row["config"]]]
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


# --- scale figures (bench/scale.py): same-round comparisons ---------------------------

SCALE_FIGURES: list[tuple[str, str, bool]] = [
    ("tcp1.mbps", "TCP 1 stream Mbit/s", True),
    ("ping.avg_ms", "ping avg ms", False),
]
SCALE_PAIRS = (("ovpn-sc", "ovpn-up"), ("ovpn-sc", "ovpn-dco"), ("ovpn-sc", "wireguard"))


def _better_ratio(a: float, b: float, higher: bool) -> float:
    """a relative to b, > 1 when a is better (latency: lower is better)."""
    return a / b if higher else b / a


def scale_rows(sc: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-N rows, the old single-config layout (ovpn-sc only) read as one config."""
    rows = []
    for row in sc.get("peers", []):
        if "configs" not in row:
            row = {"peers": row["peers"], "rounds": [], "configs": {
                "ovpn-sc": {k: row.get(k) for k, _, _ in SCALE_FIGURES}}}
        rows.append(row)
    return rows


def _round_values(row: dict[str, Any], config: str, key: str) -> list[float | None]:
    return [r.get(config, {}).get(key) for r in row.get("rounds", [])]


def pair_ratio(row: dict[str, Any], a: str, b: str, key: str,
               higher: bool) -> dict[str, Any] | None:
    """a vs b at one N: ratio of medians and the spread of the per-round ratios."""
    sa, sb = row["configs"].get(a, {}).get(key), row["configs"].get(b, {}).get(key)
    if not sa or not sb or not sa["median"] or not sb["median"]:
        return None
    per_round = [_better_ratio(x, y, higher)
                 for x, y in zip(_round_values(row, a, key), _round_values(row, b, key),
                                 strict=True) if x and y]
    return {"of_medians": _better_ratio(sa["median"], sb["median"], higher),
            "per_round": spread(per_round)}


def _share_of_reference(row: dict[str, Any], config: str, ref: str, key: str,
                        higher: bool) -> float | None:
    """median over the rounds of config / reference measured in the same round."""
    vals = [_better_ratio(x, y, higher)
            for x, y in zip(_round_values(row, config, key), _round_values(row, ref, key),
                            strict=True) if x and y]
    return statistics.median(vals) if vals else None


def scale_ratios(sc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Ours vs ovpn-dco / WireGuard at each N, and each config's N vs its own first N.

    vs_first gives the ratio of medians (N / first N) and the same ratio of the
    per-round shares of the reference (veth): the latter cancels host load that
    changed between the N steps. > 1 always means better.
    """
    rows = scale_rows(sc)
    ref = sc.get("reference", "veth")
    pairs: list[dict[str, Any]] = []
    vs_first: list[dict[str, Any]] = []
    if not rows:
        return {"pairs": pairs, "vs_first": vs_first}
    first = rows[0]
    for row in rows:
        for a, b in SCALE_PAIRS:
            for key, _, higher in SCALE_FIGURES:
                r = pair_ratio(row, a, b, key, higher)
                if r:
                    pairs.append({"peers": row["peers"], "config": a, "vs": b, "figure": key,
                                  **r})
        for config in row["configs"]:
            if config == ref:
                continue
            for key, _, higher in SCALE_FIGURES:
                now, then = (row["configs"].get(config, {}).get(key),
                             first["configs"].get(config, {}).get(key))
                if not now or not then or not now["median"] or not then["median"]:
                    continue
                rec: dict[str, Any] = {
                    "peers": row["peers"], "first": first["peers"], "config": config,
                    "figure": key,
                    "of_medians": _better_ratio(now["median"], then["median"], higher)}
                s_now = _share_of_reference(row, config, ref, key, higher)
                s_then = _share_of_reference(first, config, ref, key, higher)
                rec["of_reference_shares"] = s_now / s_then if s_now and s_then else None
                vs_first.append(rec)
    return {"pairs": pairs, "vs_first": vs_first}


def rate_ratios(rates: dict[str, Any], ours: str = "ovpn-sc") -> dict[str, dict[str, Any]]:
    """{peer: {"add": spread, "del": spread}} of ours / peer, round by round (same round)."""
    mine = rates.get(ours)
    if not mine:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for c, r in rates.items():
        if c == ours:
            continue
        got = {op: spread(a / b for a, b in zip(mine.get(f"{op}_raw", []),
                                                r.get(f"{op}_raw", []), strict=False) if b)
               for op in ("add", "del")}
        if got["add"] or got["del"]:
            out[c] = got
    return out
