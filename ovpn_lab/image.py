"""Build a Debian guest image (12 or 13) once and cache it, keyed by its recipe.

An image is named after its release (`bookworm`, `trixie`), or after the suite
its kernel comes from when that is not the release itself: `trixie-backports`
is Debian 13 with trixie-backports' kernel (7.x, which has the in-tree `ovpn`)
and everything else from trixie.

The recipe is this file, the package list and the files under rootfs/ that
are copied into the guest. Any change to them gives a new key and so a new
image; an unchanged recipe reuses the cached one. The kernel ABI is resolved
inside the chroot at build time and recorded in the image's meta.json, and
the matching linux-headers tree is kept next to the image for host builds.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import aptsources, paths
from .log import log, run

SUITE = "bookworm"  # the default release
RELEASES = ("bookworm", "trixie")
# Images whose kernel (image, modules, headers, kbuild) comes from another suite
# than their release: image name (= that suite) -> release.
KERNEL_VARIANTS = {"trixie-backports": "trixie"}
IMAGES = (*RELEASES, *KERNEL_VARIANTS)
IMAGE_SIZE = "4G"
OVERLAY = Path(__file__).resolve().parent / "rootfs"

# Installed into the guest on top of debootstrap's minbase. The kernel image
# and headers are added by exact ABI name once it is resolved.
PACKAGES = (
    "initramfs-tools zstd systemd-sysv udev dbus kmod iproute2 iputils-ping procps "
    "openssh-server python3 python3-apt python3-pyroute2 python3-yaml openvpn iperf3 "
    "tcpdump ethtool nftables wireguard-tools socat openssl dkms gcc make libc6-dev less"
).split()

# Units that only cost boot time or reach outside the lab.
MASKED_UNITS = (
    "systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer "
    "man-db.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer "
    "serial-getty@ttyS0.service systemd-timesyncd.service"
).split()

ENABLED_UNITS = "systemd-networkd.service ovpn-lab-hostkeys.service ssh.service".split()


@dataclass(frozen=True)
class Image:
    """A built image in the cache."""

    path: Path

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs.img"

    @property
    def kernel(self) -> Path:
        return self.path / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.path / "initrd.img"

    @property
    def ssh_key(self) -> Path:
        return self.path / "id_ed25519"

    @property
    def headers(self) -> Path:
        """The guest kernel's kbuild tree, usable with `make -C` on the host."""
        return self.path / "headers/usr/src" / f"linux-headers-{self.meta['abi']}-amd64"

    @property
    def meta(self) -> dict:
        return json.loads((self.path / "meta.json").read_text())


def _check_release(release: str) -> str:
    if release not in IMAGES:
        raise ValueError(f"release {release!r}: the lab has images of {', '.join(IMAGES)}")
    return release


def release_of(name: str) -> str:
    """The Debian release of image `name` (its userspace)."""
    return KERNEL_VARIANTS.get(_check_release(name), name)


