"""Rolling upgrades and rollbacks without a guest: the role's release filters
(filter_plugins/ovpn_shortcut_release.py), the checks validate makes of the
module's version and the upgrade settings, the playbooks' syntax, and the lab
inventory's several-server mode."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ovpn_lab import paths

PLUGIN = paths.REPO_ROOT / "roles/ovpn_shortcut/filter_plugins/ovpn_shortcut_release.py"
INVENTORY = paths.REPO_ROOT / "inventory/lab/ovpn_lab_inventory.py"
BIN = Path(sys.executable).parent


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


R = _load("ovpn_shortcut_release_filter", PLUGIN)
K = "6.1.0-28-amd64"

DKMS3 = f"""ovpn-shortcut/0.2.0, {K}, x86_64: built
ovpn-shortcut/0.2.1, {K}, x86_64: installed
ovpn-shortcut/0.10.0: added
ovpn-shortcut/0.2.1, 6.12.9-amd64, x86_64: installed
"""


def test_dkms_status_of_dkms3_and_dkms2():
    assert R.dkms_versions(DKMS3, K) == {"present": ["0.2.0", "0.2.1", "0.10.0"],
                                         "installed": "0.2.1"}
    assert R.dkms_versions(DKMS3, "5.10.0-1-amd64")["installed"] is None
    old = f"ovpn-shortcut, 0.1.9, {K}, x86_64: installed\n"
    assert R.dkms_versions(old, K) == {"present": ["0.1.9"], "installed": "0.1.9"}
    assert R.dkms_versions("", K) == {"present": [], "installed": None}
    assert R.dkms_versions("Error! junk\n", K)["present"] == []


def test_first_record_then_the_same_run_changes_nothing():
    s1 = R.release_state({}, "module", "0.2.0")
    assert s1 == {"module": {"current": {"version": "0.2.0"}, "previous": None,
                             "rolled_back": False}}
    assert R.release_state(s1, "module", "0.2.0") == s1
    assert R.release_state(s1, "module", None) == s1


def test_a_new_version_makes_the_current_one_previous():
    s1 = R.release_state({}, "module", "0.2.0")
    s2 = R.release_state(s1, "module", "0.2.1", before="0.2.0")
    assert s2["module"]["current"] == {"version": "0.2.1"}
    assert s2["module"]["previous"] == {"version": "0.2.0"}
    s3 = R.release_state(s2, "module", "0.2.2")
    assert s3["module"]["previous"] == {"version": "0.2.1"}
    assert R.release_state(s3, "module", "0.2.2") == s3


def test_a_host_without_a_record_takes_what_was_installed_before():
    s = R.release_state({}, "module", "0.2.1", before="0.2.0")
    assert s["module"]["previous"] == {"version": "0.2.0"}
    assert R.release_state({}, "module", "0.2.1", before="0.2.1")["module"]["previous"] is None
    assert R.release_state({}, "module", "0.2.1", before=None)["module"]["previous"] is None


def test_package_entries_keep_their_file():
    a = {"version": "2.6.3-1+deb12u3+ovpnsc7", "deb": "/var/cache/ovpn-shortcut/a.deb"}
    b = {"version": "2.6.3-1+deb12u4+ovpnsc7", "deb": "/var/cache/ovpn-shortcut/b.deb"}
    s = R.release_state({}, "openvpn", a)
    s = R.release_state(s, "openvpn", b)
    assert s["openvpn"]["current"] == b and s["openvpn"]["previous"] == a
    # the same version from another file name: the record follows the file
    b2 = dict(b, deb="/var/cache/ovpn-shortcut/b2.deb")
    s2 = R.release_state(s, "openvpn", b2)
    assert s2["openvpn"]["current"] == b2 and s2["openvpn"]["previous"] == a
    # components are independent
    both = R.release_state(s, "module", "0.2.0")
    assert both["openvpn"] == s["openvpn"] and both["module"]["current"] == {"version": "0.2.0"}


def test_rollback_swaps_once_and_the_next_upgrade_clears_it():
    s = R.release_state(R.release_state({}, "module", "0.2.0"), "module", "0.2.1")
    back = R.release_rollback(s, "module")
    assert back["module"] == {"current": {"version": "0.2.0"}, "previous": {"version": "0.2.1"},
                              "rolled_back": True}
    assert R.release_rollback(back, "module") == back  # a second rollback does nothing
    assert R.release_rollback(back, "openvpn") == back  # nothing recorded: nothing to do
    again = R.release_state(back, "module", "0.2.1")
    assert again["module"] == {"current": {"version": "0.2.1"}, "previous": {"version": "0.2.0"},
                               "rolled_back": False}
    # the rolled-back version pinned by the operator: the record stays
    assert R.release_state(back, "module", "0.2.0") == back


def test_nothing_to_roll_back_without_a_previous_version():
    s = R.release_state({}, "module", "0.2.0")
    assert R.release_rollback(s, "module") == s
    assert R.release_rollback({}, "module") == {}


def test_prune_keeps_current_and_previous():
    s = R.release_state(R.release_state({}, "module", "0.2.0"), "module", "0.2.1")
    held = ["0.1.9", "0.2.0", "0.2.1", "0.10.0"]
    assert R.release_prune(held, s, "module") == ["0.1.9", "0.10.0"]
    assert R.release_prune(["0.1.9", "0.2.0"], {}, "module") == []  # no record: nothing removed
    a = {"version": "1", "deb": "/c/a.deb"}
    b = {"version": "2", "deb": "/c/b.deb"}
    p = R.release_state(R.release_state({}, "openvpn", a), "openvpn", b)
    files = ["/c/old.deb", "/c/a.deb", "/c/b.deb"]
    assert R.release_prune(files, p, "openvpn", "deb") == ["/c/old.deb"]


def _peer(pid, vips, key=0):
    return {"peer_id": pid, "vips": vips, "primary_key_id": key}


INFO = {"module_loaded": True, "devices": [
    {"name": "ovpnsc0", "peers": [_peer(0, ["10.98.0.100", "fd98::64"]), _peer(1, ["10.98.0.7"]),
                                  _peer(2, ["10.98.0.101"], key=None)]},
    {"name": "ovsl-site", "peers": [_peer(0, [])]},
    {"name": "ovsl-v6", "peers": []},
]}
VIPS = {"10.98.0.100": "g3", "10.98.0.101": "c2"}
STATUS = """TITLE,OpenVPN 2.6.3
TIME,2026-11-29 22:00:00,1764453600
HEADER,CLIENT_LIST,Common Name,Real Address,Virtual Address
CLIENT_LIST,g3,198.18.0.3:40000,10.98.0.100,,100,100
CLIENT_LIST,c2,198.18.0.4:40001,10.98.0.101,,100,100
CLIENT_LIST,UNDEF,198.18.0.9:1,,,0,0
END
"""


def test_connected_names_kernel_clients_and_links():
    got = R.connected(INFO, "ovpnsc0", VIPS, STATUS)
    # c2 has no key yet: not connected; an unknown VIP is named by itself
    assert got == {"kernel": ["10.98.0.7", "g3", "link ovsl-site"], "status": []}


def test_connected_falls_back_to_the_status_file_without_the_kernel_device():
    got = R.connected({"module_loaded": False, "devices": []}, "ovpnsc0", VIPS, STATUS)
    assert got == {"kernel": [], "status": ["c2", "g3"]}
    # a host without a server: its links only
    assert R.connected(INFO, "", VIPS, STATUS)["status"] == []
    assert R.connected({}, "", {}, "") == {"kernel": [], "status": []}
    tabbed = STATUS.replace(",", "\t")  # status-version 3
    assert R.connected({}, "ovpnsc0", {}, tabbed)["status"] == ["c2", "g3"]


def test_filter_names():
    assert set(R.FilterModule().filters()) == {
        "ovpn_shortcut_dkms_versions", "ovpn_shortcut_release_state",
        "ovpn_shortcut_release_rollback", "ovpn_shortcut_release_prune", "ovpn_shortcut_connected"}


# -- the lab inventory with several servers ----------------------------------------------

def test_lab_inventory_extra_servers_have_their_own_network_and_clients():
    inv = _load("ovpn_lab_inventory", INVENTORY)
    hv = inv.extra_server_vars("g2", ["g3"])
    assert hv == {"ovpn_shortcut_server_network": "10.99.0.0/24",
                  "ovpn_shortcut_server_client_group": "ovpn_clients_of_g2",
                  "ovpn_shortcut_server_clients": [{"name": "g3-g2"}]}


def test_lab_inventory_several_servers(monkeypatch):
    inv = _load("ovpn_lab_inventory_n", INVENTORY)

    class G:
        def __init__(self, i):
            self.name, self.spec, self.image = f"g{i}", type("S", (), {})(), type("I", (), {})()
            self.spec.index, self.spec.ssh_port = i, 2200 + i
            self.spec.lan_ipv4, self.spec.lan_ipv6 = f"198.18.0.{i}", f"fd00::{i}"
            self.image.ssh_key = "/k"

        def release_name(self):
            return "bookworm"

    monkeypatch.setattr(inv.Lab, "running", lambda self: [G(1), G(2), G(3)])
    monkeypatch.setenv("OVPN_LAB_SERVERS", "2")
    out = inv.inventory()
    assert out["ovpn_servers"]["hosts"] == ["g1", "g2"] and out["ovpn_clients"]["hosts"] == ["g3"]
    hv = out["_meta"]["hostvars"]
    assert hv["g2"]["ovpn_shortcut_server_clients"] == [{"name": "g3-g2"}]
    assert "ovpn_shortcut_server_network" not in hv["g1"]
    assert hv["g3"]["ovpn_shortcut_dkms"] is False
    assert hv["g3"]["ovpn_shortcut_module_load"] is False
    monkeypatch.setenv("OVPN_LAB_SERVERS", "1")
    out = inv.inventory()
    assert out["ovpn_servers"]["hosts"] == ["g1"] and out["ovpn_clients"]["hosts"] == ["g2", "g3"]
    assert "ovpn_shortcut_dkms" not in out["_meta"]["hostvars"]["g3"]


def test_lab_inventory_default_is_unchanged_without_guests():
    env = dict(os.environ, OVPN_LAB_NAME="unit-no-such-lab")
    env.pop("OVPN_LAB_SERVERS", None)
    out = json.loads(subprocess.run([sys.executable, str(INVENTORY)], env=env, check=True,
                                    capture_output=True, text=True).stdout)
    assert out["ovpn_servers"] == {"hosts": []} and out["ovpn_clients"] == {"hosts": []}


# -- playbooks and validate ---------------------------------------------------------------

def _play(playbook: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    argv = [str(BIN / "ansible-playbook"), playbook, "-i", "inventory/example", *args]
    return subprocess.run(argv, cwd=paths.REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("playbook", ["playbooks/upgrade.yml", "playbooks/rollback.yml"])
def test_playbooks_syntax(playbook):
    proc = _play(playbook, "--syntax-check")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


needs_easyrsa = pytest.mark.skipif(not Path("/usr/share/easy-rsa/easyrsa").is_file(),
                                   reason="easy-rsa not installed (./dev setup installs it)")


@needs_easyrsa
def test_validate_refuses_a_version_bumped_in_dkms_conf_only(tmp_path):
    src = tmp_path / "kernel_module"
    shutil.copytree(paths.REPO_ROOT / "kernel_module", src,
                    ignore=shutil.ignore_patterns("*.o", "*.ko", "*.cmd", "tests", "tools"))
    conf = src / "dkms.conf"
    conf.write_text(conf.read_text().replace('PACKAGE_VERSION="', 'PACKAGE_VERSION="9.'))
    proc = _play("playbooks/validate.yml", "-e", f"ovpn_shortcut_module_src={src}")
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert 'but main.h says OVS_VERSION' in proc.stdout, proc.stdout[-3000:]


@needs_easyrsa
@pytest.mark.parametrize(("extra", "needle"), [
    ({"ovpn_shortcut_upgrade_serial": "0"}, "ovpn_shortcut_upgrade_serial=0"),
    ({"ovpn_shortcut_upgrade_serial": "all"}, "ovpn_shortcut_upgrade_serial=all"),
    ({"ovpn_shortcut_upgrade_clients_delay": 0}, "ovpn_shortcut_upgrade_clients_delay=0"),
])
def test_validate_refuses_bad_upgrade_settings(extra, needle):
    proc = _play("playbooks/validate.yml", "-e", json.dumps(extra))
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert needle in proc.stdout, proc.stdout[-3000:]
