"""A debug guest kernel (KASAN, lockdep, kmemleak, ...) built once from Debian's source.

Debian ships no lockdep/KASAN kernel for bookworm, so this builds one from
Debian's own patched tree (the `linux-source-6.1` package) at the same
version as the lab image's kernel. The configuration is x86_64 defconfig +
kvm_guest.config + `debug-kernel.config` (this folder): everything the lab's
root file system and the tests need is built in, so the guest boots the
image's rootfs with no initrd and the only module is ovpn_shortcut itself.

Cache: `<cache>/debug-kernel/src/<version>/` holds the downloaded package and
its unpacked tree (shared by every configuration); `<cache>/debug-kernel/
<version>-<key>/` holds one build, keyed by the source version, the fragment
and RECIPE: `build/` (the O= tree, also the kbuild tree for modules),
`bzImage`, `modules/` (modules_install output) and `meta.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .guest import Guest
from .image import ensure_image
from .lab import Lab
from .log import log, run

SOURCE_PACKAGE = "linux-source-6.1"
FRAGMENT = Path(__file__).resolve().parent / "debug-kernel.config"
# Make's niceness and jobs: the build shares a 2-core machine with running labs.
NICE = 15
JOBS = int(os.environ.get("OVPN_LAB_KERNEL_JOBS", "2"))
# Bump when the build steps below change what is built (the cache key).
RECIPE = "defconfig+kvm_guest+fragment/bzImage+modules/1"
_OPT = re.compile(r"^(?:(CONFIG_\w+)=(.*)|# (CONFIG_\w+) is not set)$")


@dataclass(frozen=True)
class DebugKernel:
    """A built debug kernel in the cache."""

    path: Path

    @property
    def bzimage(self) -> Path:
        return self.path / "bzImage"

    @property
    def kbuild(self) -> Path:
        """The configured and built tree: `make -C` it with M= for modules."""
        return self.path / "build"

    @property
    def modules(self) -> Path:
        """modules_install output: lib/modules/<release>/ inside."""
        return self.path / "modules"

    @property
    def meta(self) -> dict:
        return json.loads((self.path / "meta.json").read_text())

    @property
    def release(self) -> str:
        return str(self.meta["release"])


def base_dir() -> Path:
    return paths.cache_dir() / "debug-kernel"


def fragment_options(text: str) -> dict[str, str]:
    """CONFIG_X -> value ('n' for '# ... is not set') of a config fragment."""
    opts: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or (line.startswith("#") and not _OPT.match(line)):
            continue
        m = _OPT.match(line)
        if not m:
            raise ValueError(f"{FRAGMENT.name}:{n}: not a config line: {raw!r}")
        if m.group(3):
            opts[m.group(3)] = "n"
        else:
            opts[m.group(1)] = m.group(2)
    return opts


def config_mismatches(wanted: dict[str, str], config_text: str) -> list[str]:
    """Options of `wanted` that the final .config does not have as asked."""
    have = fragment_options("\n".join(
        line for line in config_text.splitlines() if _OPT.match(line.strip())))
    bad = []
    for opt, val in wanted.items():
        got = have.get(opt, "n")
        if got != val:
            bad.append(f"{opt}: wanted {val}, got {got}")
    return bad


def build_key(version: str) -> str:
    h = hashlib.sha256()
    h.update(version.encode())
    h.update(FRAGMENT.read_bytes())
    h.update(RECIPE.encode())
    return h.hexdigest()[:16]


def cached_kernel(version: str) -> DebugKernel | None:
    k = DebugKernel(base_dir() / f"{version}-{build_key(version)}")
    return k if (k.path / "meta.json").is_file() else None


def image_kernel_version() -> str:
    """Debian package version of the lab image's kernel (e.g. 6.1.192-2)."""
    return str(ensure_image().meta["kernel_package_version"])


def ensure_debug_kernel(version: str | None = None, rebuild: bool = False) -> DebugKernel:
    """Return the cached debug kernel for `version` (default: the image's), building it."""
    version = version or image_kernel_version()
    if not re.fullmatch(r"[0-9][0-9A-Za-z.+~-]*", version):
        raise ValueError(f"not a Debian package version: {version!r}")
    key = build_key(version)
    with paths.cache_lock(base_dir() / f"{version}-{key}.lock"):
        k = cached_kernel(version)
        if k and not rebuild:
            log(f"debug kernel: cached {k.path.name} ({k.release})")
            return k
        return _build(version, key)


def source_deb(version: str, where: Path) -> Path:
    """Debian's `linux-source-6.1` package of `version` in `where` (apt-get download once)."""
    where.mkdir(parents=True, exist_ok=True)
    deb = where / f"{SOURCE_PACKAGE}_{version}_all.deb"
    if not deb.is_file():
        log(f"apt-get download {SOURCE_PACKAGE}={version}")
        try:
            run(["apt-get", "download", f"{SOURCE_PACKAGE}={version}"], capture=True,
                cwd=str(where))
        except RuntimeError as exc:
            raise RuntimeError(
                f"{SOURCE_PACKAGE} {version} (the lab image's kernel) is not available "
                f"from the host's apt sources") from exc
    return deb


