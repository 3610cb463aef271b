"""iperf3 through a server whose data channel is in ovpn-shortcut: the bytes iperf3
received against the kernel peer's counter of that direction, and the CPU the server's
OpenVPN process used meanwhile (test_openvpn_clients.py; the tap tests of
test_openvpn_build.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class IperfRun:
    way: str  # client->server or server->client
    got: int  # payload bytes iperf3 received
    mbit: float  # iperf3's received rate
    key: str  # the kernel peer counter of that direction
    kernel: int  # its increase
    cpu: float  # utime + stime of the server process meanwhile, seconds
    wall: float  # seconds the iperf3 run took, as seen by the test

    def summary(self) -> str:
        return (f"{self.mbit:.1f} Mbit/s, {self.got} B received; kernel {self.key} "
                f"+{self.kernel} B (x{self.kernel / max(self.got, 1):.3f}); "
                f"server CPU {self.cpu:.2f} s in {self.wall:.1f} s")


def measure(run_iperf: Callable[[], dict], counters: Callable[[], dict],
            server_cpu: Callable[[], tuple[int, float]], reverse: bool) -> IperfRun:
    """Run iperf3 (`run_iperf` returns its -J result) between two reads of the kernel
    peer's `counters` and of the server's (pid, CPU seconds)."""
    before = counters()
    pid0, cpu0 = server_cpu()
    t0 = time.monotonic()
    res = run_iperf()
    wall = time.monotonic() - t0
    pid1, cpu1 = server_cpu()
    after = counters()
    assert pid0 == pid1, "the server restarted during iperf3"
    received = res["end"]["sum_received"]
    key = "vpn_tx_bytes" if reverse else "vpn_rx_bytes"
    return IperfRun("server->client" if reverse else "client->server", received["bytes"],
                    received["bits_per_second"] / 1e6, key, after[key] - before[key],
                    cpu1 - cpu0, wall)
