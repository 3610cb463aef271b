"""Writing bench results: JSON (everything), Markdown tables, PNG chart."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from . import cpus, stats

UNIT_SCALE = {"udp64.pps": 1e-3, "udp1200.pps": 1e-3}  # pps shown as kpps


def _fmt(v: float) -> str:
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def cell(sp: dict[str, float] | None, scale: float = 1.0) -> str:
    return stats.spread_text(sp, lambda v: _fmt(v * scale))


def enrich(doc: dict[str, Any]) -> dict[str, Any]:
    summary = stats.summarize([s for s in doc["samples"] if "tests" in s])
    doc["summary"] = summary
    doc["ratios"] = stats.ratios(summary)
    return doc


def markdown(doc: dict[str, Any]) -> str:
    summary = doc["summary"]
    m = doc["method"]
    lines = [
        "# ovpn-shortcut against its peers",
        "",
        f"Run started {doc['started']}; {m['repeats']} repeats (round-robin), "
        f"{m['duration_s']} s per iperf3 run; {m['path']}; {m['qemu']}.",
        f"Host load (1/5/15 min) at start `{doc['host']['loadavg_start']}`, at end "
        f"`{doc['host'].get('loadavg_end', '?')}` (shared 2-core machine: compare ratios "
        "within this run, not absolute figures).",
        *header_cpu(doc),
        "",
        *skipped_lines(doc),
    ]
    if summary:
        lines += figures_markdown(doc)
    if doc.get("cpus"):
        lines += ["", cpus.markdown(doc["cpus"])]
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


def header_cpu(doc: dict[str, Any]) -> list[str]:
    """The host CPU model and what the guest sees (-cpu max under TCG), where recorded."""
    host = doc["host"].get("cpu_model")
    v = doc.get("versions") or {}
    guest = v.get("guest_cpu_model")
    if not host and not guest:
        return []
    release = doc["method"].get("release")
    return [f"Host CPU `{host or '?'}` ({doc['host'].get('cpus', '?')} cores); guest "
            + (f"`{release}` kernel `{v.get('kernel', '?')}`, " if release else "")
            + f"CPU `{guest or '?'}` (QEMU TCG `-cpu max`: emulated, AES-NI visible "
            f"{'yes' if v.get('guest_cpu_flags_aes') == '1' else 'no'})."]


def skipped_lines(doc: dict[str, Any]) -> list[str]:
    """One line per requested configuration the guest could not run (run.skipped_configs)."""
    skipped = doc.get("skipped") or {}
    if not skipped:
        return []
    return ["## Skipped configurations", "",
            *(f"- {c}: not measured, {why}" for c, why in skipped.items()), ""]


LOSSY_PERCENT = 50.0


def lossy(summary: dict[str, Any], lab: str, peer: str, test: str) -> bool:
    """True when the UDP test lost over LOSSY_PERCENT in this row or the peer's (medians)."""
    rows = [summary.get(lab, {}), summary.get(stats.peer_label(peer, summary[lab]["cipher"]), {})]
    return any((row.get(f"{test}.lost_percent") or {}).get("median", 0) > LOSSY_PERCENT
               for row in rows)


