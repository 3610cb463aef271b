"""bench.hostside's arithmetic: busy shares from /proc/stat, per-thread host CPU."""

from __future__ import annotations

import os

import pytest

from bench import hostside
from bench.hostside import ThreadSample


def _stat(user: int, system: int, idle: int, iowait: int = 0, softirq: int = 0) -> str:
    return f"cpu  {user} 0 {system} {idle} {iowait} 0 {softirq} 0 0 0\ncpu0 1 2 3\n"


def test_busy_share_counts_idle_and_iowait_as_not_busy():
    before = _stat(100, 100, 1000, 50)
    after = _stat(160, 120, 1090, 60, softirq=20)  # busy +100, idle +100
    assert hostside.busy_share(before, after) == pytest.approx(0.5)
    assert hostside.busy_share(before, before) == 0.0


def test_thread_report_splits_vcpus_from_the_other_threads():
    tck = os.sysconf("SC_CLK_TCK")
    before = {1: ThreadSample("CPU 0/TCG", 0, 10), 2: ThreadSample("CPU 1/TCG", 0, 0),
              3: ThreadSample("qemu-system-x86", 0, 0)}
    after = {1: ThreadSample("CPU 0/TCG", 2 * tck, 30), 2: ThreadSample("CPU 1/TCG", tck, 0),
             3: ThreadSample("qemu-system-x86", tck // 2, 4),
             4: ThreadSample("worker", tck // 2, 0)}  # a thread born in the window
    lines = hostside.thread_report(before, after, seconds=2.0)
    assert len(lines) == 3
    cpu0, cpu1, other = lines
    assert "CPU 0/TCG" in cpu0 and "100.0%" in cpu0 and "10.0/s" in cpu0
    assert "CPU 1/TCG" in cpu1 and " 50.0%" in cpu1
    assert "other QEMU threads" in other and " 50.0%" in other and "2.0/s" in other
