"""One peer on 1, 2 and 4 vCPUs: every configuration with N CPUs online, in one run.

`./dev bench --cpus 1,2,4` boots the guest with the largest count. Each round takes
every count in turn, sets the guest's online CPUs (/sys/devices/system/cpu/cpuK/online)
and measures every configuration back to back at that count (bench.run.measure: one
tunnel, one peer, its tests). Same-round ratios: each configuration at N CPUs against
itself at the smallest count, and ovpn-sc against each peer at the same N. Under TCG a
guest's vCPUs are host threads: beyond the host's cores (2 here) more vCPUs share them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ovpn_lab.guest import Guest, GuestError
from ovpn_lab.log import log

from .stats import label, sample_value, spread, spread_text

FIGURES: list[tuple[str, str, str]] = [
    ("tcp1", "mbps", "TCP 1 stream Mbit/s"),
    ("tcp4", "mbps", "TCP 4 streams Mbit/s"),
    ("udp64", "pps", "UDP 64 B pps"),
    ("udp1200", "pps", "UDP 1200 B pps"),
]
OURS = "ovpn-sc"
Measure = Callable[[Guest, str, str, int, str, int], dict[str, Any]]


def set_online(g: Guest, n: int, total: int) -> None:
    """CPUs 0..n-1 online, the rest of 0..total-1 offline; checks the result."""
    cmds = [f"echo {1 if k < n else 0} > /sys/devices/system/cpu/cpu{k}/online"
            for k in range(1, total)]
    if cmds:
        g.run("; ".join(cmds))
    got = int(g.run("nproc").stdout.strip())
    if got != n:
        raise GuestError(f"asked for {n} online CPUs, the guest has {got}")


def run(g: Guest, counts: list[int], order: list[tuple[str, str]], repeats: int,
        tests: str, duration: int, measure: Measure) -> dict[str, Any]:
    total = max(counts)
    out: dict[str, Any] = {"counts": counts, "vcpus": total, "samples": [], "errors": [],
                           "order": "per round, per CPU count: "
                                    + ", ".join(label(c, ci) for c, ci in order)}
    try:
        for r in range(repeats):
            for n in counts:
                set_online(g, n, total)
                for config, cipher in order:
                    log(f"bench: cpus round {r + 1}/{repeats}, {n} CPUs: {config} {cipher}")
                    s = measure(g, config, cipher, r, tests, duration)
                    s["cpus"] = n
                    out["samples"].append(s)
                    if "error" in s:
                        out["errors"].append(f"{n} CPUs {config} {cipher}: {s['error'][:300]}")
    except GuestError as e:
        out["errors"].append(str(e)[-600:])
        log(f"bench: cpus phase failed: {str(e)[-300:]}")
    finally:
        set_online(g, total, total)
    return out


def _values(c: dict[str, Any]) -> dict[tuple[str, int, int, str], float]:
    """(label, cpus, round, test.field) -> value."""
    out: dict[tuple[str, int, int, str], float] = {}
    for s in c.get("samples", []):
        for test, field, _ in FIGURES:
            v = sample_value(s, test, field)
            if v is not None:
                out[(label(s["config"], s["cipher"]), s["cpus"], s["repeat"],
                     f"{test}.{field}")] = v
    return out


def table(c: dict[str, Any]) -> dict[str, Any]:
    """Medians per (label, cpus), same-round ratios N/first and ours/peer per N."""
    vals = _values(c)
    counts = c.get("counts", [])
    labels = list(dict.fromkeys(k[0] for k in vals))
    rounds = sorted({k[2] for k in vals})
    keys = [f"{t}.{f}" for t, f, _ in FIGURES]
    med = {(lab, n, key): spread(vals[(lab, n, r, key)] for r in rounds
                                 if (lab, n, r, key) in vals)
           for lab in labels for n in counts for key in keys}
    scaling = {(lab, n, key): spread(vals[(lab, n, r, key)] / vals[(lab, counts[0], r, key)]
                                     for r in rounds
                                     if (lab, n, r, key) in vals
                                     and vals.get((lab, counts[0], r, key)))
               for lab in labels for n in counts[1:] for key in keys}
    ours = [lab for lab in labels if lab.split(" ")[0] == OURS]
    vs = {(a, b, n, key): spread(vals[(a, n, r, key)] / vals[(b, n, r, key)] for r in rounds
                                 if (a, n, r, key) in vals and vals.get((b, n, r, key)))
          for a in ours for b in labels if b != a for n in counts for key in keys}
    return {"labels": labels, "med": med, "scaling": scaling, "vs": vs}


def _num(v: float, digits: int) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 ** digits else f"{v:.{digits}g}"


def _cell(sp: dict[str, float] | None, digits: int = 3) -> str:
    return spread_text(sp, lambda v: _num(v, digits))


def markdown(c: dict[str, Any]) -> str:
    t = table(c)
    counts = c.get("counts", [])
    if not t["labels"]:
        return "\n".join(["## One peer on 1..N CPUs", "", "no figures"]
                         + [f"- error: `{e}`" for e in c.get("errors", [])])
    lines = ["## One peer on " + ", ".join(map(str, counts)) + " CPUs", "",
             f"One guest booted with {c.get('vcpus')} vCPUs; each round sets the online "
             f"CPUs to each count in turn and measures every configuration back to back "
             f"({c.get('order', '')}). Under TCG each vCPU is a host thread: counts above "
             "the host's cores share them. Median (min-max) over the rounds.", ""]
    for test, field, name in FIGURES:
        key = f"{test}.{field}"
        if not any(t["med"].get((lab, n, key)) for lab in t["labels"] for n in counts):
            continue
        lines += [f"| {name} | " + " | ".join(f"{n} CPU" for n in counts)
                  + " | " + " | ".join(f"{n} / {counts[0]} CPU, same round"
                                       for n in counts[1:]) + " |",
                  "|---" * (1 + 2 * len(counts) - 1) + "|"]
        for lab in t["labels"]:
            lines.append(f"| {lab} | "
                         + " | ".join(_cell(t["med"].get((lab, n, key))) for n in counts)
                         + " | " + " | ".join(_cell(t["scaling"].get((lab, n, key)), 2)
                                              for n in counts[1:]) + " |")
        lines.append("")
    pairs = sorted({(a, b) for a, b, _, _ in t["vs"]})
    if pairs:
        lines += ["Same-round ratios, ovpn-sc / peer at the same CPU count (> 1: ovpn-sc "
                  "better), median (min-max)", "",
                  "| ovpn-sc | peer | figure | " + " | ".join(f"{n} CPU" for n in counts)
                  + " |", "|---" * (3 + len(counts)) + "|"]
        for a, b in pairs:
            for test, field, name in FIGURES:
                key = f"{test}.{field}"
                cells = [t["vs"].get((a, b, n, key)) for n in counts]
                if any(cells):
                    lines.append(f"| {a} | {b} | {name} | "
                                 + " | ".join(_cell(x, 2) for x in cells) + " |")
        lines.append("")
    lines += [f"- error: `{e}`" for e in c.get("errors", [])]
    return "\n".join(lines)
