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

# The release of the machine the lab runs on: its compiler and C library run the
# kbuild tools of this release's kernels; other releases build in a chroot.
HOST_RELEASE = "bookworm"

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
        if image.meta.get("suite", HOST_RELEASE) != HOST_RELEASE:
            return _build_in_buildroot(src, out_dir, image, extra)
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


def _build_in_buildroot(src: Path, out_dir: Path | None, image: Image,
                        extra: list[str] | None) -> list[Path]:
    """Build for an image of another release in that release's build chroot."""
    from .buildroot import build_in_root, ensure_buildroot

    br = ensure_buildroot(image.meta["suite"])
    result = build_in_root(br, image.meta["abi"], Path(src).resolve(), extra=extra,
                           out_dir=Path(out_dir) if out_dir else None)
    if not result.ok:
        raise RuntimeError(f"kbuild of {src} for {image.meta['kernel']} failed:\n"
                           f"{result.log[-4000:]}")
    return result.kos
