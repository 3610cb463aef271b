"""Stock OpenVPN 2.7 from trixie-backports for the `ovpn-up` configuration (host side).

OpenVPN 2.7 drives the upstream kernel module `ovpn` (drivers/net/ovpn, Linux 6.16+).
The lab's guests cannot reach Debian's archive, so the .deb is downloaded once on the
host with the trixie build chroot's apt (its sources include trixie-backports; nothing
is installed on the host) and kept in the lab cache. In the guest it is unpacked with
`dpkg-deb -x` under UPSTREAM_PREFIX, beside the system openvpn: its libraries are those
of trixie's openvpn 2.6, which every Debian 13 image has (checked in the guest by
running `--version`).
"""

from __future__ import annotations

from pathlib import Path

from ovpn_lab import paths
from ovpn_lab.buildroot import ensure_buildroot, session
from ovpn_lab.image import chroot
from ovpn_lab.kernel_debs import download_debs
from ovpn_lab.log import log

SUITE = "trixie-backports"
PACKAGE = "openvpn"
UPSTREAM_PREFIX = "/opt/openvpn-up"  # the guest's copy; tunnels.sh runs its usr/sbin/openvpn
# configurations that need this OpenVPN and the upstream `ovpn` module in the guest kernel
UPSTREAM_CONFIGS = ("ovpn-up",)


def cache_dir() -> Path:
    return paths.cache_dir() / "bench-debs" / SUITE


def candidate_version(release: str = "trixie") -> str:
    """The openvpn version trixie-backports offers (apt-cache policy in the build chroot)."""
    br = ensure_buildroot(release)
    with session(br):
        out = chroot(br.root, f"apt-cache madison {PACKAGE}").stdout
    return pick_version(out, SUITE)


def pick_version(madison: str, suite: str) -> str:
    """The version of the first `apt-cache madison` line coming from `suite`."""
    for line in madison.splitlines():
        cols = [c.strip() for c in line.split("|")]
        if len(cols) >= 3 and f" {suite}/" in f" {cols[2]}":
            return cols[1]
    raise LookupError(f"no {PACKAGE} from {suite} in apt-cache madison:\n{madison}")


def chroot_download(release: str, spec: str, dest: Path) -> None:
    """`apt-get download SPEC` in the build chroot of `release`; the .debs land in `dest`."""
    br = ensure_buildroot(release)
    with session(br):
        download_debs(br.root, [spec], dest)


def upstream_openvpn_deb(release: str = "trixie") -> Path:
    """openvpn_<version>_amd64.deb of trixie-backports, downloaded once into the cache."""
    dest = cache_dir()
    found = sorted(dest.glob(f"{PACKAGE}_*~bpo*_amd64.deb"))
    if found:
        return found[-1]
    version = candidate_version(release)
    log(f"bench: apt-get download {PACKAGE}={version} ({SUITE}) in the {release} chroot")
    chroot_download(release, f"{PACKAGE}={version}", dest)
    (deb,) = dest.glob(f"{PACKAGE}_*~bpo*_amd64.deb")
    return deb
