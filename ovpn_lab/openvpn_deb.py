"""The lab's patched openvpn .debs (roles/ovpn_shortcut/files), built once and cached.

ensure_openvpn_debs(release) runs the role's build_openvpn_deb.py inside the
build chroot of that Debian release (ovpn_lab.buildroot: nothing is installed on
the host) and keeps the .debs in <cache>/openvpn/<release>-<key>/, where the key
hashes the patch series, the build script and the Debian source version. A file
lock makes parallel callers build once; a finished build is marked by meta.json.

This is the lab's shortcut for its own guests. A real fleet builds the package
on a host of each release (the role's tasks/openvpn_package.yml).
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import time
from pathlib import Path

from . import paths
from .buildroot import ensure_buildroot, session
from .image import SUITE, chroot
from .log import log

FILES = paths.REPO_ROOT / "roles" / "ovpn_shortcut" / "files"
SCRIPT = FILES / "build_openvpn_deb.py"
PATCHES = FILES / "openvpn-patches"


def openvpn_cache_dir() -> Path:
    return paths.cache_dir() / "openvpn"


INSIDE = "/var/tmp/ovpn-shortcut-openvpn"  # the script's folder in the chroot


def _run_script(release: str, args: list[str],
                out_dir: Path | None = None) -> tuple[str, str]:
    """Run build_openvpn_deb.py with `args` in the build chroot of `release`.

    Returns its (stdout, stderr); with `out_dir`, the .debs it wrote to
    INSIDE/out are copied there.
    """
    br = ensure_buildroot(release)
    with session(br):
        here = br.root / INSIDE.lstrip("/")
        shutil.rmtree(here, ignore_errors=True)  # plain files only, never a mount
        here.mkdir(parents=True)
        shutil.copy2(SCRIPT, here / SCRIPT.name)
        shutil.copytree(PATCHES, here / PATCHES.name)
        proc = chroot(br.root, shlex.join(["python3", f"{INSIDE}/{SCRIPT.name}",
                                           "--patches", f"{INSIDE}/{PATCHES.name}", *args]))
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            for deb in sorted((here / "out").glob("*.deb")):
                shutil.copy2(deb, out_dir / deb.name)
        shutil.rmtree(here / "work", ignore_errors=True)
    return proc.stdout, proc.stderr


def source_version(release: str = SUITE) -> str:
    """Debian version of the openvpn source in `release` (the script adds deb-src entries)."""
    out, _ = _run_script(release, ["--print-source-version"])
    return out.strip().splitlines()[-1]


def build_key(version: str, release: str = SUITE) -> str:
    """Hash of the build inputs: series, every patch, the script, the source version."""
    h = hashlib.sha256()
    series = PATCHES / "series"
    names = [ln.split("#", 1)[0].strip() for ln in series.read_text().splitlines()]
    for path in [series, SCRIPT, *(PATCHES / n for n in names if n)]:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(version.encode() + b"\0" + release.encode())
    return h.hexdigest()[:16]


def _cached(d: Path) -> list[Path] | None:
    meta = d / "meta.json"
    if not meta.is_file():
        return None
    debs = [d / n for n in json.loads(meta.read_text())["debs"]]
    return debs if all(p.is_file() for p in debs) else None


def ensure_openvpn_debs(rebuild: bool = False, release: str = SUITE) -> list[Path]:
    """The patched openvpn .debs of `release` (openvpn_*.deb, dbgsym), built if needed."""
    with paths.cache_lock(openvpn_cache_dir() / f"build-{release}.lock"):
        version = source_version(release)
        key = build_key(version, release)
        dest = openvpn_cache_dir() / f"{release}-{key}"
        debs = None if rebuild else _cached(dest)
        if debs:
            log(f"openvpn debs: cached {dest.name} ({', '.join(p.name for p in debs)})")
            return debs
        tmp = openvpn_cache_dir() / f"{release}-{key}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.mkdir(parents=True)
        log(f"openvpn debs: building {version} for {release} with {PATCHES.name} (key {key})")
        t0 = time.monotonic()
        out, err = _run_script(release, ["--source-version", version, "--jobs", "2",
                                    "--output-dir", f"{INSIDE}/out",
                                    "--work-dir", f"{INSIDE}/work"], out_dir=tmp)
        took = time.monotonic() - t0
        (tmp / "build.log").write_text(out + err)
        built = sorted(tmp.glob("*.deb"))
        meta = {"release": release, "source_version": version, "key": key,
                "build_seconds": round(took, 1), "debs": [p.name for p in built],
                "built": time.strftime("%F %T %z")}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        tmp.rename(dest)
        log(f"openvpn debs: built in {took:.0f} s -> {dest}")
        return [dest / p.name for p in built]


def openvpn_deb(debs: list[Path]) -> Path:
    """The main openvpn_*.deb among `debs`."""
    (deb,) = [p for p in debs if p.name.startswith("openvpn_")]
    return deb


def deb_version(deb: Path) -> str:
    """Version field of a .deb (openvpn_<version>_<arch>.deb)."""
    return deb.name.split("_")[1]
