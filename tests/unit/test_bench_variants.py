"""bench.variants: variant arguments and the same-round report."""

from __future__ import annotations

import argparse

import pytest

from bench import variants

CIPHER = "CHACHA20-POLY1305"


def _sample(entry: str, rnd: int, mbps: float, ms: float) -> dict:
    return {"config": entry, "cipher": "" if entry == "wireguard" else CIPHER, "repeat": rnd,
            "tests": {"tcp1": {"mbps": mbps}, "ping": {"avg_ms": ms}}}


def test_variant_arguments_are_checked(tmp_path):
    (tmp_path / "Kbuild").write_text("")
    assert variants.parse_variant(f"base={tmp_path}") == ("base", tmp_path)
    for bad in (f"serial={tmp_path}", f"wireguard={tmp_path}", str(tmp_path),
                f"a-b={tmp_path}", f"x={tmp_path / 'nowhere'}"):
        with pytest.raises(argparse.ArgumentTypeError):
            variants.parse_variant(bad)


def test_report_gives_same_round_ratios_against_the_first_variant_and_wireguard():
    samples = []
    for rnd, scale in enumerate((1.0, 2.0, 1.5)):  # the host's speed moves between rounds
        samples += [_sample("base", rnd, 100 * scale, 1.0), _sample("hp", rnd, 120 * scale, 0.5),
                    _sample("serial", rnd, 80 * scale, 1.0),
                    _sample("wireguard", rnd, 200 * scale, 2.0)]
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): line
            for line in variants.report(samples, ["base", "hp"], CIPHER, ["tcp1", "ping"])[2:]}
    hp = rows[("tcp1 mbps", "hp")].split("|")
    assert hp[4].strip() == "1.20 (1.20-1.20)"  # / base, every round
    assert hp[5].strip() == "0.60 (0.60-0.60)"  # / wireguard
    assert rows[("tcp1 mbps", "base")].split("|")[4].strip() == "—"
    # latency: lower is better, so half the time is 2.00 against base
    assert rows[("ping avg_ms", "hp")].split("|")[4].strip() == "2.00 (2.00-2.00)"
    assert rows[("ping avg_ms", "hp")].split("|")[5].strip() == "4.00 (4.00-4.00)"


def test_each_round_starts_one_entry_further_on():
    entries = ["base", "new", "serial", "wireguard"]
    orders = [variants.rotated(entries, r) for r in range(5)]
    assert orders[0] == entries and orders[4] == entries
    assert [o[0] for o in orders[:4]] == entries  # every entry leads once
    assert all(sorted(o) == sorted(entries) for o in orders)
