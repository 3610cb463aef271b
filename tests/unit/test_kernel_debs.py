"""Which .debs the Debian 13 kernel upgrade simulation copies into a guest, in what order."""

from __future__ import annotations

from ovpn_lab.kernel_debs import package_names

ABI = "7.3.4+deb13"
DEPENDS = {
    f"linux-headers-{ABI}-amd64": (
        f"linux-headers-{ABI}-amd64\n  Depends: gcc-14-for-host\n  Depends: linux-base\n"
        f"  Depends: linux-base-{ABI}-amd64\n  Depends: linux-headers-{ABI}-common\n"
        f"  Depends: linux-kbuild-{ABI}\n"),
    "gcc-14-for-host": ("gcc-14-for-host\n  Depends: gcc-14-base\n"
                        "  Depends: gcc-14-x86-64-linux-gnu\n  Depends: cpp-14-for-host\n"),
    f"linux-kbuild-{ABI}": f"linux-kbuild-{ABI}\n  Depends: pahole\n  Depends: libc6\n",
}


def test_kernel_packages_and_for_host_toolchain_in_install_order():
    assert package_names(ABI, DEPENDS) == [
        f"linux-base-{ABI}-amd64",
        f"linux-kbuild-{ABI}",
        f"linux-headers-{ABI}-common",
        "cpp-14-for-host",
        "gcc-14-for-host",
        f"linux-headers-{ABI}-amd64",  # last: its postinst runs the DKMS hook
    ]


def test_packages_of_the_release_stay_out():
    names = package_names(ABI, DEPENDS)
    assert not {"linux-base", "gcc-14-base", "gcc-14-x86-64-linux-gnu", "pahole"} & set(names)
