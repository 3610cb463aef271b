"""Shared pytest wiring: lab timings in the terminal summary."""

from __future__ import annotations

TIMINGS: dict[str, float | str] = {}


def pytest_terminal_summary(terminalreporter) -> None:
    if TIMINGS:
        terminalreporter.section("lab timings")
        for key, value in TIMINGS.items():
            terminalreporter.write_line(f"{key}: {value}")