def figures_markdown(doc: dict[str, Any]) -> list[str]:
    summary, ratios = doc["summary"], doc["ratios"]
    lines = ["## Figures: median (min-max)", "",
             "| configuration | " + " | ".join(lbl for _, _, lbl, _ in stats.METRICS) + " |",
             "|---" * (len(stats.METRICS) + 1) + "|"]
    for lab, row in summary.items():
        cells = [cell(row.get(f"{t}.{f}"), UNIT_SCALE.get(f"{t}.{f}", 1.0))
                 for t, f, _, _ in stats.METRICS]
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    lines += ["", "## Ratios of medians (> 1: better than the peer; latency inverted)", ""]
    lines += ["| configuration | vs | " + " | ".join(lbl for _, _, lbl, _ in stats.METRICS)
              + " |", "|---" * (len(stats.METRICS) + 2) + "|"]
    for lab, per_peer in ratios.items():
        if summary[lab]["config"] not in ("ovpn-sc", "ovpn-dco", "ovpn-up", *stats.SHAPE_PEER):
            continue
        for peer, r in per_peer.items():
            cells = [(f"{r[f'{t}.{f}']:.2f}" + ("*" if lossy(summary, lab, peer, t) else ""))
                     if f"{t}.{f}" in r else "—" for t, f, _, _ in stats.METRICS]
            lines.append(f"| {lab} | {peer} | " + " | ".join(cells) + " |")
    lines += ["", f"\\* more than {LOSSY_PERCENT:.0f}% of the sent packets were lost on one side "
              "(see the UDP table): the figure is set by the slower end (with -srv: the "
              "userspace client), not by the kernel module compared."]
    rr = round_ratio_rows(doc)
    if rr:
        lines += ["", "## Same-round ratios: median (min-max) over the rounds", "",
                  "Each round measures every configuration minutes apart; the ratio of two "
                  "configurations in the same round is less exposed to the host's load drift "
                  "than the ratio of medians.", "",
                  "| configuration | vs | " + " | ".join(lbl for _, _, lbl, _ in stats.METRICS)
                  + " |", "|---" * (len(stats.METRICS) + 2) + "|", *rr]
    lines += ["", "## UDP tests: sent and lost (iperf3 -b 0 from the client end, reverse: "
              "from the server end; the figures above are delivered packets): median "
              "(min-max)", "",
              "| configuration | " + " | ".join(lbl for _, _, lbl in stats.UDP_METRICS) + " |",
              "|---" * (len(stats.UDP_METRICS) + 1) + "|"]
    for lab, row in summary.items():
        lines.append(f"| {lab} | " + " | ".join(
            cell(row.get(f"{t}.{f}"), 1e-3 if f.endswith("pps") else 1.0)
            for t, f, _ in stats.UDP_METRICS) + " |")
    lost = loss_counter_rows(doc)
    if lost:
        lines += ["", "## Where UDP test packets were dropped: counters that moved, median over "
                  "the rounds (bs = server namespace, bc = client namespace)", "",
                  "| configuration | test | counters |", "|---|---|---|", *lost]
    dp = datapath_rows(doc)
    if dp:
        lines += ["", "## Data path in use (read back from the devices and OpenVPN's log)", "",
                  "| configuration | server device kind | client device kind | "
                  "client's DCO version |", "|---|---|---|---|", *dp]
    lines += ["", "## CPU during the single TCP stream: median (min-max)", "",
              "| configuration | " + " | ".join(lbl for _, _, lbl in stats.CPU_METRICS) + " |",
              "|---" * (len(stats.CPU_METRICS) + 1) + "|"]
    for lab, row in summary.items():
        lines.append(f"| {lab} | " + " | ".join(cell(row.get(f"{t}.{f}"))
                                                for t, f, _ in stats.CPU_METRICS) + " |")
    return lines


def datapath_rows(doc: dict[str, Any]) -> list[str]:
    """Per OpenVPN configuration: the device kinds and the DCO version of its first run.

    `ovpn` on both ends is upstream's in-tree module, `ovpn-shortcut` ours, `ovpn-dco`
    the out-of-tree ovpn-dco, `tun` userspace.
    """
    seen: dict[str, dict[str, str]] = {}
    for s in doc["samples"]:
        facts = s.get("facts") or {}
        if s["config"] in ("veth", "wireguard") or not facts:
            continue
        seen.setdefault(stats.label(s["config"], s["cipher"]), facts)
    return [f"| {lab} | {f.get('server_link', '?')} | {f.get('client_link', '?')} | "
            f"{f.get('client_dco_version') or '—'} |" for lab, f in seen.items()]


def loss_counter_rows(doc: dict[str, Any]) -> list[str]:
    """Drop/error counters (and delivered packets) measured around each UDP test."""
    vals: dict[tuple[str, str], dict[str, list[int]]] = {}
    for s in doc["samples"]:
        for test, res in s.get("tests", {}).items():
            for k, v in res.get("counters", {}).items():
                if "drop" in k or "Errors" in k or k.endswith(".udp.InDatagrams"):
                    lab = stats.label(s["config"], s["cipher"])
                    vals.setdefault((lab, test), {}).setdefault(k, []).append(v)
    out = []
    for (lab, test), per in vals.items():
        cells = ", ".join(f"{k} {statistics.median(v):.0f}" for k, v in sorted(per.items()))
        out.append(f"| {lab} | {test} | {cells} |")
    return out


def round_ratio_rows(doc: dict[str, Any]) -> list[str]:
    """Table rows of stats.round_ratios for the pairs in stats.ROUND_PAIRS, per cipher."""
    samples = [s for s in doc["samples"] if "tests" in s]
    ciphers = sorted({s["cipher"] for s in samples if s["cipher"]})
    out = []
    for config, peer in stats.ROUND_PAIRS:
        for cipher in ciphers:
            cells = []
            for t, f, _, higher in stats.METRICS:
                sp = stats.round_ratios(samples, config, peer, cipher, t, f)
                if sp and not higher:  # latency: > 1 is better, as everywhere
                    sp = stats.round_ratios(samples, peer, config, cipher, t, f)
                cells.append(f"{sp['median']:.2f} ({sp['min']:.2f}-{sp['max']:.2f})"
                             if sp else "—")
            if any(c != "—" for c in cells):
                out.append(f"| {config} {cipher} | {peer} | " + " | ".join(cells) + " |")
    return out


