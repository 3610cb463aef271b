"""The patched openvpn .debs (roles/ovpn_shortcut/files), built once and cached.

ensure_openvpn_debs() runs build_openvpn_deb.py on the host (root, Debian 12)
and keeps the .debs in <cache>/openvpn/<key>/, where the key hashes the patch
series, the build script and the Debian source version. A file lock makes
parallel callers build once; a finished build is marked by meta.json.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

from . import paths
from .log import log, run

FILES = paths.REPO_ROOT / "roles" / "ovpn_shortcut" / "files"
SCRIPT = FILES / "build_openvpn_deb.py"
PATCHES = FILES / "openvpn-patches"


def openvpn_cache_dir() -> Path:
    return paths.cache_dir() / "openvpn"


def _python() -> str:
    """Debian's python3 (what the script is written for), else the current one."""
    return "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


def source_version() -> str:
    """Debian version of the openvpn source (the script adds deb-src entries if needed)."""
    proc = run([_python(), str(SCRIPT), "--print-source-version"], capture=True)
    return proc.stdout.strip().splitlines()[-1]


def build_key(version: str) -> str:
    """Hash of the build inputs: series, every patch, the script, the source version."""
    h = hashlib.sha256()
    series = PATCHES / "series"
    names = [ln.split("#", 1)[0].strip() for ln in series.read_text().splitlines()]
    for path in [series, SCRIPT, *(PATCHES / n for n in names if n)]:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(version.encode())
    return h.hexdigest()[:16]


def _cached(d: Path) -> list[Path] | None:
    meta = d / "meta.json"
    if not meta.is_file():
        return None
    debs = [d / n for n in json.loads(meta.read_text())["debs"]]
    return debs if all(p.is_file() for p in debs) else None


def ensure_openvpn_debs(rebuild: bool = False) -> list[Path]:
    """The patched openvpn .debs (openvpn_*.deb, openvpn-dbgsym_*.deb), built if needed."""
    with paths.cache_lock(openvpn_cache_dir() / "build.lock"):
        version = source_version()
        key = build_key(version)
        dest = openvpn_cache_dir() / key
        debs = None if rebuild else _cached(dest)
        if debs:
            log(f"openvpn debs: cached {dest.name} ({', '.join(p.name for p in debs)})")
            return debs
        tmp = openvpn_cache_dir() / f"{key}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.mkdir(parents=True)
        log(f"openvpn debs: building {version} with {PATCHES.name} (key {key})")
        t0 = time.monotonic()
        proc = run([_python(), str(SCRIPT), "--source-version", version,
                    "--output-dir", str(tmp / "debs"),
                    "--work-dir", str(openvpn_cache_dir() / "work")], capture=True)
        took = time.monotonic() - t0
        (tmp / "build.log").write_text(proc.stdout + proc.stderr)
        built = sorted((tmp / "debs").glob("*.deb"))
        for deb in built:
            deb.rename(tmp / deb.name)
        (tmp / "debs").rmdir()
        meta = {"source_version": version, "key": key, "build_seconds": round(took, 1),
                "debs": [p.name for p in built], "built": time.strftime("%F %T %z")}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        tmp.rename(dest)
        shutil.rmtree(openvpn_cache_dir() / "work", ignore_errors=True)
        log(f"openvpn debs: built in {took:.0f} s -> {dest}")
        return [dest / p.name for p in built]


def openvpn_deb(debs: list[Path]) -> Path:
    """The main openvpn_*.deb among `debs`."""
    (deb,) = [p for p in debs if p.name.startswith("openvpn_")]
    return deb


def deb_version(deb: Path) -> str:
    """Version field of a .deb (openvpn_<version>_<arch>.deb)."""
    return deb.name.split("_")[1]
