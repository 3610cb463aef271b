"""Scale figures: per-packet cost with 1..10k peers configured, netlink add/del rate.

The kernel paths stay up side by side in the guest (bench/guest/scale.sh):
ovpn-shortcut and ovpn-dco (MP server device, driven over generic netlink by
ovpn_sc_ctl.py, no OpenVPN process), upstream's in-tree ovpn where the guest kernel
has it (the same, through bench/guest/ovpn_up_nl.py) and WireGuard (`wg set`). For each peer count N
every path is grown to N peers (peer 1 is the measured tunnel, the others each have
a key and a VPN address), then every round measures veth, ovpn-sc, ovpn-dco and
WireGuard back to back (single-stream TCP and ping): the host's load changes over
minutes, so only figures taken in the same round are compared (per-round ratios).

Add/delete rates: `repeats` rounds of adding then deleting `rate_peers` peers on
each path while it holds only peer 1 (WireGuard through `wg set`, 500 peers per
command: a different API, reported as a reference), then nl_fuzz.py's
add/key/iroute/del churn on ovpn-shortcut.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ovpn_lab.guest import Guest, GuestError
from ovpn_lab.log import log

from .setup import GUEST_DIR
from .stats import spread

SCALE = f"{GUEST_DIR}/guest/scale.sh"
CONFIGS = ("ovpn-sc", "ovpn-up", "ovpn-dco", "wireguard")
REFERENCE = "veth"
FIGURES = (("tcp1", "mbps"), ("ping", "avg_ms"))


def _json(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def _peers(g: Guest, op: str, config: str, lo: int, hi: int) -> dict[str, Any]:
    doc = _json(g.run(f"{SCALE} {op} {config} {lo} {hi}", timeout=3600).stdout)
    if doc.get("failures"):
        raise GuestError(f"{config} {op} {lo}..{hi}: {doc['failures']}")
    return doc


def measure_once(g: Guest, config: str, duration: int) -> dict[str, float]:
    """tcp1 Mbit/s and ping avg ms through CONFIG's peer 1 (missing on error)."""
    target = g.run(f"{SCALE} target {config}").stdout.strip()
    res = _json(g.run(f"python3 {GUEST_DIR}/guest/measure.py --target {target} "
                      f"--tests tcp1,ping --duration {duration}", timeout=600).stdout)
    out: dict[str, float] = {}
    for test, field in FIGURES:
        if field in res.get(test, {}):
            out[f"{test}.{field}"] = float(res[test][field])
    return out


def rates(g: Guest, configs: list[str], repeats: int, peers: int) -> dict[str, Any]:
    """add and delete peers/s, `repeats` rounds of each config interleaved."""
    raw: dict[str, dict[str, list[float]]] = {c: {"add": [], "del": []} for c in configs}
    for r in range(repeats):
        for c in configs:
            add = _peers(g, "grow", c, 2, peers + 1)
            dele = _peers(g, "shrink", c, 2, peers + 1)
            raw[c]["add"].append(add["peers_per_s"])
            raw[c]["del"].append(dele["peers_per_s"])
            log(f"bench: scale rates round {r + 1} {c}: add {add['peers_per_s']:.0f}/s, "
                f"del {dele['peers_per_s']:.0f}/s")
    return {c: {"peers": peers,
                "api": "wg set, 500 peers per command" if c == "wireguard"
                       else "generic netlink, one request per new-peer/new-key/del-peer",
                "add_per_s": spread(v["add"]), "del_per_s": spread(v["del"]),
                "add_raw": v["add"], "del_raw": v["del"]}
            for c, v in raw.items()}


def run(g: Guest, counts: list[int], repeats: int, duration: int, churn: int,
        rate_peers: int = 1000, configs: tuple[str, ...] = CONFIGS) -> dict[str, Any]:
    out: dict[str, Any] = {"configs": [REFERENCE], "reference": REFERENCE, "peers": [],
                           "errors": [], "method": {
                               "repeats": repeats, "duration_s": duration,
                               "rate_peers": rate_peers, "order": "per N, per round: "
                               + ", ".join([REFERENCE, *configs])}}
    try:
        g.run(f"{GUEST_DIR}/guest/tunnels.sh down", check=False, timeout=120)
        g.run(f"{SCALE} down", check=False, timeout=120)
        up: list[str] = []
        for c in configs:
            try:
                g.run(f"{SCALE} up {c}", timeout=300)
                up.append(c)
            except GuestError as e:
                out["errors"].append(f"{c} up: {str(e)[-600:]}")
                log(f"bench: scale {c} failed to come up: {str(e)[-300:]}")
        out["configs"] += up
        if rate_peers and repeats:
            out["rates"] = rates(g, up, repeats, rate_peers)
        if churn and "ovpn-sc" in up:  # peer ids 1000+: before the growth
            t0 = time.monotonic()
            got = []
            for _ in range(repeats):
                doc = _json(g.run(f"{SCALE} churn {churn}", timeout=3600).stdout)
                got.append(float(doc["requests_per_second"]))
                out.setdefault("churn_raw", []).append(doc)
            out["churn"] = {"peers": churn, "requests_per_s": spread(got),
                            "seconds": time.monotonic() - t0}
        have = dict.fromkeys(up, 1)
        for n in sorted(counts):
            grow: dict[str, Any] = {}
            for c in up:
                if n > have[c]:
                    doc = _peers(g, "grow", c, have[c] + 1, n)
                    grow[c] = doc
                    log(f"bench: scale {c} {have[c]} -> {n} peers in {doc['seconds']:.1f} s")
                    have[c] = n
            rounds: list[dict[str, dict[str, float]]] = []
            loads: list[float] = []
            for r in range(repeats):
                loads.append(float(Path("/proc/loadavg").read_text().split()[0]))
                rnd: dict[str, dict[str, float]] = {}
                for c in [REFERENCE, *up]:
                    try:
                        rnd[c] = measure_once(g, c, duration)
                    except (GuestError, ValueError, IndexError) as e:
                        out["errors"].append(f"N={n} round {r + 1} {c}: {str(e)[-300:]}")
                rounds.append(rnd)
                log(f"bench: scale N={n} round {r + 1}: " + ", ".join(
                    f"{c} {v.get('tcp1.mbps', 0):.1f}" for c, v in rnd.items()))
            row = {"peers": n, "rounds": rounds, "grow": grow, "host_load1": loads, "configs": {
                c: {k: spread(rd[c][k] for rd in rounds if k in rd.get(c, {}))
                    for k in (f"{t}.{f}" for t, f in FIGURES)}
                for c in [REFERENCE, *up]}}
            out["peers"].append(row)
    except (GuestError, ValueError, KeyError, IndexError) as e:
        out["errors"].append(str(e)[-1500:])
        log(f"bench: scale failed: {str(e)[-400:]}")
    finally:
        g.run(f"{SCALE} down", check=False, timeout=300)
    return out