def recipe_key(release: str = SUITE) -> str:
    """Hash of everything that determines the image's content."""
    h = hashlib.sha256()
    h.update(Path(__file__).read_bytes())
    h.update(_check_release(release).encode())
    for f in sorted(p for p in OVERLAY.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(OVERLAY)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def cached_image(release: str = SUITE) -> Image | None:
    img = Image(paths.images_dir() / f"{release}-{recipe_key(release)}")
    return img if (img.path / "meta.json").is_file() else None


def ensure_image(rebuild: bool = False, release: str = SUITE) -> Image:
    """Return the cached image of `release` for the current recipe, building it if needed.

    `release`: an image name (IMAGES), a release or a kernel variant of one.
    """
    key = recipe_key(release)
    with paths.cache_lock(paths.images_dir() / f"{key}.lock"):
        img = cached_image(release)
        if img and not rebuild:
            log(f"image: cached {img.path.name} (kernel {img.meta['kernel']})")
            return img
        return _build(key, release)


@contextmanager
def chroot_mounts(root: Path) -> Iterator[None]:
    mounts = [
        (["-t", "proc", "proc"], root / "proc"),
        (["-t", "sysfs", "sysfs"], root / "sys"),
        (["--bind", "/dev"], root / "dev"),
        (["--bind", "/dev/pts"], root / "dev/pts"),
    ]
    done: list[Path] = []
    try:
        for args, target in mounts:
            target.mkdir(parents=True, exist_ok=True)
            run(["mount", *args, str(target)])
            done.append(target)
        yield
    finally:
        for target in reversed(done):
            subprocess.run(["umount", "-l", str(target)], check=False)


def chroot(root: Path, script: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LC_ALL": "C.UTF-8",
        "HOME": "/root",
    }
    return run(["chroot", str(root), "/bin/sh", "-euc", script], env=env, capture=True)


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _build(key: str, name: str) -> Image:
    t0 = time.monotonic()
    final = paths.images_dir() / f"{name}-{key}"
    work = paths.images_dir() / f"{name}-{key}.partial"
    release = release_of(name)
    # the kernel of another suite than the release: apt -t picks it and the
    # newer packages it depends on (linux-base) from there, nothing else
    kernel_from = f"-t {name} " if name != release else ""
    root = work / "root"
    for d in (work, final):
        if d.exists():
            paths.remove_tree(d)
    work.mkdir(parents=True)
    mirrors = aptsources.find_mirrors(release)
    timings: dict[str, float] = {}

    log(f"image: debootstrap {release} (minbase) into {root}")
    run(["debootstrap", "--variant=minbase", release, str(root), mirrors.main], capture=True)
    timings["debootstrap_s"] = round(time.monotonic() - t0, 1)

    write_file(
        root / "etc/apt/sources.list",
        f"deb {mirrors.main} {release} main\n"
        f"deb {mirrors.main} {release}-updates main\n"
        f"deb {mirrors.security} {release}-security main\n"
        + (f"deb {mirrors.main} {name} main\n" if kernel_from else ""),
    )
    write_file(root / "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755)
    shutil.copytree(OVERLAY, root, dirs_exist_ok=True, symlinks=True)

    t1 = time.monotonic()
    with chroot_mounts(root):
        chroot(root, "apt-get update -q")
        dep = chroot(root, f"apt-cache {kernel_from}depends linux-image-amd64").stdout
        # 6.1.0-57 (Debian 12), 6.12.118+deb13 (Debian 13), 7.3.4+deb13 (13 backports)
        m = re.search(r"Depends: linux-image-(\d+\.\d+\.\d+[-+][\w.+-]*?)-amd64", dep)
        if not m:
            raise RuntimeError(f"cannot resolve the kernel ABI from:\n{dep}")
        abi = m.group(1)
        log(f"image: kernel ABI {abi}; installing {len(PACKAGES) + 2} packages")
        kernel = f"linux-image-{abi}-amd64 linux-headers-{abi}-amd64"
        install = "apt-get install -y -q --no-install-recommends"
        if kernel_from:
            chroot(root, f"{install} {kernel_from}{kernel}")
        chroot(root, f"{install} {kernel} {' '.join(PACKAGES)}")
        kver = chroot(root, f"dpkg-query -W -f '${{Version}}' linux-image-{abi}-amd64").stdout
        chroot(
            root,
            f"systemctl enable {' '.join(ENABLED_UNITS)}\n"
            f"systemctl mask {' '.join(MASKED_UNITS)}\n"
            "rm -f /etc/ssh/ssh_host_*\n"
            "passwd -l root\n"
            "apt-get clean\n"
            "rm -f /usr/sbin/policy-rc.d\n"
            ": > /etc/machine-id\n"
            "rm -f /var/lib/dbus/machine-id\n",
        )
    timings["packages_s"] = round(time.monotonic() - t1, 1)

    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ovpn-lab",
         "-f", str(work / "id_ed25519")])
    write_file(root / "root/.ssh/authorized_keys", (work / "id_ed25519.pub").read_text(), 0o600)
    (root / "root/.ssh").chmod(0o700)

    shutil.copy2(root / f"boot/vmlinuz-{abi}-amd64", work / "vmlinuz")
    shutil.copy2(root / f"boot/initrd.img-{abi}-amd64", work / "initrd.img")
    _copy_headers(root, work / "headers", abi)

    t2 = time.monotonic()
    run(["mke2fs", "-q", "-t", "ext4", "-L", "ovpnlab", "-d", str(root),
         str(work / "rootfs.img"), IMAGE_SIZE])
    timings["mkfs_s"] = round(time.monotonic() - t2, 1)
    used = int(run(["du", "-sb", str(root)], capture=True).stdout.split()[0])
    paths.remove_tree(root)

    meta = {
        "key": key,
        "suite": release,
        "image": name,
        "kernel_suite": name if kernel_from else release,
        "abi": abi,
        "kernel": f"{abi}-amd64",
        "kernel_package_version": kver,
        "packages": PACKAGES,
        "files_bytes": used,
        "image_allocated_bytes": (work / "rootfs.img").stat().st_blocks * 512,
        "build_seconds": round(time.monotonic() - t0, 1),
        "timings": timings,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (work / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    work.rename(final)
    log(f"image: built {final.name} in {meta['build_seconds']} s "
        f"({used / 2**20:.0f} MiB of files, kernel {meta['kernel']})")
    return Image(final)


def _copy_headers(root: Path, dest: Path, abi: str) -> None:
    """Keep the guest's kbuild tree so modules build on the host against it.

    The arch tree's Makefile includes the common tree by absolute path: make
    that path relative to the Makefile itself, so the tree works wherever the
    cache lives. Every other link in the tree is relative already.
    """
    kbuild = [str(p.relative_to(root)) for p in sorted((root / "usr/lib").glob("linux-kbuild-*"))]
    for rel in (
        f"usr/src/linux-headers-{abi}-amd64",
        f"usr/src/linux-headers-{abi}-common",
        *kbuild,
    ):
        shutil.copytree(root / rel, dest / rel, symlinks=True)
    makefile = dest / f"usr/src/linux-headers-{abi}-amd64/Makefile"
    here = "$(abspath $(dir $(lastword $(MAKEFILE_LIST))))"
    text = makefile.read_text()
    makefile.write_text(text.replace(f"/usr/src/linux-headers-{abi}-common",
                                     f"{here}/../linux-headers-{abi}-common"))
