"""Progress messages and subprocess helpers shared by the lab."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time

_T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[ovpn-lab {time.monotonic() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


class CommandError(RuntimeError):
    """A host command failed; carries its output."""

    def __init__(self, argv: list[str], rc: int, stdout: str, stderr: str) -> None:
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr
        super().__init__(
            f"command failed (exit {rc}): {shlex.join(argv)}\n"
            f"--- stdout (tail) ---\n{stdout[-4000:]}\n--- stderr (tail) ---\n{stderr[-4000:]}"
        )


def run(
    argv: list[str],
    *,
    capture: bool = False,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    cwd: str | None = None,
) -> subprocess.CompletedProcess:
    """Run a host command; raise CommandError with its output on failure."""
    proc = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=capture,
        text=True,
        env=env,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    if proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stdout or "", proc.stderr or "")
    return proc
