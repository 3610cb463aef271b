"""Writing bench results: JSON (everything), Markdown tables, PNG chart."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from . import stats

UNIT_SCALE = {"udp64.pps": 1e-3, "udp1200.pps": 1e-3}  # pps shown as kpps


def _fmt(v: float) -> str:
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def cell(sp: dict[str, float] | None, scale: float = 1.0) -> str:
    if not sp:
        return "—"
    return (f"{_fmt(sp['median'] * scale)} ({_fmt(sp['min'] * scale)}-"
            f"{_fmt(sp['max'] * scale)})")


def enrich(doc: dict[str, Any]) -> dict[str, Any]:
    summary = stats.summarize([s for s in doc["samples"] if "tests" in s])
    doc["summary"] = summary
    doc["ratios"] = stats.ratios(summary)
    return doc


def markdown(doc: dict[str, Any]) -> str:
    summary, ratios = doc["summary"], doc["ratios"]
    m = doc["method"]
    lines = [
        "# ovpn-shortcut against its peers",
        "",
        f"Run started {doc['started']}; {m['repeats']} repeats (round-robin), "
        f"{m['duration_s']} s per iperf3 run; {m['path']}; {m['qemu']}.",
        f"Host load (1/5/15 min) at start `{doc['host']['loadavg_start']}`, at end "
        f"`{doc['host'].get('loadavg_end', '?')}` (shared 2-core machine: compare ratios "
        "within this run, not absolute figures).",
        "",
        "## Figures: median (min-max)",
        "",
        "| configuration | " + " | ".join(lbl for _, _, lbl, _ in stats.METRICS) + " |",
        "|---" * (len(stats.METRICS) + 1) + "|",
    ]
    for lab, row in summary.items():
        cells = [cell(row.get(f"{t}.{f}"), UNIT_SCALE.get(f"{t}.{f}", 1.0))
                 for t, f, _, _ in stats.METRICS]
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    lines += ["", "## Ratios of medians (> 1: better than the peer; latency inverted)", ""]
    lines += ["| configuration | vs | " + " | ".join(lbl for _, _, lbl, _ in stats.METRICS)
              + " |", "|---" * (len(stats.METRICS) + 2) + "|"]
    for lab, per_peer in ratios.items():
        if summary[lab]["config"] not in ("ovpn-sc", "ovpn-sc-srv", "ovpn-dco"):
            continue
        for peer, r in per_peer.items():
            cells = [f"{r[f'{t}.{f}']:.2f}" if f"{t}.{f}" in r else "—"
                     for t, f, _, _ in stats.METRICS]
            lines.append(f"| {lab} | {peer} | " + " | ".join(cells) + " |")
    lines += ["", "## CPU during the single TCP stream: median (min-max)", "",
              "| configuration | " + " | ".join(lbl for _, _, lbl in stats.CPU_METRICS) + " |",
              "|---" * (len(stats.CPU_METRICS) + 1) + "|"]
    for lab, row in summary.items():
        lines.append(f"| {lab} | " + " | ".join(cell(row.get(f"{t}.{f}"))
                                                for t, f, _ in stats.CPU_METRICS) + " |")
    if doc.get("scale"):
        lines += ["", scale_markdown(doc["scale"])]
    fails = [s for s in doc["samples"] if "error" in s]
    if fails:
        lines += ["", "## Failed runs", ""]
        lines += [f"- round {s['repeat'] + 1} {s['config']} {s['cipher']}: "
                  f"`{s['error'].strip().splitlines()[-1][:200]}`" for s in fails]
    lines += ["", "## Versions and timings", "", "```",
              json.dumps({"versions": doc.get("versions"),
                          "timings_s": {k: round(v, 1) for k, v in doc["timings_s"].items()}},
                         indent=1), "```", ""]
    return "\n".join(lines)


def scale_markdown(sc: dict[str, Any]) -> str:
    lines = ["## Scale (ovpn-shortcut, MP server device, no OpenVPN process)", ""]
    if sc.get("peers"):
        lines += ["| peers configured | TCP 1 stream Mbit/s | ping avg ms | TCP ratio to 1 peer |",
                  "|---|---|---|---|"]
        base = None
        for row in sc["peers"]:
            tcp = row.get("tcp1.mbps")
            if tcp and base is None:
                base = tcp["median"]
            ratio = f"{tcp['median'] / base:.2f}" if tcp and base else "—"
            lines.append(f"| {row['peers']} | {cell(tcp)} | {cell(row.get('ping.avg_ms'))} | "
                         f"{ratio} |")
    if sc.get("churn"):
        c = sc["churn"]
        lines += ["", f"Netlink peer add/key/iroute/del churn ({c.get('peers')} peers): "
                  f"{cell(c.get('requests_per_s'))} requests/s; bulk add of "
                  f"{c.get('bulk_peers')} peers {cell(c.get('add_per_s'))} peers/s, "
                  f"delete {cell(c.get('del_per_s'))} peers/s."]
    for e in sc.get("errors", []):
        lines.append(f"- error: `{e[:300]}`")
    return "\n".join(lines)


def chart(doc: dict[str, Any], path: Path) -> bool:
    """Bar chart of the throughput medians with min-max whiskers; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    summary = doc["summary"]
    labels = list(summary)
    figs = [(t, f, lbl) for t, f, lbl, higher in stats.METRICS if higher]
    fig, axes = plt.subplots(1, len(figs), figsize=(5.5 * len(figs), 0.45 * len(labels) + 2))
    for ax, (t, f, lbl) in zip(axes, figs, strict=True):
        key, k = f"{t}.{f}", UNIT_SCALE.get(f"{t}.{f}", 1.0)
        med, lo, hi, names = [], [], [], []
        for name in labels:
            sp = summary[name].get(key)
            if sp and summary[name]["config"] != "veth":  # veth dwarfs every tunnel
                names.append(name)
                med.append(sp["median"] * k)
                lo.append((sp["median"] - sp["min"]) * k)
                hi.append((sp["max"] - sp["median"]) * k)
        colors = ["tab:red" if n.startswith("ovpn-sc") else
                  "tab:blue" if n.startswith("ovpn-dco") else
                  "tab:green" if n == "wireguard" else "tab:gray" for n in names]
        ax.barh(names, med, xerr=[lo, hi], color=colors, capsize=3)
        ax.invert_yaxis()
        ax.set_title(lbl, fontsize=10)
        ax.tick_params(labelsize=8)
    fig.suptitle("median, min-max whiskers (same guest, same run; veth omitted)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def write_all(doc: dict[str, Any], out: Path) -> None:
    enrich(doc)
    (out / "results.json").write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    (out / "results.md").write_text(markdown(doc))
    if doc["summary"]:
        chart(doc, out / "results.png")


if __name__ == "__main__":  # python -m bench.report [DIR]: rewrite MD/PNG from results.json
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results"
    write_all(json.loads((d / "results.json").read_text()), d)
