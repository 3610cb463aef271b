#!/usr/bin/env python3
"""Ansible inventory of the lab's running QEMU guests (the embedded default).

Reads the lab's run state (ovpn_lab, stdlib only, so any python3 runs it).
g1 is the VPN server, the other guests are clients; localhost is the
controller that can bring the lab up (playbooks/lab.yml). The lab name is
$OVPN_LAB_NAME or "default", its size $OVPN_LAB_GUESTS or 2, the Debian
release of each guest $OVPN_LAB_RELEASES (comma-separated, g1 first).

$OVPN_LAB_SERVERS (default 1) makes g1..gN servers (a fleet for rolling
upgrades, tests/vm/test_rolling_upgrade.py): the client guests are g1's
clients through the role, and every other server gK has a network of its own
(10.(97+K).0.0/24) and one profile-only client per client guest, named
"<guest>-gK", which a test starts on that guest beside its role client.
Client guests then have no links and run Debian's userspace OpenVPN only, so
they neither build nor load the module (ovpn_shortcut_dkms and
_module_load false).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from ovpn_lab.lab import Lab  # noqa: E402

# The embedded default is a mixed fleet: g1 (the server) on Debian 13, the
# other guests on Debian 12.
DEFAULT_RELEASES = "trixie,bookworm"


def inventory() -> dict:
    lab = Lab(os.environ.get("OVPN_LAB_NAME", "default"))
    hostvars: dict[str, dict] = {
        "localhost": {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "ovpn_lab_name": lab.name,
            "ovpn_lab_cli": str(REPO / ".venv" / "bin" / "ovpn-lab"),
            "ovpn_lab_guests": int(os.environ.get("OVPN_LAB_GUESTS", "2")),
            # Debian release of each guest in order (g1 = server first)
            "ovpn_lab_releases": os.environ.get("OVPN_LAB_RELEASES", DEFAULT_RELEASES),
        }
    }
    n_servers = max(1, int(os.environ.get("OVPN_LAB_SERVERS", "1")))
    servers, clients = [], []
    for g in lab.running():
        (servers if g.spec.index <= n_servers else clients).append(g.name)
        hostvars[g.name] = {
            "ansible_host": "127.0.0.1",
            "ansible_port": g.spec.ssh_port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(g.image.ssh_key),
            "ansible_ssh_common_args": (
                "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                "-o IdentitiesOnly=yes -o LogLevel=ERROR"
            ),
            "ansible_python_interpreter": "/usr/bin/python3",
            "ovpn_lab_lan_ipv4": g.spec.lan_ipv4,
            "ovpn_lab_lan_ipv6": g.spec.lan_ipv6,
            "ovpn_lab_release": g.release_name(),
        }
    for name in servers[1:]:
        hostvars[name].update(extra_server_vars(name, clients))
    if n_servers > 1:  # no links then: the client guests run Debian's userspace OpenVPN only
        for name in clients:
            hostvars[name].update(ovpn_shortcut_dkms=False, ovpn_shortcut_module_load=False)
    return {
        "_meta": {"hostvars": hostvars},
        "all": {"children": ["ungrouped", "ovpn_servers", "ovpn_clients", "ovpn_links",
                             "lab_controller"]},
        "lab_controller": {"hosts": ["localhost"]},
        "ovpn_servers": {"hosts": servers},
        "ovpn_clients": {"hosts": clients},
        # hosts only in static links (group_vars/all.yml links g1 and g2 instead)
        "ovpn_links": {"hosts": []},
    }


def extra_server_vars(server: str, clients: list[str]) -> dict:
    """Host vars of a server other than g1: its own VPN network, no client group,
    one profile-only client per client guest (<guest>-<server>)."""
    index = int(server.lstrip("g"))
    return {
        "ovpn_shortcut_server_network": f"10.{97 + index}.0.0/24",
        "ovpn_shortcut_server_client_group": f"ovpn_clients_of_{server}",
        "ovpn_shortcut_server_clients": [{"name": f"{c}-{server}"} for c in clients],
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--host":
        print(json.dumps({}))
    else:
        print(json.dumps(inventory(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
