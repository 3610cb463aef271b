"""testinfra verifiers of the default scenario (`molecule verify`).

Every guest: ovpn_shortcut built by DKMS for the running kernel, loaded, a
device of kind ovpn-shortcut can be made, the kernel log is clean. The server
(g1) also went through side_effect.yml's kernel upgrade: DKMS built the module
for a second kernel when its headers were installed.

OpenVPN (when the role has its server phase): the server unit runs on a
device of kind ovpn-shortcut, the client unit runs, the client pings the
server's VPN address and the kernel's counters of that client's peer move.
Names, device, network come from the role's defaults, overridden by the
inventory, as the role resolves them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml
from testinfra.host import Host

REPO = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(REPO))

from ovpn_lab.guest import kernel_trouble  # noqa: E402

DKMS_CONF = (REPO / "kernel_module" / "dkms.conf").read_text()
DKMS_NAME = re.search(r'^PACKAGE_NAME="([^"]+)"', DKMS_CONF, re.M).group(1)
DKMS_VERSION = re.search(r'^PACKAGE_VERSION="([^"]+)"', DKMS_CONF, re.M).group(1)
ROLE_DEFAULTS = yaml.safe_load(
    (REPO / "roles" / "ovpn_shortcut" / "defaults" / "main.yml").read_text()) or {}
ROLE_HAS_SERVER = "ovpn_shortcut_server_name" in ROLE_DEFAULTS
INVENTORY = Path(os.environ.get("MOLECULE_INVENTORY_FILE", "")).parent
# Written by side_effect.yml on the guests where it installed a second kernel.
UPGRADE_MARKER = "/var/lib/ovpn-molecule/upgrade.json"


def _groups(host: Host) -> list[str]:
    return host.ansible.get_variables()["group_names"]


def _release(host: Host) -> str:
    return host.check_output("uname -r")


def test_module_loaded(host: Host) -> None:
    assert host.file("/sys/module/ovpn_shortcut").is_directory
    assert host.file("/sys/module/ovpn_shortcut/version").content_string.strip() == DKMS_VERSION


def test_dkms_installed_for_running_kernel(host: Host) -> None:
    status = host.check_output(f"dkms status -m {DKMS_NAME} -v {DKMS_VERSION}")
    assert f"{DKMS_NAME}/{DKMS_VERSION}, {_release(host)}, x86_64: installed" in status, status


def _dkms_ko(kernel: str) -> re.Pattern[str]:
    """Where DKMS installs the module for `kernel`: Debian 13's DKMS compresses it (.ko.xz)."""
    return re.compile(rf"/lib/modules/{re.escape(kernel)}/updates/dkms/ovpn_shortcut\.ko(\.xz)?")


def test_loaded_module_is_the_dkms_build(host: Host) -> None:
    loaded = host.check_output("modinfo -n ovpn_shortcut")
    assert _dkms_ko(_release(host)).fullmatch(loaded), loaded


def test_module_loads_at_boot(host: Host) -> None:
    conf = host.file("/etc/modules-load.d/ovpn-shortcut.conf")
    assert conf.is_file and "ovpn_shortcut" in conf.content_string.split()


def test_device_kind_ovpn_shortcut(host: Host) -> None:
    out = host.run(  # molecule's inventory logs in as root
        "ip link add mol-verify type ovpn-shortcut && ip -d -o link show mol-verify;"
        " rc=$?; ip link del mol-verify 2>/dev/null; exit $rc")
    assert out.rc == 0, out.stderr
    assert re.search(r"\bovpn-shortcut\b", out.stdout), out.stdout


def test_kernel_log_clean(host: Host) -> None:
    trouble = kernel_trouble(host.check_output("dmesg"))
    assert not trouble, "\n".join(trouble)


