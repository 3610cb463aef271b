"""The module build path: host kbuild against the guest headers, load in a guest."""

from __future__ import annotations

import subprocess

from ovpn_lab import paths
from ovpn_lab.kbuild import build_module


def test_module_builds_on_host_loads_and_unloads_in_guest(g1, image, tmp_path):
    kos = build_module(paths.REPO_ROOT / "kernel_module", tmp_path, image=image)
    (ko,) = [k for k in kos if k.name == "ovpn_shortcut.ko"]
    vermagic = subprocess.run(["modinfo", "-F", "vermagic", str(ko)], capture_output=True,
                              text=True, check=True).stdout
    assert vermagic.startswith(f"{image.meta['kernel']} SMP")

    g1.drain_kernel_log()
    g1.install_modules([ko], load="ovpn_shortcut")
    assert "ovpn_shortcut" in g1.run("lsmod").stdout
    g1.run("rmmod ovpn_shortcut")
    assert "ovpn_shortcut" not in g1.run("lsmod").stdout
    log = g1.drain_kernel_log()
    assert "ovpn_shortcut: loaded" in log
    assert "ovpn_shortcut: unloaded" in log or "ovpn_shortcut: unloading" in log
