"""Where the lab keeps its cache (images, headers) and run state (guests)."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


def cache_dir() -> Path:
    """Root of the lab cache, outside the repo: $OVPN_LAB_CACHE or ~/.cache/ovpn-lab."""
    env = os.environ.get("OVPN_LAB_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "ovpn-lab"


def images_dir() -> Path:
    return cache_dir() / "images"


def run_dir(lab: str) -> Path:
    """Run state (pidfiles, sockets, logs) of the lab called `lab`."""
    if not _NAME_RE.match(lab):
        raise ValueError(f"lab name {lab!r} must match {_NAME_RE.pattern}")
    return cache_dir() / "run" / lab


def all_run_dirs() -> list[Path]:
    base = cache_dir() / "run"
    return sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


@contextmanager
def cache_lock(lockfile: Path) -> Iterator[None]:
    """Hold an exclusive flock on `lockfile` (its folder made first): one builder at a time."""
    lockfile.parent.mkdir(parents=True, exist_ok=True)
    with open(lockfile, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _mounts_below(path: Path) -> list[str]:
    """Mount points at or below `path` (from /proc/self/mounts), deepest first."""
    top = str(path)
    found = []
    with open("/proc/self/mounts") as fh:
        for line in fh:
            # fields are octal-escaped: a space in a path is \\040
            point = line.split()[1].encode().decode("unicode_escape")
            if point == top or point.startswith(top + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def remove_tree(path: Path) -> None:
    """Delete a directory tree that may have been a chroot, never crossing a mount.

    A chroot left with /dev, /proc or /sys bind-mounted (a build killed half-way)
    must not be deleted through those mounts: that would delete the host's own
    device nodes. Everything mounted below `path` is unmounted first; if any mount
    remains, nothing is deleted.
    """
    path = Path(path).resolve()
    if not path.exists():
        return
    unmount_below(path)
    shutil.rmtree(path)


def unmount_below(path: Path) -> None:
    """Unmount everything mounted at or below `path` (a chroot a killed process left
    mounted); raise if any mount remains."""
    path = Path(path).resolve()
    for point in _mounts_below(path):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    left = _mounts_below(path)
    if left:
        raise RuntimeError(f"{path}: still mounted below it: {left}")
