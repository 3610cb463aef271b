"""Debian build roots: a chroot per release to compile the module against any kernel.

A kernel's headers only work with the compiler and the C library of the release
that packaged them (trixie's kbuild tools need glibc >= 2.38 and gcc-14, so they
cannot run on a Debian 12 host). Each release gets one cached minbase chroot with
gcc and make; kernel header packages are added to it on demand, by exact ABI.
Nothing is installed on the host.

The build matrix (`MATRIX`) names the kernels the module must build for: Debian 12,
Debian 12 + backports, Debian 13 and Debian 13 + backports (the one with the
in-tree `ovpn`).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import aptsources, paths
from .image import chroot, chroot_mounts, write_file
from .log import CommandError, log, run

# The compiler each release's kernel packages are built with comes in as a
# dependency of the header package; these are what kbuild needs besides.
PACKAGES = "make libc6-dev gcc kmod perl python3".split()

RELEASES = ("bookworm", "trixie")


@dataclass(frozen=True)
class MatrixKernel:
    """One kernel of the build matrix: the release's chroot, the suite of its headers."""

    name: str
    release: str
    suite: str


MATRIX = (
    MatrixKernel("debian12", "bookworm", "bookworm"),
    MatrixKernel("debian12-backports", "bookworm", "bookworm-backports"),
    MatrixKernel("debian13", "trixie", "trixie"),
    MatrixKernel("debian13-backports", "trixie", "trixie-backports"),
)

_WARN_RE = re.compile(r"\b(warning|error):|\*\*\* |Error \d+", re.IGNORECASE)


@dataclass(frozen=True)
class BuildRoot:
    """A cached chroot of one Debian release with a compiler."""

    release: str
    path: Path

    @property
    def root(self) -> Path:
        return self.path / "root"

    def headers_dir(self, abi: str) -> str:
        """The kbuild tree of kernel `abi` inside the chroot (path as seen in it)."""
        return f"/usr/src/linux-headers-{abi}-amd64"


def sources_list(release: str) -> str:
    """apt sources of a release: main, -updates, -security and -backports."""
    mirrors = aptsources.find_mirrors(release)
    return (
        f"deb {mirrors.main} {release} main\n"
        f"deb {mirrors.main} {release}-updates main\n"
        f"deb {mirrors.security} {release}-security main\n"
        f"deb {mirrors.main} {release}-backports main\n"
    )


# Raise when the way a build root is made changes (not for header packages:
# those are added to a build root on demand).
RECIPE = 1


def _key(release: str) -> str:
    h = hashlib.sha256(f"{RECIPE}\0{release}\0{' '.join(PACKAGES)}\0".encode())
    h.update(sources_list(release).encode())
    return h.hexdigest()[:16]


