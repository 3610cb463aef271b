"""Static checks of kernel_module/ on the host, against the lab guest's kernel.

- `build_report()`: kbuild with W=1 and sparse (C=2) against the guest image's
  linux-headers; returns every warning/error line of the compiler and sparse.
- `checkpatch_report()`: scripts/checkpatch.pl --strict of Debian's own
  linux-source at the image kernel's version (the three files it needs are
  taken out of the package once and cached in <cache>/checkpatch/<version>/).
Nothing is installed or loaded on the host.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import debugkernel, paths
from .image import ensure_image
from .kbuild import IGNORE
from .log import log, run

CHECKPATCH_FILES = ("checkpatch.pl", "spelling.txt", "const_structs.checkpatch")
_DIAG = re.compile(r"\b(warning|error):")


def build_report(src: Path) -> list[str]:
    """W=1 C=2 build of `src`; the compiler's and sparse's warning/error lines."""
    image = ensure_image()
    with tempfile.TemporaryDirectory(prefix="ovpn-kcheck-") as tmp:
        build = Path(tmp) / src.name
        shutil.copytree(src, build, ignore=IGNORE)
        proc = subprocess.run(["make", "-C", str(image.headers), f"M={build}", "-j2",
                               "modules", "W=1", "C=2"], capture_output=True, text=True,
                              timeout=1800)
        out = (proc.stdout + proc.stderr).replace(str(build) + "/", "")
        lines = [ln for ln in out.splitlines() if _DIAG.search(ln)]
        if proc.returncode and not lines:
            lines = out.splitlines()[-20:]
        return lines


def checkpatch_script() -> Path:
    """checkpatch.pl of Debian's linux-source at the image kernel's version (cached)."""
    version = debugkernel.image_kernel_version()
    dest = paths.cache_dir() / "checkpatch" / version
    script = dest / "scripts" / "checkpatch.pl"
    with paths.cache_lock(dest.parent / f"{version}.lock"):
        if script.is_file():
            return script
        with tempfile.TemporaryDirectory(prefix="ovpn-checkpatch-") as tmp:
            deb = debugkernel.source_deb(version, Path(tmp))
            tarball = Path(tmp) / "linux-source.tar.xz"
            debugkernel.source_tarball(deb, tarball)
            members = [f"{debugkernel.SOURCE_PACKAGE}/scripts/{f}" for f in CHECKPATCH_FILES]
            run(["tar", "-C", tmp, "-xJf", str(tarball), *members])
            (dest / "scripts").mkdir(parents=True, exist_ok=True)
            for f in CHECKPATCH_FILES:
                shutil.copy2(Path(tmp) / debugkernel.SOURCE_PACKAGE / "scripts" / f,
                             dest / "scripts" / f)
        log(f"checkpatch: {script}")
        return script


def checkpatch_report(src: Path) -> dict[str, list[str]]:
    """checkpatch.pl --strict on every .c/.h of `src`: lines by ERROR/WARNING/CHECK."""
    files = sorted(p.name for p in src.glob("*.[ch]"))
    proc = subprocess.run(["perl", str(checkpatch_script()), "--strict", "--no-tree",
                           "--terse", "--show-types", "-f", *files], cwd=src,
                          capture_output=True, text=True, timeout=600)
    out: dict[str, list[str]] = {"ERROR": [], "WARNING": [], "CHECK": []}
    for ln in proc.stdout.splitlines():
        m = re.match(r"[^:]+:\d+: (ERROR|WARNING|CHECK):", ln)
        if m:
            out[m.group(1)].append(ln)
    return out
