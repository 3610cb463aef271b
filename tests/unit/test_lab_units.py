"""Lab logic that needs no guest: image key, QEMU command line, log checks, CLI."""

from __future__ import annotations

import socket

import pytest

from ovpn_lab import cli, image, paths
from ovpn_lab.guest import Guest, GuestCommandError, GuestSpec, kernel_trouble


def test_recipe_key_is_stable_and_follows_the_overlay(tmp_path, monkeypatch):
    key = image.recipe_key()
    assert key == image.recipe_key()
    overlay = tmp_path / "rootfs"
    (overlay / "etc").mkdir(parents=True)
    (overlay / "etc" / "x.conf").write_text("a\n")
    monkeypatch.setattr(image, "OVERLAY", overlay)
    k1 = image.recipe_key()
    (overlay / "etc" / "x.conf").write_text("b\n")
    assert image.recipe_key() != k1 != key


def test_cache_is_outside_the_repo(monkeypatch, tmp_path):
    monkeypatch.delenv("OVPN_LAB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert paths.cache_dir() == tmp_path / "ovpn-lab"
    assert not str(paths.cache_dir()).startswith(str(paths.REPO_ROOT))


@pytest.mark.parametrize("bad", ["", "A", "a/b", "../x", "x" * 40])
def test_lab_names_are_checked(bad):
    with pytest.raises(ValueError):
        paths.run_dir(bad)


def _guest(tmp_path, ssh_port: int = 2222) -> Guest:
    spec = GuestSpec(name="g2", index=2, ssh_port=ssh_port, run_dir=str(tmp_path / "run"),
                     image=str(tmp_path / "img"), lan_sock=str(tmp_path / "lan.vde"))
    return Guest(spec)


def test_qemu_command_line(tmp_path):
    argv = _guest(tmp_path).qemu_argv()
    line = " ".join(argv)
    assert "-accel tcg" in line and "kvm" not in line
    assert "snapshot=on" in line
    assert "hostfwd=tcp:127.0.0.1:2222-:22" in line and "restrict=on" in line
    assert f"vde,id=lan,sock={tmp_path / 'lan.vde'}" in line
    assert "-pidfile" in argv and "-daemonize" in argv
    assert argv[argv.index("-name") + 1] == "ovpn-lab-run-g2,debug-threads=on"


def test_guest_addresses(tmp_path):
    g = _guest(tmp_path)
    assert g.spec.lan_ipv4 == "198.18.0.2"
    assert g.spec.lan_ipv6 == "fd00:6f76:706e::2"
    assert g.spec.mac(1) != g.spec.mac(2)


def test_pid_ignores_a_recycled_pid(tmp_path):
    g = _guest(tmp_path)
    g.dir.mkdir(parents=True)
    g.pidfile.write_text("1\n")  # pid 1 is never our QEMU
    assert g.pid() is None


@pytest.mark.parametrize("line", [
    "[  12.3] WARNING: CPU: 1 PID: 77 at net/core/dev.c:10100 foo+0x1/0x2",
    "[  12.3] BUG: unable to handle page fault for address: 0000000000000008",
    "[  12.3] general protection fault, probably for non-canonical address",
    "[  12.3] unregister_netdevice: waiting for ovpn0 to become free. Usage count = 2",
    "[  12.3] refcount_t: underflow; use-after-free.",
    "[ 500.1] INFO: task kworker/0:1:33 blocked for more than 120 seconds.",
    "[ 500.1] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
    "[ 500.1] Out of memory: Killed process 400 (sshd) total-vm:1kB",
])
def test_kernel_trouble_is_found(line):
    assert kernel_trouble(f"ok line\n{line}\nanother\n") == [line]


def _closed_port() -> int:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_command_in_an_unreachable_guest_says_why(tmp_path):
    """ssh fails (exit 255): the error carries QEMU's state and the serial console's
    tail instead of a kernel log it cannot fetch."""
    g = _guest(tmp_path, _closed_port())
    g.dir.mkdir(parents=True)
    g.serial_log.write_text("[ 900.0] Kernel panic - not syncing: Fatal exception\n")
    with pytest.raises(GuestCommandError) as err:
        g.run("true")
    assert err.value.rc == 255
    text = str(err.value)
    assert "QEMU of g2: not running" in text, text
    assert "Kernel panic - not syncing" in text, text
    assert kernel_trouble(err.value.kernel_log), err.value.kernel_log


def test_serial_excerpt_keeps_the_first_report_with_its_call_trace(tmp_path):
    """A guest that locked up repeats its reports for minutes: the excerpt keeps the
    first report's call trace (where it was stuck), which a plain tail loses."""
    g = _guest(tmp_path, _closed_port())
    g.dir.mkdir(parents=True)
    boot = [f"[    1.{i:04d}] boot line {i}" for i in range(30)]
    report = ["[ 1725.0] watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [swapper/1:0]",
              "[ 1725.0] RIP: 0010:spinning_here+0x1c/0x40",
              "[ 1725.0] Call Trace:", "[ 1725.0]  <IRQ>", "[ 1725.0]  caller_of_it+0x5/0x9"]
    repeats = [f"[ {1750 + i}.0] watchdog: BUG: soft lockup - CPU#0 stuck for {i}s!"
               for i in range(200)]
    g.serial_log.write_text("\n".join(boot + report + repeats) + "\n")
    text = g.serial_trouble()
    assert "RIP: 0010:spinning_here+0x1c/0x40" in text and "caller_of_it" in text, text
    assert repeats[-1] in text and "boot line 29" not in text, text
    assert "spinning_here" not in g.serial_tail(40)  # what the report showed before
    g.serial_log.write_text("\n".join(boot) + "\n")
    assert "boot line 29" in g.serial_trouble()  # no report: the tail


def test_ordinary_kernel_log_is_clean():
    text = ("ovpn_shortcut: loading out-of-tree module taints kernel.\n"
            "ovpn_shortcut: loaded, version 0.1.0\n")
    assert kernel_trouble(text) == []


def test_cli_requires_a_command():
    with pytest.raises(SystemExit):
        cli.parser().parse_args([])


def test_cli_exec_keeps_the_remote_command():
    args = cli.parser().parse_args(["--lab", "x", "exec", "g1", "--", "ip", "-br", "a"])
    assert args.guest == "g1" and args.lab == "x"
    assert cli.remote_command(args.cmd) == "ip -br a"
    assert cli.remote_command(["--", "ip -br a | head -1"]) == "ip -br a | head -1"
    with pytest.raises(SystemExit):
        cli.remote_command(["--"])


def test_kernel_variant_images():
    """trixie-backports is Debian 13 with another kernel: its own key, trixie's userspace."""
    from ovpn_lab.lab import guest_releases

    assert image.release_of("trixie-backports") == "trixie"
    assert image.release_of("bookworm") == "bookworm"
    assert image.recipe_key("trixie-backports") != image.recipe_key("trixie")
    assert guest_releases(2, ["trixie-backports", "bookworm"]) == ["trixie-backports",
                                                                   "bookworm"]
    with pytest.raises(ValueError):
        image.release_of("bookworm-backports")


def test_every_vm_test_with_a_lab_of_its_own_is_listed_in_the_conftest():
    """A module that boots its own lab (own_lab() or Lab()) but is missing from
    OWN_LAB_MODULES also gets the shared lab booted by the kernel-log guard:
    two labs on two cores, one of them idle (test_collection.py did that)."""
    from tests.vm.conftest import OWN_LAB_MODULES

    texts = {p.name: p.read_text() for p in (paths.REPO_ROOT / "tests" / "vm").glob("test_*.py")}
    own = sorted(name for name, text in texts.items() if "own_lab(" in text or "Lab(" in text)
    assert own, "no vm test boots a lab of its own: the scan is broken"
    missing = [name for name in own if name not in OWN_LAB_MODULES]
    assert not missing, f"boot their own lab but are not in OWN_LAB_MODULES: {missing}"
