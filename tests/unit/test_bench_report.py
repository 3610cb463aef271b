"""bench/: parsing of iperf3/ping/proc output, aggregation, ratios, report files (no guest)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from bench import report, stats
from bench.run import plan

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