def _ratio_cell(r: dict[str, Any] | None) -> str:
    if not r:
        return "—"
    pr = r.get("per_round")
    tail = (f"; per round {pr['median']:.2f} ({pr['min']:.2f}-{pr['max']:.2f}, n={pr['n']})"
            if pr else "")
    return f"{r['of_medians']:.2f}{tail}"


def scale_markdown(sc: dict[str, Any]) -> str:
    rows = stats.scale_rows(sc)
    ref = sc.get("reference", "veth")
    configs = sc.get("configs") or sorted({c for row in rows for c in row["configs"]})
    m = sc.get("method", {})
    lines = ["## Scale: N peers configured on the server device", "",
             "MP server device with N peers (each with a key and a VPN address), no OpenVPN "
             "process; traffic through peer 1. "
             + (f"Order: {m['order']}; {m.get('repeats')} rounds of "
                f"{m.get('duration_s')} s single-stream TCP + 20 pings per configuration. "
                if m.get("order") else "")
             + "Per-round ratios compare figures taken back to back (same host load).", ""]
    for key, lbl, _ in stats.SCALE_FIGURES:
        if not any(row["configs"].get(c, {}).get(key) for row in rows for c in configs):
            continue
        lines += [f"| peers | {' | '.join(configs)} | host load (1 min) |",
                  "|---" * (len(configs) + 2) + "|"]
        lines[-2] = f"| peers: {lbl}, median (min-max) | " + lines[-2][len("| peers | "):]
        for row in rows:
            load = row.get("host_load1")
            lines.append(f"| {row['peers']} | "
                         + " | ".join(cell(row["configs"].get(c, {}).get(key))
                                      for c in configs)
                         + f" | {', '.join(f'{x:.1f}' for x in load) if load else '—'} |")
        lines.append("")
    ratios = stats.scale_ratios(sc)
    pairs = [p for p in stats.SCALE_PAIRS
             if any((r["config"], r["vs"]) == p for r in ratios["pairs"])]
    if pairs:
        lines += ["Ratios at the same N (> 1: ovpn-sc better; ratio of medians; per round: "
                  "median (min-max) of the same-round ratios)", "",
                  "| peers | figure | " + " | ".join(f"{a} / {b}" for a, b in pairs)
                  + " |", "|---" * (len(pairs) + 2) + "|"]
        for row in rows:
            for key, lbl, _ in stats.SCALE_FIGURES:
                got = {(r["config"], r["vs"]): r for r in ratios["pairs"]
                       if r["peers"] == row["peers"] and r["figure"] == key}
                if got:
                    lines.append(f"| {row['peers']} | {lbl} | "
                                 + " | ".join(_ratio_cell(got.get(p)) for p in pairs)
                                 + " |")
        lines.append("")
    if ratios["vs_first"]:
        lines += [f"Each configuration at N against itself at N={rows[0]['peers']} "
                  f"(> 1: better; second figure: its share of {ref} in the same round, "
                  f"N against N={rows[0]['peers']}, which cancels host load drift)", "",
                  "| peers | configuration | "
                  + " | ".join(lbl for _, lbl, _ in stats.SCALE_FIGURES) + " |",
                  "|---" * (len(stats.SCALE_FIGURES) + 2) + "|"]
        for row in rows[1:]:
            for c in configs:
                recs = {r["figure"]: r for r in ratios["vs_first"]
                        if r["peers"] == row["peers"] and r["config"] == c}
                if not recs:
                    continue
                cells = []
                for key, _, _ in stats.SCALE_FIGURES:
                    r = recs.get(key)
                    share = r and r.get("of_reference_shares")
                    cells.append("—" if not r else f"{r['of_medians']:.2f}"
                                 + (f"; {ref}-normalised {share:.2f}" if share else ""))
                lines.append(f"| {row['peers']} | {c} | " + " | ".join(cells) + " |")
        lines.append("")
    if sc.get("rates"):
        lines += ["Peer add and delete rates, each round adds then deletes the same peers on a "
                  "device holding only peer 1: median (min-max), n rounds", "",
                  "| configuration | API | peers per round | add peers/s | delete peers/s | n |",
                  "|---|---|---|---|---|---|"]
        for c, r in sc["rates"].items():
            n = (r.get("add_per_s") or {}).get("n", 0)
            lines.append(f"| {c} | {r.get('api', '')} | {r.get('peers')} | "
                         f"{cell(r.get('add_per_s'))} | {cell(r.get('del_per_s'))} | {n} |")
        lines.append("")
        rr = stats.rate_ratios(sc["rates"])
        if rr:
            lines += ["Same-round rate ratios, ovpn-sc / peer (> 1: ovpn-sc faster): "
                      "median (min-max)", "", "| vs | add | delete |", "|---|---|---|"]
            lines += [f"| {c} | {cell(r['add'])} | {cell(r['del'])} |" for c, r in rr.items()]
            lines.append("")
    if sc.get("churn"):
        c = sc["churn"]
        lines += [f"nl_fuzz.py add/key/iroute/del churn on ovpn-sc ({c.get('peers')} peers): "
                  f"{cell(c.get('requests_per_s'))} requests/s."]
        if c.get("bulk_peers"):  # older runs: bulk figures measured while growing
            lines[-1] += (f" Bulk add of {c.get('bulk_peers')} peers "
                          f"{cell(c.get('add_per_s'))} peers/s, delete "
                          f"{cell(c.get('del_per_s'))} peers/s.")
    for e in sc.get("errors", []):
        lines.append(f"- error: `{e[:300]}`")
    return "\n".join(lines)


