"""A lab that a test's own playbook boots (through the lab inventory's play)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from ovpn_lab.guest import kernel_trouble
from ovpn_lab.lab import Lab


@contextmanager
def own_lab(name: str) -> Iterator[Lab]:
    """Down first (a fresh deploy), then the guests' kernel logs checked and the
    lab down afterwards; OVPN_LAB_KEEP=1 keeps it up (for scenarios by hand)."""
    lab = Lab(name)
    lab.down()
    try:
        yield lab
    finally:
        trouble = []
        for g in lab.running():
            trouble += kernel_trouble(g.drain_kernel_log())
        if os.environ.get("OVPN_LAB_KEEP") != "1":
            lab.down()
        assert not trouble, f"kernel trouble in {name}: {trouble}"
