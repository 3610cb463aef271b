"""Scale figures: per-packet cost with 1..10k peers configured, netlink add/del rate.

The per-packet cost is read as single-stream TCP and ping through peer 1 of an
MP device that also holds N-1 other peers (each with a key and a VPN address).
Bulk add is measured while growing (add_per_s: one figure per step), bulk
delete once at the end, then nl_fuzz.py's add/key/iroute/del churn.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ovpn_lab.guest import Guest, GuestError
from ovpn_lab.log import log

from .setup import GUEST_DIR
from .stats import spread

SCALE = f"{GUEST_DIR}/guest/scale.sh"


def _json(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def run(g: Guest, counts: list[int], repeats: int, duration: int, churn: int) -> dict[str, Any]:
    out: dict[str, Any] = {"peers": [], "errors": []}
    adds: list[float] = []
    try:
        g.run(f"{SCALE} up", timeout=300)
        have = 1
        for n in sorted(counts):
            if n > have:
                doc = _json(g.run(f"{SCALE} grow {have + 1} {n}", timeout=3600).stdout)
                adds.append(doc["peers_per_s"])
                out.setdefault("adds_raw", []).append(doc)
                log(f"bench: scale {have} -> {n} peers in {doc['seconds']:.1f} s")
                have = n
            samples: dict[str, list[float]] = {"tcp1.mbps": [], "ping.avg_ms": []}
            for _ in range(repeats):
                res = _json(g.run(f"python3 {GUEST_DIR}/guest/measure.py --target "
                                  f"10.202.0.1 --tests tcp1,ping --duration {duration}",
                                  timeout=600).stdout)
                if "mbps" in res["tcp1"]:
                    samples["tcp1.mbps"].append(res["tcp1"]["mbps"])
                if "avg_ms" in res["ping"]:
                    samples["ping.avg_ms"].append(res["ping"]["avg_ms"])
            out["peers"].append({"peers": n, **{k: spread(v) for k, v in samples.items()}})
        t0 = time.monotonic()
        if have > 1:
            doc = _json(g.run(f"{SCALE} shrink 2 {have}", timeout=3600).stdout)
            out["churn"] = {"bulk_peers": have - 1, "add_per_s": spread(adds),
                            "del_per_s": spread([doc["peers_per_s"]]), "del_raw": doc}
        if churn:
            rates = []
            for _ in range(repeats):
                doc = _json(g.run(f"{SCALE} churn {churn}", timeout=3600).stdout)
                rates.append(float(doc["requests_per_second"]))
                out.setdefault("churn_raw", []).append(doc)
            out.setdefault("churn", {}).update({"peers": churn,
                                                "requests_per_s": spread(rates)})
        out["teardown_seconds"] = time.monotonic() - t0
    except (GuestError, ValueError, KeyError, IndexError) as e:
        out["errors"].append(str(e)[-1500:])
        log(f"bench: scale failed: {str(e)[-400:]}")
    finally:
        g.run(f"{SCALE} down", check=False, timeout=120)
    return out
