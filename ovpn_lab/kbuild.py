"""Build kernel modules on the host against the guest kernel's headers.

The headers come from the guest image's own linux-headers package (kept in
the image cache), never installed into the host. Sources are copied to a
scratch directory so builds leave the work tree clean and can run in parallel.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from . import paths
from .image import Image, ensure_image
from .log import log, run

IGNORE = shutil.ignore_patterns("*.o", "*.ko", "*.mod", "*.mod.c", ".*.cmd", "*.cmd",
                                "modules.order", "Module.symvers", ".tmp_versions")


def build_module(src: Path, out_dir: Path | None = None, *, image: Image | None = None,
                 extra: list[str] | None = None, kdir: Path | None = None) -> list[Path]:
    """Compile the kbuild tree at `src`; return the built .ko files (copied to out_dir).

    `kdir`: a kernel build tree to build against instead of the image's headers
    (the debug kernel's).
    """
    if kdir is None:
        image = image or ensure_image()
        kdir, target = image.headers, image.meta["kernel"]
    else:
        target = (Path(kdir) / "include/config/kernel.release").read_text().strip()
    src = Path(src).resolve()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ovpn-kbuild-") as tmp:
        build = Path(tmp) / src.name
        shutil.copytree(src, build, ignore=IGNORE)
        run(["make", "-C", str(kdir), f"M={build}", "-j2", "modules",
             *(extra or [])], capture=True)
        kos = sorted(build.rglob("*.ko"))
        if not kos:
            raise RuntimeError(f"kbuild of {src} produced no .ko")
        out = Path(out_dir) if out_dir else paths.cache_dir() / "build" / src.name
        out.mkdir(parents=True, exist_ok=True)
        result = []
        for ko in kos:
            dest = out / ko.name
            shutil.copy2(ko, dest)
            result.append(dest)
    log(f"kbuild: {', '.join(p.name for p in result)} for {target} "
        f"in {time.monotonic() - t0:.1f} s")
    return result