def source_tarball(deb: Path, tarball: Path) -> None:
    """The kernel tree's .tar.xz out of the package."""
    run(["sh", "-c", f"dpkg-deb --fsys-tarfile '{deb}' | tar -xO "
                     f"./usr/src/{SOURCE_PACKAGE}.tar.xz > '{tarball}'"])


def _source_tree(version: str) -> Path:
    """Debian's patched tree of `version`, downloaded and unpacked once."""
    src = base_dir() / "src" / version
    tree = src / "linux-source-6.1"
    if (tree / "Makefile").is_file():
        return tree
    deb = source_deb(version, src)
    log(f"debug kernel: unpacking {deb.name}")
    tarball = src / "linux-source.tar.xz"
    source_tarball(deb, tarball)
    tmp = src / "unpack"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    run(["tar", "-C", str(tmp), "-xJf", str(tarball)])
    (tmp / SOURCE_PACKAGE).rename(tree)
    tmp.rmdir()
    tarball.unlink()
    return tree


def _make(tree: Path, out: Path, *targets: str, capture: bool = True) -> None:
    run(["nice", "-n", str(NICE), "make", "-C", str(tree), f"O={out}", f"-j{JOBS}",
         *targets], capture=capture)


def _build(version: str, key: str) -> DebugKernel:
    t0 = time.monotonic()
    tree = _source_tree(version)
    k = DebugKernel(base_dir() / f"{version}-{key}")
    k.path.mkdir(parents=True, exist_ok=True)
    out = k.kbuild
    out.mkdir(exist_ok=True)
    wanted = fragment_options(FRAGMENT.read_text())
    log(f"debug kernel: configuring {version} in {out}")
    _make(tree, out, "x86_64_defconfig")
    run([str(tree / "scripts/kconfig/merge_config.sh"), "-m", "-O", str(out),
         str(out / ".config"), str(tree / "kernel/configs/kvm_guest.config"), str(FRAGMENT)],
        capture=True)
    _make(tree, out, "olddefconfig")
    bad = config_mismatches(wanted, (out / ".config").read_text())
    if bad:
        raise RuntimeError("debug kernel: options of debug-kernel.config not taken "
                           "(missing dependency?):\n  " + "\n  ".join(bad))
    t_cfg = time.monotonic()
    log(f"debug kernel: building bzImage and modules (nice {NICE}, -j{JOBS}); "
        "this takes a long time on 2 cores")
    _make(tree, out, "bzImage", "modules", capture=False)
    shutil.rmtree(k.modules, ignore_errors=True)
    _make(tree, out, f"INSTALL_MOD_PATH={k.modules}", "modules_install")
    shutil.copy2(out / "arch/x86/boot/bzImage", k.bzimage)
    release = (out / "include/config/kernel.release").read_text().strip()
    for link in ("build", "source"):  # they point into the host's cache
        (k.modules / "lib/modules" / release / link).unlink(missing_ok=True)
    meta = {
        "key": key, "source_package": SOURCE_PACKAGE, "version": version,
        "release": release, "fragment": FRAGMENT.name,
        "config_seconds": round(t_cfg - t0, 1),
        "build_seconds": round(time.monotonic() - t_cfg, 1),
        "bzimage_bytes": k.bzimage.stat().st_size,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (k.path / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    log(f"debug kernel: {release} built in {meta['build_seconds']} s")
    return k


# Kernel arguments of a debug guest: every KASAN report, not only the first;
# no ACPI IRQ routing: evaluating QEMU's _PRT (an AML loop over every slot)
# under KASAN + lockdep in TCG runs past ACPICA's 30 s loop limit on a busy
# host (AE_AML_LOOP_TIMEOUT, 30 s lost per PCI device); virtio uses MSI-X.
# No 5-level paging (no5lvl): QEMU's `-cpu max` offers LA57, and on it the
# 6.1.192-3 build reports KASAN wild-memory-access from 0.008 s of boot
# (rcu_is_watching, __common_interrupt) and never reaches SSH.
APPEND = "kasan_multi_shot acpi=noirq no5lvl"
MEMORY_MB = 2048  # KASAN's shadow and lockdep's tables need room


def boot(lab: Lab, count: int = 1, *, kernel: DebugKernel | None = None,
         memory_mb: int = MEMORY_MB, cpus: int = 2) -> list[Guest]:
    """Boot `count` fresh guests of `lab` on the debug kernel, its modules installed."""
    k = kernel or ensure_debug_kernel()
    # OVPN_LAB_DEBUG_APPEND: more kernel arguments, e.g. "loglevel=7
    # systemd.show_status=1" to see on the serial console where a boot stops
    extra = os.environ.get("OVPN_LAB_DEBUG_APPEND", "").strip()
    guests = lab.up(count, cpus=cpus, memory_mb=memory_mb, fresh=True,
                    kernel=str(k.bzimage), append_extra=f"{APPEND} {extra}".strip())
    for g in guests:
        release = g.release()
        if release != k.release:
            raise RuntimeError(f"{g.name} runs {release}, not the debug kernel {k.release}")
        g.copy_in(k.modules / "lib/modules" / k.release, "/lib/modules")
        g.run("depmod -a")
    return guests
