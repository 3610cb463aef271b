"""bench/: parsing of iperf3/ping/proc output, aggregation, ratios, report files (no guest)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from bench import report, stats
from bench.run import CONFIGS, DEFAULT_CONFIGS, plan, scale_configs, skipped_configs
from bench.upstream_openvpn import pick_version

_SPEC = importlib.util.spec_from_file_location(
    "bench_guest_parse", Path(__file__).resolve().parents[2] / "bench" / "guest" / "parse.py")
parse = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(parse)

PING = """--- 10.201.0.1 ping statistics ---
20 packets transmitted, 19 received, 5% packet loss, time 1034ms
rtt min/avg/max/mdev = 0.412/1.250/3.900/0.700 ms
"""


def test_ping_rtt():
    r = parse.ping_rtt(PING)
    assert r["min_ms"] == 0.412 and r["avg_ms"] == 1.25 and r["max_ms"] == 3.9
    assert r["loss_percent"] == pytest.approx(5.0)


def test_ping_without_summary_raises():
    with pytest.raises(ValueError):
        parse.ping_rtt("20 packets transmitted, 0 received, 100% packet loss")


def test_iperf_tcp_uses_receiver_sum():
    doc = {"end": {"sum_sent": {"bits_per_second": 9e6},
                   "sum_received": {"bits_per_second": 8e6}}}
    assert parse.iperf_tcp_bps(doc) == 8e6


def test_iperf_udp_312_layout():
    doc = {"end": {"sum": {"start": 0, "end": 5.0, "seconds": 5.0, "packets": 1000,
                           "lost_packets": 250}}}
    r = parse.iperf_udp_pps(doc)
    assert r["pps"] == 150.0 and r["sent_pps"] == 200.0 and r["lost_percent"] == 25.0


def test_iperf_udp_newer_layout_prefers_sum_received():
    doc = {"end": {"sum": {"seconds": 5.0, "packets": 1000, "lost_packets": 0},
                   "sum_received": {"seconds": 5.0, "packets": 500, "lost_packets": 100}}}
    assert parse.iperf_udp_pps(doc)["pps"] == 80.0


def test_proc_parsers_and_cpu_shares():
    before = parse.proc_stat_cpu("cpu  100 0 50 800 0 0 10 0 0 0\ncpu0 1 2 3\n")
    after = parse.proc_stat_cpu("cpu  200 0 150 900 0 0 110 0 0 0\n")
    stat = "1234 (open vpn) S " + " ".join(["0"] * 10) + " 30 12 0 0"
    assert parse.proc_pid_ticks(stat) == 42
    shares = parse.cpu_shares(before, after, proc_ticks=50, ncpu=2)
    # 400 ticks in all over 2 CPUs: softirq 100/400, one CPU = 200 ticks
    assert shares["softirq_pct"] == 25.0 and shares["system_pct"] == 25.0
    assert shares["openvpn_pct_of_one_cpu"] == 25.0


def _sample(config: str, cipher: str, repeat: int, tcp: float, ping: float) -> dict:
    return {"config": config, "cipher": cipher, "repeat": repeat,
            "tests": {"tcp1": {"mbps": tcp, "cpu": {"softirq_pct": 10.0}},
                      "ping": {"avg_ms": ping, "cpu": {}},
                      "tcp4": {"error": "iperf3 failed", "cpu": {}}}}


SAMPLES = [
    *[_sample("wireguard", "", r, v, 1.0) for r, v in enumerate((60, 70, 80))],
    *[_sample("ovpn-dco", "AES-256-GCM", r, v, 2.0) for r, v in enumerate((40, 50, 45))],
    *[_sample("ovpn-sc", "AES-256-GCM", r, v, 1.0) for r, v in enumerate((90, 100, 110))],
    *[_sample("ovpn-dco-srv", "AES-256-GCM", r, 10, 4.0) for r in range(3)],
    *[_sample("ovpn-sc-srv", "AES-256-GCM", r, 12, 4.0) for r in range(3)],
]


def test_summary_min_median_max_and_errors_skipped():
    s = stats.summarize(SAMPLES)
    assert s["ovpn-sc AES-256-GCM"]["tcp1.mbps"] == {"min": 90, "median": 100, "max": 110,
                                                     "n": 3}
    assert "tcp4.mbps" not in s["ovpn-sc AES-256-GCM"]
    assert s["wireguard"]["tcp1.softirq_pct"]["median"] == 10.0


def test_ratios_to_peers_and_latency_inverted():
    r = stats.ratios(stats.summarize(SAMPLES))
    sc = r["ovpn-sc AES-256-GCM"]
    assert sc["ovpn-dco"]["tcp1.mbps"] == pytest.approx(100 / 45)
    assert sc["wireguard"]["tcp1.mbps"] == pytest.approx(100 / 70)
    assert sc["ovpn-dco"]["ping.avg_ms"] == pytest.approx(2.0)  # half the latency: 2x better
    assert r["ovpn-sc-srv AES-256-GCM"]["ovpn-dco-srv"]["tcp1.mbps"] == pytest.approx(1.2)
    assert "ovpn-dco" not in r["ovpn-sc-srv AES-256-GCM"]  # server-only vs server-only


def test_round_ratios():
    sp = stats.round_ratios(SAMPLES, "ovpn-sc", "ovpn-dco", "AES-256-GCM", "tcp1", "mbps")
    assert sp["min"] == pytest.approx(2.0) and sp["max"] == pytest.approx(110 / 45)


def test_plan_runs_cipherless_peers_once():
    assert plan(["veth", "ovpn-sc"], ["AES-256-GCM", "CHACHA20-POLY1305"]) == [
        ("veth", ""), ("ovpn-sc", "AES-256-GCM"), ("ovpn-sc", "CHACHA20-POLY1305")]


def test_plan_runs_cipher_only_configs_under_their_cipher():
    both = ["AES-256-GCM", "CHACHA20-POLY1305"]
    assert plan(["ovpn-sc", "ovpn-sc-chacha-api"], both) == [
        ("ovpn-sc", "AES-256-GCM"), ("ovpn-sc", "CHACHA20-POLY1305"),
        ("ovpn-sc-chacha-api", "CHACHA20-POLY1305")]
    assert plan(["ovpn-sc-chacha-api"], ["AES-256-GCM"]) == []


def test_write_all(tmp_path):
    doc = {"started": "now", "host": {"loadavg_start": "1 1 1", "loadavg_end": "2 2 2"},
           "method": {"repeats": 3, "duration_s": 5, "path": "netns", "qemu": "tcg"},
           "timings_s": {"boot": 1.0}, "versions": {},
           "samples": [*SAMPLES, {"config": "ovpn-user", "cipher": "AES-256-GCM",
                                  "repeat": 0, "error": "boom\nopenvpn exited"}],
           "scale": {"peers": [{"peers": 1, "tcp1.mbps": stats.spread([10, 11, 12])},
                               {"peers": 100, "tcp1.mbps": stats.spread([9, 10, 11])}],
                     "churn": {"peers": 10, "requests_per_s": stats.spread([100.0])}}}
    report.write_all(doc, tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["ratios"]["ovpn-sc AES-256-GCM"]["ovpn-dco"]["tcp1.mbps"] > 2
    md = (tmp_path / "results.md").read_text()
    assert "| ovpn-sc AES-256-GCM | 100 (90.0-110) |" in md
    assert "openvpn exited" in md and "| 100 | 10.0 (9.00-11.0) |" in md
    png = tmp_path / "results.png"
    if png.exists():  # matplotlib is optional (the bench extra)
        assert png.read_bytes()[:4] == b"\x89PNG"


# --- scale phase: three kernel paths interleaved with veth ------------------------------

def _rnd(**cfg: tuple[float, float]) -> dict:
    return {c.replace("_", "-"): {"tcp1.mbps": t, "ping.avg_ms": p} for c, (t, p) in cfg.items()}


def _row(n: int, rounds: list[dict]) -> dict:
    configs = {c for r in rounds for c in r}
    return {"peers": n, "rounds": rounds, "host_load1": [5.0] * len(rounds), "configs": {
        c: {k: stats.spread(r[c][k] for r in rounds if c in r) for k in ("tcp1.mbps",
                                                                       "ping.avg_ms")}
        for c in sorted(configs)}}


# N=1: ovpn-sc twice ovpn-dco in every round; N=1000: the host got twice slower for
# everyone (veth halves too), ovpn-sc and dco alike
SCALE = {
    "reference": "veth", "configs": ["veth", "ovpn-sc", "ovpn-dco", "wireguard"],
    "method": {"repeats": 3, "duration_s": 5, "order": "per N, per round: veth, ovpn-sc"},
    "peers": [
        _row(1, [_rnd(veth=(400, 0.1), ovpn_sc=(100, 1.0), ovpn_dco=(50, 2.0),
                      wireguard=(80, 1.0)),
                 _rnd(veth=(200, 0.2), ovpn_sc=(60, 2.0), ovpn_dco=(30, 4.0),
                      wireguard=(50, 1.0)),
                 _rnd(veth=(300, 0.1), ovpn_sc=(90, 1.0), ovpn_dco=(45, 2.0),
                      wireguard=(100, 2.0))]),
        _row(1000, [_rnd(veth=(200, 0.2), ovpn_sc=(50, 2.0), ovpn_dco=(20, 4.0),
                         wireguard=(40, 2.0)),
                    _rnd(veth=(100, 0.4), ovpn_sc=(30, 4.0), ovpn_dco=(15, 8.0),
                         wireguard=(25, 2.0)),
                    _rnd(veth=(150, 0.2), ovpn_sc=(45, 2.0), ovpn_dco=(45, 4.0),
                         wireguard=(50, 4.0))]),
    ],
    "rates": {"ovpn-sc": {"peers": 1000, "api": "generic netlink",
                          "add_per_s": stats.spread([150.0, 160.0, 170.0]),
                          "del_per_s": stats.spread([200.0, 210.0, 190.0])},
              "wireguard": {"peers": 1000, "api": "wg set, 500 peers per command",
                            "add_per_s": stats.spread([900.0, 1000.0, 1100.0]),
                            "del_per_s": stats.spread([2000.0, 2100.0, 1900.0])}},
    "churn": {"peers": 100, "requests_per_s": stats.spread([300.0, 320.0, 310.0])},
    "errors": [],
}


def _pick(recs: list[dict], **want: object) -> dict:
    found = [r for r in recs if all(r[k] == v for k, v in want.items())]
    assert len(found) == 1, (want, found)
    return found[0]


def test_scale_pairs_same_round_and_of_medians():
    pairs = stats.scale_ratios(SCALE)["pairs"]
    r = _pick(pairs, peers=1, config="ovpn-sc", vs="ovpn-dco", figure="tcp1.mbps")
    assert r["of_medians"] == pytest.approx(90 / 45)
    assert r["per_round"] == {"min": 2.0, "median": 2.0, "max": 2.0, "n": 3}
    r = _pick(pairs, peers=1000, config="ovpn-sc", vs="ovpn-dco", figure="tcp1.mbps")
    assert r["per_round"]["min"] == pytest.approx(1.0)  # round 3: 45 vs 45
    assert r["per_round"]["max"] == pytest.approx(2.5)
    r = _pick(pairs, peers=1, config="ovpn-sc", vs="wireguard", figure="tcp1.mbps")
    assert r["per_round"]["median"] == pytest.approx(1.2)
    assert r["per_round"]["min"] == pytest.approx(0.9)


def test_scale_pairs_latency_inverted():
    r = _pick(stats.scale_ratios(SCALE)["pairs"], peers=1, config="ovpn-sc",
              vs="ovpn-dco", figure="ping.avg_ms")
    assert r["of_medians"] == pytest.approx(2.0)  # half dco's latency: 2x better
    assert r["per_round"]["median"] == pytest.approx(2.0)


def test_scale_vs_first_n_cancels_host_load_with_reference():
    vs = stats.scale_ratios(SCALE)["vs_first"]
    r = _pick(vs, peers=1000, config="ovpn-sc", figure="tcp1.mbps")
    assert r["first"] == 1
    assert r["of_medians"] == pytest.approx(45 / 90)
    # share of veth per round: N=1 0.25, 0.3, 0.3 -> 0.3; N=1000 0.25, 0.3, 0.3 -> 0.3
    assert r["of_reference_shares"] == pytest.approx(1.0)
    assert not [x for x in vs if x["config"] == "veth"]
    # the first N against itself is 1 by construction
    assert _pick(vs, peers=1, config="ovpn-dco", figure="tcp1.mbps")["of_medians"] == 1.0


def test_scale_missing_config_in_a_round_is_skipped():
    sc = {"reference": "veth", "peers": [
        _row(1, [_rnd(veth=(100, 1.0), ovpn_sc=(50, 1.0), ovpn_dco=(25, 1.0)),
                 _rnd(veth=(100, 1.0), ovpn_sc=(40, 1.0))])]}
    r = _pick(stats.scale_ratios(sc)["pairs"], peers=1, config="ovpn-sc", vs="ovpn-dco",
              figure="tcp1.mbps")
    assert r["per_round"]["n"] == 1 and r["per_round"]["median"] == 2.0
    assert not [x for x in stats.scale_ratios(sc)["pairs"] if x["vs"] == "wireguard"]


def test_scale_old_layout_is_read_as_ovpn_sc_only():
    old = {"peers": [{"peers": 1, "tcp1.mbps": stats.spread([10.0])},
                     {"peers": 100, "tcp1.mbps": stats.spread([5.0])}]}
    rows = stats.scale_rows(old)
    assert rows[1]["configs"]["ovpn-sc"]["tcp1.mbps"]["median"] == 5.0
    r = _pick(stats.scale_ratios(old)["vs_first"], peers=100, config="ovpn-sc",
              figure="tcp1.mbps")
    assert r["of_medians"] == 0.5 and r["of_reference_shares"] is None


def test_scale_markdown_tables():
    md = report.scale_markdown(SCALE)
    assert "| peers: TCP 1 stream Mbit/s, median (min-max) | veth | ovpn-sc | ovpn-dco |" in md
    assert "| 1000 | 150 (100-200) | 45.0 (30.0-50.0) | 20.0 (15.0-45.0) |" in md
    assert "| 1 | TCP 1 stream Mbit/s | 2.00; per round 2.00 (2.00-2.00, n=3) |" in md
    assert "| 1000 | ovpn-sc | 0.50; veth-normalised 1.00 |" in md
    assert "| wireguard | wg set, 500 peers per command | 1000 | 1000 (900-1100) |" in md
    assert "churn on ovpn-sc (100 peers): 310 (300-320) requests/s" in md
    assert "5.0, 5.0, 5.0" in md  # host load per round


def test_write_all_named_scale_only(tmp_path):
    doc = {"started": "now", "host": {"loadavg_start": "1 1 1"},
           "method": {"repeats": 3, "duration_s": 5, "path": "netns", "qemu": "tcg"},
           "timings_s": {"scale": 10.0}, "samples": [], "scale": SCALE}
    report.write_all(doc, tmp_path, "scale-2026-01-01")
    md = (tmp_path / "scale-2026-01-01.md").read_text()
    assert "## Figures" not in md and "## Scale" in md
    assert json.loads((tmp_path / "scale-2026-01-01.json").read_text())["scale"]["peers"]
    assert not (tmp_path / "results.md").exists()
    png = tmp_path / "scale-2026-01-01-scale.png"
    if png.exists():
        assert png.read_bytes()[:4] == b"\x89PNG"


def _udp_sample(config: str, repeat: int, pps: float, sent: float, ping: float) -> dict:
    return {"config": config, "cipher": "AES-256-GCM", "repeat": repeat,
            "tests": {"udp64": {"pps": pps, "sent_pps": sent,
                                "lost_percent": 100 * (1 - pps / sent), "cpu": {}},
                      "ping": {"avg_ms": ping, "cpu": {}}}}


def test_same_round_ratio_rows_and_udp_loss_table():
    samples = [*[_udp_sample("ovpn-dco-srv", r, p, 20000, 2.0)
                 for r, p in enumerate((1000, 2000, 500))],
               *[_udp_sample("ovpn-sc-srv", r, p, 10000, 1.0)
                 for r, p in enumerate((1100, 1000, 1000))]]
    doc = {"samples": samples}
    rows = report.round_ratio_rows(doc)
    assert len(rows) == 1 and rows[0].startswith("| ovpn-sc-srv AES-256-GCM | ovpn-dco-srv |")
    # udp64 per round 1.1, 0.5, 2.0; ping 2.0 in every round (latency inverted)
    assert "| 1.10 (0.50-2.00) |" in rows[0] and rows[0].endswith("| 2.00 (2.00-2.00) |")
    doc = report.enrich({"samples": samples})
    md = "\n".join(report.figures_markdown(doc))
    assert "| ovpn-sc-srv AES-256-GCM | 10.0 (10.0-10.0) | 90.0 (89.0-90.0) |" in md


def _load_ctl():
    spec = importlib.util.spec_from_file_location(
        "ovpn_sc_ctl_for_bench",
        Path(__file__).resolve().parents[2] / "kernel_module" / "tools" / "ovpn_sc_ctl.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ctl_family_option(monkeypatch):
    ctl = _load_ctl()
    monkeypatch.delenv("OVPN_SC_FAMILY", raising=False)
    assert ctl.family_name() == "ovpn-shortcut"
    assert ctl.FAMILIES[ctl.family_name("ovpn-dco-v2")] == "ovpn-dco"
    monkeypatch.setenv("OVPN_SC_FAMILY", "ovpn-dco-v2")
    assert ctl.family_name() == "ovpn-dco-v2"
    with pytest.raises(ValueError, match="unknown family"):
        ctl.family_name("ovpn")


SNMP = """Ip: Forwarding DefaultTTL
Ip: 2 64
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors
Udp: 100 1 7 50 6 0
UdpLite: InDatagrams NoPorts
UdpLite: 0 0
"""


def test_snmp_udp_and_counter_deltas():
    u = parse.snmp_udp(SNMP)
    assert u["RcvbufErrors"] == 6 and u["InDatagrams"] == 100 and "Forwarding" not in u
    with pytest.raises(ValueError):
        parse.snmp_udp("Ip: a\nIp: 1\n")
    links = [{"ifname": "ovc0", "stats64": {"rx": {"packets": 5, "dropped": 0},
                                            "tx": {"packets": 9, "dropped": 3}}},
             {"ifname": "lo"}]
    c = parse.link_counters(links)
    assert c == {"ovc0.rx_packets": 5, "ovc0.rx_dropped": 0, "ovc0.tx_packets": 9,
                 "ovc0.tx_dropped": 3}
    assert parse.counter_deltas({"a": 1, "b": 2}, {"a": 1, "b": 5, "c": 4}) == {"b": 3, "c": 4}


def test_loss_counter_rows():
    s = _udp_sample("ovpn-sc-srv", 0, 1000, 10000, 1.0)
    s["tests"]["udp64"]["counters"] = {"bc.ovc0.tx_dropped": 9000, "bs.udp.InDatagrams": 1000,
                                       "bc.vc.tx_packets": 1000}
    s2 = _udp_sample("ovpn-sc-srv", 1, 1000, 10000, 1.0)
    s2["tests"]["udp64"]["counters"] = {"bc.ovc0.tx_dropped": 7000}
    rows = report.loss_counter_rows({"samples": [s, s2]})
    assert rows == ["| ovpn-sc-srv AES-256-GCM | udp64 | bc.ovc0.tx_dropped 8000, "
                    "bs.udp.InDatagrams 1000 |"]


def test_ratio_flagged_when_one_side_lost_most_udp_packets():
    samples = [*[_udp_sample("ovpn-dco-srv", r, 1000, 20000, 2.0) for r in range(3)],
               *[_udp_sample("ovpn-sc-srv", r, 500, 20000, 1.0) for r in range(3)],
               *[_udp_sample("ovpn-dco", r, 1000, 1100, 1.0) for r in range(3)],
               *[_udp_sample("ovpn-sc", r, 1000, 1050, 1.0) for r in range(3)]]
    md = "\n".join(report.figures_markdown(report.enrich({"samples": samples})))
    assert "| ovpn-sc-srv AES-256-GCM | ovpn-dco-srv | — | — | 0.50* |" in md
    assert "| ovpn-sc AES-256-GCM | ovpn-dco | — | — | 1.00 |" in md


# --- ovpn-up: stock OpenVPN 2.7 + the in-tree `ovpn` as a peer of ovpn-sc ---------------

UP_SAMPLES = [
    *[_sample("veth", "", r, v, 0.5) for r, v in enumerate((400, 200, 300))],
    *[_sample("ovpn-up", "AES-256-GCM", r, v, 2.0) for r, v in enumerate((80, 40, 50))],
    *[_sample("ovpn-sc", "AES-256-GCM", r, v, 1.0) for r, v in enumerate((160, 60, 100))],
]


def test_plan_with_ovpn_up_and_default_configs():
    assert plan(["veth", "ovpn-up", "ovpn-sc"], ["AES-256-GCM", "CHACHA20-POLY1305"]) == [
        ("veth", ""), ("ovpn-up", "AES-256-GCM"), ("ovpn-up", "CHACHA20-POLY1305"),
        ("ovpn-sc", "AES-256-GCM"), ("ovpn-sc", "CHACHA20-POLY1305")]
    assert "ovpn-up" in CONFIGS and "ovpn-up" not in DEFAULT_CONFIGS["bookworm"]


def test_skipped_configs_from_prepare_facts():
    facts = {"ovpn_dco_skipped": "openvpn-dco-dkms did not build on kernel 7.3.4"}
    configs = ["veth", "ovpn-dco", "ovpn-up", "ovpn-sc", "ovpn-dco-srv"]
    assert skipped_configs(configs, facts) == {
        "ovpn-dco": facts["ovpn_dco_skipped"], "ovpn-dco-srv": facts["ovpn_dco_skipped"]}
    assert skipped_configs(configs, {"ovpn_up_skipped": "no ovpn"}) == {"ovpn-up": "no ovpn"}
    assert skipped_configs(configs, {}) == {}


def test_ratios_and_same_round_ratios_against_ovpn_up():
    r = stats.ratios(stats.summarize(UP_SAMPLES))
    assert r["ovpn-sc AES-256-GCM"]["ovpn-up"]["tcp1.mbps"] == pytest.approx(100 / 50)
    assert r["ovpn-sc AES-256-GCM"]["ovpn-up"]["ping.avg_ms"] == pytest.approx(2.0)
    assert r["ovpn-up AES-256-GCM"]["veth"]["tcp1.mbps"] == pytest.approx(50 / 300)
    sp = stats.round_ratios(UP_SAMPLES, "ovpn-sc", "ovpn-up", "AES-256-GCM", "tcp1", "mbps")
    assert sp == {"min": 1.5, "median": 2.0, "max": 2.0, "n": 3}
    rows = report.round_ratio_rows({"samples": UP_SAMPLES})
    assert [row.split("|")[2].strip() for row in rows] == ["veth", "ovpn-up"]
    assert rows[1].startswith("| ovpn-sc AES-256-GCM | ovpn-up | 2.00 (1.50-2.00) |")


def test_markdown_names_skipped_configs_cpu_and_ovpn_up_ratio_rows():
    doc = {"started": "now",
           "host": {"loadavg_start": "7.1 6 5", "loadavg_end": "8.2 7 6", "cpus": 2,
                    "cpu_model": "Host CPU X"},
           "method": {"repeats": 3, "duration_s": 5, "path": "netns", "qemu": "tcg",
                      "release": "trixie-backports"},
           "timings_s": {}, "samples": UP_SAMPLES,
           "versions": {"kernel": "7.3.4+deb13-amd64", "guest_cpu_model": "QEMU TCG CPU",
                        "guest_cpu_flags_aes": "1"},
           "skipped": {"ovpn-dco": "openvpn-dco-dkms_x.deb did not build on kernel 7.3.4"}}
    md = report.markdown(report.enrich(doc))
    assert "at start `7.1 6 5`, at end `8.2 7 6`" in md
    assert ("Host CPU `Host CPU X` (2 cores); guest `trixie-backports` kernel "
            "`7.3.4+deb13-amd64`, CPU `QEMU TCG CPU`") in md
    assert "- ovpn-dco: not measured, openvpn-dco-dkms_x.deb did not build" in md
    assert "| ovpn-sc AES-256-GCM | ovpn-up | 2.00 |" in md  # ratio of medians table
    assert "| ovpn-up AES-256-GCM | veth |" in md


def test_upstream_openvpn_version_from_madison():
    madison = ("   openvpn | 2.6.14-1+deb13u3 | http://deb.debian.org/debian trixie/main amd64 "
               "Packages\n   openvpn | 2.7.8-1~bpo13+1 | http://deb.debian.org/debian "
               "trixie-backports/main amd64 Packages\n")
    assert pick_version(madison, "trixie-backports") == "2.7.8-1~bpo13+1"
    assert pick_version(madison, "trixie") == "2.6.14-1+deb13u3"
    with pytest.raises(LookupError):
        pick_version(madison, "sid")


def test_datapath_rows_name_the_kernel_module_in_use():
    facts = {"server_link": "ovpn", "client_link": "ovpn", "client_dco_version": "7.3.4"}
    doc = {"samples": [{"config": "veth", "cipher": "", "repeat": 0, "facts": {"x": 1}},
                       {"config": "ovpn-up", "cipher": "AES-256-GCM", "repeat": 0,
                        "facts": facts},
                       {"config": "ovpn-up", "cipher": "AES-256-GCM", "repeat": 1,
                        "facts": {**facts, "server_link": "tun"}},
                       {"config": "ovpn-user", "cipher": "AES-256-GCM", "repeat": 0,
                        "facts": {"server_link": "tun", "client_link": "tun"}}]}
    assert report.datapath_rows(doc) == ["| ovpn-up AES-256-GCM | ovpn | ovpn | 7.3.4 |",
                                         "| ovpn-user AES-256-GCM | tun | tun | — |"]


def test_scale_phase_drops_ovpn_dco_where_it_did_not_build():
    assert scale_configs({}) == ("ovpn-sc", "ovpn-dco", "wireguard")
    assert scale_configs({"ovpn_dco_skipped": "no"}) == ("ovpn-sc", "wireguard")


def test_scale_phase_takes_upstream_ovpn_where_the_guest_kernel_has_it():
    assert scale_configs({"upstream_ovpn_module": "/lib/x/ovpn.ko intree=Y"}) == (
        "ovpn-sc", "ovpn-up", "ovpn-dco", "wireguard")
    assert scale_configs({"upstream_ovpn_module": "x", "ovpn_dco_skipped": "7.3 API"}) == (
        "ovpn-sc", "ovpn-up", "wireguard")


def test_rate_ratios_pair_figures_of_the_same_round():
    rates = {"ovpn-sc": {"add_raw": [300.0, 100.0, 200.0], "del_raw": [50.0, 60.0]},
             "ovpn-up": {"add_raw": [100.0, 100.0, 50.0], "del_raw": [100.0, 0.0]},
             "wireguard": {"add_raw": [], "del_raw": []}}
    got = stats.rate_ratios(rates)
    assert list(got) == ["ovpn-up"]  # nothing to pair with for wireguard
    assert got["ovpn-up"]["add"] == {"min": 1.0, "median": 3.0, "max": 4.0, "n": 3}
    assert got["ovpn-up"]["del"] == {"min": 0.5, "median": 0.5, "max": 0.5, "n": 1}
    assert stats.rate_ratios({"ovpn-up": rates["ovpn-up"]}) == {}


def _cpu_sample(config: str, cipher: str, cpus: int, repeat: int, mbps: float) -> dict:
    return {"config": config, "cipher": cipher, "cpus": cpus, "repeat": repeat,
            "tests": {"tcp4": {"mbps": mbps}}}


def test_cpus_phase_ratios_pair_the_same_round():
    from bench import cpus

    c = {"counts": [1, 2], "vcpus": 2, "order": "x", "errors": [], "samples": [
        _cpu_sample("ovpn-sc", "AES-256-GCM", 1, 0, 100.0),
        _cpu_sample("ovpn-sc", "AES-256-GCM", 2, 0, 180.0),
        _cpu_sample("ovpn-up", "AES-256-GCM", 1, 0, 100.0),
        _cpu_sample("ovpn-up", "AES-256-GCM", 2, 0, 100.0),
        _cpu_sample("ovpn-sc", "AES-256-GCM", 1, 1, 50.0),  # a slow round
        _cpu_sample("ovpn-sc", "AES-256-GCM", 2, 1, 100.0),
        _cpu_sample("ovpn-up", "AES-256-GCM", 1, 1, 50.0),
        _cpu_sample("ovpn-up", "AES-256-GCM", 2, 1, 40.0)]}
    t = cpus.table(c)
    sc = "ovpn-sc AES-256-GCM"
    up = "ovpn-up AES-256-GCM"
    assert t["scaling"][(sc, 2, "tcp4.mbps")] == {"min": 1.8, "median": 1.9, "max": 2.0, "n": 2}
    assert t["vs"][(sc, up, 2, "tcp4.mbps")] == {"min": 1.8, "median": 2.15, "max": 2.5, "n": 2}
    assert (up, sc, 2, "tcp4.mbps") not in t["vs"]  # only ours against the peers
    md = cpus.markdown(c)
    assert "| TCP 4 streams Mbit/s | 1 CPU | 2 CPU | 2 / 1 CPU, same round |" in md
    assert f"| {sc} | 75 (50-100) | 140 (100-180) | 1.9 (1.8-2) |" in md
