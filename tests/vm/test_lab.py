"""The lab itself: guests boot, talk to each other and report failures fully."""

from __future__ import annotations

import pytest

from ovpn_lab.guest import GuestCommandError


def test_guest_runs_the_image_kernel(g1, image):
    assert g1.release() == image.meta["kernel"]
    # the headers the host builds against are this kernel's
    assert (image.headers / ".config").is_file()
    assert f"{image.meta['abi']}-amd64" in image.headers.name


def test_guests_ping_each_other_over_the_private_segment(g1, g2):
    out = g1.run(f"ping -c 3 -W 2 {g2.spec.lan_ipv4}").stdout
    assert "3 received" in out
    out = g2.run(f"ping -6 -c 3 -W 2 {g1.spec.lan_ipv6}").stdout
    assert "3 received" in out


def test_guests_have_distinct_identities(g1, g2):
    ids = [g.run("cat /etc/machine-id /etc/ssh/ssh_host_ed25519_key.pub").stdout
           for g in (g1, g2)]
    assert ids[0] != ids[1]


def test_failed_command_reports_output_status_and_kernel_log(g1):
    g1.run("echo lab-marker-line > /dev/kmsg")
    with pytest.raises(GuestCommandError) as err:
        g1.run("echo to-stdout; echo to-stderr >&2; exit 7")
    e = err.value
    assert e.rc == 7
    assert "to-stdout" in e.stdout and "to-stderr" in e.stderr
    assert "lab-marker-line" in e.kernel_log
    assert "exit 7" in str(e)


def test_exit_status_without_check(g1):
    assert g1.run("exit 3", check=False).returncode == 3


def test_copy_in_file_and_directory(g1, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("alpha\n")
    g1.copy_in(tmp_path / "d", "/root/copied")
    assert g1.run("cat /root/copied/d/a.txt").stdout == "alpha\n"