def ensure_buildroot(release: str, rebuild: bool = False) -> BuildRoot:
    """The cached build chroot of `release`, made first if missing (or `rebuild`)."""
    if release not in RELEASES:
        raise ValueError(f"release {release!r}: one of {', '.join(RELEASES)}")
    base = paths.cache_dir() / "buildroots"
    final = base / f"{release}-{_key(release)}"
    with paths.cache_lock(base / f"{release}.lock"):
        if (final / "meta.json").is_file() and not rebuild:
            return BuildRoot(release, final)
        if final.exists():
            paths.remove_tree(final)
        work = final.with_suffix(".partial")
        if work.exists():
            paths.remove_tree(work)
        root = work / "root"
        work.mkdir(parents=True)
        t0 = time.monotonic()
        mirrors = aptsources.find_mirrors(release)
        log(f"buildroot: debootstrap {release} (minbase) into {root}")
        run(["debootstrap", "--variant=minbase", release, str(root), mirrors.main],
            capture=True)
        write_file(root / "etc/apt/sources.list", sources_list(release))
        write_file(root / "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755)
        with chroot_mounts(root):
            chroot(root, "apt-get update -q")
            chroot(root, f"apt-get install -y -q --no-install-recommends {' '.join(PACKAGES)}")
        meta = {"release": release, "build_seconds": round(time.monotonic() - t0, 1),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (work / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        work.rename(final)
        log(f"buildroot: {release} ready in {meta['build_seconds']} s")
        return BuildRoot(release, final)


@contextmanager
def session(br: BuildRoot) -> Iterator[BuildRoot]:
    """Hold the chroot for one user: its lock, and /proc, /sys, /dev mounted in it.

    Every command run in a build root runs inside a session: two users at once
    would share (and unmount under each other) the mounts and apt's locks.
    """
    with paths.cache_lock(br.path.parent / f"{br.release}.lock"):
        # under the lock nobody else is in it: mounts still there are a killed
        # user's leftovers
        paths.unmount_below(br.root)
        with chroot_mounts(br.root):
            yield br


def resolve_abi(br: BuildRoot, suite: str) -> str:
    """The kernel ABI that `linux-headers-amd64` points to in `suite` (newest there).

    For the release itself, -updates and -security count as the release.
    """
    with session(br):
        chroot(br.root, "apt-get update -q")
        madison = chroot(br.root, "apt-cache madison linux-headers-amd64").stdout
        versions = []
        for line in madison.splitlines():
            cols = [c.strip() for c in line.split("|")]
            words = cols[2].split() if len(cols) >= 3 else []
            if len(words) < 2:
                continue
            origin = words[1].split("/")[0]
            base_release = origin.removesuffix("-security").removesuffix("-updates")
            if origin == suite or (suite == br.release and base_release == suite):
                versions.append(cols[1])
        if not versions:
            raise RuntimeError(f"no linux-headers-amd64 in {suite}:\n{madison}")
        # madison lists the newest first
        dep = chroot(br.root, f"apt-cache depends linux-headers-amd64={versions[0]}").stdout
    m = re.search(r"Depends: linux-headers-(\S+)-amd64", dep)
    if not m:
        raise RuntimeError(f"cannot resolve the kernel ABI of {suite} from:\n{dep}")
    return m.group(1)


def _ensure_headers(br: BuildRoot, abi: str) -> str:
    """Within a session: install the headers of kernel `abi` (once); their path in it."""
    kdir = br.headers_dir(abi)
    if not (br.root / kdir.lstrip("/") / "Makefile").is_file():
        log(f"buildroot: {br.release}: installing linux-headers-{abi}-amd64")
        chroot(br.root, "apt-get update -q")
        chroot(br.root, f"apt-get install -y -q --no-install-recommends linux-headers-{abi}-amd64")
        chroot(br.root, "apt-get clean")
    return kdir


@dataclass
class BuildResult:
    kernel: str
    abi: str
    ok: bool
    warnings: list[str]
    seconds: float
    kos: list[Path]
    log: str

    def summary(self) -> dict:
        return {"kernel": self.kernel, "abi": self.abi, "ok": self.ok,
                "warnings": len(self.warnings), "seconds": self.seconds,
                "modules": [p.name for p in self.kos]}


def build_in_root(br: BuildRoot, abi: str, src: Path, *, extra: list[str] | None = None,
                  out_dir: Path | None = None, name: str = "") -> BuildResult:
    """Compile the kbuild tree `src` in the chroot against kernel `abi`.

    Returns the result with every compiler warning/error line; the .ko files are
    copied to `out_dir` (default: the lab cache's build/<release>-<abi>/).
    """
    from .kbuild import IGNORE

    scratch = br.root / "tmp"
    with session(br), tempfile.TemporaryDirectory(prefix="ovpn-kbuild-", dir=scratch) as tmp:
        kdir = _ensure_headers(br, abi)
        t0 = time.monotonic()
        build = Path(tmp) / src.name
        shutil.copytree(src, build, ignore=IGNORE)
        inside = "/" + str(build.relative_to(br.root))
        cmd = f"make -C {kdir} M={inside} -j2 modules {' '.join(extra or [])}"
        ok = True
        try:
            text = chroot(br.root, cmd + " 2>&1").stdout
        except CommandError as e:
            ok, text = False, e.stdout + e.stderr
        kos = sorted(build.rglob("*.ko")) if ok else []
        out = out_dir or paths.cache_dir() / "build" / f"{br.release}-{abi}"
        out.mkdir(parents=True, exist_ok=True)
        copied = []
        for ko in kos:
            shutil.copy2(ko, out / ko.name)
            copied.append(out / ko.name)
    warnings = [line for line in text.splitlines() if _WARN_RE.search(line)]
    result = BuildResult(name or abi, abi, ok and bool(copied), warnings,
                         round(time.monotonic() - t0, 1), copied, text)
    log(f"buildroot: {result.kernel} ({abi}): {'ok' if result.ok else 'FAILED'}, "
        f"{len(warnings)} warning/error lines, {result.seconds} s")
    return result


def build_matrix(src: Path, kernels: tuple[MatrixKernel, ...] = MATRIX,
                 extra: tuple[str, ...] = ("W=1",)) -> list[BuildResult]:
    """Build `src` against every kernel of the matrix; one result each."""
    results = []
    for k in kernels:
        br = ensure_buildroot(k.release)
        abi = resolve_abi(br, k.suite)
        results.append(build_in_root(br, abi, src, extra=list(extra), name=k.name))
    return results
