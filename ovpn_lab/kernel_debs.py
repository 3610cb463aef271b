"""Another kernel's header packages as .debs, for a guest without Internet.

molecule's kernel-upgrade simulation (molecule/default/side_effect.yml) on a
Debian 13 server installs trixie-backports' headers (7.x) into the guest: their
postinst runs the DKMS hook, which builds our module for that kernel. The .debs
come from the release's build chroot (its apt knows -backports), downloaded
once into a folder of the lab cache; nothing is installed on the host.

    python -m ovpn_lab.kernel_debs SUITE DEST   prints {"kernel", "abi", "debs"}
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

from .buildroot import ensure_buildroot, resolve_abi, session
from .image import chroot


def _install_rank(name: str) -> int:
    """Install order: what the others need first, the headers package (DKMS hook) last."""
    for rank, pattern in enumerate((r"^linux-base-", r"^linux-kbuild-", r"-common$",
                                    r"^cpp-", r"^gcc-")):
        if re.search(pattern, name):
            return rank
    return 9


def package_names(abi: str, depends: dict[str, str]) -> list[str]:
    """The headers package of `abi` and what it needs that a guest of the release lacks.

    `depends`: apt-cache depends output per package name. Taken: the packages of
    that kernel (their names carry the ABI) and the toolchain's -for-host
    metapackages (7.x headers depend on gcc-14-for-host, which a Debian 13 guest
    with 6.12's headers does not have), followed through their own dependencies.
    """
    top = f"linux-headers-{abi}-amd64"
    names, todo = [top], [top]
    while todo:
        for dep in re.findall(r"Depends: (\S+)", depends.get(todo.pop(), "")):
            if (abi in dep or dep.endswith("-for-host")) and dep not in names:
                names.append(dep)
                todo.append(dep)
    return sorted(names, key=lambda n: (_install_rank(n), n))


def download_debs(root: Path, specs: list[str], dest: Path) -> None:
    """`apt-get download SPECS` in the build chroot at `root` (inside a session()).

    The .debs land in `dest`; the chroot's scratch folder is emptied again.
    """
    scratch = root / "tmp/ovpn-kernel-debs"
    if scratch.exists():
        shutil.rmtree(scratch)  # plain files only, never a mount point
    scratch.mkdir()
    dest.mkdir(parents=True, exist_ok=True)
    chroot(root, f"cd /tmp/ovpn-kernel-debs && apt-get download {' '.join(specs)}")
    for deb in scratch.glob("*.deb"):
        shutil.move(str(deb), dest / deb.name)
    shutil.rmtree(scratch)


def headers_debs(suite: str, dest: Path) -> dict[str, object]:
    """The .debs (install order) of the newest kernel headers of `suite`, kept in `dest`."""
    br = ensure_buildroot(suite.split("-", 1)[0])
    abi = resolve_abi(br, suite)
    dest.mkdir(parents=True, exist_ok=True)
    with session(br):
        depends: dict[str, str] = {}
        todo = [f"linux-headers-{abi}-amd64"]
        while todo:
            name = todo.pop()
            depends[name] = chroot(br.root, f"apt-cache depends {name}").stdout
            todo += [n for n in package_names(abi, depends) if n not in depends]
        names = package_names(abi, depends)
        missing = [n for n in names if not list(dest.glob(f"{n}_*.deb"))]
        if missing:
            download_debs(br.root, missing, dest)
    debs = [str(sorted(dest.glob(f"{n}_*.deb"))[-1]) for n in names]
    return {"kernel": f"{abi}-amd64", "abi": abi, "debs": debs}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(headers_debs(argv[0], Path(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