def scale_chart(sc: dict[str, Any], path: Path) -> bool:
    """TCP Mbit/s against N per configuration, and ovpn-sc's same-round ratios."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = stats.scale_rows(sc)
    if not rows:
        return False
    ref = sc.get("reference", "veth")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    colors = {"ovpn-sc": "tab:red", "ovpn-dco": "tab:blue", "wireguard": "tab:green",
              "ovpn-up": "tab:purple"}
    configs = sc.get("configs") or sorted({c for row in rows for c in row["configs"]})
    for c in configs:
        if c == ref:
            continue
        pts = [(row["peers"], row["configs"].get(c, {}).get("tcp1.mbps")) for row in rows]
        pts = [(n, sp) for n, sp in pts if sp]
        if pts:
            ax1.errorbar([n for n, _ in pts], [sp["median"] for _, sp in pts],
                         yerr=[[sp["median"] - sp["min"] for _, sp in pts],
                               [sp["max"] - sp["median"] for _, sp in pts]],
                         label=c, color=colors.get(c), marker="o", capsize=3)
    ax1.set_xscale("log")
    ax1.set_xlabel("peers configured")
    ax1.set_title("TCP 1 stream Mbit/s, median (min-max)", fontsize=10)
    ax1.legend(fontsize=8)
    pairs = stats.scale_ratios(sc)["pairs"]
    for a, b in stats.SCALE_PAIRS:
        pts = [(r["peers"], r["per_round"]) for r in pairs
               if r["config"] == a and r["vs"] == b and r["figure"] == "tcp1.mbps"
               and r["per_round"]]
        if pts:
            ax2.errorbar([n for n, _ in pts], [sp["median"] for _, sp in pts],
                         yerr=[[sp["median"] - sp["min"] for _, sp in pts],
                               [sp["max"] - sp["median"] for _, sp in pts]],
                         label=f"{a} / {b}", color=colors.get(b), marker="s", capsize=3)
    ax2.axhline(1.0, color="gray", lw=0.8)
    if not ax2.has_data():
        ax2.text(0.5, 0.5, "no same-round pairs", ha="center", transform=ax2.transAxes)
    ax2.set_xscale("log")
    ax2.set_xlabel("peers configured")
    ax2.set_title("TCP 1 stream, same-round ratio (median, min-max)", fontsize=10)
    if ax2.get_legend_handles_labels()[0]:
        ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


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
                  "tab:purple" if n.startswith("ovpn-up") else
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


def write_all(doc: dict[str, Any], out: Path, name: str = "results") -> None:
    enrich(doc)
    (out / f"{name}.json").write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    (out / f"{name}.md").write_text(markdown(doc))
    if doc["summary"]:
        chart(doc, out / f"{name}.png")
    if doc.get("scale") and stats.scale_rows(doc["scale"]):
        scale_chart(doc["scale"], out / f"{name}-scale.png")


if __name__ == "__main__":  # python -m bench.report [DIR [NAME]]: rewrite MD/PNG from NAME.json
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results"
    stem = sys.argv[2] if len(sys.argv) > 2 else "results"
    write_all(json.loads((d / f"{stem}.json").read_text()), d, stem)
