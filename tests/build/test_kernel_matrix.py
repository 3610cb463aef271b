"""The module builds with W=1 and no warning against every kernel of the matrix.

Debian 12 (6.1), Debian 12 + backports (6.12), Debian 13 (6.12) and Debian 13 +
backports (7.x, which has the in-tree `ovpn`): each in a chroot of its release
with that release's compiler (ovpn_lab.buildroot). Marked `build`: it needs root
and debootstrap, and takes minutes the first time (the chroots are cached).
"""

from __future__ import annotations

import re

import pytest

from ovpn_lab import paths
from ovpn_lab.buildroot import MATRIX, BuildResult, build_matrix, ensure_buildroot, resolve_abi

pytestmark = pytest.mark.build

SRC = paths.REPO_ROOT / "kernel_module"


@pytest.fixture(scope="module")
def results() -> dict[str, BuildResult]:
    out = {r.kernel: r for r in build_matrix(SRC)}
    print("\nbuild matrix (W=1):")
    for r in out.values():
        print(f"  {r.kernel:20} {r.abi:22} {'ok' if r.ok else 'FAILED':6} "
              f"warnings {len(r.warnings)}  {r.seconds} s")
    return out


@pytest.mark.parametrize("kernel", [k.name for k in MATRIX])
def test_builds_without_warnings(results, kernel):
    r = results[kernel]
    assert r.ok, f"{kernel} ({r.abi}) failed to build:\n{r.log[-4000:]}"
    assert not r.warnings, f"{kernel} ({r.abi}) W=1 warnings:\n" + "\n".join(r.warnings)
    assert [p.name for p in r.kos] == ["ovpn_shortcut.ko"]


def test_no_clash_with_the_in_tree_ovpn(results):
    """On 7.x both modules load side by side: no shared module name, link kind,
    generic netlink family or exported symbol."""
    k = next(k for k in MATRIX if k.name == "debian13-backports")
    br = ensure_buildroot(k.release)
    abi = results[k.name].abi
    common = br.root / f"usr/src/linux-headers-{abi}-common"
    uapi = (common / "include/uapi/linux/ovpn.h").read_text()
    upstream_family = re.search(r'#define OVPN_FAMILY_NAME\s+"([^"]+)"', uapi)
    assert upstream_family, "the 7.x headers have no uapi ovpn.h: is `ovpn` in-tree?"

    ours = (SRC / "include/uapi/linux/ovpn_shortcut.h").read_text()
    our_family = re.search(r'#define OVPN_SC_FAMILY_NAME\s+"([^"]+)"', ours)
    assert our_family and our_family[1] != upstream_family[1]
    main_h = (SRC / "main.h").read_text()
    link_kind = re.search(r'#define OVS_LINK_KIND\s+"([^"]+)"', main_h)
    assert link_kind and link_kind[1] != "ovpn"  # upstream's rtnl link kind
    assert [p.name for p in results[k.name].kos] != ["ovpn.ko"]
    exported = [f for f in SRC.glob("*.c") if "EXPORT_SYMBOL" in f.read_text()]
    assert exported == [], f"exported symbols could clash: {exported}"
    # the ABI resolved now is the one built
    assert resolve_abi(br, k.suite) == abi


def test_matrix_names_each_release_once():
    assert {k.release for k in MATRIX} == {"bookworm", "trixie"}
    assert len({k.suite for k in MATRIX}) == len(MATRIX)