def test_kernel_upgrade_dkms_builds_for_new_kernel(host: Host) -> None:
    marker = host.file(UPGRADE_MARKER)
    if "ovpn_servers" not in _groups(host):
        pytest.skip("side_effect.yml upgrades the kernel on the servers only")
    assert marker.exists, f"{UPGRADE_MARKER} missing: side_effect.yml has not run"
    new = json.loads(marker.content_string)["kernel"]
    running = _release(host)
    assert new != running
    assert host.package(f"linux-headers-{new}").is_installed
    status = host.check_output(f"dkms status -m {DKMS_NAME} -v {DKMS_VERSION}")
    for kernel in (running, new):
        assert f"{DKMS_NAME}/{DKMS_VERSION}, {kernel}, x86_64: installed" in status, status
    ko = host.check_output(f"ls /lib/modules/{new}/updates/dkms/ovpn_shortcut.ko*")
    assert _dkms_ko(new).fullmatch(ko), ko
    assert host.file(ko).is_file
    vermagic = host.check_output(f"modinfo -F vermagic {ko}")
    assert vermagic.split()[0] == new, vermagic
    assert host.check_output(f"modinfo -F version {ko}") == DKMS_VERSION


# --------------------------------------------------------------- OpenVPN


def _var(host: Host, name: str) -> Any:
    """A role variable for `host`: inventory value, else the role's default."""
    inventory = host.ansible.get_variables()
    value = inventory.get(name, ROLE_DEFAULTS[name])
    assert not (isinstance(value, str) and "{{" in value), f"{name}={value!r} is a template"
    return value


def _hosts(group: str, host: Host) -> list[Host]:
    groups = host.ansible.get_variables()["groups"]
    return [testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")
            for name in groups.get(group, [])]


def _server_vip(host: Host) -> str:
    """The server's own VPN address: the first of its network (role: plan.server_ip)."""
    network = ipaddress.ip_network(_var(host, "ovpn_shortcut_server_network"))
    return str(network.network_address + 1)


def _need(host: Host, group: str) -> None:
    if not ROLE_HAS_SERVER:
        pytest.skip("the role has no OpenVPN server phase (roles/ovpn_shortcut/defaults)")
    if group not in _groups(host):
        pytest.skip(f"{host.backend.get_hostname()} is not in {group}")


def test_server_service_running(host: Host) -> None:
    _need(host, "ovpn_servers")
    unit = host.service(f"openvpn-server@{_var(host, 'ovpn_shortcut_server_name')}")
    assert unit.is_running
    assert unit.is_enabled


def test_server_device_is_kernel_data_channel(host: Host) -> None:
    _need(host, "ovpn_servers")
    dev = _var(host, "ovpn_shortcut_server_device")
    out = host.check_output(f"ip -d -o link show {dev}")
    assert re.search(r"\bovpn-shortcut\b", out), out
    assert _server_vip(host) in host.check_output(f"ip -o -4 addr show {dev}")


def test_client_service_running(host: Host) -> None:
    _need(host, "ovpn_clients")
    unit = host.service(f"openvpn-client@{_var(host, 'ovpn_shortcut_server_name')}")
    assert unit.is_running
    assert unit.is_enabled


def test_client_pings_server_vip(host: Host) -> None:
    _need(host, "ovpn_clients")
    vip = _server_vip(host)
    out = host.run(f"ping -c 3 -i 0.5 -w 60 {vip}")
    assert out.rc == 0, out.stdout + out.stderr


def _peer_of(server: Host, client_addr: str, dev: str) -> dict:
    peers = json.loads(server.check_output(f"ovpn-shortcut --json peer get {dev}"))
    if isinstance(peers, dict):
        peers = peers.get("peers", [peers])
    mine = [p for p in peers if str(p.get("remote") or "").startswith(client_addr + ":")]
    assert len(mine) == 1, f"no single peer from {client_addr} in {peers}"
    return mine[0]


def test_kernel_peer_counters_move(host: Host) -> None:
    _need(host, "ovpn_servers")
    dev = _var(host, "ovpn_shortcut_server_device")
    vip = _server_vip(host)
    clients = _hosts("ovpn_clients", host)
    assert clients, "no host in ovpn_clients"
    count = 20
    for client in clients:
        addr = client.ansible.get_variables()["ovpn_lab_lan_ipv4"]
        before = _peer_of(host, addr, dev)["counters"]
        ping = client.run(f"ping -c {count} -i 0.2 -w 60 {vip}")
        assert ping.rc == 0, ping.stdout + ping.stderr
        after = _peer_of(host, addr, dev)["counters"]
        for key in ("vpn_rx_packets", "vpn_tx_packets", "link_rx_packets", "link_tx_packets"):
            assert after[key] - before[key] >= count, (key, before, after)
