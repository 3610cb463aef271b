"""Run the kernel module's in-guest scenarios (kernel_module/tests/*.sh) in a guest."""

from __future__ import annotations

from ovpn_lab import paths
from ovpn_lab.guest import Guest

SCRIPTS = sorted((paths.REPO_ROOT / "kernel_module" / "tests").glob("*.sh"))
GUEST_DIR = "/root/ovpn-km"


def copy_km_files(g: Guest) -> str:
    """The scenarios, their tools and the uapi header, fresh in the guest; their folder."""
    g.run(f"rm -rf {GUEST_DIR}")
    for sub in ("tests", "tools", "include"):
        g.copy_in(paths.REPO_ROOT / "kernel_module" / sub, GUEST_DIR)
    return GUEST_DIR


def run_scenario(g: Guest, script: str, km_dir: str = GUEST_DIR) -> list[str]:
    """Run tests/`script`; assert it passed and the module unloads; its PASS lines."""
    proc = g.run(f"cd {km_dir} && bash tests/{script}", check=False, timeout=900)
    out = proc.stdout + proc.stderr
    failed = [line for line in out.splitlines() if line.startswith("FAIL")]
    passed = [line for line in out.splitlines() if line.startswith("PASS")]
    unload = g.run("! lsmod | grep -q '^ovpn_shortcut ' || rmmod ovpn_shortcut", check=False)
    assert proc.returncode == 0 and not failed, (
        f"{script}: exit {proc.returncode}, {len(failed)} failed, "
        f"{len(passed)} passed\n{out[-12000:]}"
    )
    assert passed, f"{script} ran no check:\n{out[-4000:]}"
    assert unload.returncode == 0, f"module does not unload after {script}: {unload.stderr}"
    return passed
